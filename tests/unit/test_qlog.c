/* Query logging: the SPSC ring (order, wrap-around, drops when full, two
 * threads), sampling, record extraction from crafted and malformed messages,
 * JSON formatting, and the logger end to end into a file. */
#include "check.h"

#include "ctrl/qlog/qlog.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

static void rec_seq(struct qlog_rec *r, uint64_t seq)
{
	memset(r, 0, sizeof(*r));
	r->time_ns = seq;
	r->fw_rule = QLOG_RULE_NONE;
}

static void test_ring_basic(void)
{
	struct qlog_ring r;
	struct qlog_rec in, out[8];
	CHECK_EQ(qlog_ring_init(&r, 3, 1), 0);
	CHECK_EQ(r.mask + 1, 4); /* rounded up to a power of two */
	CHECK_EQ(qlog_pop(&r, out, 8), 0);
	/* Wrap around several times with a partly full ring. */
	uint64_t next_in = 0, next_out = 0;
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 3; i++) {
			rec_seq(&in, next_in++);
			CHECK(qlog_push(&r, &in));
		}
		CHECK_EQ(qlog_ring_used(&r), 3);
		size_t n = qlog_pop(&r, out, 2);
		CHECK_EQ(n, 2);
		n += qlog_pop(&r, out + 2, 8);
		CHECK_EQ(n, 3);
		for (size_t i = 0; i < n; i++)
			CHECK_EQ(out[i].time_ns, next_out++);
	}
	/* Full: the fifth record is dropped and counted, the four kept. */
	for (int i = 0; i < 4; i++) {
		rec_seq(&in, 100 + (uint64_t)i);
		CHECK(qlog_push(&r, &in));
	}
	rec_seq(&in, 999);
	CHECK(!qlog_push(&r, &in));
	CHECK(!qlog_push(&r, &in));
	CHECK_EQ(atomic_load(&r.dropped), 2);
	CHECK_EQ(atomic_load(&r.pushed), 34);
	CHECK_EQ(qlog_pop(&r, out, 8), 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(out[i].time_ns, 100 + i);
	/* Room again after the pop. */
	CHECK(qlog_push(&r, &in));
	CHECK_EQ(qlog_pop(&r, out, 8), 1);
	CHECK_EQ(out[0].time_ns, 999);
	qlog_ring_fini(&r);
}

static void test_sampling(void)
{
	struct qlog_ring r;
	CHECK_EQ(qlog_ring_init(&r, 16, 4), 0);
	int hits = 0;
	for (int i = 0; i < 100; i++)
		hits += qlog_sampled(&r);
	CHECK_EQ(hits, 25);
	CHECK_EQ(atomic_load(&r.seen), 100);
	qlog_ring_fini(&r);
	CHECK_EQ(qlog_ring_init(&r, 16, 0), 0); /* 0 = every query */
	hits = 0;
	for (int i = 0; i < 10; i++)
		hits += qlog_sampled(&r);
	CHECK_EQ(hits, 10);
	qlog_ring_fini(&r);
}

/* www.example.com A, RD, with an OPT carrying ECS 198.51.100.0/24. */
static const uint8_t query_ecs[] = {
    0x12, 0x34, 0x01, 0x00, 0,	 1,   0,    0,	  0,   0,  0,	1,   3,	  'w', 'W',
    'w',  7,	'e',  'x',  'a', 'm', 'p',  'l',  'e', 3,  'c', 'o', 'm', 0,   0,
    1,	  0,	1,    0,    0,	 41,  0x04, 0xd0, 0,   0,  0,	0,   0,	  11, /* OPT, rdlen 11 */
    0,	  8,	0,    7,    0,	 1,   24,   0,	  198, 51, 100,		      /* ECS family 1 /24 */
};

/* The response header: ID, QR AA RD, NXDOMAIN. */
static const uint8_t resp_hdr[] = {0x12, 0x34, 0x85, 0x03, 0, 1, 0, 0, 0, 0, 0, 0};

