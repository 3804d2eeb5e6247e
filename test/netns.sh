#!/usr/bin/env bash
# netns.sh: private test hosts made of Linux network namespaces joined by a bridge of their own.
#
# Sourced by a test (functions below), or run by hand as root:
#
#   test/netns.sh up ID [N]     make N hosts (default 3) for run ID
#   test/netns.sh down ID       kill what runs in them, delete them
#   test/netns.sh list          the namespaces of every run
#
# Run ID owns the namespaces evc-tID-br (the bridge br0) and evc-tID-h1 ...
# evc-tID-hN. Host I has an interface eth0, a veth whose peer hI is a
# port of br0, with the address 10.231.(ID % 250).I/24. Everything is
# made with `ip -n`, inside the new namespaces: the namespace the test
# runs in keeps its interfaces and routes, and no namespace gets a
# default route, so nothing in them reaches beyond the bridge. Two runs
# with the same subnet do not collide: each has a bridge of its own.

NETNS_MAX_HOSTS=9

# netns_name ID HOST: the namespace of host HOST (1..N, or br).
netns_name()
{
	case $2 in
	br) echo "evc-t$1-br" ;;
	*) echo "evc-t$1-h$2" ;;
	esac
}

# netns_addr ID HOST: the address of host HOST, without the prefix length.
netns_addr()
{
	echo "10.231.$(($1 % 250)).$2"
}

# The namespaces of run $1 that exist now, one a line.
_netns_of()
{
	ip netns list 2>/dev/null | awk -v p="evc-t$1-" '
		index($1, p) == 1 && substr($1, length(p) + 1) ~ /^(br|h[0-9]+)$/ {
			print $1
		}'
}

# netns_usable: can namespaces be made here? If not, prints why.
netns_usable()
{
	if [ "${EUID:-$(id -u)}" != 0 ]; then
		echo "needs root to make network namespaces"
		return 1
	fi
	if ! command -v ip >/dev/null 2>&1; then
		echo "needs ip (iproute2)"
		return 1
	fi
	return 0
}

# Runs ip, and on failure says which command failed.
_netns_ip()
{
	local out

	out=$(ip "$@" 2>&1) && return 0
	echo "netns: 'ip $*' failed: $out" >&2
	return 1
}

# Host $2 of run $1: its namespace, its veth pair to the bridge, its address.
_netns_host()
{
	local br ns

	br=$(netns_name "$1" br)
	ns=$(netns_name "$1" "$2")
	_netns_ip netns add "$ns" &&
		_netns_ip -n "$ns" link set lo up &&
		_netns_ip -n "$br" link add "h$2" type veth peer name eth0 netns "$ns" &&
		_netns_ip -n "$br" link set "h$2" master br0 up &&
		_netns_ip -n "$ns" addr add "$(netns_addr "$1" "$2")/24" dev eth0 &&
		_netns_ip -n "$ns" link set eth0 up
}

# netns_up ID [N]: makes the bridge and N hosts (default 3) of run ID.
# On failure, what was made is deleted again and the reason printed.
netns_up()
{
	local id=$1 n=${2:-3} br i

	case $id$n in
	*[!0-9]*)
		echo "netns: bad run id or host count: '$id' '$n'" >&2
		return 1
		;;
	esac
	if [ "$n" -lt 1 ] || [ "$n" -gt "$NETNS_MAX_HOSTS" ]; then
		echo "netns: 1 to $NETNS_MAX_HOSTS hosts, not $n" >&2
		return 1
	fi
	if [ -n "$(_netns_of "$id")" ]; then
		echo "netns: namespaces of run $id exist already" >&2
		return 1
	fi
	br=$(netns_name "$id" br)
	if ! { _netns_ip netns add "$br" &&
		_netns_ip -n "$br" link set lo up &&
		_netns_ip -n "$br" link add br0 type bridge &&
		_netns_ip -n "$br" link set br0 up; }; then
		netns_down "$id"
		return 1
	fi
	for ((i = 1; i <= n; i++)); do
		_netns_host "$id" "$i" && continue
		netns_down "$id"
		return 1
	done
}

# Is process $1 still there (a zombie is gone)?
_netns_alive()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

_netns_any_alive()
{
	local pid

	for pid; do
		_netns_alive "$pid" && return 0
	done
	return 1
}

