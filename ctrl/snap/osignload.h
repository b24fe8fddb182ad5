/* Online DNSSEC signing keys for a snapshot load (docs/dnssec.md).
 *
 * Built on the control thread with every snapshot load, beside the firewall:
 * for each zone of the snapshot, the zone-signing keys in the key directory
 * (or its combined signing key when it has no separate ZSK) of algorithm 13
 * or 15 whose DNSKEY the compiled zone publishes. The private keys stay in
 * the control side's memory and reach answering threads only through the
 * published per-load state; they are never written into a snapshot.
 */
#ifndef P53_OSIGNLOAD_H
#define P53_OSIGNLOAD_H

#include "zones/answer/osign.h"

/* NULL with err->code 0 when no zone of snap has a usable key (nothing to
 * sign online); NULL with err set on failure. Keys that cannot be used
 * (another algorithm, not published in the zone) are reported through
 * note(arg, text) and left out. */
struct p53_osign *osignload_build(const char *dir, const struct p53_snapshot *snap,
				  const struct p53_osign_cfg *cfg, unsigned nworkers,
				  void (*note)(void *arg, const char *text), void *arg,
				  struct p53_err *err);

#endif