static void test_extract(void)
{
	struct p53_client cl = {.family = 6, .transport = P53_TCP, .port = 4242};
	cl.addr[0] = 0x20;
	cl.addr[1] = 0x01;
	cl.addr[2] = 0x0d;
	cl.addr[3] = 0xb8;
	cl.addr[15] = 1;
	struct qlog_rec rec;
	CHECK_EQ(qlog_rec_from(query_ecs, sizeof(query_ecs), resp_hdr, sizeof(resp_hdr), &cl, &rec),
		 0);
	CHECK_EQ(rec.id, 0x1234);
	CHECK_EQ(rec.qname_len, 17);
	CHECK(memcmp(rec.qname, query_ecs + 12, 17) == 0);
	CHECK_EQ(rec.qtype, 1);
	CHECK_EQ(rec.qclass, 1);
	CHECK_EQ(rec.edns, 1);
	CHECK_EQ(rec.ecs_family, 1);
	CHECK_EQ(rec.ecs_src, 24);
	CHECK_EQ(rec.ecs_addr[0], 198);
	CHECK_EQ(rec.ecs_addr[2], 100);
	CHECK_EQ(rec.ecs_addr[3], 0);
	CHECK_EQ(QLOG_RCODE(&rec), 3);
	CHECK_EQ(QLOG_AA(&rec), 1);
	CHECK_EQ(QLOG_TC(&rec), 0);
	CHECK_EQ(rec.resp_len, 12);
	CHECK_EQ(rec.port, 4242);
	CHECK_EQ(rec.fw_rule, QLOG_RULE_NONE);
	CHECK(rec.time_ns > 1500000000ull * 1000000000ull);

	char line[QLOG_JSON_MAX];
	rec.time_ns = 1700000000123456789ull;
	rec.worker = 3;
	size_t n = qlog_format_json(&rec, line, sizeof(line));
	CHECK(n > 0 && line[n - 1] == '\n');
	CHECK(strstr(line, "\"query_timestamp\":\"2023-11-14T22:13:20.123456Z\"") != NULL);
	CHECK(strstr(line, "\"query_name\":\"wWw.example.com.\"") != NULL);
	CHECK(strstr(line, "\"query_type\":\"A\",\"query_class\":\"IN\"") != NULL);
	CHECK(strstr(line, "\"rcode\":\"NXDOMAIN\",\"protocol\":\"TCP\"") != NULL);
	CHECK(strstr(line, "\"resolver_ip\":\"2001:db8::1\",\"resolver_port\":4242") != NULL);
	CHECK(strstr(line, "\"edns_client_subnet\":\"198.51.100.0/24\"") != NULL);
	CHECK(strstr(line, "\"aa\":true,\"tc\":false,\"response_size\":12,\"worker\":3") != NULL);
	CHECK(strstr(line, "\"firewall_rule\":null}") != NULL);
	CHECK_EQ(qlog_format_json(&rec, line, 40), 0); /* too small: nothing half-written */
	rec.fw_rule = 7;
	n = qlog_format_json(&rec, line, sizeof(line));
	CHECK(strstr(line, "\"firewall_rule\":7}\n") != NULL);

	/* A name needing escapes: '"' and '\' in a label, and a control byte. */
	uint8_t q2[64] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 'a', '"', '\\', 1, 0, 0, 16, 0, 1};
	CHECK_EQ(qlog_rec_query(&rec, q2, 22, NULL), 0);
	qlog_format_json(&rec, line, sizeof(line));
	CHECK(strstr(line, "\"query_name\":\"a\\\\\\\"\\\\\\\\\\\\001.\"") != NULL);
	CHECK(strstr(line, "\"rcode\":null") != NULL); /* no response */
	CHECK(strstr(line, "\"resolver_ip\":null") != NULL);
}

