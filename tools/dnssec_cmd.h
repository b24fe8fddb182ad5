/* port53's DNSSEC subcommands (docs/dnssec.md): keys and DS records. Kept
 * beside port53.c, which lists them in its command table. */
#ifndef P53_DNSSEC_CMD_H
#define P53_DNSSEC_CMD_H

/* port53 dnssec-keygen [-a ALG] [-b BITS] [--ksk|--zsk|--csk] [--pem] [-K DIR] ZONE */
int dnssec_cmd_keygen(int argc, char **argv);
/* port53 ds [-d 2|4] [-K DIR] ZONE | KEYFILE... */
int dnssec_cmd_ds(int argc, char **argv);
/* port53 dnssec-status [-K DIR] [--at T] ZONE */
int dnssec_cmd_status(int argc, char **argv);
/* port53 dnssec-rollover --zsk|--ksk [-K DIR] [--at T] [--prepublish S]
 * [--retire S] [--ds-wait S] ZONE */
int dnssec_cmd_rollover(int argc, char **argv);

#define DNSSEC_CMD_KEYGEN_USAGE                                                                    \
	"port53 dnssec-keygen [-a 13|15|8] [-b BITS] [--ksk | --zsk | --csk] [--pem]\n"            \
	"                      [-K DIR] ZONE\n"                                                    \
	"  -a, --algorithm ALG   13 ECDSAP256SHA256 (default), 15 ED25519, 8 RSASHA256\n"          \
	"  -b, --bits N          RSA modulus size (default 2048)\n"                                \
	"      --ksk, --zsk, --csk  the key's role (default --csk: one key signs all)\n"           \
	"      --pem             write ZONE.ROLE.pem (PKCS#8) instead of BIND's K-files\n"         \
	"  -K, --dir DIR         where to write (default .); compile --dnssec-keys DIR reads it\n"

#define DNSSEC_CMD_DS_USAGE                                                                        \
	"port53 ds [-d 2|4] [-K DIR] ZONE | port53 ds [-d 2|4] KEYFILE...\n"                       \
	"  the DS records of a zone's key-signing keys (its CSK), for the parent zone\n"           \
	"  -d, --digest N        2 SHA-256 (default) or 4 SHA-384\n"                               \
	"  -K, --dir DIR         the key directory (default .)\n"

#define DNSSEC_CMD_STATUS_USAGE                                                                    \
	"port53 dnssec-status [-K DIR] [--at T] ZONE\n"                                            \
	"  each key of the zone: role, tag, algorithm, state at T (future, published, active,\n"   \
	"  removed; cds when its CDS/CDNSKEY are out), its timing, and the next key event\n"       \
	"  -K, --dir DIR         the key directory (default .)\n"                                  \
	"      --at T            the time to evaluate, unix seconds (default now)\n"

#define DNSSEC_CMD_ROLLOVER_USAGE                                                                  \
	"port53 dnssec-rollover --zsk | --ksk | --csk [-K DIR] [--at T] [--prepublish S]\n"        \
	"                      [--retire S] [--ds-wait S] ZONE\n"                                  \
	"  starts a key rollover (RFC 7583) by writing a successor key and the keys' timing;\n"    \
	"  every compile at or after a step's time signs accordingly (docs/dnssec.md)\n"           \
	"      --zsk             pre-publication: the successor is published at T, signs at\n"     \
	"                        T+prepublish; the old key stops then, leaves retire s later\n"    \
	"      --ksk             double-DS: the successor's CDS/CDNSKEY at T, the DNSKEY sets\n"   \
	"                        swap at T+ds-wait, the old CDS goes retire s after that\n"        \
	"      --csk             the successor's DNSKEY, CDS and CDNSKEY at T; it signs from\n"    \
	"                        T+max(prepublish, ds-wait), when the old key stops; the old\n"    \
	"                        key and its CDS leave retire s after that\n"                      \
	"      --at T            start time, unix seconds (default now)\n"                         \
	"      --prepublish S    default 90000 (a day's DNSKEY TTL and an hour)\n"                 \
	"      --retire S        default 608400 (the week's TTL cap and an hour)\n"                \
	"      --ds-wait S       default 172800 (the parent's DS TTL and its delay)\n"             \
	"  -K, --dir DIR         the key directory (default .)\n"

#endif
