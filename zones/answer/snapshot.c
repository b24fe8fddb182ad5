/* Loading and verifying snapshots.
 *
 * A snapshot is trusted by the hot path without further checks, so loading
 * checks everything the engine will later rely on: hashes first (catching
 * corruption in transit or on disk), then structure (snapverify.c), so that
 * even a well-hashed but hand-crafted file cannot make a worker read outside
 * the mapping, loop or follow a null pointer.
 */
#include "zones/answer/snapshot_pvt.h"

#include "zones/common/fileio.h"
#include "zones/common/name.h"
#include "zones/common/rrtype.h"
#include "zones/answer/sign.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint32_t snap_find(const struct p53_snapshot *s, const uint8_t *name, size_t len, uint32_t hash)
{
	uint32_t i = snap_home(s, hash);
	for (;;) {
		const struct snap_hash_ent *e = &s->ht[i];
		if (e->node == 0)
			return SNAP_NONE;
		if (e->hash == hash) {
			const struct snap_node *n = &s->nodes[e->node - 1];
			if (n->name_len == len && memcmp(s->names + n->name, name, len) == 0)
				return (n->flags & NODE_NSEC3) ? SNAP_NONE : e->node - 1;
		}
		i = snap_next(s, i);
	}
}

uint32_t snap_nsec3_cover(const struct p53_snapshot *s, const struct snap_nsec3zone *z,
			  const uint8_t h[20], bool *exact)
{
	const struct snap_nsec3 *e = s->n3 + z->first;
	uint32_t lo = 0, hi = z->count; /* the answer is below hi */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(e[mid].hash, h, 20) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t i = lo ? lo - 1 : z->count - 1;
	if (exact)
		*exact = memcmp(e[i].hash, h, 20) == 0;
	return z->first + i;
}

static const struct snap_sect *find_sect(const struct snap_hdr *h, uint32_t id)
{
	for (uint32_t i = 0; i < h->nsect; i++)
		if (h->sect[i].id == id)
			return &h->sect[i];
	return NULL;
}

/* Signatures (zones/answer/sign.c) follow the content as a fixed-size trailer that
 * the header's size does not cover, so signing never changes the content or
 * its hash. Returns the trailer's length when the bytes after the content are
 * exactly one trailer, else 0 (and the size check below rejects any other
 * excess as padding). */
static size_t snap_signature_trailer(const uint8_t *base, size_t size)
{
	const struct snap_hdr *h = (const struct snap_hdr *)base;
	if (size < sizeof(*h) || h->size >= size || size - h->size != P53_SIG_LEN)
		return 0;
	if (memcmp(base + h->size, P53_SIG_MAGIC, sizeof(P53_SIG_MAGIC)) != 0)
		return 0;
	return P53_SIG_LEN;
}

/* A trailer's fields beyond its magic: what no signature covers must still
 * hold nothing (its reserved bytes are zero, its length field right). */
static int check_trailer(const struct p53_snapshot *s, struct p53_err *err)
{
	if (s->size > s->hdr->size && !p53_sig_trailer_ok(s->base + s->hdr->size))
		return p53_err_set(
		    err, P53_ECORRUPT,
		    "snapshot signature trailer malformed (length or reserved bytes)");
	return 0;
}

