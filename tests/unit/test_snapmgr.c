/* The snapshot manager under concurrency: reader threads answer queries from
 * the live snapshot nonstop while the main thread swaps hundreds of times;
 * every reader must see a complete snapshot (its per-load state agrees with
 * it), and nothing may be freed under a reader (AddressSanitizer catches a
 * use after free). Failed loads change nothing; a reader that never reports
 * makes the swap defer the free instead of freeing under it. Runs with the
 * portable QSBR and, when built with DPDK, with rte_rcu_qsbr. */
#include "ctrl/snap/qsbr.h"
#include "ctrl/snap/snapmgr.h"
#include "tests/unit/check.h"
#include "zones/answer/answer.h"
#include "zones/compile/compile.h"
#ifdef P53_TEST_DPDK
#include "ctrl/snap/qsbr_dpdk.h"
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NREADERS 3
#define NSWAPS	 300

static char dir[64];
static char paths[2][128];
static char bad_path[128];
static atomic_int builds, destroys;
static atomic_bool fail_build;

struct state {
	uint64_t serial;
};

static int build(void *arg, const struct p53_snapshot *snap, void **out, struct p53_err *err)
{
	(void)arg;
	if (atomic_load(&fail_build))
		return p53_err_set(err, P53_EINVAL, "test build hook refuses");
	struct state *st = malloc(sizeof(*st));
	struct p53_snapshot_info in;
	p53_snapshot_info(snap, &in);
	st->serial = in.serial;
	*out = st;
	atomic_fetch_add(&builds, 1);
	return 0;
}

static void destroy(void *arg, void *state)
{
	(void)arg;
	/* Poison first: a reader still using it would see a wrong serial even
	 * without ASan. */
	((struct state *)state)->serial = 0xdead;
	free(state);
	atomic_fetch_add(&destroys, 1);
}

struct reader {
	pthread_t t;
	unsigned id;
	struct snapmgr *m;
	struct qsbr *q;
	atomic_bool *stop;
	uint64_t iterations, bad, offline_naps;
};