# Sends signal $1 to every process in namespace $2; prints their PIDs.
_netns_signal()
{
	local pid

	for pid in $(ip netns pids "$2" 2>/dev/null); do
		kill -s "$1" "$pid" 2>/dev/null && echo "$pid"
	done
}

# netns_down ID: ends every process left in the namespaces of run ID
# (SIGTERM, SIGKILL after 5 s), then deletes the namespaces. Only what
# this run started can be in them: their names carry its id.
netns_down()
{
	local id=$1 ns pids= i

	for ns in $(_netns_of "$id"); do
		pids="$pids $(_netns_signal TERM "$ns")"
	done
	for ((i = 0; i < 50; i++)); do
		_netns_any_alive $pids || break
		sleep 0.1
	done
	for ns in $(_netns_of "$id"); do
		_netns_signal KILL "$ns" >/dev/null
	done
	# Host namespaces first: their veths go with them, then the bridge.
	for ns in $(_netns_of "$id" | sort -r); do
		ip netns del "$ns" 2>/dev/null ||
			echo "netns: cannot delete namespace '$ns'" >&2
	done
	[ -z "$(_netns_of "$id")" ]
}

# netns_sweep: deletes the namespaces of runs whose test process is gone
# (a run killed with SIGKILL cannot clean up after itself).
netns_sweep()
{
	local id

	for id in $(ip netns list 2>/dev/null | awk '
		$1 ~ /^evc-t[0-9]+-(br|h[0-9]+)$/ {
			split($1, f, "-"); print substr(f[2], 2)
		}' | sort -u); do
		kill -0 "$id" 2>/dev/null && continue
		netns_down "$id"
	done
}

# --- Kafka and evc on three hosts, for the test files --------------------
#
# A test file sources lib.sh, then this file, and calls hosts_init: it
# makes hosts h1, h2 and h3 of run $$ (or marks every test of the file
# skipped, saying why) and sees to it that, however the file ends, what
# runs on them is stopped and they are deleted. cluster_start then runs a
# node of the three-node KRaft cluster of etc/kafka/server-N.properties on
# each host (test/kafka.sh node), and evc_config N writes host N's
# evc.yaml: the example etc/evc.yaml with the hosts' brokers, the
# catalogue $TEST_DIR/cps.yaml and quick timings. Every Kafka, evc and
# kcat started through host_exec, on or kcat_on runs inside the hosts,
# where nothing can reach out.

# host_exec H CMD...: replaces the shell with CMD on host H, configured by
# H's evc.yaml (for bg, whose PID is then CMD's).
host_exec()
{
	local h=$1

	shift
	EVC_CONFIG=$TEST_DIR/h$h/evc.yaml exec ip netns exec \
		"$(netns_name "$ID" "$h")" "$@"
}

# on H CMD...: runs CMD on host H and waits for it (90 s at most).
on()
{
	local h=$1

	shift
	(host_exec "$h" timeout --foreground -k 5 90 "$@")
}

# kcat_on H ARGS...: kcat on host H, bootstrapped by H's own broker.
kcat_on()
{
	local h=$1

	shift
	on "$h" kcat -b "$(netns_addr "$ID" "$h"):9092" "$@"
}

# Interfaces, IPv4 addresses and routes of the namespace the test runs
# in: the test must leave them as they were.
root_net()
{
	ip -o link show | awk -F': ' '{ print $2 }' | sort
	ip -o -4 addr show | awk '{ print $2, $4 }' | sort
	ip -4 route show | sort
}

# others_in_hosts PID...: the processes in the hosts' namespaces but these.
others_in_hosts()
{
	local h pid

	for h in 1 2 3; do
		for pid in $(ip netns pids "$(netns_name "$ID" "$h")" 2>/dev/null); do
			case " $* " in
			*" $pid "*) ;;
			*) echo "$pid" ;;
			esac
		done
	done
}

# Every process still running: evc first (SIGTERM, then 5 s for them and
# the engines they run), while Kafka can still take their last messages;
# then Kafka (SIGKILL: its data goes with the test directory); then
# whatever is left, which netns_down ends before it deletes the hosts.
hosts_down()
{
	local rec pid kafkas= i

	[ -n "$hosts_made" ] || return 0
	for rec in "$TEST_DIR"/.bg/*; do
		_bg_alive "$rec" || continue
		read -r pid _ <"$rec"
		case ${rec##*/} in
		kafka*) kafkas="$kafkas $pid" ;;
		*) kill -s TERM "$pid" 2>/dev/null ;;
		esac
	done
	for ((i = 0; i < 50; i++)); do
		[ -z "$(others_in_hosts $kafkas)" ] && break
		sleep 0.1
	done
	for pid in $kafkas; do
		kill -s KILL "$pid" 2>/dev/null
	done
	netns_down "$ID"
	hosts_made=
}