int snap_map_views(struct p53_snapshot *s, struct p53_err *err)
{
	if (s->size < sizeof(struct snap_hdr))
		return p53_err_set(err, P53_ECORRUPT, "snapshot too short (%zu bytes)", s->size);
	const struct snap_hdr *h = (const struct snap_hdr *)s->base;
	if (memcmp(h->magic, SNAP_MAGIC, sizeof(SNAP_MAGIC)) != 0)
		return p53_err_set(err, P53_ECORRUPT, "not a port53 snapshot (bad magic)");
	if (h->version < SNAP_VERSION_MIN || h->version > SNAP_VERSION)
		return p53_err_set(err, P53_ECORRUPT,
				   "snapshot format version %u, this build reads versions %u to %u",
				   h->version, SNAP_VERSION_MIN, SNAP_VERSION);
	size_t content = s->size - snap_signature_trailer(s->base, s->size);
	if (h->size != content)
		return p53_err_set(
		    err, P53_ECORRUPT,
		    "snapshot truncated or padded: header says %llu bytes, file has %zu",
		    (unsigned long long)h->size, s->size);
	if (h->nsect != SECT__MAX)
		return p53_err_set(err, P53_ECORRUPT, "snapshot has %u sections, expected %u",
				   h->nsect, SECT__MAX);
	const uint8_t *ptr[SECT__MAX + 1];
	size_t len[SECT__MAX + 1];
	for (uint32_t id = 1; id <= SECT__MAX; id++) {
		const struct snap_sect *sc = find_sect(h, id);
		if (sc == NULL)
			return p53_err_set(err, P53_ECORRUPT, "snapshot section %u missing", id);
		if (sc->off % SNAP_ALIGN || sc->off < sizeof(*h) || sc->off > content ||
		    sc->len > content - sc->off)
			return p53_err_set(err, P53_ECORRUPT, "snapshot section %u out of bounds",
					   id);
		ptr[id] = s->base + sc->off;
		len[id] = sc->len;
	}
	s->hdr = h;
	s->zones = (const void *)ptr[SECT_ZONES];
	s->nzones = (uint32_t)(len[SECT_ZONES] / sizeof(struct snap_zone));
	s->nodes = (const void *)ptr[SECT_NODES];
	s->nnodes = (uint32_t)(len[SECT_NODES] / sizeof(struct snap_node));
	s->rrsets = (const void *)ptr[SECT_RRSETS];
	s->nrrsets = (uint32_t)(len[SECT_RRSETS] / sizeof(struct snap_rrset));
	s->names = ptr[SECT_NAMES];
	s->names_len = len[SECT_NAMES];
	s->rdata = ptr[SECT_RDATA];
	s->rdata_len = len[SECT_RDATA];
	s->ans = (const void *)ptr[SECT_ANS];
	s->nans = (uint32_t)(len[SECT_ANS] / sizeof(struct snap_ans));
	s->blobs = ptr[SECT_BLOBS];
	s->blobs_len = len[SECT_BLOBS];
	s->groups = (const void *)ptr[SECT_GROUPS];
	s->ngroups = (uint32_t)(len[SECT_GROUPS] / sizeof(struct snap_group));
	s->members = (const void *)ptr[SECT_MEMBERS];
	s->nmembers = (uint32_t)(len[SECT_MEMBERS] / sizeof(struct snap_member));
	s->strings = (const char *)ptr[SECT_STRINGS];
	s->strings_len = len[SECT_STRINGS];
	s->hchecks = (const void *)ptr[SECT_HCHECKS];
	s->nhchecks = (uint32_t)(len[SECT_HCHECKS] / sizeof(uint32_t));
	s->geo4 = (const void *)ptr[SECT_GEO4];
	s->ngeo4 = (uint32_t)(len[SECT_GEO4] / sizeof(struct snap_geo4));
	s->geo6 = (const void *)ptr[SECT_GEO6];
	s->ngeo6 = (uint32_t)(len[SECT_GEO6] / sizeof(struct snap_geo6));
	s->geolocs = (const void *)ptr[SECT_GEOLOC];
	s->ngeolocs = (uint32_t)(len[SECT_GEOLOC] / sizeof(struct snap_geoloc));
	s->cidrs = (const void *)ptr[SECT_CIDR];
	s->ncidrs = (uint32_t)(len[SECT_CIDR] / sizeof(struct snap_cidr));
	s->lat4 = (const void *)ptr[SECT_LAT4];
	s->nlat4 = (uint32_t)(len[SECT_LAT4] / sizeof(struct snap_geo4));
	s->lat6 = (const void *)ptr[SECT_LAT6];
	s->nlat6 = (uint32_t)(len[SECT_LAT6] / sizeof(struct snap_geo6));
	s->latrows = (const void *)ptr[SECT_LATROW];
	s->nlatrows = (uint32_t)(len[SECT_LATROW] / sizeof(struct snap_latrow));
	s->latents = (const void *)ptr[SECT_LATENT];
	s->nlatents = (uint32_t)(len[SECT_LATENT] / sizeof(struct snap_latent));
	s->nnodesec = (uint32_t)(len[SECT_NODESEC] / sizeof(struct snap_nodesec));
	s->nodesec = s->nnodesec ? (const void *)ptr[SECT_NODESEC] : NULL;
	s->nansdo = (uint32_t)(len[SECT_ANSDO] / sizeof(uint32_t));
	s->ansdo = s->nansdo ? (const void *)ptr[SECT_ANSDO] : NULL;
	s->doblobs = ptr[SECT_DOBLOBS];
	s->doblobs_len = len[SECT_DOBLOBS];
	s->r53tf = (const char *)ptr[SECT_R53TF];
	s->r53tf_len = len[SECT_R53TF];
	s->nn3zones = (uint32_t)(len[SECT_NSEC3Z] / sizeof(struct snap_nsec3zone));
	s->n3zones = s->nn3zones ? (const void *)ptr[SECT_NSEC3Z] : NULL;
	s->nn3 = (uint32_t)(len[SECT_NSEC3] / sizeof(struct snap_nsec3));
	s->n3 = s->nn3 ? (const void *)ptr[SECT_NSEC3] : NULL;
	s->nnodesec3 = (uint32_t)(len[SECT_NODESEC3] / sizeof(struct snap_nodesec3));
	s->nodesec3 = s->nnodesec3 ? (const void *)ptr[SECT_NODESEC3] : NULL;
	if (len[SECT_HASH] < sizeof(struct snap_hash_hdr))
		return p53_err_set(err, P53_ECORRUPT, "snapshot hash index missing");
	const struct snap_hash_hdr *hh = (const void *)ptr[SECT_HASH];
	s->hslots = hh->slots;
	s->ht = (const void *)(ptr[SECT_HASH] + sizeof(*hh));
	s->hlen = len[SECT_HASH];
	return 0;
}

