/* Online DNSSEC signing keys for a snapshot load (osignload.h). */
#include "ctrl/snap/osignload.h"

#include "zones/common/name.h"
#include "zones/compile/dnskey.h"

#include <stdio.h>
#include <time.h>

static void say(void (*note)(void *, const char *), void *arg, const char *zone,
		const struct dnskey *k, const char *why)
{
	char t[2400];
	snprintf(t, sizeof(t), "online signing, zone %s: %s (tag %u, algorithm %u) not used: %s",
		 zone, k->file, k->tag, k->alg, why);
	if (note)
		note(arg, t);
}

struct p53_osign *osignload_build(const char *dir, const struct p53_snapshot *snap,
				  const struct p53_osign_cfg *cfg, unsigned nworkers,
				  void (*note)(void *arg, const char *text), void *arg,
				  struct p53_err *err)
{
	err->code = 0;
	struct p53_snapshot_info in;
	p53_snapshot_info(snap, &in);
	struct p53_osign *o = p53_osign_new(snap, cfg, nworkers, err);
	if (o == NULL)
		return NULL;
	for (uint32_t z = 0; z < in.zones; z++) {
		uint32_t serial;
		const uint8_t *apex = p53_snapshot_zone(snap, z, &serial);
		char zn[1024];
		name_to_text(apex, zn, sizeof(zn));
		struct dnskey *keys = NULL;
		size_t n = 0;
		struct p53_err kerr = {0};
		if (dnskey_load_dir(dir, apex, name_len(apex), &keys, &n, &kerr) != 0) {
			char t[2048];
			snprintf(t, sizeof(t), "online signing, zone %s: %s", zn, kerr.msg);
			if (note)
				note(arg, t);
			continue;
		}
		/* Zone-signing keys sign answers; a zone with key-signing keys
		 * only signs everything with them (a CSK). */
		/* Only keys active now under their timing metadata (RFC 7583:
		 * a pre-published ZSK waits, a retired one stops). */
		int64_t now = cfg->fixed_now ? cfg->fixed_now : (int64_t)time(NULL);
		bool zsk = false;
		for (size_t k = 0; k < n; k++)
			zsk |= !(keys[k].flags & 1) && dnskey_active(&keys[k], now);
		for (size_t k = 0; k < n; k++) {
			if ((zsk && (keys[k].flags & 1)) || !dnskey_active(&keys[k], now))
				continue;
			struct p53_err e = {0};
			if (p53_osign_add_key(o, z, keys[k].alg, keys[k].tag, keys[k].pkey,
					      keys[k].rdata, keys[k].rdlen, &e) != 0)
				say(note, arg, zn, &keys[k], e.msg);
		}
		dnskey_free_all(keys, n);
	}
	if (p53_osign_nzones(o) == 0) {
		p53_osign_free(o);
		return NULL;
	}
	if (p53_osign_ready(o, err) != 0) {
		p53_osign_free(o);
		return NULL;
	}
	return o;
}