static void test_malformed(void)
{
	struct qlog_rec rec;
	uint8_t m[sizeof(query_ecs)];
	/* Every truncation of the question fails cleanly (ASan watches the
	 * reads: the copy is exactly len bytes on the heap). */
	for (size_t len = 0; len < 12 + 17 + 4; len++) {
		uint8_t *h = malloc(len ? len : 1);
		memcpy(h, query_ecs, len);
		CHECK_EQ(qlog_rec_query(&rec, h, len, NULL), -1);
		CHECK_EQ(rec.qname_len, 0);
		free(h);
	}
	/* Truncated inside the OPT: the question is kept, ECS is not. */
	for (size_t len = 12 + 17 + 4; len < sizeof(query_ecs); len++) {
		uint8_t *h = malloc(len);
		memcpy(h, query_ecs, len);
		CHECK_EQ(qlog_rec_query(&rec, h, len, NULL), 0);
		CHECK_EQ(rec.qname_len, 17);
		CHECK_EQ(rec.ecs_family, 0);
		free(h);
	}
	/* qdcount 0. */
	memcpy(m, query_ecs, sizeof(m));
	m[5] = 0;
	CHECK_EQ(qlog_rec_query(&rec, m, sizeof(m), NULL), -1);
	/* A compression pointer in the question. */
	memcpy(m, query_ecs, sizeof(m));
	m[16] = 0xc0;
	CHECK_EQ(qlog_rec_query(&rec, m, sizeof(m), NULL), -1);
	/* A label over 63. */
	memcpy(m, query_ecs, sizeof(m));
	m[12] = 64;
	CHECK_EQ(qlog_rec_query(&rec, m, sizeof(m), NULL), -1);
	/* A name over 255 bytes. */
	uint8_t big[12 + 300 + 4] = {0, 0, 0, 0, 0, 1};
	for (size_t o = 12; o < 12 + 256; o += 64)
		big[o] = 63;
	CHECK_EQ(qlog_rec_query(&rec, big, sizeof(big), NULL), -1);
	/* ECS with an address longer than its family allows is ignored. */
	uint8_t e[sizeof(query_ecs) + 2];
	memcpy(e, query_ecs, sizeof(query_ecs));
	e[sizeof(query_ecs)] = 1;
	e[sizeof(query_ecs) + 1] = 2;
	e[43] = 13; /* OPT rdlen */
	e[47] = 9;  /* option length: 4 + 5 address bytes */
	CHECK_EQ(qlog_rec_query(&rec, e, sizeof(e), NULL), 0);
	CHECK_EQ(rec.edns, 1);
	CHECK_EQ(rec.ecs_family, 0);
	e[43] = 11; /* back to the well-formed option */
	e[47] = 7;
	CHECK_EQ(qlog_rec_query(&rec, e, sizeof(query_ecs), NULL), 0);
	CHECK_EQ(rec.ecs_family, 1);
	/* A short response leaves the flags at zero. */
	qlog_rec_response(&rec, resp_hdr, 5);
	CHECK_EQ(rec.rflags, 0);
	CHECK_EQ(rec.resp_len, 5);
}

/* Two threads: a producer that never overfills the ring (it waits for room
 * before pushing) and a consumer; every record arrives once, in order. */
#define SPSC_COUNT 200000u

struct spsc {
	struct qlog_ring r;
	uint64_t got, bad;
};

static void *consumer(void *arg)
{
	struct spsc *s = arg;
	struct qlog_rec out[64];
	while (s->got < SPSC_COUNT) {
		size_t n = qlog_pop(&s->r, out, 64);
		if (n == 0) {
			sched_yield();
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			/* The name bytes check that a slot is not read torn. */
			if (out[i].time_ns != s->got || out[i].qname[0] != (uint8_t)s->got ||
			    out[i].qname[254] != (uint8_t)(s->got >> 8))
				s->bad++;
			s->got++;
		}
	}
	return NULL;
}

