/* DNS over TCP framing (ctrl/net/tcpframe.c) driven as tcpsrv.c drives it,
 * with reads and sends cut where the input says, against a reference that
 * parses the same stream on its own.
 *
 * Input: byte 0 picks the backlog limit, bytes 1-4 the sizes of successive
 * reads, bytes 5-8 how many bytes the client's socket takes after each
 * answer run (0: it would block), the rest is the byte stream the client
 * sends. A message is "answered" by a stand-in for the engine: empty or
 * starting 0xff is not a query (nothing after it is read); 0xfe is
 * answered later by nobody (silent); 0xfd starts a stream of 1 to 5
 * pumped messages (a zone transfer); any other is answered with its bytes
 * + 1, repeated 1 to 4 times.
 *
 * Checks: what the client receives is exactly the reference's frames, in
 * order, up to the first bad message; the unsent output stays within the
 * limit plus one answer and one pumped message; the output buffer does not
 * grow past twice that.
 */
#include "fuzz/fuzz.h"

#include "ctrl/net/tcpframe.h"

#include <stdlib.h>
#include <string.h>

#define IN_CAP	 (2 + TCPFRAME_MSG_MAX)
#define PUMP_LEN 300

struct sim {
	size_t take;  /* what the socket takes before it would block */
	unsigned job; /* pumped messages left */
	unsigned jobseq;
	uint8_t *got;
	size_t ngot, gotcap;
};

static uint8_t frame[2 + TCPFRAME_MSG_MAX];
static uint8_t inbuf[IN_CAP];
static uint8_t pumpframe[2 + PUMP_LEN];
/* The harness's own buffers (what the client got, what it expects) are
 * kept from one input to the next: allocating and poisoning 64 KiB twice
 * per input cost more than the framing under test. Only their first
 * ngot / rl bytes are ever read. */
static uint8_t *got_buf, *ref_buf;
static size_t got_cap, ref_cap;

static void got(struct sim *s, const uint8_t *b, size_t n)
{
	if (n == 0)
		return;
	if (s->ngot + n > s->gotcap) {
		size_t cap = s->gotcap ? s->gotcap : 65536;
		while (cap < s->ngot + n)
			cap *= 2;
		uint8_t *p = realloc(s->got, cap);
		if (p == NULL)
			abort();
		s->got = p;
		s->gotcap = cap;
	}
	memcpy(s->got + s->ngot, b, n);
	s->ngot += n;
}

static ssize_t sim_send(void *arg, const uint8_t *buf, size_t len)
{
	struct sim *s = arg;
	size_t n = len < s->take ? len : s->take;
	s->take -= n;
	got(s, buf, n);
	return (ssize_t)n;
}

static int sim_pump(void *arg, struct tcpframe_out *o, size_t out_max);

/* The stand-in engine; the reference below must agree with it. */
static size_t answer_len(const uint8_t *m, size_t len)
{
	size_t r = len * ((size_t)(m[len - 1] & 3) + 1);
	return r > TCPFRAME_MSG_MAX ? TCPFRAME_MSG_MAX : r;
}

static enum tcpframe_verdict sim_answer(void *arg, const uint8_t *m, size_t len, uint8_t *resp,
					size_t room, size_t *rlen)
{
	struct sim *s = arg;
	if (len == 0 || m[0] == 0xff)
		return TCPFRAME_BAD;
	if (m[0] == 0xfe)
		return TCPFRAME_SILENT;
	if (m[0] == 0xfd) {
		s->job = (unsigned)(len > 1 ? m[1] % 5 : 0) + 1;
		return TCPFRAME_SILENT;
	}
	size_t r = answer_len(m, len);
	if (r > room)
		abort();
	for (size_t i = 0; i < r; i++)
		resp[i] = (uint8_t)(m[i % len] + 1);
	*rlen = r;
	return TCPFRAME_ANSWER;
}

static const struct tcpframe_ops ops = {.pump = sim_pump, .answer = sim_answer, .send = sim_send};

static void make_pumped(unsigned seq)
{
	pumpframe[0] = PUMP_LEN >> 8;
	pumpframe[1] = PUMP_LEN & 0xff;
	memset(pumpframe + 2, (int)(seq & 0xff), PUMP_LEN);
}

static int sim_pump(void *arg, struct tcpframe_out *o, size_t out_max)
{
	struct sim *s = arg;
	while (s->job && tcpframe_pending(o) <= out_max) {
		make_pumped(s->jobseq++);
		if (tcpframe_push(o, pumpframe, sizeof(pumpframe)) != 0)
			return -1;
		s->job--;
		if (!tcpframe_flush(o, &ops, s))
			return -1;
	}
	return s->job != 0;
}

