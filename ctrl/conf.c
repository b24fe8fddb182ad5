/* Configuration file: YAML read with libfyaml, checked against one table of
 * keys, and handed to the programs as command-line options (conf.h).
 *
 * Turning the file into options rather than into a second set of fields
 * keeps one parser and one set of range checks per setting: the programs'
 * own option handling stays the single authority, and a flag on the command
 * line overrides the file because it comes later.
 *
 * A later setting (resolver) is one row in keys[] naming the option it
 * becomes.
 */
#include "ctrl/conf.h"

#include "ctrl/yamlfile.h"

#include "ctrl/net/doh.h"
#include "ctrl/net/ksock.h"
#include "zones/answer/abuse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum kind {
	K_STR,	    /* any text, usually a path */
	K_INT,	    /* integer in [lo, hi] */
	K_SHARE,    /* number in (lo, hi) */
	K_ADDRPORT, /* "addr", "addr:port", "[v6]:port" */
	K_IP,	    /* a bare IPv4 or IPv6 address */
	K_MAC,	    /* unicast xx:xx:xx:xx:xx:xx */
	K_PORTS,    /* "0,7,19,1024-1030" or "none" */
	K_EXC,	    /* none | tap[:PREFIX] | vdev:DEVARGS */
	K_ABUSE,    /* checked by the abuse controls' own parser (abuse.h) */
	K_BOOL,	    /* true/false: the option without a value when true */
	K_URL,	    /* http:// or https:// */
	K_HTTPPATH, /* an HTTP path for DNS over HTTPS ("/dns-query") */
};

struct key {
	const char *section, *name;
	enum kind kind;
	bool list;	   /* a sequence (a single scalar is a list of one) */
	double lo, hi;	   /* K_INT, K_SHARE */
	const char *serve; /* port53 serve's long option, or NULL */
	char serve_short;
	const char *d; /* port53d's long option, or NULL */
	char d_short;
};

/* Every key of the file, grouped by section; docs/operations.md and
 * port53.yaml(5) describe them in this order. */
