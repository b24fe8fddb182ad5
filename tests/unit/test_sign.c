/* Snapshot signatures (zones/answer/sign.h): key generation, signing, the loader's
 * handling of the trailer, and verification against trusted keys, including
 * every way a signature can be wrong. Works in a temporary directory. */
#include "tests/unit/check.h"
#include "zones/compile/compile.h"
#include "zones/answer/sign.h"
#include "zones/answer/snapshot.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *path_in(const char *name)
{
	static char buf[4][256];
	static int k;
	char *p = buf[k++ % 4];
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

/* The key id as docs/snapshot-format.md defines it, in full hex: SHA-256 of
 * the raw 32-byte Ed25519 public key, read here straight from the PEM file. */
static void key_id_from_pem(const char *path, char out[65])
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	uint8_t raw[32], d[32];
	size_t n = sizeof(raw);
	if (pk && EVP_PKEY_get_raw_public_key(pk, raw, &n) == 1 && n == 32) {
		SHA256(raw, n, d);
		for (int i = 0; i < 32; i++)
			sprintf(out + 2 * i, "%02x", d[i]);
	}
	EVP_PKEY_free(pk);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)n);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Loads bytes as a snapshot and verifies against kr; returns the error code
 * and copies the message. */
static int verify_bytes(const uint8_t *img, size_t len, const struct p53_keyring *kr, char *msg,
			size_t cap)
{
	struct p53_err err = {0};
	struct p53_snapshot *s = p53_snapshot_from_mem(img, len, &err);
	int rc = err.code;
	if (s) {
		rc = p53_sig_verify(s, kr, NULL, &err);
		p53_snapshot_free(s);
	}
	snprintf(msg, cap, "%s", err.msg);
	return rc;
}

