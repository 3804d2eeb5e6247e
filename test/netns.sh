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