static const struct key keys[] = {
    {"server", "identity", K_STR, false, 0, 0, "identity", 0, "identity", 0},
    {"server", "version", K_STR, false, 0, 0, "version", 0, "version-string", 0},
    {"server", "edns-size", K_INT, false, 512, 65535, "edns-size", 0, "edns-size", 0},
    {"snapshot", "path", K_STR, false, 0, 0, "snapshot", 's', "snapshot", 's'},
    {"snapshot", "require-signature", K_STR, true, 0, 0, "require-signature", 0,
     "require-signature", 0},
    {"snapshot", "push-max-bytes", K_INT, false, 1024, 1099511627776.0, "push-max-bytes", 0,
     "push-max-bytes", 0},
    {"snapshot", "max-bytes", K_INT, false, 1, 1099511627776.0, "snapshot-max-bytes", 0,
     "snapshot-max-bytes", 0},
    {"snapshot", "watch-dir", K_STR, false, 0, 0, "watch-dir", 0, "watch-dir", 0},
    {"snapshot", "reload-dir", K_STR, false, 0, 0, "reload-dir", 0, "reload-dir", 0},
    {"kernel", "listen", K_ADDRPORT, true, 0, 0, "listen", 'l', NULL, 0},
    {"kernel", "tls-listen", K_ADDRPORT, true, 0, 0, "tls-listen", 0, NULL, 0},
    {"tcp", "max-conns", K_INT, false, 1, 100000000, "tcp-max-conns", 0, "tcp-max-conns", 0},
    {"tcp", "idle-ms", K_INT, false, 1, 100000000, "tcp-idle-ms", 0, "tcp-idle-ms", 0},
    {"tcp", "per-source", K_INT, false, 1, 100000000, "tcp-per-source", 0, "tcp-per-source", 0},
    {"tcp", "msg-ms", K_INT, false, 1, 100000000, "tcp-msg-ms", 0, "tcp-msg-ms", 0},
    {"tcp", "lifetime-ms", K_INT, false, 1, 100000000, "tcp-lifetime-ms", 0, "tcp-lifetime-ms", 0},
    {"tcp", "out-max", K_INT, false, 1, 1099511627776.0, "tcp-out-max", 0, "tcp-out-max", 0},
    {"dataplane", "eal", K_STR, true, 0, 0, NULL, 0, NULL, 0},
    {"dataplane", "addresses", K_IP, true, 0, 0, NULL, 0, "addr", 'a'},
    {"dataplane", "mac", K_MAC, false, 0, 0, NULL, 0, "mac", 'm'},
    {"dataplane", "exception", K_EXC, false, 0, 0, NULL, 0, "exception", 'e'},
    {"dataplane", "mtu", K_INT, false, 576, 9000, NULL, 0, "mtu", 0},
    {"dataplane", "idle-after-us", K_INT, false, 0, 10000000, NULL, 0, "idle-after-us", 0},
    {"dataplane", "idle-sleep-us", K_INT, false, 0, 100000, NULL, 0, "idle-sleep-us", 0},
    {"dataplane", "idle-sleep-max-us", K_INT, false, 1, 1000000, NULL, 0, "idle-sleep-max-us", 0},
    {"dataplane", "idle-wake", K_STR, false, 0, 0, NULL, 0, "idle-wake", 0},
    {"dataplane", "drop-ports", K_PORTS, false, 0, 0, "drop-ports", 0, "drop-ports", 0},
    {"control", "socket", K_STR, false, 0, 0, "control-socket", 0, "control-socket", 0},
    {"control", "listen", K_ADDRPORT, false, 0, 0, "control-listen", 0, "control-listen", 0},
    {"control", "token-file", K_STR, false, 0, 0, "control-token-file", 0, "control-token-file", 0},
    {"control", "max-conns", K_INT, false, 1, 100000, "api-max-conns", 0, "api-max-conns", 0},
    {"control", "per-source", K_INT, false, 1, 100000, "api-per-source", 0, "api-per-source", 0},
    {"control", "timeout-s", K_INT, false, 1, 100000, "api-timeout-s", 0, "api-timeout-s", 0},
    {"control", "header-ms", K_INT, false, 1, 100000, "api-header-ms", 0, "api-header-ms", 0},
    {"rrl", "rate", K_ABUSE, false, 0, 0, "rrl-rate", 0, "rrl-rate", 0},
    {"rrl", "slip", K_ABUSE, false, 0, 0, "rrl-slip", 0, "rrl-slip", 0},
    {"rrl", "ipv4-prefix", K_ABUSE, false, 0, 0, "rrl-ipv4-prefix", 0, "rrl-ipv4-prefix", 0},
    {"rrl", "ipv6-prefix", K_ABUSE, false, 0, 0, "rrl-ipv6-prefix", 0, "rrl-ipv6-prefix", 0},
    {"rrl", "table-size", K_ABUSE, false, 0, 0, "rrl-table-size", 0, "rrl-table-size", 0},
    {"rrl", "exempt", K_ABUSE, false, 0, 0, "rrl-exempt", 0, "rrl-exempt", 0},
    {"cookies", "enabled", K_ABUSE, false, 0, 0, "cookies", 0, "cookies", 0},
    {"cookies", "secret-file", K_STR, false, 0, 0, "cookie-secret-file", 0, "cookie-secret-file",
     0},
    {"cookies", "rotate-s", K_INT, false, 60, 31536000, "cookie-rotate", 0, "cookie-rotate", 0},
    {"dataplane", "tcp", K_BOOL, false, 0, 0, NULL, 0, "tcp", 0},
    {"tls", "enabled", K_BOOL, false, 0, 0, NULL, 0, "tls", 0},
    {"tls", "quic", K_BOOL, false, 0, 0, NULL, 0, "quic", 0},
    {"tls", "quic-retry", K_BOOL, false, 0, 0, NULL, 0, "quic-retry", 0},
    {"tls", "quic-idle-ms", K_INT, false, 1, 100000000, NULL, 0, "quic-idle-ms", 0},
    {"tls", "cert", K_STR, false, 0, 0, "tls-cert", 0, "tls-cert", 0},
    {"tls", "key", K_STR, false, 0, 0, "tls-key", 0, "tls-key", 0},
    {"doh", "listen", K_ADDRPORT, true, 0, 0, "doh-listen", 0, NULL, 0},
    {"doh", "enabled", K_BOOL, false, 0, 0, NULL, 0, "doh", 0},
    {"doh", "port", K_INT, false, 1, 65535, NULL, 0, "doh-port", 0},
    {"doh", "cert", K_STR, false, 0, 0, "doh-cert", 0, "doh-cert", 0},
    {"doh", "key", K_STR, false, 0, 0, "doh-key", 0, "doh-key", 0},
    {"doh", "path", K_HTTPPATH, false, 0, 0, "doh-path", 0, "doh-path", 0},
    {"doh", "max-streams", K_INT, false, 1, 10000, "doh-max-streams", 0, "doh-max-streams", 0},
    {"dataplane", "transport-netns", K_STR, false, 0, 0, NULL, 0, "transport-netns", 0},
    {"health", "checks", K_STR, false, 0, 0, "health-checks", 0, "health-checks", 0},
    {"health", "quorum", K_SHARE, false, 0, 1, "health-quorum", 0, "health-quorum", 0},
    {"firewall", "rules", K_STR, false, 0, 0, "firewall", 0, "firewall", 0},
    {"resolver", "config", K_STR, false, 0, 0, "resolver", 0, "resolver", 0},
    {"dnssec", "keys", K_STR, false, 0, 0, "dnssec-keys", 0, "dnssec-keys", 0},
    {"dnssec", "sign-keys", K_STR, false, 0, 0, "sign-keys", 0, "sign-keys", 0},
    {"dnssec", "sig-validity-days", K_INT, false, 1, 365, "sig-validity", 0, "sig-validity", 0},
    {"dnssec", "resign-interval-s", K_INT, false, 1, 604800, "resign-interval", 0,
     "resign-interval", 0},
    {"log", "queries", K_STR, false, 0, 0, "query-log", 0, "query-log", 0},
    {"log", "dnstap", K_STR, false, 0, 0, "query-log-dnstap", 0, "query-log-dnstap", 0},
    {"log", "sample", K_INT, false, 1, 1e9, "query-log-sample", 0, "query-log-sample", 0},
    {"xfr", "tsig-key", K_STR, true, 0, 0, "tsig-key", 0, "tsig-key", 0},
    {"xfr", "allow", K_STR, true, 0, 0, "xfr-allow", 0, "xfr-allow", 0},
    {"xfr", "notify", K_STR, true, 0, 0, "notify", 0, "notify", 0},
    {"xfr", "ixfr-depth", K_INT, false, 1, 10000, "ixfr-depth", 0, "ixfr-depth", 0},
    {"secondary", "zone", K_STR, true, 0, 0, "secondary", 0, "secondary", 0},
    {"secondary", "local-zone", K_STR, true, 0, 0, "zone", 0, "zone", 0},
    {"secondary", "dir", K_STR, false, 0, 0, "secondary-dir", 0, "secondary-dir", 0},
    {"secondary", "notify-allow", K_STR, true, 0, 0, "notify-allow", 0, "notify-allow", 0},
    {"origin", "url", K_URL, false, 0, 0, "origin-url", 0, "origin-url", 0},
    {"origin", "dir", K_STR, false, 0, 0, "origin-dir", 0, "origin-dir", 0},
    {"origin", "interval-ms", K_INT, false, 100, 86400000, "origin-interval-ms", 0,
     "origin-interval-ms", 0},
    {"origin", "timeout-ms", K_INT, false, 100, 3600000, "origin-timeout-ms", 0,
     "origin-timeout-ms", 0},
    {"origin", "ca-file", K_STR, false, 0, 0, "origin-ca-file", 0, "origin-ca-file", 0},
    {"origin", "header-file", K_STR, false, 0, 0, "origin-header-file", 0, "origin-header-file", 0},
    {"node", "max-snapshot-age-s", K_INT, false, 0, 31536000, "node-max-snapshot-age-s", 0,
     "node-max-snapshot-age-s", 0},
    {"node", "max-origin-silence-s", K_INT, false, 0, 31536000, "node-max-origin-silence-s", 0,
     "node-max-origin-silence-s", 0},
    {"node", "worker-stall-ms", K_INT, false, 100, 3600000, "node-worker-stall-ms", 0,
     "node-worker-stall-ms", 0},
    {"node", "min-signature-validity-s", K_INT, false, 0, 31536000, "node-min-signature-validity-s",
     0, "node-min-signature-validity-s", 0},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct value {
	char **v;
	size_t n;
	bool set;
};

struct conf {
	struct value val[NKEYS];
	char **out;   /* the last vector conf_argv built */
	char **words; /* the "--name=value" words in it */
	size_t nwords;
};

struct parse {
	const char *path;
	conf_report_fn report;
	void *arg;
	unsigned nerr;
	struct conf *c;
};

static void problem(struct parse *p, struct fy_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct parse *p, struct fy_node *at, const char *fmt, ...)
{
	char msg[768];
	int line = 0, col = 0;
	yamlfile_place(at, &line, &col);
	int off = line ? snprintf(msg, sizeof(msg), "%s:%d:%d: ", p->path, line, col)
		       : snprintf(msg, sizeof(msg), "%s: ", p->path);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + off, sizeof(msg) - (size_t)off, fmt, ap);
	va_end(ap);
	p->nerr++;
	if (p->report)
		p->report(p->arg, msg);
}

