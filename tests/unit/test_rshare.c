/* Resolver answers shared with the answering threads (ctrl/resolv/rshare.h):
 * messages made and read back with ldns, independent of rshare's own
 * parsing. A hit carries the asking client's ID and question case and TTLs
 * counted down; the key separates views, types and the EDNS/DO/CD/AD
 * flags; expiry, generation, the client's UDP size and truncated or
 * SERVFAIL responses are respected; replaced entries are reclaimed after a
 * grace period. */
#include "check.h"

#include "ctrl/resolv/rshare.h"
#include "ctrl/snap/qsbr.h"

#include <ldns/ldns.h>
#include <stdlib.h>

static size_t query(const char *name, ldns_rr_type t, bool edns, bool dnssec, uint16_t udp,
		    uint16_t id, uint8_t *out)
{
	ldns_pkt *q = NULL;
	ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_id(q, id);
	if (edns) {
		ldns_pkt_set_edns_udp_size(q, udp);
		ldns_pkt_set_edns_do(q, dnssec);
	}
	uint8_t *w = NULL;
	size_t n = 0;
	ldns_pkt2wire(&w, q, &n);
	memcpy(out, w, n);
	free(w);
	ldns_pkt_free(q);
	return n;
}

/* A response to name A with two records of ttl and ttl + 100; rcode,
 * TC as given. */
