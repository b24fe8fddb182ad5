/* The announcer (see anycast.h). */
#include "tools/anycast.h"

#include "tools/bird.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

void anycast_cfg_default(struct anycast_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bird_socket = "/run/bird/bird.ctl";
	cfg->protocol = "p53_anycast";
	cfg->interval_ms = 1000;
	cfg->fall = 2;
	cfg->rise = 3;
	cfg->reassert_s = 30;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stamp(char *out, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, cap, "%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%03ld", ts.tv_nsec / 1000000);
}

/* enable/disable the protocol; true when BIRD took it. */
static bool apply(const struct anycast_cfg *cfg, bool announce, const char *why)
{
	char cmd[300], out[1024], t[32];
	snprintf(cmd, sizeof(cmd), "%s %s", announce ? "enable" : "disable", cfg->protocol);
	int rc = bird_cmd(cfg->bird_socket, cmd, cfg->interval_ms < 2000 ? 2000 : cfg->interval_ms,
			  out, sizeof(out));
	stamp(t, sizeof(t));
	if (rc != 0) {
		fprintf(stderr, "%s port53ctl anycast: BIRD refused '%s': %s\n", t, cmd, out);
		return false;
	}
	fprintf(stderr, "%s port53ctl anycast: %s (%s: %s)%s%s\n", t,
		announce ? "announced" : "withdrawn", cmd, out, *why ? ": " : "", why);
	return true;
}

static void nap(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL); /* a signal cuts it short, as wanted */
}

int anycast_run(const struct anycast_cfg *cfg)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int applied = -1; /* what BIRD was last told: -1 nothing, 0 withdrawn, 1 announced */
	int want = -1;
	unsigned good = 0, bad = 0;
	double told_at = 0;
	char why[512] = "";
	while (!stop_sig) {
		double t0 = mono_s();
		char r[512] = "";
		int v = cfg->check(cfg->check_arg, cfg->interval_ms, r, sizeof(r));
		if (v == 1) {
			good++;
			bad = 0;
		} else {
			bad++;
			good = 0;
			snprintf(why, sizeof(why), "%s", r);
		}
		/* The first verdict acts at once: nothing is known before it. */
		if (want != 1 && (good >= cfg->rise || (want == -1 && v == 1)))
			want = 1;
		else if (want != 0 && (bad >= cfg->fall || (want == -1 && v != 1)))
			want = 0;
		if (want != applied || mono_s() - told_at >= cfg->reassert_s) {
			if (apply(cfg, want == 1, want == 1 ? "" : why)) {
				applied = want;
				told_at = mono_s();
			}
		}
		if (cfg->once)
			return applied == 1 ? 0 : 1;
		double spent = (mono_s() - t0) * 1e3;
		if (spent < cfg->interval_ms)
			nap(cfg->interval_ms - (unsigned)spent);
	}
	char t[32];
	stamp(t, sizeof(t));
	fprintf(stderr, "%s port53ctl anycast: signal %d: withdrawing before exit\n", t,
		(int)stop_sig);
	return apply(cfg, false, "the announcer stops") ? 0 : 1;
}