static bool valid_int(const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return !errno && end != s && *end == 0 && (double)v >= lo && (double)v <= hi;
}

static bool valid_share(const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);
	return end != s && *end == 0 && isfinite(v) && v > lo && v < hi;
}

static bool valid_ip(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static bool valid_mac(const char *s)
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		if (v[i] > 255)
			return false;
	return (v[0] & 1) == 0;
}

static bool valid_ports(const char *s)
{
	if (*s == 0 || strcmp(s, "none") == 0)
		return true;
	while (*s) {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b;
		if (end == s || a > 65535)
			return false;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtoul(s, &end, 10);
			if (end == s || b > 65535 || b < a)
				return false;
		}
		if (*end != ',' && *end != 0)
			return false;
		s = *end ? end + 1 : end;
	}
	return true;
}

static bool valid_exc(const char *s)
{
	return strcmp(s, "none") == 0 || strcmp(s, "tap") == 0 || strncmp(s, "tap:", 4) == 0 ||
	       (strncmp(s, "vdev:", 5) == 0 && s[5]);
}

/* Checks one scalar of key k; a reason, or NULL when it is fine. */
static const char *check_scalar(const struct key *k, const char *s, char *why, size_t cap)
{
	struct sockaddr_storage ss;
	unsigned len;
	switch (k->kind) {
	case K_STR:
		return *s ? NULL : "must not be empty";
	case K_HTTPPATH:
		return doh_path_valid(s) ? NULL
					 : "must be a path: '/' first, no '?', '#' or spaces";
	case K_INT:
		if (valid_int(s, k->lo, k->hi))
			return NULL;
		snprintf(why, cap, "must be an integer from %.0f to %.0f, not '%s'", k->lo, k->hi,
			 s);
		return why;
	case K_SHARE:
		if (valid_share(s, k->lo, k->hi))
			return NULL;
		snprintf(why, cap, "must be a number above %g and below %g, not '%s'", k->lo, k->hi,
			 s);
		return why;
	case K_ADDRPORT:
		if (ksock_parse_addr(s, &ss, &len) == 0)
			return NULL;
		snprintf(why, cap, "'%s' is not ADDR, ADDR:PORT or [IPv6]:PORT", s);
		return why;
	case K_IP:
		if (valid_ip(s))
			return NULL;
		snprintf(why, cap, "'%s' is not an IPv4 or IPv6 address", s);
		return why;
	case K_MAC:
		if (valid_mac(s))
			return NULL;
		snprintf(why, cap, "'%s' is not a unicast MAC address (xx:xx:xx:xx:xx:xx)", s);
		return why;
	case K_PORTS:
		if (valid_ports(s))
			return NULL;
		snprintf(why, cap, "'%s' is not a list of ports and ranges (0,7,1024-1030)", s);
		return why;
	case K_EXC:
		if (valid_exc(s))
			return NULL;
		snprintf(why, cap, "'%s' is not none, tap, tap:PREFIX or vdev:DEVARGS", s);
		return why;
	case K_BOOL:
		if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "yes") ||
		    !strcmp(s, "no") || !strcmp(s, "on") || !strcmp(s, "off"))
			return NULL;
		snprintf(why, cap, "must be true or false, not '%s'", s);
		return why;
	case K_URL:
		if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0)
			return NULL;
		snprintf(why, cap, "'%s' is not an http:// or https:// URL", s);
		return why;
	case K_ABUSE: {
		struct p53_abuse_cfg scratch;
		p53_abuse_cfg_default(&scratch);
		return p53_abuse_cfg_set(&scratch, k->serve, s, why, cap) == 0 ? NULL : why;
	}
	}
	return "unknown kind";
}

