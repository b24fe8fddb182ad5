/* port53's DNSSEC subcommands (docs/dnssec.md): keys and DS records. Kept
 * beside port53.c, which lists them in its command table. */
#ifndef P53_DNSSEC_CMD_H
#define P53_DNSSEC_CMD_H

/* port53 dnssec-keygen [-a ALG] [-b BITS] [--ksk|--zsk|--csk] [--pem] [-K DIR] ZONE */
int dnssec_cmd_keygen(int argc, char **argv);
/* port53 ds [-d 2|4] [-K DIR] ZONE | KEYFILE... */
int dnssec_cmd_ds(int argc, char **argv);

#define DNSSEC_CMD_KEYGEN_USAGE                                                                   \
	"port53 dnssec-keygen [-a 13|15|8] [-b BITS] [--ksk | --zsk | --csk] [--pem]\n"           \
	"                      [-K DIR] ZONE\n"                                                    \
	"  -a, --algorithm ALG   13 ECDSAP256SHA256 (default), 15 ED25519, 8 RSASHA256\n"        \
	"  -b, --bits N          RSA modulus size (default 2048)\n"                              \
	"      --ksk, --zsk, --csk  the key's role (default --csk: one key signs all)\n"         \
	"      --pem             write ZONE.ROLE.pem (PKCS#8) instead of BIND's K-files\n"       \
	"  -K, --dir DIR         where to write (default .); compile --dnssec-keys DIR reads it\n"

#define DNSSEC_CMD_DS_USAGE                                                                       \
	"port53 ds [-d 2|4] [-K DIR] ZONE | port53 ds [-d 2|4] KEYFILE...\n"                      \
	"  the DS records of a zone's key-signing keys (its CSK), for the parent zone\n"         \
	"  -d, --digest N        2 SHA-256 (default) or 4 SHA-384\n"                             \
	"  -K, --dir DIR         the key directory (default .)\n"

#endif