/* After the checksums, so that a damaged file is reported as damaged rather
 * than by whichever structure the damage happened to hit. */
static int check_hash_index(const struct p53_snapshot *s, struct p53_err *err)
{
	if ((size_t)s->hslots * sizeof(struct snap_hash_ent) !=
		s->hlen - sizeof(struct snap_hash_hdr) ||
	    (size_t)s->hslots < (size_t)s->nnodes + 1)
		return p53_err_set(err, P53_ECORRUPT, "snapshot hash index malformed");
	return 0;
}

static void sect_sum(const uint8_t *p, size_t n, uint8_t out[16])
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA256(p, n, d);
	memcpy(out, d, 16);
}

static void content_hash(const uint8_t *image, uint8_t out[32])
{
	struct snap_hdr h;
	memcpy(&h, image, sizeof(h));
	memset(h.hash, 0, sizeof(h.hash));
	SHA256((const uint8_t *)&h, sizeof(h), out);
}

/* Section sums, on two threads when there is much to hash: the sections
 * are shared out by size, largest first. */
struct sum_part {
	const uint8_t *base;
	const struct snap_hdr *h;
	uint8_t (*sums)[16];
	uint32_t mine; /* bit i: section table entry i */
};

static void *sum_part_run(void *arg)
{
	const struct sum_part *p = arg;
	for (uint32_t i = 0; i < SECT__MAX; i++)
		if (p->mine & (1u << i))
			sect_sum(p->base + p->h->sect[i].off, p->h->sect[i].len, p->sums[i]);
	return NULL;
}

