/* The control-plane signer's timing and state (see signer.h). */
#include "ctrl/xfr/signer.h"

#include "zones/common/name.h"
#include "zones/compile/dnskey.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_VALIDITY (14 * 86400)
#define DEFAULT_RESIGN	 (6 * 3600)
/* After a failed build: soon enough that a fixed key directory is picked
 * up without an operator, late enough not to spin on a broken one. */
#define RETRY_S	 60
#define KEYS_MAX 16

enum { EV_PUBLISH, EV_ACTIVATE, EV_INACTIVE, EV_DELETE, EV_SYNC_PUBLISH, EV_SYNC_DELETE, EV_N };
static const char *const ev_name[EV_N] = {"publish", "activate",     "inactive",
					  "delete",  "sync-publish", "sync-delete"};

struct skey {
	uint16_t tag, flags;
	uint8_t alg;
	const char *role, *state;
	bool cds;
	int64_t t[EV_N];
	char file[256];
};

struct szone {
	char origin[256];
	struct skey keys[KEYS_MAX];
	size_t nkeys;
	int64_t last_sign, last_try;
	bool last_ok;
	char last_error[256];
	uint64_t failures;
	int64_t next_at; /* next key event; 0: none */
	int next_ev;
	uint16_t next_tag;
	const char *next_role;
	bool seen;
};

struct signer {
	struct signer_cfg cfg;
	pthread_mutex_t mu;
	struct szone *z;
	size_t nz;
	int64_t due;
	char why[320];
	uint64_t builds, failures;
};

