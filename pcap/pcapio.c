#include "pcapio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAGIC_USEC 0xa1b2c3d4u
#define MAGIC_NSEC 0xa1b23c4du
#define SNAPLEN	   65535u

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* files are written in host order, as libpcap does */
}

int p53_pcap_create(struct p53_pcap_writer *w, const char *path, uint32_t linktype)
{
	uint8_t h[24];
	w->f = fopen(path, "wb");
	if (!w->f)
		return -errno;
	w->linktype = linktype;
	put32(h, MAGIC_NSEC);
	uint16_t major = 2, minor = 4;
	memcpy(h + 4, &major, 2);
	memcpy(h + 6, &minor, 2);
	put32(h + 8, 0);  /* thiszone */
	put32(h + 12, 0); /* sigfigs */
	put32(h + 16, SNAPLEN);
	put32(h + 20, linktype);
	if (fwrite(h, sizeof(h), 1, w->f) != 1) {
		int e = errno ? -errno : -EIO;
		fclose(w->f);
		w->f = NULL;
		return e;
	}
	return 0;
}

int p53_pcap_write(struct p53_pcap_writer *w, uint64_t ts_ns, const void *pkt, size_t len)
{
	uint8_t h[16];
	if (len > SNAPLEN)
		return -EMSGSIZE;
	put32(h, (uint32_t)(ts_ns / 1000000000u));
	put32(h + 4, (uint32_t)(ts_ns % 1000000000u));
	put32(h + 8, (uint32_t)len);
	put32(h + 12, (uint32_t)len);
	if (fwrite(h, sizeof(h), 1, w->f) != 1 || fwrite(pkt, len, 1, w->f) != 1)
		return errno ? -errno : -EIO;
	return 0;
}

int p53_pcap_close(struct p53_pcap_writer *w)
{
	if (!w->f)
		return 0;
	int rc = fclose(w->f) == 0 ? 0 : -errno;
	w->f = NULL;
	return rc;
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static uint32_t get32(const uint8_t *p, bool swap)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

int p53_pcap_load(const char *path, size_t max, struct p53_pcap *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	FILE *f = fopen(path, "rb");
	if (!f)
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 24) {
		fclose(f);
		return fail(err, errlen, -EINVAL, "%s: not a pcap file (too short)", path);
	}
	/* Offsets are 32-bit to keep the index small; 4 GiB of queries is
	 * far more than any replay needs. */
	if ((uint64_t)st.st_size > UINT32_MAX) {
		fclose(f);
		return fail(err, errlen, -EFBIG, "%s: larger than 4 GiB", path);
	}
	size_t size = (size_t)st.st_size;
	uint8_t *d = malloc(size);
	if (!d) {
		fclose(f);
		return fail(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	size_t got = fread(d, 1, size, f);
	fclose(f);
	if (got != size) {
		free(d);
		return fail(err, errlen, -EIO, "%s: short read", path);
	}

	uint32_t magic;
	memcpy(&magic, d, 4);
	bool swap = false, nsec;
	if (magic == MAGIC_USEC || magic == MAGIC_NSEC) {
		nsec = magic == MAGIC_NSEC;
	} else if (__builtin_bswap32(magic) == MAGIC_USEC ||
		   __builtin_bswap32(magic) == MAGIC_NSEC) {
		swap = true;
		nsec = __builtin_bswap32(magic) == MAGIC_NSEC;
	} else {
		free(d);
		return fail(err, errlen, -EINVAL, "%s: not a classic pcap file (pcapng?)", path);
	}

	/* Count first so the index is one allocation. */
	size_t n = 0;
	size_t pos = 24;
	while (pos + 16 <= size && (max == 0 || n < max)) {
		uint32_t incl = get32(d + pos + 8, swap);
		if (incl > SNAPLEN * 4 || pos + 16 + incl > size)
			break; /* a truncated last record is ignored, as tcpdump does */
		pos += 16 + (size_t)incl;
		n++;
	}
	struct p53_pcap_pkt *pk = calloc(n ? n : 1, sizeof(*pk));
	if (!pk) {
		free(d);
		return fail(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	pos = 24;
	for (size_t i = 0; i < n; i++) {
		uint32_t sec = get32(d + pos, swap), frac = get32(d + pos + 4, swap);
		uint32_t incl = get32(d + pos + 8, swap);
		pk[i].ts_ns = (uint64_t)sec * 1000000000u + (nsec ? frac : (uint64_t)frac * 1000u);
		pk[i].off = (uint32_t)(pos + 16);
		pk[i].len = incl;
		pos += 16 + (size_t)incl;
	}
	out->linktype = get32(d + 20, swap);
	out->data = d;
	out->data_len = size;
	out->pkts = pk;
	out->n = n;
	return 0;
}

void p53_pcap_free(struct p53_pcap *c)
{
	free(c->data);
	free(c->pkts);
	memset(c, 0, sizeof(*c));
}