/* The frames a client must receive for stream, parsed here on its own. */
static uint8_t *reference(const uint8_t *st, size_t n, size_t *outlen)
{
	size_t cap = ref_cap ? ref_cap : 65536, len = 0, off = 0;
	unsigned seq = 0;
	uint8_t *out = ref_buf ? ref_buf : malloc(cap);
	if (out == NULL)
		abort();
	while (n - off >= 2) {
		size_t ml = (size_t)st[off] << 8 | st[off + 1];
		if (n - off - 2 < ml)
			break;
		const uint8_t *m = st + off + 2;
		off += 2 + ml;
		if (ml == 0 || m[0] == 0xff)
			break;
		size_t add = 0;
		unsigned jobs = 0;
		if (m[0] == 0xfd)
			jobs = (unsigned)(ml > 1 ? m[1] % 5 : 0) + 1;
		else if (m[0] != 0xfe)
			add = 2 + answer_len(m, ml);
		size_t need = len + add + jobs * (2 + PUMP_LEN);
		if (need > cap) {
			while (cap < need)
				cap *= 2;
			uint8_t *p = realloc(out, cap);
			if (p == NULL)
				abort();
			out = p;
		}
		for (unsigned j = 0; j < jobs; j++) {
			make_pumped(seq++);
			memcpy(out + len, pumpframe, sizeof(pumpframe));
			len += sizeof(pumpframe);
		}
		if (add) {
			size_t r = add - 2;
			out[len] = (uint8_t)(r >> 8);
			out[len + 1] = (uint8_t)r;
			for (size_t i = 0; i < r; i++)
				out[len + 2 + i] = (uint8_t)(m[i % ml] + 1);
			len += add;
		}
	}
	*outlen = len;
	ref_buf = out;
	ref_cap = cap;
	return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[8] = {0, 1, 16, 100, 512, 4096, 65536, 1u << 20};
	if (size < 9)
		return 0;
	size_t out_max = limits[data[0] & 7];
	size_t reads[4], takes[4];
	for (int i = 0; i < 4; i++) {
		reads[i] = data[1 + i] ? (size_t)data[1 + i] * (data[0] & 0x80 ? 257 : 1) : IN_CAP;
		takes[i] = data[5 + i] ? (size_t)data[5 + i] * (data[0] & 0x40 ? 257 : 1) : 0;
	}
	const uint8_t *st = data + 9;
	size_t n = size - 9, pos = 0, inlen = 0;
	struct sim s = {.got = got_buf, .gotcap = got_cap};
	struct tcpframe_out o = {0};
	bool open = true, paused = false;
	const size_t bound = out_max + 2 + TCPFRAME_MSG_MAX + 2 + PUMP_LEN;
	for (unsigned round = 0;; round++) {
		if (round > 10000000)
			abort(); /* no progress: a hang */
		size_t before = pos + s.ngot;
		if (open && !paused && pos < n && inlen < IN_CAP) {
			size_t k = reads[round % 4];
			k = k < IN_CAP - inlen ? k : IN_CAP - inlen;
			k = k < n - pos ? k : n - pos;
			memcpy(inbuf + inlen, st + pos, k);
			inlen += k;
			pos += k;
		}
		s.take = takes[round % 4];
		size_t used = 0;
		enum tcpframe_stop stop = TCPFRAME_MORE;
		if (open)
			stop = tcpframe_run(&o, frame, sizeof(frame), inbuf, inlen, out_max, &ops,
					    &s, &used);
		else if (!tcpframe_flush(&o, &ops, &s))
			abort();
		if (stop == TCPFRAME_CLOSE || used > inlen || sim_pump(&s, &o, out_max) < 0)
			abort();
		if (tcpframe_pending(&o) > bound || o.cap > 2 * bound + 4096)
			abort();
		memmove(inbuf, inbuf + used, inlen - used);
		inlen -= used;
		if (stop == TCPFRAME_STOP_BAD)
			open = false;
		paused = s.job || tcpframe_pending(&o) > out_max;
		bool input_done = !open || (pos == n && stop == TCPFRAME_MORE);
		if (input_done && !s.job && tcpframe_pending(&o) == 0)
			break;
		/* The client reads when nothing else moves. */
		if (pos + s.ngot == before && used == 0) {
			s.take = SIZE_MAX;
			if (!tcpframe_flush(&o, &ops, &s) || sim_pump(&s, &o, out_max) < 0)
				abort();
		}
	}
	size_t rl;
	uint8_t *ref = reference(st, n, &rl);
	if (rl != s.ngot || (rl && memcmp(ref, s.got, rl) != 0))
		abort();
	got_buf = s.got;
	got_cap = s.gotcap;
	tcpframe_out_free(&o);
	return 0;
}
