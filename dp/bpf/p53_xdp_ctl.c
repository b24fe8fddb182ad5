// SPDX-License-Identifier: BSD-2-Clause
/*
 * p53-xdp: operate port53's XDP program on an interface.
 *
 *   p53-xdp attach IFACE OBJ [--skb]     load OBJ and attach it (kernel-only use)
 *   p53-xdp detach IFACE                 detach any XDP program
 *   p53-xdp addr IFACE [--replace] ADDR...  add service addresses
 *   p53-xdp del IFACE ADDR...            remove service addresses
 *   p53-xdp config IFACE [--port N] [--any-addr|--match-addr]
 *   p53-xdp show IFACE                   addresses, config and counters
 *   p53-xdp stat IFACE NAME              one counter's value (for scripts)
 *
 * port53d fills the addresses itself; this tool is for operators, for setting
 * the program up when something other than port53d owns the socket, and for
 * the tests, which read the counters to prove where frames went.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp/xdp_load.h"

static void usage(void)
{
	fputs("usage: p53-xdp attach IFACE OBJ [--skb]\n"
	      "       p53-xdp detach IFACE\n"
	      "       p53-xdp addr IFACE [--replace] ADDR...\n"
	      "       p53-xdp del IFACE ADDR...\n"
	      "       p53-xdp config IFACE [--port N] [--any-addr|--match-addr]\n"
	      "       p53-xdp show IFACE\n"
	      "       p53-xdp stat IFACE COUNTER\n",
	      stderr);
	exit(2);
}

static int fail(const char *what, const char *arg, int err)
{
	fprintf(stderr, "p53-xdp: %s %s: %s\n", what, arg, strerror(-err));
	if (err == -EPROTO)
		fputs("p53-xdp: the attached program is not port53's p53_xdp "
		      "(or was built from another p53_xdp.h)\n",
		      stderr);
	return 1;
}

static void print_addr(int af, const void *addr, void *arg)
{
	char buf[INET6_ADDRSTRLEN];

	(void)arg;
	if (inet_ntop(af, addr, buf, sizeof(buf)))
		printf("addr %s\n", buf);
}

static int cmd_addr(struct dp_xdp *x, int argc, char **argv, int del)
{
	int i = 0, err;

	if (!del && i < argc && strcmp(argv[i], "--replace") == 0) {
		err = dp_xdp_clear_addrs(x);
		if (err)
			return fail("clear", "addresses", err);
		i++;
	}
	for (; i < argc; i++) {
		unsigned char a[16];
		int af = strchr(argv[i], ':') ? AF_INET6 : AF_INET;

		if (inet_pton(af, argv[i], a) != 1)
			return fail("bad address", argv[i], -EINVAL);
		err = del ? dp_xdp_del_addr(x, af, a) : dp_xdp_add_addr(x, af, a);
		if (err)
			return fail(del ? "del" : "add", argv[i], err);
	}
	return 0;
}

static int cmd_config(struct dp_xdp *x, int argc, char **argv)
{
	uint16_t port;
	uint32_t flags;
	int err = dp_xdp_get_config(x, &port, &flags);

	if (err)
		return fail("read", "config", err);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			char *end;
			unsigned long p = strtoul(argv[++i], &end, 10);

			if (*end || p == 0 || p > 65535)
				return fail("bad port", argv[i], -EINVAL);
			port = (uint16_t)p;
		} else if (strcmp(argv[i], "--any-addr") == 0) {
			flags |= P53_XDP_F_ANY_ADDR;
		} else if (strcmp(argv[i], "--match-addr") == 0) {
			flags &= ~P53_XDP_F_ANY_ADDR;
		} else {
			usage();
		}
	}
	err = dp_xdp_set_config(x, port, flags);
	return err ? fail("write", "config", err) : 0;
}

static int cmd_show(struct dp_xdp *x)
{
	uint64_t st[P53_XDP_STAT_MAX];
	uint16_t port;
	uint32_t flags;
	int err;

	printf("prog_id %u\n", x->prog_id);
	err = dp_xdp_get_config(x, &port, &flags);
	if (err)
		return fail("read", "config", err);
	printf("port %u\nmatch %s\n", port, flags & P53_XDP_F_ANY_ADDR ? "any-addr" : "addr");
	err = dp_xdp_foreach_addr(x, print_addr, NULL);
	if (err)
		return fail("read", "addresses", err);
	err = dp_xdp_read_stats(x, st);
	if (err)
		return fail("read", "counters", err);
	for (unsigned int i = 0; i < P53_XDP_STAT_MAX; i++)
		printf("%s %llu\n", dp_xdp_stat_name(i), (unsigned long long)st[i]);
	return 0;
}

static int cmd_stat(struct dp_xdp *x, const char *name)
{
	uint64_t st[P53_XDP_STAT_MAX];
	int err = dp_xdp_read_stats(x, st);

	if (err)
		return fail("read", "counters", err);
	for (unsigned int i = 0; i < P53_XDP_STAT_MAX; i++) {
		if (strcmp(name, dp_xdp_stat_name(i)) == 0) {
			printf("%llu\n", (unsigned long long)st[i]);
			return 0;
		}
	}
	return fail("unknown counter", name, -EINVAL);
}

int main(int argc, char **argv)
{
	struct dp_xdp x;
	const char *cmd, *ifname;
	int err, rc;

	if (argc < 3)
		usage();
	cmd = argv[1];
	ifname = argv[2];

	if (strcmp(cmd, "attach") == 0) {
		int skb = argc > 4 && strcmp(argv[4], "--skb") == 0;

		if (argc < 4)
			usage();
		err = dp_xdp_attach_file(ifname, argv[3], skb);
		return err ? fail("attach", ifname, err) : 0;
	}
	if (strcmp(cmd, "detach") == 0) {
		err = dp_xdp_detach(ifname);
		return err ? fail("detach", ifname, err) : 0;
	}

	err = dp_xdp_open(&x, ifname);
	if (err)
		return fail("open", ifname, err);
	if (strcmp(cmd, "addr") == 0)
		rc = cmd_addr(&x, argc - 3, argv + 3, 0);
	else if (strcmp(cmd, "del") == 0)
		rc = cmd_addr(&x, argc - 3, argv + 3, 1);
	else if (strcmp(cmd, "config") == 0)
		rc = cmd_config(&x, argc - 3, argv + 3);
	else if (strcmp(cmd, "show") == 0)
		rc = cmd_show(&x);
	else if (strcmp(cmd, "stat") == 0 && argc == 4)
		rc = cmd_stat(&x, argv[3]);
	else
		usage();
	dp_xdp_close(&x);
	return rc;
}