static void test_two_threads(void)
{
	struct spsc *s = calloc(1, sizeof(*s));
	CHECK_EQ(qlog_ring_init(&s->r, 256, 1), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, consumer, s), 0);
	struct qlog_rec rec;
	unsigned fails = 0;
	for (uint64_t i = 0; i < SPSC_COUNT; i++) {
		while (qlog_ring_used(&s->r) > s->r.mask)
			sched_yield();
		rec_seq(&rec, i);
		rec.qname[0] = (uint8_t)i;
		rec.qname[254] = (uint8_t)(i >> 8);
		if (!qlog_push(&s->r, &rec))
			fails++;
	}
	pthread_join(th, NULL);
	CHECK_EQ(fails, 0);
	CHECK_EQ(s->got, SPSC_COUNT);
	CHECK_EQ(s->bad, 0);
	CHECK_EQ(atomic_load(&s->r.dropped), 0);
	CHECK_EQ(atomic_load(&s->r.pushed), SPSC_COUNT);
	qlog_ring_fini(&s->r);
	free(s);
}

/* The logger: two worker rings, sampling 1 in 2, a reopen after a rename. */
static void test_logger(void)
{
	char dir[] = "/tmp/p53qlogXXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128], rotated[128];
	snprintf(path, sizeof(path), "%s/q.jsonl", dir);
	snprintf(rotated, sizeof(rotated), "%s/q.jsonl.1", dir);
	struct p53_err err = {0};
	struct qlog_cfg cfg = {.json_path = path, .sample = 2, .ring_size = 64, .drain_ms = 5};
	struct qlog *q = qlog_start(&cfg, 2, &err);
	CHECK(q != NULL);
	if (q == NULL)
		return;
	CHECK(qlog_ring(q, 2) == NULL);
	struct qlog_rec rec;
	for (unsigned w = 0; w < 2; w++) {
		struct qlog_ring *r = qlog_ring(q, w);
		for (int i = 0; i < 10; i++) {
			if (!qlog_sampled(r))
				continue;
			qlog_rec_from(query_ecs, sizeof(query_ecs), resp_hdr, sizeof(resp_hdr),
				      NULL, &rec);
			rec.worker = (uint16_t)w;
			qlog_push(r, &rec);
		}
	}
	/* Wait (bounded) for the drain thread to write all 10. */
	struct qlog_stats st;
	for (int i = 0; i < 400; i++) {
		qlog_stats(q, -1, &st);
		if (st.written == 10)
			break;
		usleep(5000);
	}
	CHECK_EQ(st.seen, 20);
	CHECK_EQ(st.pushed, 10);
	CHECK_EQ(st.written, 10);
	qlog_stats(q, 1, &st);
	CHECK_EQ(st.pushed, 5);
	CHECK_EQ(rename(path, rotated), 0);
	qlog_reopen(q);
	for (int i = 0; i < 400; i++) {
		qlog_stats(q, -1, &st);
		if (st.reopens == 1)
			break;
		usleep(5000);
	}
	CHECK_EQ(st.reopens, 1);
	qlog_push(qlog_ring(q, 0), &rec);
	qlog_stop(q);
	/* 10 lines in the rotated file, 1 in the new one. */
	const char *files[2] = {rotated, path};
	int want[2] = {10, 1};
	for (int f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "r");
		CHECK(fp != NULL);
		if (fp == NULL)
			continue;
		char line[QLOG_JSON_MAX];
		int lines = 0;
		while (fgets(line, sizeof(line), fp)) {
			lines++;
			CHECK(strstr(line, "\"query_name\":\"wWw.example.com.\"") != NULL);
		}
		fclose(fp);
		CHECK_EQ(lines, want[f]);
		unlink(files[f]);
	}
	rmdir(dir);

	cfg.json_path = "/nonexistent/dir/q.jsonl";
	CHECK(qlog_start(&cfg, 1, &err) == NULL);
	CHECK(strstr(err.msg, "/nonexistent/dir/q.jsonl") != NULL);
}

int main(void)
{
	test_ring_basic();
	test_sampling();
	test_extract();
	test_malformed();
	test_two_threads();
	test_logger();
	return check_report("qlog");
}