_hosts_end()
{
	local rc=$1

	trap - EXIT
	hosts_down
	_test_end "$rc"
}

# The hosts cannot be made: every test is skipped; with
# EVC_TEST_REQUIRE_NETNS=1 (the default when CI=true), a root that cannot
# make them fails instead.
_hosts_cannot()
{
	local require=${EVC_TEST_REQUIRE_NETNS:-0}

	_hosts_why=$1
	case ${CI:-} in
	true | 1 | yes) require=${EVC_TEST_REQUIRE_NETNS:-1} ;;
	esac
	if [ "$require" = 1 ] && [ "$EUID" = 0 ]; then
		test_expect_success 'three hosts and their Kafka can be made here' '
			echo "$_hosts_why"; false
		'
	fi
	_skip_all=$1
}

# hosts_init: hosts h1, h2 and h3 of run $$ (ID), their addresses A1, A2
# and A3, and A99, on their subnet but no host's.
hosts_init()
{
	local why

	ID=$$ hosts_made=
	A1=$(netns_addr "$ID" 1) A2=$(netns_addr "$ID" 2) A3=$(netns_addr "$ID" 3)
	A99=$(netns_addr "$ID" 99)
	trap '_hosts_end $?' EXIT
	if ! why=$(netns_usable); then
		_hosts_cannot "$why"
	elif ! command -v java >/dev/null || ! command -v kcat >/dev/null; then
		_hosts_cannot "needs java and kcat (test/deps.sh)"
	elif ! "$TEST_TOP/test/kafka.sh" jars >/dev/null 2>"$TEST_DIR/.log/jars"; then
		_hosts_cannot "no Kafka jars: $(tail -n 3 "$TEST_DIR/.log/jars")"
	else
		netns_sweep
		root_net >"$TEST_DIR/root-net.before"
		if netns_up "$ID" 3 2>"$TEST_DIR/.log/netns"; then
			hosts_made=1
		else
			_hosts_cannot "cannot make network namespaces: $(cat "$TEST_DIR/.log/netns")"
		fi
	fi
}

# hosts_clean: after hosts_down, no namespace and no process of the run
# is left, and the test's own namespace is as it was.
hosts_clean()
{
	local rec

	test -z "$(ip netns list | grep "^evc-t$ID-")" || return 1
	for rec in "$TEST_DIR"/.bg/*; do
		! _bg_alive "$rec" || { echo "${rec##*/} still running"; return 1; }
	done
	root_net >"$TEST_DIR/root-net.after" &&
	diff -u "$TEST_DIR/root-net.before" "$TEST_DIR/root-net.after"
}

# kafka_java N CLASS ARGS...: a Kafka main class as the node of host N.
# A smaller heap than the single node's: three share the machine.
kafka_java()
{
	local n=$1

	shift
	EVC_KAFKA_HEAP=384m host_exec "$n" "$TEST_TOP/test/kafka.sh" run \
		"$TEST_DIR/kafka$n" "$@"
}

# kafka_start N: starts (or starts again) the node of host N, in the
# background as kafkaN.
kafka_start()
{
	bg "kafka$1" kafka_java "$1" kafka.Kafka "$TEST_DIR/kafka$1/server.properties"
}

# The storage of the three nodes, formatted at once with one cluster id
# and one dynamic quorum of the three, as etc/DEPLOY.md does it: node I
# at AI:9093, its metadata directory named by a fresh id.
_kafka_format()
{
	local cid n pids= pid ok=0 voters=

	cid=$("$TEST_TOP/test/kafka.sh" cluster-id)
	for n in 1 2 3; do
		voters="$voters${voters:+,}$n@$(netns_addr "$ID" "$n"):9093:$("$TEST_TOP/test/kafka.sh" cluster-id)"
	done
	for n in 1 2 3; do
		(kafka_java "$n" kafka.tools.StorageTool format -t "$cid" \
			-c "$TEST_DIR/kafka$n/server.properties" \
			--initial-controllers "$voters") \
			>"$TEST_DIR/kafka$n/format.out" 2>&1 &
		pids="$pids $!"
	done
	for pid in $pids; do
		wait "$pid" || ok=1
	done
	[ $ok = 0 ] || cat "$TEST_DIR"/kafka*/format.out
	return $ok
}