static size_t make_query(uint8_t *q)
{
	static const uint8_t name[] = "\3www\7example\3com";
	memset(q, 0, 12);
	q[0] = 0x12;
	q[5] = 1; /* QDCOUNT */
	memcpy(q + 12, name, sizeof(name));
	size_t p = 12 + sizeof(name);
	q[p++] = 0;
	q[p++] = 1; /* A */
	q[p++] = 0;
	q[p++] = 1; /* IN */
	return p;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct p53_answer_cfg cfg;
	p53_answer_cfg_default(&cfg);
	struct p53_ctx ctx;
	p53_ctx_init(&ctx, &cfg, r->id + 1);
	struct p53_client client = {.family = 4, .transport = P53_UDP};
	uint8_t q[64], resp[512];
	size_t qlen = make_query(q);
	qsbr_reader_register(r->q, r->id);
	qsbr_online(r->q, r->id);
	/* Bounded: stop flag, or a generous iteration cap. */
	for (uint64_t i = 0; i < 50000000 && !atomic_load(r->stop); i++) {
		const struct snapmgr_live *l = snapmgr_current(r->m);
		struct p53_snapshot_info in;
		p53_snapshot_info(l->snap, &in);
		const struct state *st = l->state;
		if (in.serial != l->serial || st->serial != l->serial)
			r->bad++;
		size_t n = p53_answer(l->snap, q, qlen, &client, &ctx, resp, sizeof(resp));
		if (n < 12 || (resp[3] & 15) != 0)
			r->bad++;
		/* Re-read after work: still the same object for this reader. */
		if (((const struct state *)l->state)->serial != in.serial)
			r->bad++;
		r->iterations++;
		qsbr_quiescent(r->q, r->id);
		if (r->id == 0 && i % 512 == 0) {
			/* Sleep offline now and then, as ksock does in epoll_wait. */
			qsbr_offline(r->q, r->id);
			usleep(100);
			qsbr_online(r->q, r->id);
			r->offline_naps++;
		}
	}
	qsbr_offline(r->q, r->id);
	qsbr_reader_unregister(r->q, r->id);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void run(const char *name, struct qsbr *q)
{
	atomic_store(&builds, 0);
	atomic_store(&destroys, 0);
	struct snapmgr_cfg mc = {.qsbr = q, .build = build, .destroy = destroy};
	struct p53_err err = {0};
	struct snapmgr *m = snapmgr_new(&mc, &err);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK(snapmgr_current(m) == NULL);
	CHECK_EQ(snapmgr_load(m, paths[0], NULL, NULL, &err), 0);
	CHECK_EQ(snapmgr_current(m)->serial, 100);

	atomic_bool stop = false;
	struct reader rd[NREADERS];
	for (unsigned i = 0; i < NREADERS; i++) {
		rd[i] = (struct reader){.id = i, .m = m, .q = q, .stop = &stop};
		pthread_create(&rd[i].t, NULL, reader_main, &rd[i]);
	}
	usleep(20000);
	static uint64_t lat[NSWAPS];
	for (int i = 0; i < NSWAPS; i++) {
		struct snapmgr_swap sw;
		struct p53_err e = {0};
		int rc =
		    snapmgr_load_flags(m, paths[(i + 1) % 2], "test", SNAPMGR_ALLOW_OLDER, &sw, &e);
		CHECK_EQ(rc, 0);
		CHECK(!sw.deferred);
		lat[i] = sw.swap_ns;
		/* Published and freed synchronously: one live state left. */
		CHECK_EQ(atomic_load(&builds) - atomic_load(&destroys), 1);
		if (i % 50 == 0) {
			/* A failed load in the middle changes nothing. */
			uint64_t before = snapmgr_current(m)->generation;
			struct p53_err e2 = {0};
			CHECK(snapmgr_load(m, bad_path, NULL, NULL, &e2) != 0);
			CHECK(strstr(e2.msg, "checksum mismatch") != NULL);
			CHECK_EQ(snapmgr_current(m)->generation, before);
			atomic_store(&fail_build, true);
			struct p53_err e3 = {0};
			CHECK(snapmgr_load(m, paths[0], NULL, NULL, &e3) != 0);
			CHECK(strstr(e3.msg, "refuses") != NULL);
			atomic_store(&fail_build, false);
			CHECK_EQ(snapmgr_current(m)->generation, before);
		}
	}
	atomic_store(&stop, true);
	uint64_t iters = 0, bad = 0;
	for (unsigned i = 0; i < NREADERS; i++) {
		pthread_join(rd[i].t, NULL);
		iters += rd[i].iterations;
		bad += rd[i].bad;
	}
	CHECK_EQ(bad, 0);
	CHECK(iters > NSWAPS);
	qsort(lat, NSWAPS, sizeof(lat[0]), cmp_u64);
	printf("%s: %d swaps under %d busy readers (%llu reads): swap latency (publish -> old "
	       "freed) median %.1f us, p99 %.1f us, max %.1f us\n",
	       name, NSWAPS, NREADERS, (unsigned long long)iters, (double)lat[NSWAPS / 2] / 1e3,
	       (double)lat[NSWAPS * 99 / 100] / 1e3, (double)lat[NSWAPS - 1] / 1e3);

	/* Stuck reader: online, never quiescent. The swap must not free what
	 * it may hold, and must come back within the timeout. */
	snapmgr_free(m);
	mc.sync_timeout_ms = 50;
	m = snapmgr_new(&mc, &err);
	atomic_store(&builds, 0);
	atomic_store(&destroys, 0);
	CHECK_EQ(snapmgr_load(m, paths[0], NULL, NULL, &err), 0);
	qsbr_reader_register(q, 0);
	qsbr_online(q, 0);
	const struct snapmgr_live *held = snapmgr_current(m);
	struct snapmgr_swap sw;
	CHECK_EQ(snapmgr_load(m, paths[1], NULL, &sw, &err), 0);
	CHECK(sw.deferred);
	CHECK_EQ(atomic_load(&destroys), 0);
	CHECK_EQ(((const struct state *)held->state)->serial, 100); /* still valid */
	qsbr_quiescent(q, 0);
	qsbr_offline(q, 0);
	CHECK_EQ(snapmgr_load_flags(m, paths[0], NULL, SNAPMGR_ALLOW_OLDER, &sw, &err), 0);
	CHECK(!sw.deferred);
	CHECK_EQ(atomic_load(&destroys), 2); /* the retired one and the last */
	qsbr_reader_unregister(q, 0);
	snapmgr_free(m);
	CHECK_EQ(atomic_load(&builds), atomic_load(&destroys));
	qsbr_destroy(q);
}

static void test_signature_required(void)
{
	struct qsbr *q = qsbr_simple_new(1);
	char priv[160], pub[160];
	snprintf(priv, sizeof(priv), "%s/k.key", dir);
	snprintf(pub, sizeof(pub), "%s/k.pub", dir);
	struct p53_err err = {0};
	CHECK_EQ(p53_keygen(priv, pub, &err), 0);
	const char *keys[] = {pub};
	struct snapmgr_cfg mc = {.qsbr = q, .trusted_keys = keys, .ntrusted = 1};
	struct snapmgr *m = snapmgr_new(&mc, &err);
	CHECK(m != NULL);
	struct p53_err e1 = {0};
	CHECK(snapmgr_load(m, paths[0], NULL, NULL, &e1) != 0);
	CHECK(strstr(e1.msg, "not signed") != NULL);
	CHECK(snapmgr_current(m) == NULL);
	char signed_path[160];
	snprintf(signed_path, sizeof(signed_path), "%s/signed.p53", dir);
	CHECK_EQ(p53_sign_file(paths[0], priv, signed_path, &err), 0);
	CHECK_EQ(snapmgr_load(m, signed_path, NULL, NULL, &err), 0);
	CHECK(snapmgr_current(m) != NULL);
	snapmgr_free(m);
	qsbr_destroy(q);
	struct snapmgr_cfg bad = {.qsbr = NULL};
	struct p53_err e2 = {0};
	CHECK(snapmgr_new(&bad, &e2) == NULL);
	unlink(priv);
	unlink(pub);
	unlink(signed_path);
}

/* Replay protection: a serial below the live one's is refused unless the
 * caller allows it; the same serial reloads. */
static void test_older_serial(void)
{
	struct qsbr *q = qsbr_simple_new(1);
	struct snapmgr_cfg mc = {.qsbr = q};
	struct p53_err err = {0};
	struct snapmgr *m = snapmgr_new(&mc, &err);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK_EQ(snapmgr_load(m, paths[1], NULL, NULL, &err), 0);
	uint64_t gen = snapmgr_current(m)->generation;
	struct p53_err e1 = {0};
	CHECK(snapmgr_load(m, paths[0], NULL, NULL, &e1) != 0);
	CHECK(strstr(e1.msg, "serial 100 is older than the live serial 101") != NULL);
	CHECK_EQ(snapmgr_current(m)->serial, 101);
	CHECK_EQ(snapmgr_current(m)->generation, gen);
	CHECK_EQ(snapmgr_load(m, paths[1], NULL, NULL, &err), 0); /* same serial: a reload */
	CHECK_EQ(snapmgr_load_flags(m, paths[0], NULL, SNAPMGR_ALLOW_OLDER, NULL, &err), 0);
	CHECK_EQ(snapmgr_current(m)->serial, 100);
	snapmgr_free(m);
	qsbr_destroy(q);
}

/* An origin's copy: an identical file changes nothing, any other must
 * carry a higher serial, so neither a replay nor a file re-made with the
 * live serial gets in. */
static void test_newer_only(void)
{
	char zp[160], other[160];
	snprintf(zp, sizeof(zp), "%s/other.zone", dir);
	snprintf(other, sizeof(other), "%s/other101.p53", dir);
	FILE *f = fopen(zp, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs("$ORIGIN example.com.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n"
	      "@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.99\n",
	      f);
	fclose(f);
	struct p53_zone_input zi = {"example.com.", zp};
	struct p53_compile_opts o = {.serial = 101};
	struct p53_err err = {0};
	CHECK_EQ(p53_compile_file(&zi, 1, &o, other, &err), 0);

	struct qsbr *q = qsbr_simple_new(1);
	struct snapmgr_cfg mc = {.qsbr = q};
	struct snapmgr *m = snapmgr_new(&mc, &err);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK_EQ(snapmgr_load(m, paths[0], NULL, NULL, &err), 0);
	uint64_t gen = snapmgr_current(m)->generation;
	CHECK_EQ(snapmgr_load_flags(m, paths[0], NULL, SNAPMGR_NEWER_ONLY, NULL, &err),
		 SNAPMGR_UNCHANGED);
	CHECK_EQ(snapmgr_current(m)->generation, gen);
	CHECK_EQ(snapmgr_load_flags(m, paths[1], NULL, SNAPMGR_NEWER_ONLY, NULL, &err), 0);
	CHECK_EQ(snapmgr_current(m)->serial, 101);
	struct p53_err e1 = {0}, e2 = {0};
	CHECK(snapmgr_load_flags(m, paths[0], NULL, SNAPMGR_NEWER_ONLY, NULL, &e1) < 0);
	CHECK(strstr(e1.msg, "serial 100 is not above the live serial 101") != NULL);
	CHECK(snapmgr_load_flags(m, other, NULL, SNAPMGR_NEWER_ONLY, NULL, &e2) < 0);
	CHECK(strstr(e2.msg, "serial 101 is not above the live serial 101") != NULL);
	CHECK_EQ(snapmgr_current(m)->generation, gen + 1);
	snapmgr_free(m);
	qsbr_destroy(q);
	unlink(zp);
	unlink(other);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p53-test-snapmgr-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	char zpath[128];
	snprintf(zpath, sizeof(zpath), "%s/z.zone", dir);
	FILE *f = fopen(zpath, "w");
	fputs("$ORIGIN example.com.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n"
	      "@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n",
	      f);
	fclose(f);
	struct p53_zone_input zi = {"example.com.", zpath};
	struct p53_err err = {0};
	for (int i = 0; i < 2; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/s%d.p53", dir, i);
		struct p53_compile_opts o = {.serial = 100 + (uint64_t)i};
		CHECK_EQ(p53_compile_file(&zi, 1, &o, paths[i], &err), 0);
	}
	/* A copy of the first with one byte inside its largest section
	 * flipped. */
	snprintf(bad_path, sizeof(bad_path), "%s/bad.p53", dir);
	FILE *in = fopen(paths[0], "rb");
	uint8_t buf[65536];
	size_t n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	/* Header: nsect at 12, section table at 96 (u32 id, u32, u64 off,
	 * u64 len, u8 sum[16]); padding is covered by no sum, so aim inside. */
	uint32_t nsect;
	memcpy(&nsect, buf + 12, 4);
	uint64_t best_off = 0, best_len = 0;
	for (uint32_t k = 0; k < nsect && 96 + 40 * (k + 1) <= n; k++) {
		uint64_t off, len;
		memcpy(&off, buf + 96 + 40 * k + 8, 8);
		memcpy(&len, buf + 96 + 40 * k + 16, 8);
		if (len > best_len && off + len <= n) {
			best_len = len;
			best_off = off;
		}
	}
	buf[best_off + best_len / 2] ^= 0x20;
	FILE *out = fopen(bad_path, "wb");
	fwrite(buf, 1, n, out);
	fclose(out);

	run("simple qsbr", qsbr_simple_new(NREADERS));
#ifdef P53_TEST_DPDK
	run("rte_rcu_qsbr", qsbr_dpdk_new(NREADERS));
#endif
	test_signature_required();
	test_older_serial();
	test_newer_only();
	for (int i = 0; i < 2; i++)
		unlink(paths[i]);
	unlink(bad_path);
	unlink(zpath);
	rmdir(dir);
	return check_report("snapmgr");
}