static size_t response(const char *name, uint32_t ttl, ldns_pkt_rcode rcode, bool tc, uint8_t *out)
{
	ldns_pkt *a = NULL;
	ldns_pkt_query_new_frm_str(&a, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_ra(a, true);
	ldns_pkt_set_rcode(a, rcode);
	ldns_pkt_set_tc(a, tc);
	char txt[300];
	ldns_rr *rr = NULL;
	snprintf(txt, sizeof(txt), "%s %u IN A 192.0.2.1", name, ttl);
	ldns_rr_new_frm_str(&rr, txt, 0, NULL, NULL);
	ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
	snprintf(txt, sizeof(txt), "%s %u IN A 192.0.2.2", name, ttl + 100);
	ldns_rr_new_frm_str(&rr, txt, 0, NULL, NULL);
	ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
	ldns_pkt_set_edns_udp_size(a, 1232);
	uint8_t *w = NULL;
	size_t n = 0;
	ldns_pkt2wire(&w, a, &n);
	memcpy(out, w, n);
	free(w);
	ldns_pkt_free(a);
	return n;
}

static struct rshare_key key(const uint8_t *q, size_t n, uint16_t view)
{
	struct rshare_key k;
	memset(&k, 0, sizeof(k));
	CHECK(rshare_key_of(q, n, &k));
	k.view = view;
	return k;
}

int main(void)
{
	struct rshare *s = rshare_new(1);
	CHECK(s != NULL);
	uint8_t q[512], r[1024], out[1024];
	size_t qn = query("www.leaf.tree.", LDNS_RR_TYPE_A, true, false, 1232, 7, q);
	struct rshare_key k = key(q, qn, 0);
	CHECK_EQ(k.flags, RSHARE_F_EDNS);
	CHECK_EQ(k.udp, 1232);
	CHECK_EQ(k.qtype, LDNS_RR_TYPE_A);
	size_t rn = response("www.leaf.tree.", 300, LDNS_RCODE_NOERROR, false, r);
	rshare_put(s, &k, r, rn, 5, 1000, 86400, 2, true);

	/* Another client: other ID, other case, 40 s later. */
	uint8_t q2[512];
	size_t q2n = query("WwW.LeAf.TrEe.", LDNS_RR_TYPE_A, true, false, 4096, 4242, q2);
	struct rshare_key k2 = key(q2, q2n, 0);
	struct rshare_hit hit = {0};
	size_t n = rshare_get(s, &k2, q2, 5, 1040, out, sizeof(out), &hit);
	CHECK_EQ(n, rn);
	CHECK_EQ(hit.rule, 2);
	CHECK(hit.secure);
	ldns_pkt *p = NULL;
	CHECK(n && ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
	if (p) {
		CHECK_EQ(ldns_pkt_id(p), 4242);
		char *qname = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
		CHECK_STR(qname, "WwW.LeAf.TrEe.");
		free(qname);
		CHECK_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 2);
		CHECK_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 260);
		CHECK_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 1)), 360);
		CHECK(ldns_pkt_edns(p) && ldns_pkt_edns_udp_size(p) == 1232); /* OPT untouched */
		ldns_pkt_free(p);
	}

	/* Misses: another view, type, DO, no EDNS, generation, expiry. */
	k2.view = 1;
	CHECK_EQ(rshare_get(s, &k2, q2, 5, 1040, out, sizeof(out), NULL), 0);
	q2n = query("www.leaf.tree.", LDNS_RR_TYPE_AAAA, true, false, 1232, 1, q2);
	k2 = key(q2, q2n, 0);
	CHECK_EQ(rshare_get(s, &k2, q2, 5, 1040, out, sizeof(out), NULL), 0);
	q2n = query("www.leaf.tree.", LDNS_RR_TYPE_A, true, true, 1232, 1, q2);
	k2 = key(q2, q2n, 0);
	CHECK_EQ(k2.flags, RSHARE_F_EDNS | RSHARE_F_DO);
	CHECK_EQ(rshare_get(s, &k2, q2, 5, 1040, out, sizeof(out), NULL), 0);
	q2n = query("www.leaf.tree.", LDNS_RR_TYPE_A, false, false, 0, 1, q2);
	k2 = key(q2, q2n, 0);
	CHECK_EQ(k2.flags, 0);
	CHECK_EQ(k2.udp, 512);
	CHECK_EQ(rshare_get(s, &k2, q2, 5, 1040, out, sizeof(out), NULL), 0);
	k2 = key(q, qn, 0);
	CHECK_EQ(rshare_get(s, &k2, q, 6, 1040, out, sizeof(out), NULL), 0); /* generation */
	CHECK_EQ(rshare_get(s, &k2, q, 5, 1300, out, sizeof(out), NULL), 0); /* expired */
	CHECK(rshare_get(s, &k2, q, 5, 1299, out, sizeof(out), NULL) > 0);   /* not yet */
	CHECK_EQ(rshare_get(s, &k2, q, 5, 1000, out, rn - 1, NULL), 0);	     /* no room */
	CHECK_EQ(rshare_get(s, &k2, q, 5, 1000, out, rn, NULL), rn);	     /* room */

	/* ttl_max bounds the life; a truncated or SERVFAIL response and a
	 * zero TTL are not shared. */
	uint8_t q3[512];
	size_t q3n = query("a.tree.", LDNS_RR_TYPE_A, true, false, 1232, 1, q3);
	struct rshare_key k3 = key(q3, q3n, 3);
	rn = response("a.tree.", 300, LDNS_RCODE_NOERROR, false, r);
	rshare_put(s, &k3, r, rn, 5, 1000, 10, -1, false);
	CHECK(rshare_get(s, &k3, q3, 5, 1009, out, sizeof(out), NULL) > 0);
	CHECK_EQ(rshare_get(s, &k3, q3, 5, 1010, out, sizeof(out), NULL), 0);
	const char *names[] = {"b.tree.", "c.tree.", "d.tree."};
	for (int i = 0; i < 3; i++) {
		q3n = query(names[i], LDNS_RR_TYPE_A, true, false, 1232, 1, q3);
		k3 = key(q3, q3n, 0);
		rn = response(names[i], i == 2 ? 0 : 300,
			      i == 1 ? LDNS_RCODE_SERVFAIL : LDNS_RCODE_NOERROR, i == 0, r);
		rshare_put(s, &k3, r, rn, 5, 1000, 86400, -1, false);
		CHECK_EQ(rshare_get(s, &k3, q3, 5, 1001, out, sizeof(out), NULL), 0);
	}

	/* A response too big for the asking client's UDP size: a miss. */
	q3n = query("e.tree.", LDNS_RR_TYPE_A, true, false, 4096, 1, q3);
	k3 = key(q3, q3n, 0);
	rn = response("e.tree.", 300, LDNS_RCODE_NOERROR, false, r);
	rshare_put(s, &k3, r, rn, 5, 1000, 86400, -1, false);
	k3.udp = (uint16_t)(rn - 1);
	CHECK_EQ(rshare_get(s, &k3, q3, 5, 1001, out, sizeof(out), NULL), 0);

	/* Replacing entries retires the old ones; reclaiming them after a
	 * grace period (a reader that is offline holds nothing). */
	struct qsbr *qs = qsbr_simple_new(2);
	CHECK(qs != NULL && qsbr_reader_register(qs, 1) == 0);
	qsbr_offline(qs, 1);
	for (int i = 0; i < 200; i++) {
		k = key(q, qn, 0);
		rn = response("www.leaf.tree.", 300 + (uint32_t)i, LDNS_RCODE_NOERROR, false, r);
		rshare_put(s, &k, r, rn, 5, 2000, 86400, -1, false);
		rshare_reclaim(s, qs, 2000);
	}
	n = rshare_get(s, &k, q, 5, 2000, out, sizeof(out), NULL);
	CHECK(n > 0 && ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
	if (n) {
		CHECK_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 499); /* the last */
		ldns_pkt_free(p);
	}
	/* A malformed query has no key. */
	CHECK(!rshare_key_of(q, 14, &k));
	q[12] = 70; /* a label longer than 63 */
	CHECK(!rshare_key_of(q, qn, &k));
	rshare_free(s);
	qsbr_reader_unregister(qs, 1);
	qsbr_destroy(qs);
	return check_report("rshare");
}