struct signer *signer_new(const struct signer_cfg *cfg, struct p53_err *err)
{
	struct signer *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		p53_err_set(err, P53_ENOMEM, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	if (s->cfg.sig_validity == 0)
		s->cfg.sig_validity = DEFAULT_VALIDITY;
	if (s->cfg.resign_s == 0)
		s->cfg.resign_s = DEFAULT_RESIGN;
	/* Every signature is renewed while three quarters of its validity
	 * are still ahead: a missed build or two never lets one lapse. */
	if (s->cfg.resign_s > s->cfg.sig_validity / 4)
		s->cfg.resign_s = s->cfg.sig_validity / 4;
	if (s->cfg.name == NULL)
		s->cfg.name = "port53";
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void signer_free(struct signer *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s->z);
	free(s);
}

uint32_t signer_validity(const struct signer *s)
{
	return s->cfg.sig_validity;
}

static const char *role_of(const struct dnskey *k, bool split)
{
	return !(k->flags & 1) ? "ZSK" : split ? "KSK" : "CSK";
}

static const char *state_of(const struct dnskey *k, int64_t at)
{
	return dnskey_active(k, at)		? "active"
	       : dnskey_published(k, at)	? "published"
	       : (k->remove && k->remove <= at) ? "removed"
						: "future";
}

static struct szone *zone_of(struct signer *s, const char *origin)
{
	for (size_t i = 0; i < s->nz; i++)
		if (strcasecmp(s->z[i].origin, origin) == 0)
			return &s->z[i];
	struct szone *nz = realloc(s->z, (s->nz + 1) * sizeof(*nz));
	if (nz == NULL)
		return NULL;
	s->z = nz;
	struct szone *z = &s->z[s->nz++];
	memset(z, 0, sizeof(*z));
	snprintf(z->origin, sizeof(z->origin), "%s", origin);
	return z;
}

/* The zone's keys as the build at `when` used them: their states, and
 * the first of their timing events still to come. */
static void take_keys(struct szone *z, const struct dnskey *keys, size_t n, int64_t when)
{
	bool split = false;
	for (size_t i = 0; i < n; i++)
		split |= !(keys[i].flags & 1);
	z->nkeys = 0;
	z->next_at = 0;
	for (size_t i = 0; i < n; i++) {
		const struct dnskey *k = &keys[i];
		const int64_t t[EV_N] = {k->publish, k->activate,     k->inactive,
					 k->remove,  k->sync_publish, k->sync_delete};
		for (int e = 0; e < EV_N; e++)
			if (t[e] > when && (z->next_at == 0 || t[e] < z->next_at)) {
				z->next_at = t[e];
				z->next_ev = e;
				z->next_tag = k->tag;
				z->next_role = role_of(k, split);
			}
		if (z->nkeys == KEYS_MAX)
			continue;
		struct skey *sk = &z->keys[z->nkeys++];
		*sk = (struct skey){.tag = k->tag,
				    .flags = k->flags,
				    .alg = k->alg,
				    .role = role_of(k, split),
				    .state = state_of(k, when),
				    .cds = dnskey_synced(k, when)};
		memcpy(sk->t, t, sizeof(t));
		snprintf(sk->file, sizeof(sk->file), "%s", k->file);
	}
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void signer_done(struct signer *s, const char *const *origins, size_t n, int64_t when, int rc,
		 const char *msg)
{
	pthread_mutex_lock(&s->mu);
	s->builds++;
	if (rc)
		s->failures++;
	for (size_t i = 0; i < s->nz; i++)
		s->z[i].seen = false;
	size_t signed_n = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t owner[P53_NAME_MAX];
		const char *why = NULL;
		int ol = name_from_text(origins[i], strlen(origins[i]), (const uint8_t *)"", owner,
					&why);
		if (ol < 0)
			continue;
		name_lower(owner, (size_t)ol);
		struct dnskey *keys = NULL;
		size_t nk = 0;
		struct p53_err kerr = {0};
		int kr = dnskey_load_dir(s->cfg.dir, owner, (size_t)ol, &keys, &nk, &kerr);
		if (kr == 0 && nk == 0)
			continue; /* not a signed zone */
		struct szone *z = zone_of(s, origins[i]);
		if (z == NULL) {
			dnskey_free_all(keys, nk);
			continue;
		}
		z->seen = true;
		signed_n++;
		z->last_try = when;
		z->last_ok = rc == 0 && kr == 0;
		if (z->last_ok) {
			z->last_sign = when;
			z->last_error[0] = 0;
		} else {
			z->failures++;
			snprintf(z->last_error, sizeof(z->last_error), "%.255s",
				 kr    ? kerr.msg
				 : msg ? msg
				       : "failed");
		}
		/* Keys that cannot be read keep what the last reading said. */
		if (kr == 0)
			take_keys(z, keys, nk, when);
		dnskey_free_all(keys, nk);
	}
	size_t w = 0;
	for (size_t i = 0; i < s->nz; i++)
		if (s->z[i].seen)
			s->z[w++] = s->z[i];
	s->nz = w;
	s->due = when + (rc == 0 ? s->cfg.resign_s
				 : (s->cfg.resign_s < RETRY_S ? s->cfg.resign_s : RETRY_S));
	snprintf(s->why, sizeof(s->why), "%s",
		 rc == 0 ? "re-signing interval" : "retry after a failed build");
	for (size_t i = 0; i < s->nz; i++) {
		const struct szone *z = &s->z[i];
		/* A key event wins a tie with re-signing, so the log names it.
		 * Keys that could not be read this time keep the event they
		 * had; once past, it is the retry that comes back to it. */
		if (z->next_at > when && z->next_at <= s->due) {
			s->due = z->next_at;
			snprintf(s->why, sizeof(s->why), "%s: %s %u %s", z->origin, z->next_role,
				 z->next_tag, ev_name[z->next_ev]);
		}
	}
	char at[32];
	fmt_time(s->due, at, sizeof(at));
	if (rc)
		fprintf(stderr,
			"%s: signer: build failed, the previous snapshot stays served: %s; "
			"next try at %s\n",
			s->cfg.name, msg ? msg : "failed", at);
	else
		fprintf(stderr, "%s: signer: %zu zone(s) signed; next build at %s (%s)\n",
			s->cfg.name, signed_n, at, s->why);
	pthread_mutex_unlock(&s->mu);
}

int64_t signer_due(struct signer *s, char *why, size_t cap)
{
	pthread_mutex_lock(&s->mu);
	int64_t d = s->due;
	if (why && cap)
		snprintf(why, cap, "%s", s->why);
	pthread_mutex_unlock(&s->mu);
	return d;
}

static json_t *time_or_null(int64_t t)
{
	return t ? json_integer(t) : json_null();
}

json_t *signer_json(struct signer *s)
{
	json_t *o = json_object(), *zones = json_array();
	if (o == NULL || zones == NULL) {
		json_decref(o);
		json_decref(zones);
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	json_object_set_new(o, "keys_dir", json_string(s->cfg.dir));
	json_object_set_new(o, "resign_interval", json_integer(s->cfg.resign_s));
	json_object_set_new(o, "sig_validity", json_integer(s->cfg.sig_validity));
	json_object_set_new(o, "next_build", time_or_null(s->due));
	json_object_set_new(o, "next_build_reason", json_string(s->why));
	json_object_set_new(o, "builds", json_integer((json_int_t)s->builds));
	json_object_set_new(o, "failures", json_integer((json_int_t)s->failures));
	for (size_t i = 0; i < s->nz; i++) {
		const struct szone *z = &s->z[i];
		json_t *zo = json_object(), *keys = json_array();
		if (zo == NULL || keys == NULL) {
			json_decref(zo);
			json_decref(keys);
			continue;
		}
		for (size_t j = 0; j < z->nkeys; j++) {
			const struct skey *k = &z->keys[j];
			json_t *ko = json_object();
			if (ko == NULL)
				continue;
			json_object_set_new(ko, "tag", json_integer(k->tag));
			json_object_set_new(ko, "role", json_string(k->role));
			json_object_set_new(ko, "algorithm", json_integer(k->alg));
			json_object_set_new(ko, "flags", json_integer(k->flags));
			json_object_set_new(ko, "state", json_string(k->state));
			json_object_set_new(ko, "cds", json_boolean(k->cds));
			for (int e = 0; e < EV_N; e++)
				json_object_set_new(ko, ev_name[e], time_or_null(k->t[e]));
			json_object_set_new(ko, "file", json_string(k->file));
			json_array_append_new(keys, ko);
		}
		json_object_set_new(zo, "zone", json_string(z->origin));
		json_object_set_new(zo, "keys", keys);
		json_object_set_new(zo, "last_signing", time_or_null(z->last_sign));
		json_object_set_new(zo, "last_attempt", time_or_null(z->last_try));
		json_object_set_new(zo, "last_result", json_string(z->last_ok ? "ok" : "failed"));
		json_object_set_new(zo, "last_error",
				    z->last_error[0] ? json_string(z->last_error) : json_null());
		json_object_set_new(zo, "failures", json_integer((json_int_t)z->failures));
		json_object_set_new(
		    zo, "next_resign",
		    time_or_null(z->last_sign ? z->last_sign + s->cfg.resign_s : 0));
		if (z->next_at) {
			json_t *ev = json_object();
			json_object_set_new(ev, "time", json_integer(z->next_at));
			json_object_set_new(ev, "event", json_string(ev_name[z->next_ev]));
			json_object_set_new(ev, "key", json_integer(z->next_tag));
			json_object_set_new(ev, "role", json_string(z->next_role));
			json_object_set_new(zo, "next_event", ev);
		} else {
			json_object_set_new(zo, "next_event", json_null());
		}
		json_array_append_new(zones, zo);
	}
	pthread_mutex_unlock(&s->mu);
	json_object_set_new(o, "zones", zones);
	return o;
}

static void put_label(FILE *f, const char *v)
{
	for (const char *p = v; *p; p++) /* the text format's label escapes */
		fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
}

void signer_metrics(struct signer *s, FILE *f)
{
	pthread_mutex_lock(&s->mu);
	fputs("# HELP port53_dnssec_next_event_timestamp_seconds When the signer next acts on a "
	      "zone: its next key timing event, and its next re-signing (unix time).\n"
	      "# TYPE port53_dnssec_next_event_timestamp_seconds gauge\n",
	      f);
	for (size_t i = 0; i < s->nz; i++) {
		const struct szone *z = &s->z[i];
		if (z->next_at) {
			fputs("port53_dnssec_next_event_timestamp_seconds{zone=\"", f);
			put_label(f, z->origin);
			fprintf(f, "\",event=\"%s\"} %lld\n", ev_name[z->next_ev],
				(long long)z->next_at);
		}
		if (z->last_sign) {
			fputs("port53_dnssec_next_event_timestamp_seconds{zone=\"", f);
			put_label(f, z->origin);
			fprintf(f, "\",event=\"resign\"} %lld\n",
				(long long)(z->last_sign + s->cfg.resign_s));
		}
	}
	fputs("# HELP port53_dnssec_last_signing_timestamp_seconds When the zone was last "
	      "signed and served (unix time).\n"
	      "# TYPE port53_dnssec_last_signing_timestamp_seconds gauge\n",
	      f);
	for (size_t i = 0; i < s->nz; i++) {
		if (s->z[i].last_sign == 0)
			continue;
		fputs("port53_dnssec_last_signing_timestamp_seconds{zone=\"", f);
		put_label(f, s->z[i].origin);
		fprintf(f, "\"} %lld\n", (long long)s->z[i].last_sign);
	}
	fputs("# HELP port53_dnssec_signing_failures_total Builds of the zone that failed "
	      "(the previous snapshot stayed served).\n"
	      "# TYPE port53_dnssec_signing_failures_total counter\n",
	      f);
	for (size_t i = 0; i < s->nz; i++) {
		fputs("port53_dnssec_signing_failures_total{zone=\"", f);
		put_label(f, s->z[i].origin);
		fprintf(f, "\"} %llu\n", (unsigned long long)s->z[i].failures);
	}
	fprintf(f,
		"# HELP port53_dnssec_builds_total Builds the signer ran, by result.\n"
		"# TYPE port53_dnssec_builds_total counter\n"
		"port53_dnssec_builds_total{result=\"ok\"} %llu\n"
		"port53_dnssec_builds_total{result=\"failed\"} %llu\n"
		"# HELP port53_dnssec_next_build_timestamp_seconds When the signer builds next "
		"(unix time).\n"
		"# TYPE port53_dnssec_next_build_timestamp_seconds gauge\n"
		"port53_dnssec_next_build_timestamp_seconds %lld\n",
		(unsigned long long)(s->builds - s->failures), (unsigned long long)s->failures,
		(long long)s->due);
	pthread_mutex_unlock(&s->mu);
}
