# Shell functions shared by the side-by-side benchmarks (sidebyside.sh,
# transports.sh, memory.sh): the two-namespace network, Knot DNS and NSD
# configuration, a server's processes, its CPU time and memory, stopping it.
# Sourced, not run. The caller sets what a function names:
#   NS_S NS_C DEV_S DEV_C SVC CLI  namespaces, veth ends and their addresses
#   W                              the run's work directory
#   PIDS                           every process started (cleanup kills them)
#   SPID                           the server being measured
#   DPDK_PREFIX                    port53d's --file-prefix

# Kills what was started, detaches XDP programs, removes the namespaces and
# the work directory (the scripts' EXIT trap).
bench_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	ip netns exec $NS_S ip link set dev $DEV_S xdp off 2>/dev/null || true
	ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
	ip netns del $NS_S 2>/dev/null || true
	ip netns del $NS_C 2>/dev/null || true
	rm -rf "$W" /var/run/dpdk/"$DPDK_PREFIX" 2>/dev/null || true
}

# Two namespaces joined by a veth, static neighbours; sets MAC_S and MAC_C.
bench_netns_up() {
	ip netns del $NS_S 2>/dev/null || true
	ip netns del $NS_C 2>/dev/null || true
	ip netns add $NS_S
	ip netns add $NS_C
	ip link add $DEV_S netns $NS_S type veth peer name $DEV_C netns $NS_C
	ip -n $NS_S addr add $SVC/24 dev $DEV_S
	ip -n $NS_C addr add $CLI/24 dev $DEV_C
	ip -n $NS_S link set lo up
	ip -n $NS_C link set lo up
	ip -n $NS_S link set $DEV_S up
	ip -n $NS_C link set $DEV_C up
	# Kernel-sent UDP over veth has partial checksums an AF_XDP reader sees
	# as bad (docs/af_xdp.md); kxdpgun writes full ones, dnsperf/kdig go
	# through the kernel, so checksum offload is off on the client side.
	ip netns exec $NS_C ethtool -K $DEV_C tx off >/dev/null
	MAC_S=$(ip netns exec $NS_S cat /sys/class/net/$DEV_S/address)
	MAC_C=$(ip netns exec $NS_C cat /sys/class/net/$DEV_C/address)
	ip -n $NS_C neigh replace $SVC lladdr "$MAC_S" dev $DEV_C nud permanent
	ip -n $NS_S neigh replace $CLI lladdr "$MAC_C" dev $DEV_S nud permanent
}

# bench_knot_conf LISTEN DOMAIN FILE XDP [TEMPLATE-LINE...]: a Knot DNS
# configuration on stdout, one UDP, one TCP and one background worker, state
# under $W. XDP: "" for none, "udp" or "udp tcp" for an XDP listener on
# $DEV_S. Each TEMPLATE-LINE ("key: value") goes into the default template.
bench_knot_conf() {
	local listen=$1 domain=$2 file=$3 xdp=$4 l
	shift 4
	cat <<-EOF
		server:
		    rundir: "$W/knot-run"
		    user: root:root
		    listen: $listen
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: 1
	EOF
	if [ -n "$xdp" ]; then
		echo "xdp:"
		echo "    listen: $DEV_S@53"
		for l in $xdp; do echo "    $l: on"; done
	fi
	cat <<-EOF
		database:
		    storage: "$W/knot-db"
		log:
		  - target: stderr
		    any: warning
		template:
		  - id: default
		    storage: "$W"
		    zonefile-sync: -1
		    journal-content: none
	EOF
	for l in "$@"; do echo "    $l"; done
	cat <<-EOF
		zone:
		  - domain: $domain
		    file: "$file"
	EOF
}

# bench_nsd_conf DOMAIN ZONEFILE SERVER-LINE...: an NSD configuration on
# stdout, one server process, no RRL, no remote control, state under $W.
# The SERVER-LINEs ("key: value") add the addresses and anything else.
bench_nsd_conf() {
	local domain=$1 file=$2 l
	shift 2
	echo "server:"
	for l in "$@"; do echo "    $l"; done
	cat <<-EOF
		    server-count: 1
		    username: ""
		    zonesdir: "$W"
		    database: ""
		    pidfile: "$W/nsd.pid"
		    xfrdfile: "$W/xfrd.state"
		    zonelistfile: "$W/zone.list"
		    rrl-ratelimit: 0
		remote-control:
		    control-enable: no
		zone:
		    name: $domain
		    zonefile: $file
	EOF
}

# bench_tree_pids PID: PID and all its descendants (nsd's server process is
# a grandchild).
bench_tree_pids() {
	local todo=("$1") p
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		echo "$p"
		todo+=($(pgrep -P "$p" 2>/dev/null || true))
	done
}

# bench_cpu_ns PID [COMM]: on-CPU nanoseconds summed over every thread of
# PID and its descendants; with COMM, only threads whose name starts so.
bench_cpu_ns() {
	local t=0 p d
	for p in $(bench_tree_pids "$1"); do
		for d in /proc/"$p"/task/*; do
			if [ -n "${2:-}" ]; then
				case $(cat "$d/comm" 2>/dev/null) in "$2"*) ;; *) continue ;; esac
			fi
			[ -r "$d/schedstat" ] && t=$((t + $(cut -d' ' -f1 "$d/schedstat" 2>/dev/null || echo 0)))
		done
	done
	echo $t
}

# bench_pss_kb PID: PSS (kB) of PID and its descendants, shared pages once.
bench_pss_kb() {
	local t=0 p v
	for p in $(bench_tree_pids "$1"); do
		v=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
		t=$((t + ${v:-0}))
	done
	echo $t
}

# Stops $SPID (TERM, then KILL after 10 s) and what it left attached.
bench_stop_server() {
	kill "$SPID" 2>/dev/null || true
	for _ in $(seq 1 40); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.25; done
	kill -9 "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	ip netns exec $NS_S ip link set dev $DEV_S xdp off 2>/dev/null || true
	ip netns exec $NS_C ip link set dev $DEV_C xdp off 2>/dev/null || true
	rm -rf /var/run/dpdk/"$DPDK_PREFIX"
}