static void test_keygen(void)
{
	struct p53_err err = {0};
	CHECK_EQ(p53_keygen(path_in("a.key"), path_in("a.pub"), &err), 0);
	struct stat st;
	CHECK(stat(path_in("a.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
	/* Never overwrites a private key. */
	struct p53_err e2 = {0};
	CHECK(p53_keygen(path_in("a.key"), path_in("a2.pub"), &e2) != 0);
	CHECK(strstr(e2.msg, "File exists") != NULL);
	CHECK_EQ(p53_keygen(path_in("b.key"), path_in("b.pub"), &err), 0);
	/* A key that is not Ed25519 PEM is refused with the file named. */
	write_file(path_in("junk.pub"), "not a key\n", 10);
	struct p53_keyring *kr = p53_keyring_new();
	struct p53_err e3 = {0};
	CHECK(p53_keyring_add_file(kr, path_in("junk.pub"), &e3) != 0);
	CHECK(strstr(e3.msg, "junk.pub") != NULL);
	CHECK_EQ(p53_keyring_count(kr), 0);
	p53_keyring_free(kr);
}

static void test_sign_verify(const uint8_t *img, size_t len)
{
	struct p53_err err = {0};
	uint8_t tr[P53_SIG_LEN];
	CHECK_EQ(p53_sign_image(img, len, path_in("a.key"), tr, &err), 0);
	CHECK(memcmp(tr, P53_SIG_MAGIC, sizeof(P53_SIG_MAGIC)) == 0);
	size_t slen = len + P53_SIG_LEN;
	uint8_t *signed_img = malloc(slen);
	memcpy(signed_img, img, len);
	memcpy(signed_img + len, tr, P53_SIG_LEN);

	struct p53_keyring *ka = p53_keyring_new(), *kb = p53_keyring_new(),
			   *kab = p53_keyring_new();
	CHECK_EQ(p53_keyring_add_file(ka, path_in("a.pub"), &err), 0);
	CHECK_EQ(p53_keyring_add_file(kb, path_in("b.pub"), &err), 0);
	CHECK_EQ(p53_keyring_add_file(kab, path_in("b.pub"), &err), 0);
	CHECK_EQ(p53_keyring_add_file(kab, path_in("a.pub"), &err), 0);
	CHECK_EQ(p53_keyring_count(kab), 2);

	char msg[512];
	/* A signed file loads with or without keys; verifies with the right
	 * key, in a ring of several too. */
	struct p53_snapshot *s = p53_snapshot_from_mem(signed_img, slen, &err);
	CHECK(s != NULL);
	if (s) {
		uint8_t id[P53_KEY_ID_LEN], id2[P53_KEY_ID_LEN];
		CHECK(p53_sig_present(s, id));
		CHECK_EQ(p53_sig_verify(s, ka, id2, &err), 0);
		CHECK(memcmp(id, id2, sizeof(id)) == 0);
		struct p53_snapshot_info in;
		p53_snapshot_info(s, &in);
		CHECK_EQ(in.size, slen);
		p53_snapshot_free(s);
	}
	CHECK_EQ(verify_bytes(signed_img, slen, kab, msg, sizeof(msg)), 0);

	/* Wrong key: named in full, refused. */
	CHECK_EQ(verify_bytes(signed_img, slen, kb, msg, sizeof(msg)), P53_ECORRUPT);
	CHECK(strstr(msg, "untrusted key") != NULL);
	char aid[65];
	key_id_from_pem(path_in("a.pub"), aid);
	CHECK(strlen(aid) == 64 && strstr(msg, aid) != NULL);

	/* Unsigned: refused when keys are required. */
	CHECK_EQ(verify_bytes(img, len, ka, msg, sizeof(msg)), P53_ECORRUPT);
	CHECK(strstr(msg, "not signed") != NULL);

	/* Every byte of the signature matters. */
	for (size_t off = 48; off < 112; off += 7) {
		uint8_t *bad = malloc(slen);
		memcpy(bad, signed_img, slen);
		bad[len + off] ^= 0x01;
		CHECK_EQ(verify_bytes(bad, slen, ka, msg, sizeof(msg)), P53_ECORRUPT);
		CHECK(strstr(msg, "invalid") != NULL);
		free(bad);
	}
	/* A changed key id names a key we do not trust. */
	uint8_t *bad = malloc(slen);
	memcpy(bad, signed_img, slen);
	bad[len + 20] ^= 0x80;
	CHECK_EQ(verify_bytes(bad, slen, ka, msg, sizeof(msg)), P53_ECORRUPT);
	CHECK(strstr(msg, "untrusted") != NULL);
	/* Unknown algorithm. */
	memcpy(bad, signed_img, slen);
	bad[len + 8] = 7;
	CHECK_EQ(verify_bytes(bad, slen, ka, msg, sizeof(msg)), P53_ECORRUPT);
	CHECK(strstr(msg, "algorithm") != NULL);
	/* The trailer's reserved bytes and length field are checked, by the
	 * loader too (no signature covers them). */
	for (size_t off = 112; off < 128; off += 5) {
		memcpy(bad, signed_img, slen);
		bad[len + off] = 0x5a;
		CHECK_EQ(verify_bytes(bad, slen, NULL, msg, sizeof(msg)), P53_ECORRUPT);
		CHECK(strstr(msg, "reserved") != NULL);
		CHECK_EQ(verify_bytes(bad, slen, ka, msg, sizeof(msg)), P53_ECORRUPT);
	}
	memcpy(bad, signed_img, slen);
	bad[len + 12] = 127;
	CHECK_EQ(verify_bytes(bad, slen, NULL, msg, sizeof(msg)), P53_ECORRUPT);
	CHECK(strstr(msg, "length") != NULL);
	/* A mangled magic is no trailer: the excess is padding. */
	memcpy(bad, signed_img, slen);
	bad[len] ^= 0x01;
	CHECK_EQ(verify_bytes(bad, slen, NULL, msg, sizeof(msg)), P53_ECORRUPT);
	CHECK(strstr(msg, "padded") != NULL);
	/* A truncated trailer is refused by the loader as well. */
	CHECK_EQ(verify_bytes(signed_img, slen - 1, NULL, msg, sizeof(msg)), P53_ECORRUPT);
	/* The content is covered: a flipped content byte fails the hashes
	 * before the signature is even looked at. */
	memcpy(bad, signed_img, slen);
	bad[20] ^= 0x01;
	CHECK_EQ(verify_bytes(bad, slen, ka, msg, sizeof(msg)), P53_ECORRUPT);
	CHECK(strstr(msg, "checksum") != NULL);
	free(bad);

	/* Signing a signed image is refused; the file API re-signs instead. */
	struct p53_err e4 = {0};
	CHECK(p53_sign_image(signed_img, slen, path_in("a.key"), tr, &e4) != 0);
	write_file(path_in("s.p53"), signed_img, slen);
	CHECK_EQ(p53_sign_file(path_in("s.p53"), path_in("b.key"), path_in("s2.p53"), &err), 0);
	size_t l2;
	uint8_t *re = read_file(path_in("s2.p53"), &l2);
	CHECK(re != NULL && l2 == slen);
	if (re) {
		CHECK_EQ(verify_bytes(re, l2, kb, msg, sizeof(msg)), 0);
		CHECK_EQ(verify_bytes(re, l2, ka, msg, sizeof(msg)), P53_ECORRUPT);
		free(re);
	}
	/* A public key cannot sign; garbage cannot be signed. */
	struct p53_err e5 = {0};
	CHECK(p53_sign_image(img, len, path_in("a.pub"), tr, &e5) != 0);
	struct p53_err e6 = {0};
	CHECK(p53_sign_image((const uint8_t *)"garbage", 7, path_in("a.key"), tr, &e6) != 0);

	p53_keyring_free(ka);
	p53_keyring_free(kb);
	p53_keyring_free(kab);
	free(signed_img);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p53-test-sign-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	static const char zone[] = "$ORIGIN example.com.\n$TTL 300\n"
				   "@ SOA ns hostmaster 1 3600 600 86400 300\n"
				   "@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n";
	write_file(path_in("z.zone"), zone, sizeof(zone) - 1);
	struct p53_zone_input zi = {"example.com.", path_in("z.zone")};
	struct p53_compile_opts o = {.serial = 7};
	uint8_t *img = NULL;
	size_t len = 0;
	struct p53_err err = {0};
	CHECK_EQ(p53_compile(&zi, 1, &o, &img, &len, &err), 0);
	test_keygen();
	if (img)
		test_sign_verify(img, len);
	free(img);
	static const char *const files[] = {"a.key",  "a.pub", "b.key",	 "b.pub", "junk.pub",
					    "z.zone", "s.p53", "s2.p53", "a2.pub"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(path_in(files[i]));
	rmdir(dir);
	return check_report("sign");
}
