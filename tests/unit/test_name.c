#include "check.h"
#include "zones/common/name.h"

static void test_from_text(void)
{
	uint8_t out[P53_NAME_MAX], origin[P53_NAME_MAX];
	const char *why;
	CHECK_EQ(name_from_text("example.com.", 12, NULL, origin, &why), 13);
	CHECK(memcmp(origin, "\7example\3com", 13) == 0);
	CHECK_EQ(name_from_text("www", 3, origin, out, &why), 17);
	CHECK(memcmp(out, "\3www\7example\3com", 17) == 0);
	CHECK_EQ(name_from_text("@", 1, origin, out, &why), 13);
	CHECK_EQ(name_from_text(".", 1, NULL, out, &why), 1);
	CHECK_EQ(name_from_text("a\\.b.", 5, NULL, out, &why), 5);
	CHECK(memcmp(out, "\3a.b", 5) == 0);
	CHECK_EQ(name_from_text("\\065.", 5, NULL, out, &why), 3);
	CHECK_EQ(out[1], 'A');
	CHECK(name_from_text("\\256.", 5, NULL, out, &why) < 0);
	CHECK(name_from_text("a..b.", 5, NULL, out, &why) < 0);
	CHECK(name_from_text("www", 3, NULL, out, &why) < 0);
	char lab[70];
	memset(lab, 'a', 64);
	lab[64] = '.';
	CHECK(name_from_text(lab, 65, NULL, out, &why) < 0);
	CHECK_STR(why, "label longer than 63 bytes");
	char longname[300];
	for (int i = 0; i < 128; i++) {
		longname[2 * i] = 'a';
		longname[2 * i + 1] = '.';
	}
	CHECK(name_from_text(longname, 256, NULL, out, &why) < 0);
	CHECK_EQ(name_from_text(longname, 254, NULL, out, &why), 255);
}

static void test_to_text_and_order(void)
{
	char txt[1100];
	CHECK_EQ(name_to_text((const uint8_t *)"\3a.b\1\"\0", txt, sizeof(txt)), 8);
	CHECK_STR(txt, "a\\.b.\\\".");
	CHECK_EQ(name_to_text((const uint8_t *)"", txt, sizeof(txt)), 1);
	CHECK_STR(txt, ".");
	CHECK_EQ(name_to_text((const uint8_t *)"\1\x01\0", txt, sizeof(txt)), 5);
	CHECK_STR(txt, "\\001.");
	/* RFC 4034 6.1 example order */
	const char *ord[] = {
	    "\7example\0",	    "\1a\7example\0",	    "\10yljkjljk\1a\7example\0",
	    "\1Z\1a\7example\0",    "\4zABC\1a\7EXAMPLE\0", "\1z\7example\0",
	    "\1\001\1z\7example\0", "\1*\1z\7example\0",    "\1\200\1z\7example\0"};
	for (unsigned i = 0; i + 1 < sizeof(ord) / sizeof(ord[0]); i++)
		CHECK(name_cmp_canonical((const uint8_t *)ord[i], (const uint8_t *)ord[i + 1]) < 0);
	CHECK(name_equal_ci((const uint8_t *)"\3WwW\0", (const uint8_t *)"\3www\0"));
	CHECK(name_is_below_or_at((const uint8_t *)"\1a\3com", 7, (const uint8_t *)"\3com", 5));
	CHECK(!name_is_below_or_at((const uint8_t *)"\1a\3con", 7, (const uint8_t *)"\3com", 5));
	CHECK_EQ(name_labels((const uint8_t *)"\1a\3com"), 2);
}

static void test_unpack(void)
{
	uint8_t out[P53_NAME_MAX];
	size_t ol;
	/* name at 12, then a pointer back to it at 25 */
	uint8_t msg[64] = {0};
	memcpy(msg + 12, "\7example\3com", 13);
	msg[25] = 0xc0;
	msg[26] = 12;
	CHECK_EQ(name_unpack(msg, 27, 12, out, &ol), 13);
	CHECK_EQ(name_unpack(msg, 27, 25, out, &ol), 2);
	CHECK_EQ(ol, 13);
	/* a pointer to itself, and a forward pointer */
	msg[30] = 0xc0;
	msg[31] = 30;
	CHECK_EQ(name_unpack(msg, 32, 30, out, &ol), -1);
	msg[30] = 0xc0;
	msg[31] = 40;
	CHECK_EQ(name_unpack(msg, 64, 30, out, &ol), -1);
	CHECK_EQ(name_unpack(msg, 20, 12, out, &ol), -1);
}

/* The snapshot index's hash as the format documents it (FNV-1a over the
 * wire bytes from the last to the first, then the avalanche), one byte at
 * a time, against the word-at-a-time code. */
static uint32_t ref_hash(const uint8_t *w, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = len; i-- > 0;)
		h = (h ^ w[i]) * 16777619u;
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

static void test_hash_and_lower(void)
{
	/* Labels of every length 1..63 in turn, so both the odd bytes and the
	 * four-byte steps are met at every alignment. */
	uint8_t name[P53_NAME_MAX], off[P53_LABELS_MAX], given[P53_LABELS_MAX];
	uint32_t hash[P53_LABELS_MAX], hash2[P53_LABELS_MAX];
	for (unsigned first = 1; first <= P53_LABEL_MAX; first++) {
		size_t len = 0;
		unsigned nl = 0;
		for (unsigned l = first; len + 1 + l + 1 <= 120; l = l % 7 + 1) {
			given[nl++] = (uint8_t)len;
			name[len++] = (uint8_t)l;
			for (unsigned k = 0; k < l; k++, len++)
				name[len] = (uint8_t)('a' + (len * 7 + k) % 26);
		}
		name[len++] = 0;
		CHECK_EQ(name_hash(name, len), ref_hash(name, len));
		unsigned n = name_suffix_hashes(name, len, off, hash);
		CHECK_EQ(n, nl);
		name_suffix_hashes_at(name, len, given, nl, hash2);
		for (unsigned i = 0; i < n; i++) {
			CHECK_EQ(off[i], given[i]);
			CHECK_EQ(hash[i], ref_hash(name + off[i], len - off[i]));
			CHECK_EQ(hash2[i], hash[i]);
		}
	}
	/* Every byte value at every position of names 1..40 bytes long
	 * (length bytes included: a valid one is at most 63, below 'A'). */
	uint8_t src[64], dst[64], in[64];
	for (size_t len = 1; len <= 40; len++)
		for (unsigned v = 0; v < 256; v++) {
			for (size_t i = 0; i < len; i++)
				src[i] = (uint8_t)(v + i * 37);
			memset(dst, 0xee, sizeof(dst));
			name_lower_copy(dst, src, len);
			memcpy(in, src, len);
			name_lower_copy(in, in, len); /* in place */
			for (size_t i = 0; i < len; i++) {
				uint8_t c = src[i];
				uint8_t want = (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
				CHECK_EQ(dst[i], want);
				CHECK_EQ(in[i], want);
			}
			CHECK_EQ(dst[len], 0xee); /* nothing written past len */
		}
}

int main(void)
{
	test_from_text();
	test_to_text_and_order();
	test_unpack();
	test_hash_and_lower();
	return check_report("name");
}
