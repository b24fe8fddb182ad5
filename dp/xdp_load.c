// SPDX-License-Identifier: BSD-2-Clause
/* User-space side of the XDP program: see xdp_load.h. */
#include "dp/xdp_load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

/* libbpf prints its own diagnostics to stderr by default; the daemon and the
 * CLI report errors themselves, so keep libbpf quiet unless asked. */
static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static void libbpf_quiet(void)
{
	if (!getenv("P53_XDP_DEBUG"))
		libbpf_set_print(quiet_print);
}

static int ifindex_of(const char *ifname)
{
	unsigned int idx = if_nametoindex(ifname);

	return idx ? (int)idx : -ENODEV;
}

int dp_xdp_attach_file(const char *ifname, const char *obj_path, int skb_mode)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int ifindex = ifindex_of(ifname);
	int err;

	if (ifindex < 0)
		return ifindex;
	libbpf_quiet();
	obj = bpf_object__open_file(obj_path, NULL);
	err = (int)libbpf_get_error(obj);
	if (err)
		return err;
	err = bpf_object__load(obj);
	if (err)
		goto out;
	prog = bpf_object__find_program_by_name(obj, P53_XDP_PROG_NAME);
	if (!prog) {
		err = -EPROTO;
		goto out;
	}
	err = bpf_xdp_attach(ifindex, bpf_program__fd(prog),
			     XDP_FLAGS_UPDATE_IF_NOEXIST |
				 (skb_mode ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE),
			     NULL);
out:
	/* The attachment holds the program and the program holds its maps, so
	 * the object can go: nothing is unloaded while it stays attached. */
	bpf_object__close(obj);
	return err;
}

int dp_xdp_detach(const char *ifname)
{
	static const __u32 modes[] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_HW_MODE};
	int ifindex = ifindex_of(ifname);
	int err = 0;

	if (ifindex < 0)
		return ifindex;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		__u32 id = 0;

		if (bpf_xdp_query_id(ifindex, (int)modes[i], &id) == 0 && id) {
			int e = bpf_xdp_detach(ifindex, modes[i], NULL);

			if (e && !err)
				err = e;
		}
	}
	return err;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void dp_xdp_close(struct dp_xdp *x)
{
	close_fd(&x->fd_prog);
	close_fd(&x->fd_svc4);
	close_fd(&x->fd_svc6);
	close_fd(&x->fd_cfg);
	close_fd(&x->fd_stats);
	close_fd(&x->fd_xsks);
}

/* Whichever mode the program is attached in; the PMD lets the kernel pick. */
static int attached_prog_id(int ifindex, __u32 *id)
{
	static const int modes[] = {0, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};

	*id = 0;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int err = bpf_xdp_query_id(ifindex, modes[i], id);

		if (err)
			return err;
		if (*id)
			return 0;
	}
	return -ENOENT;
}

struct map_want {
	const char *name;
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	int *fd;
};

int dp_xdp_open(struct dp_xdp *x, const char *ifname)
{
	struct bpf_prog_info pinfo;
	__u32 len = sizeof(pinfo), nmaps, *ids = NULL;
	int err;

	*x = (struct dp_xdp){
	    .fd_prog = -1,
	    .fd_svc4 = -1,
	    .fd_svc6 = -1,
	    .fd_cfg = -1,
	    .fd_stats = -1,
	    .fd_xsks = -1,
	};
	struct map_want want[] = {
	    {P53_XDP_MAP_SVC4, BPF_MAP_TYPE_HASH, 4, 4, &x->fd_svc4},
	    {P53_XDP_MAP_SVC6, BPF_MAP_TYPE_HASH, sizeof(struct p53_xdp_in6), 4, &x->fd_svc6},
	    {P53_XDP_MAP_CFG, BPF_MAP_TYPE_ARRAY, 4, sizeof(struct p53_xdp_cfg), &x->fd_cfg},
	    {P53_XDP_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, &x->fd_stats},
	    {P53_XDP_MAP_XSKS, BPF_MAP_TYPE_XSKMAP, 4, 4, &x->fd_xsks},
	};

	x->ifindex = ifindex_of(ifname);
	if (x->ifindex < 0)
		return x->ifindex;
	libbpf_quiet();
	err = attached_prog_id(x->ifindex, &x->prog_id);
	if (err)
		return err;
	x->fd_prog = bpf_prog_get_fd_by_id(x->prog_id);
	if (x->fd_prog < 0)
		return -errno;

	/* Two passes: the first asks how many maps the program uses. */
	memset(&pinfo, 0, sizeof(pinfo));
	err = bpf_obj_get_info_by_fd(x->fd_prog, &pinfo, &len);
	if (err)
		goto fail;
	if (strncmp(pinfo.name, P53_XDP_PROG_NAME, sizeof(pinfo.name)) != 0) {
		err = -EPROTO;
		goto fail;
	}
	nmaps = pinfo.nr_map_ids;
	ids = calloc(nmaps ? nmaps : 1, sizeof(*ids));
	if (!ids) {
		err = -ENOMEM;
		goto fail;
	}
	memset(&pinfo, 0, sizeof(pinfo));
	pinfo.nr_map_ids = nmaps;
	pinfo.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(pinfo);
	err = bpf_obj_get_info_by_fd(x->fd_prog, &pinfo, &len);
	if (err)
		goto fail;
	if (pinfo.nr_map_ids < nmaps)
		nmaps = pinfo.nr_map_ids;

	for (__u32 i = 0; i < nmaps; i++) {
		struct bpf_map_info minfo;
		__u32 mlen = sizeof(minfo);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0) {
			err = -errno;
			goto fail;
		}
		memset(&minfo, 0, sizeof(minfo));
		if (bpf_obj_get_info_by_fd(fd, &minfo, &mlen)) {
			err = -errno;
			close(fd);
			goto fail;
		}
		for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
			if (strncmp(minfo.name, want[w].name, sizeof(minfo.name)) != 0 ||
			    *want[w].fd >= 0)
				continue;
			/* A stale object built against another p53_xdp.h
			 * would silently mismatch keys: refuse it instead. */
			if (minfo.type != want[w].type || minfo.key_size != want[w].key_size ||
			    minfo.value_size != want[w].value_size) {
				err = -EPROTO;
				close(fd);
				goto fail;
			}
			*want[w].fd = fd;
			fd = -1;
			break;
		}
		if (fd >= 0)
			close(fd);
	}
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		if (*want[w].fd < 0) {
			err = -EPROTO;
			goto fail;
		}
	}
	free(ids);
	return 0;