static int push(struct value *v, const char *s, size_t n)
{
	char **nv = realloc(v->v, (v->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return -1;
	v->v = nv;
	v->v[v->n] = strndup(s, n);
	if (v->v[v->n] == NULL)
		return -1;
	v->n++;
	return 0;
}

/* dataplane.eal as one string: split on blanks (no quoting: use a list for
 * arguments with spaces). */
static int push_words(struct value *v, const char *s)
{
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		size_t n = strcspn(s, " \t");
		if (n && push(v, s, n) != 0)
			return -1;
		s += n;
	}
	return 0;
}

static void take_value(struct parse *p, size_t ki, struct fy_node *keyn, struct fy_node *v)
{
	const struct key *k = &keys[ki];
	struct value *out = &p->c->val[ki];
	char why[256];
	const char *reason;
	bool eal = strcmp(k->section, "dataplane") == 0 && strcmp(k->name, "eal") == 0;
	if (v == NULL || (fy_node_is_scalar(v) && fy_node_get_scalar_length(v) == 0 &&
			  fy_node_get_style(v) == FYNS_PLAIN)) {
		problem(p, keyn, "%s.%s has no value", k->section, k->name);
		return;
	}
	if (fy_node_is_mapping(v)) {
		problem(p, keyn, "%s.%s must be %s, not a mapping", k->section, k->name,
			k->list ? "a list or a value" : "a single value");
		return;
	}
	if (fy_node_is_sequence(v) && !k->list) {
		problem(p, keyn, "%s.%s takes one value, not a list", k->section, k->name);
		return;
	}
	out->set = true;
	if (fy_node_is_scalar(v)) {
		size_t n;
		const char *s = fy_node_get_scalar(v, &n);
		char *text = strndup(s, n);
		if (text == NULL)
			return;
		if (eal) {
			push_words(out, text);
		} else if ((reason = check_scalar(k, text, why, sizeof(why))) != NULL) {
			problem(p, v, "%s.%s: %s", k->section, k->name, reason);
		} else {
			push(out, s, n);
		}
		free(text);
		return;
	}
	void *it = NULL;
	struct fy_node *e;
	while ((e = fy_node_sequence_iterate(v, &it)) != NULL) {
		if (!fy_node_is_scalar(e)) {
			problem(p, keyn, "%s.%s: every item must be a single value", k->section,
				k->name);
			continue;
		}
		size_t n;
		const char *s = fy_node_get_scalar(e, &n);
		char *text = strndup(s, n);
		if (text == NULL)
			return;
		if (!eal && (reason = check_scalar(k, text, why, sizeof(why))) != NULL)
			problem(p, e, "%s.%s: %s", k->section, k->name, reason);
		else
			push(out, s, n);
		free(text);
	}
}

static void take_section(struct parse *p, const char *sec, struct fy_node *secn,
			 struct fy_node *body)
{
	if (body == NULL || !fy_node_is_mapping(body)) {
		problem(p, secn, "section '%s' must be a mapping of keys", sec);
		return;
	}
	void *it = NULL;
	struct fy_node_pair *pr;
	while ((pr = fy_node_mapping_iterate(body, &it)) != NULL) {
		struct fy_node *kn = fy_node_pair_key(pr);
		const char *name = fy_node_get_scalar0(kn);
		if (name == NULL) {
			problem(p, secn, "%s: keys must be plain words", sec);
			continue;
		}
		size_t i;
		for (i = 0; i < NKEYS; i++)
			if (!strcmp(keys[i].section, sec) && !strcmp(keys[i].name, name))
				break;
		if (i == NKEYS) {
			char known[512] = "";
			size_t o = 0;
			for (size_t j = 0; j < NKEYS && o < sizeof(known); j++)
				if (!strcmp(keys[j].section, sec))
					o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s",
							      o ? ", " : "", keys[j].name);
			problem(p, kn, "unknown key '%s' in section '%s' (known: %s)", name, sec,
				known);
			continue;
		}
		take_value(p, i, kn, fy_node_pair_value(pr));
	}
}