static void sect_sums(const uint8_t *base, const struct snap_hdr *h, uint8_t sums[SECT__MAX][16])
{
	uint32_t n = h->nsect < SECT__MAX ? h->nsect : SECT__MAX, done = 0;
	struct sum_part a = {base, h, sums, 0}, b = {base, h, sums, 0};
	uint64_t la = 0, lb = 0, total = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t big = UINT32_MAX;
		for (uint32_t i = 0; i < n; i++)
			if (!(done & (1u << i)) &&
			    (big == UINT32_MAX || h->sect[i].len > h->sect[big].len))
				big = i;
		done |= 1u << big;
		total += h->sect[big].len;
		if (la <= lb) {
			a.mine |= 1u << big;
			la += h->sect[big].len;
		} else {
			b.mine |= 1u << big;
			lb += h->sect[big].len;
		}
	}
	pthread_t t;
	bool two = total >= (16u << 20) && pthread_create(&t, NULL, sum_part_run, &b) == 0;
	if (!two)
		a.mine |= b.mine;
	sum_part_run(&a);
	if (two)
		pthread_join(t, NULL);
}

void snap_seal(uint8_t *image, size_t len)
{
	struct snap_hdr *h = (struct snap_hdr *)image;
	uint8_t sums[SECT__MAX][16];
	(void)len;
	sect_sums(image, h, sums);
	for (uint32_t i = 0; i < h->nsect && i < SECT__MAX; i++)
		memcpy(h->sect[i].sum, sums[i], 16);
	content_hash(image, h->hash);
}

/* No checksum covers the alignment padding between sections, so it must be
 * zero: then every byte of a verified (and signed) file is accounted for,
 * and sections may not overlap. */
static int verify_padding(const struct p53_snapshot *s, struct p53_err *err)
{
	const struct snap_hdr *h = s->hdr;
	const struct snap_sect *order[SECT__MAX];
	uint32_t n = 0;
	for (uint32_t i = 0; i < h->nsect && n < SECT__MAX; i++) {
		uint32_t k = n++;
		/* At one offset, empty sections first: one may sit where the
		 * next section starts. */
		for (; k > 0 && (order[k - 1]->off > h->sect[i].off ||
				 (order[k - 1]->off == h->sect[i].off &&
				  order[k - 1]->len > h->sect[i].len));
		     k--)
			order[k] = order[k - 1];
		order[k] = &h->sect[i];
	}
	size_t pos = sizeof(*h);
	for (uint32_t i = 0; i <= n; i++) {
		size_t end = i < n ? order[i]->off : h->size;
		if (end < pos)
			return p53_err_set(err, P53_ECORRUPT, "snapshot sections overlap");
		for (size_t k = pos; k < end; k++)
			if (s->base[k] != 0)
				return p53_err_set(err, P53_ECORRUPT,
						   "snapshot padding at byte %zu is not zero", k);
		if (i < n)
			pos = order[i]->off + order[i]->len;
	}
	return 0;
}

static int verify_hashes(const struct p53_snapshot *s, struct p53_err *err)
{
	uint8_t d[32];
	content_hash(s->base, d);
	if (memcmp(d, s->hdr->hash, 32) != 0)
		return p53_err_set(err, P53_ECORRUPT, "snapshot header checksum mismatch");
	uint8_t sums[SECT__MAX][16];
	sect_sums(s->base, s->hdr, sums);
	for (uint32_t i = 0; i < s->hdr->nsect && i < SECT__MAX; i++) {
		const struct snap_sect *sc = &s->hdr->sect[i];
		if (memcmp(sums[i], sc->sum, 16) != 0)
			return p53_err_set(err, P53_ECORRUPT,
					   "snapshot section %u checksum mismatch", sc->id);
	}
	return verify_padding(s, err);
}

static struct p53_snapshot *finish(struct p53_snapshot *s, struct p53_err *err)
{
	if (snap_map_views(s, err) == 0 && check_trailer(s, err) == 0 &&
	    verify_hashes(s, err) == 0 && check_hash_index(s, err) == 0 &&
	    snap_verify_structure(s, err) == 0)
		return s;
	p53_snapshot_free(s);
	return NULL;
}