fail:
	free(ids);
	dp_xdp_close(x);
	return err < 0 ? err : -EIO;
}

static int addr_map(struct dp_xdp *x, int af, size_t *len)
{
	if (af == AF_INET) {
		*len = 4;
		return x->fd_svc4;
	}
	if (af == AF_INET6) {
		*len = 16;
		return x->fd_svc6;
	}
	return -EAFNOSUPPORT;
}

int dp_xdp_add_addr(struct dp_xdp *x, int af, const void *addr)
{
	unsigned char key[16];
	size_t len = 0;
	__u32 one = 1;
	int fd = addr_map(x, af, &len);

	if (fd < 0)
		return fd;
	memcpy(key, addr, len);
	return bpf_map_update_elem(fd, key, &one, BPF_ANY) ? -errno : 0;
}

int dp_xdp_del_addr(struct dp_xdp *x, int af, const void *addr)
{
	unsigned char key[16];
	size_t len = 0;
	int fd = addr_map(x, af, &len);

	if (fd < 0)
		return fd;
	memcpy(key, addr, len);
	return bpf_map_delete_elem(fd, key) ? -errno : 0;
}

int dp_xdp_add_addr_str(struct dp_xdp *x, const char *text)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, text, a) == 1)
		return dp_xdp_add_addr(x, AF_INET, a);
	if (inet_pton(AF_INET6, text, a) == 1)
		return dp_xdp_add_addr(x, AF_INET6, a);
	return -EINVAL;
}

int dp_xdp_foreach_addr(struct dp_xdp *x, void (*cb)(int af, const void *addr, void *arg),
			void *arg)
{
	static const int afs[] = {AF_INET, AF_INET6};

	for (size_t i = 0; i < 2; i++) {
		unsigned char key[16], next[16];
		size_t len = 0;
		int fd = addr_map(x, afs[i], &len);
		void *prev = NULL;

		while (bpf_map_get_next_key(fd, prev, next) == 0) {
			cb(afs[i], next, arg);
			memcpy(key, next, len);
			prev = key;
		}
		if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

int dp_xdp_clear_addrs(struct dp_xdp *x)
{
	static const int afs[] = {AF_INET, AF_INET6};

	for (size_t i = 0; i < 2; i++) {
		unsigned char key[16];
		size_t len = 0;
		int fd = addr_map(x, afs[i], &len);

		/* Deleting while iterating restarts the walk; always take
		 * the first key so the map empties in one pass. */
		while (bpf_map_get_next_key(fd, NULL, key) == 0) {
			if (bpf_map_delete_elem(fd, key))
				return -errno;
		}
	}
	return 0;
}

int dp_xdp_set_config(struct dp_xdp *x, uint16_t port, uint32_t flags)
{
	struct p53_xdp_cfg cfg = {.port_be = htons(port), .flags = flags};
	__u32 zero = 0;

	return bpf_map_update_elem(x->fd_cfg, &zero, &cfg, BPF_ANY) ? -errno : 0;
}

int dp_xdp_get_config(struct dp_xdp *x, uint16_t *port, uint32_t *flags)
{
	struct p53_xdp_cfg cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(x->fd_cfg, &zero, &cfg))
		return -errno;
	*port = cfg.port_be ? ntohs(cfg.port_be) : 53;
	*flags = cfg.flags;
	return 0;
}

int dp_xdp_read_stats(struct dp_xdp *x, uint64_t out[P53_XDP_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 k = 0; k < P53_XDP_STAT_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(x->fd_stats, &k, vals)) {
			int err = -errno;

			free(vals);
			return err;
		}
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
	return 0;
}

const char *dp_xdp_stat_name(unsigned int idx)
{
	static const char *const names[P53_XDP_STAT_MAX] = {
	    [P53_XDP_REDIRECT] = "redirect",
	    [P53_XDP_NO_XSK] = "no_xsk",
	    [P53_XDP_PASS_NOT_IP] = "pass_not_ip",
	    [P53_XDP_PASS_NOT_UDP] = "pass_not_udp",
	    [P53_XDP_PASS_PORT] = "pass_port",
	    [P53_XDP_PASS_ADDR] = "pass_addr",
	    [P53_XDP_PASS_FRAG] = "pass_frag",
	    [P53_XDP_PASS_EXTHDR] = "pass_exthdr",
	    [P53_XDP_PASS_MALFORMED] = "pass_malformed",
	    [P53_XDP_PASS_NOTIFY] = "pass_notify",
	};

	return idx < P53_XDP_STAT_MAX ? names[idx] : "?";
}