static void take_root(struct parse *p, struct fy_node *root)
{
	if (root == NULL)
		return; /* an empty file sets nothing */
	if (!fy_node_is_mapping(root)) {
		problem(p, root,
			"the file must be a mapping of sections (server:, snapshot:, ...)");
		return;
	}
	void *it = NULL;
	struct fy_node_pair *pr;
	while ((pr = fy_node_mapping_iterate(root, &it)) != NULL) {
		struct fy_node *kn = fy_node_pair_key(pr);
		const char *sec = fy_node_get_scalar0(kn);
		if (sec == NULL) {
			problem(p, kn, "section names must be plain words");
			continue;
		}
		bool known = false;
		for (size_t i = 0; i < NKEYS && !known; i++)
			known = strcmp(keys[i].section, sec) == 0;
		if (known) {
			take_section(p, sec, kn, fy_node_pair_value(pr));
			continue;
		}
		/* The known sections, each once, in the order of keys[]. */
		char names[512] = "";
		size_t o = 0;
		for (size_t i = 0; i < NKEYS && o < sizeof(names); i++) {
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = strcmp(keys[j].section, keys[i].section) == 0;
			if (!seen)
				o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
						      o ? ", " : "", keys[i].section);
		}
		problem(p, kn, "unknown section '%s' (known: %s)", sec, names);
	}
}