# Are the three nodes one cluster, seen from h1? Fails at once (status 2)
# when a node has exited.
_cluster_up()
{
	local n

	for n in 1 2 3; do
		_bg_alive "$TEST_DIR/.bg/kafka$n" && continue
		echo "the Kafka of h$n exited; last lines of its log:"
		tail -n 30 "$TEST_DIR/kafka$n/kafka.log" "$TEST_DIR/kafka$n.err"
		return 2
	done
	kcat_on 1 -L -m 2 2>/dev/null | grep -q '^ 3 brokers:'
}

# wait_cluster TIMEOUT_S: until the three brokers are one cluster.
wait_cluster()
{
	local deadline=$((SECONDS + $1)) rc

	while ((SECONDS < deadline)); do
		_cluster_up
		rc=$?
		[ $rc = 0 ] && return 0
		[ $rc = 2 ] && return 1
		sleep 0.5
	done
	echo "no cluster of 3 brokers within $1 s"
	kcat_on 1 -L -m 2
	return 1
}

# cluster_start: the three nodes configured, formatted, started, and one
# cluster within 120 s.
cluster_start()
{
	local n

	for n in 1 2 3; do
		"$TEST_TOP/test/kafka.sh" node "$n" "$TEST_DIR/kafka$n" \
			"$A1" "$A2" "$A3" || return 1
	done
	_kafka_format || return 1
	for n in 1 2 3; do
		kafka_start "$n" || return 1
	done
	wait_cluster 120
}

# in_sync H: seen from host H, every evc topic exists (describe fails
# otherwise) and each of its partitions has a leader and 3 replicas, all
# in sync.
in_sync()
{
	on "$1" "$EVC" topics describe >describe 2>&1 &&
	awk '{ n++ }
	$5 < 0 || split($7, r, ",") != 3 || split($9, i, ",") != 3 { bad++ }
	END { exit !(n >= 27 && !bad) }' describe
}

# led_without H N: seen from host H, every partition has a leader, and
# none is node N.
led_without()
{
	on "$1" "$EVC" topics describe >describe 2>&1 &&
	awk -v node="$2" '{ n++ } $5 < 0 || $5 == node { bad++ }
	END { exit !(n >= 27 && !bad) }' describe
}

# evc_config N [<<EOF extra YAML EOF]: hN/evc.yaml, the example
# etc/evc.yaml for three machines with the hosts' brokers, replication 3,
# the catalogue cps.yaml, quick timings, and the YAML on stdin merged in.
evc_config()
{
	local dir=$TEST_DIR/h$1

	mkdir -p "$dir/state" &&
	cp "$TEST_DIR/cps.yaml" "$dir/" &&
	cat >"$dir/common.yaml" <<-EOF &&
	kafka:
	  brokers: ["$A1:9092", "$A2:9092", "$A3:9092"]
	topics:
	  partitions: 3
	  replication: 3
	central:
	  catalogue: cps.yaml
	  health_timeout_ms: 1500
	  require_keys: false
	cp:
	  tick_ms: 200
	  health_ms: 200
	  state_dir: $dir/state
	driver:
	  wait_ms: 300
	EOF
	cat >"$dir/extra.yaml" &&
	_yaml_merge "$TEST_TOP/etc/evc.yaml" "$dir/common.yaml" >"$dir/base.yaml" &&
	_yaml_merge "$dir/base.yaml" "$dir/extra.yaml" >"$dir/evc.yaml"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	usage="usage: test/netns.sh up ID [N] | down ID | list"
	case ${1:-} in
	up)
		[ $# = 2 ] || [ $# = 3 ] || { echo "$usage" >&2; exit 2; }
		why=$(netns_usable) || { echo "netns: $why" >&2; exit 1; }
		netns_up "$2" "${3:-3}"
		;;
	down)
		[ $# = 2 ] || { echo "$usage" >&2; exit 2; }
		netns_down "$2"
		;;
	list)
		ip netns list | grep '^evc-t[0-9]'
		exit 0
		;;
	-h | --help)
		echo "$usage"
		;;
	*)
		echo "$usage" >&2
		exit 2
		;;
	esac
fi