struct p53_snapshot *p53_snapshot_load(const char *path, struct p53_err *err)
{
	const uint8_t *m;
	size_t size;
	if (p53_file_map(path, &m, &size, err) != 0)
		return NULL;
	struct p53_snapshot *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		p53_file_unmap(m, size);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	s->base = m;
	s->size = size;
	s->mapped = true;
	struct p53_snapshot *r = finish(s, err);
	if (r == NULL && err && err->code) {
		/* Name the file in the message: operators push many. */
		char tmp[sizeof(err->msg)];
		memcpy(tmp, err->msg, sizeof(tmp));
		int n = snprintf(err->msg, sizeof(err->msg), "%s: ", path);
		if (n > 0 && (size_t)n < sizeof(err->msg))
			memcpy(err->msg + n, tmp, sizeof(err->msg) - (size_t)n - 1);
		err->msg[sizeof(err->msg) - 1] = 0;
	}
	return r;
}

struct p53_snapshot *p53_snapshot_from_mem(const void *data, size_t len, struct p53_err *err)
{
	struct p53_snapshot *s = calloc(1, sizeof(*s));
	uint8_t *copy = malloc(len ? len : 1);
	if (s == NULL || copy == NULL) {
		free(s);
		free(copy);
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(copy, data, len);
	s->base = copy;
	s->size = len;
	return finish(s, err);
}

int snap_verify_image(const uint8_t *image, size_t len, struct p53_err *err)
{
	struct p53_snapshot view = {.base = image, .size = len};
	int rc = snap_map_views(&view, err);
	if (rc == 0)
		rc = check_hash_index(&view, err);
	return rc ? rc : snap_verify_structure(&view, err);
}

void p53_snapshot_free(struct p53_snapshot *s)
{
	if (s == NULL)
		return;
	if (s->mapped)
		p53_file_unmap(s->base, s->size);
	else
		free((void *)s->base);
	free(s);
}

void p53_snapshot_info(const struct p53_snapshot *s, struct p53_snapshot_info *info)
{
	memset(info, 0, sizeof(*info));
	info->serial = s->hdr->serial;
	info->created = s->hdr->created;
	info->version = s->hdr->version;
	info->zones = s->nzones;
	info->nodes = s->nnodes;
	info->rrsets = s->nrrsets;
	info->size = s->size;
	memcpy(info->hash, s->hdr->hash, 32);
}

const uint8_t *p53_snapshot_zone(const struct p53_snapshot *s, uint32_t i, uint32_t *soa_serial)
{
	if (i >= s->nzones)
		return NULL;
	if (soa_serial)
		*soa_serial = s->zones[i].serial;
	return s->names + s->zones[i].name;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t serial_time(uint32_t t, int64_t now)
{
	return now + (int32_t)(t - (uint32_t)now);
}

void p53_snapshot_zone_sigs(const struct p53_snapshot *s, uint32_t i, int64_t now,
			    struct p53_zone_sigs *out)
{
	memset(out, 0, sizeof(*out));
	if (i >= s->nzones)
		return;
	const struct snap_zone *z = &s->zones[i];
	for (uint32_t n = z->apex; n < z->apex + z->nodes; n++) {
		const struct snap_node *nd = &s->nodes[n];
		for (uint32_t k = nd->rrset; k < nd->rrset + nd->nrrsets; k++) {
			const struct snap_rrset *rs = &s->rrsets[k];
			if (rs->type != RR_RRSIG)
				continue;
			const uint8_t *p = s->rdata + rs->rdata, *end = p + rs->len;
			for (uint16_t r = 0; r < rs->count && end - p >= 2; r++) {
				size_t len = (size_t)p[0] << 8 | p[1];
				p += 2;
				if ((size_t)(end - p) < len)
					break;
				if (len >= 18) { /* type, alg, labels, TTL, expiration, inception */
					int64_t exp = serial_time(rd32(p + 8), now);
					int64_t inc = serial_time(rd32(p + 12), now);
					if (out->count == 0 || exp < out->earliest_expiry)
						out->earliest_expiry = exp;
					if (out->count == 0 || inc > out->latest_inception)
						out->latest_inception = inc;
					out->count++;
				}
				p += len;
			}
		}
	}
}