struct conf *conf_load(const char *path, conf_report_fn report, void *arg, unsigned *nerr)
{
	struct parse p = {.path = path, .report = report, .arg = arg};
	char msg[600];
	struct fy_document *doc = yamlfile_load(path, msg, sizeof(msg));
	if (doc == NULL) {
		if (report)
			report(arg, msg);
		if (nerr)
			*nerr = 1;
		return NULL;
	}
	p.c = calloc(1, sizeof(*p.c));
	if (p.c)
		take_root(&p, fy_document_root(doc));
	fy_document_destroy(doc);
	if (nerr)
		*nerr = p.nerr + (p.c == NULL);
	if (p.nerr || p.c == NULL) {
		conf_free(p.c);
		return NULL;
	}
	return p.c;
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		for (size_t j = 0; j < c->val[i].n; j++)
			free(c->val[i].v[j]);
		free(c->val[i].v);
	}
	for (size_t i = 0; i < c->nwords; i++)
		free(c->words[i]);
	free(c->words);
	free(c->out);
	free(c);
}

/* Does one of the user's arguments set --name (or -s)? */
static bool user_sets(int argc, char **argv, const char *name, char sh)
{
	size_t nl = strlen(name);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			continue;
		if (a[1] == '-' && !strncmp(a + 2, name, nl) &&
		    (a[2 + nl] == 0 || a[2 + nl] == '='))
			return true;
		if (sh && a[1] == sh)
			return true;
	}
	return false;
}

static int push_word(struct conf *c, char *w)
{
	char **nw = realloc(c->words, (c->nwords + 1) * sizeof(*nw));
	if (nw == NULL)
		return -1;
	c->words = nw;
	nw[c->nwords++] = w;
	return 0;
}

int conf_argv(struct conf *c, enum conf_prog prog, int argc, char **argv, char ***out)
{
	/* The user's EAL part (port53d): argv[1..dd), options after "--". */
	int dd = argc, uopt = 1;
	if (prog == CONF_PORT53D) {
		for (int i = 1; i < argc; i++)
			if (strcmp(argv[i], "--") == 0) {
				dd = i;
				break;
			}
		uopt = dd < argc ? dd + 1 : argc;
	}
	size_t cap = (size_t)argc + 2;
	for (size_t i = 0; i < NKEYS; i++)
		cap += 2 * c->val[i].n;
	char **v = calloc(cap + 1, sizeof(*v));
	if (v == NULL)
		return -1;
	int n = 0;
	v[n++] = argv[0];
	if (prog == CONF_PORT53D) {
		if (dd > 1) {
			for (int i = 1; i < dd; i++)
				v[n++] = argv[i];
		} else {
			for (size_t i = 0; i < NKEYS; i++)
				if (!strcmp(keys[i].section, "dataplane") &&
				    !strcmp(keys[i].name, "eal"))
					for (size_t j = 0; j < c->val[i].n; j++)
						v[n++] = c->val[i].v[j];
		}
		v[n++] = (char *)"--";
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *name = prog == CONF_SERVE ? k->serve : k->d;
		char sh = prog == CONF_SERVE ? k->serve_short : k->d_short;
		if (name == NULL || !c->val[i].set || user_sets(argc - uopt, argv + uopt, name, sh))
			continue;
		/* "--name=value" keeps option and value one word, so a value
		 * starting with '-' is never taken for an option. */
		for (size_t j = 0; j < c->val[i].n; j++) {
			if (k->kind == K_BOOL) {
				const char *b = c->val[i].v[j];
				if (strcmp(b, "true") && strcmp(b, "yes") && strcmp(b, "on"))
					continue;
				size_t blen = strlen(name) + 3;
				char *w = malloc(blen);
				if (w == NULL || push_word(c, w) != 0) {
					free(w);
					free(v);
					return -1;
				}
				snprintf(w, blen, "--%s", name);
				v[n++] = w;
				continue;
			}
			size_t len = strlen(name) + strlen(c->val[i].v[j]) + 4;
			char *w = malloc(len);
			if (w == NULL || push_word(c, w) != 0) {
				free(w);
				free(v);
				return -1;
			}
			snprintf(w, len, "--%s=%s", name, c->val[i].v[j]);
			v[n++] = w;
		}
	}
	for (int i = uopt; i < argc; i++)
		v[n++] = argv[i];
	v[n] = NULL;
	free(c->out);
	c->out = v;
	*out = v;
	return n;
}

const char *conf_take_path(int *argc, char **argv, bool allow_short, bool *bad)
{
	const char *path = NULL;
	*bad = false;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		int take = 0;
		if (strcmp(a, "--config") == 0 || (allow_short && strcmp(a, "-c") == 0)) {
			if (i + 1 >= *argc) {
				*bad = true;
				take = 1;
			} else {
				path = argv[i + 1];
				take = 2;
			}
		} else if (strncmp(a, "--config=", 9) == 0) {
			path = a + 9;
			*bad = *path == 0;
			take = 1;
		}
		if (take) {
			memmove(argv + i, argv + i + take,
				(size_t)(*argc - i - take + 1) * sizeof(*argv));
			*argc -= take;
			i--;
		}
	}
	return path;
}
