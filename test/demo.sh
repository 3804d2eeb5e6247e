#!/usr/bin/env bash
# demo.sh: a whole evc network on one machine in well under a minute: evc broker, a Central, three CPs and a driver.
#
# usage: test/demo.sh      (`make demo` installs what is missing, builds, then runs it)
#
# It runs in a private temporary directory (its own runtime directory for
# the address of evc broker, its own configuration and CP state), so it
# disturbs nothing else on the machine, and it stops every process it
# started, by PID, when it ends or is interrupted. It exits 0 when the
# driver's requests were served as expected: three charges and one denial.
#
# Environment: EVC (the binary, default ./evc at the top of the
# repository), EVC_DEMO_KEEP=1 (keep the directory and its logs),
# NO_COLOR (plain output on a terminal too).

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
: "${EVC:=$top/evc}"
if [ ! -x "$EVC" ]; then
	echo "demo: no evc binary at '$EVC' (run make first)" >&2
	exit 2
fi

# The demo's own settings, never a developer's.
unset EVC_BROKERS EVC_CONFIG STATE_DIRECTORY

dir=$(mktemp -d "${TMPDIR:-/tmp}/evc-demo.XXXXXX") || exit 2
mkdir -m 700 "$dir/run" && mkdir "$dir/state" || exit 2
export XDG_RUNTIME_DIR=$dir/run XDG_STATE_HOME=$dir/state
export EVC_CONFIG=$dir/evc.yaml

t0=${EPOCHREALTIME/[.,]/}
setsid=$(command -v setsid)
declare -A pid=()	# role name -> PID of the evc process
started=()		# role names, in the order they started
readers=()		# PIDs of the processes that show their output
expected="3 served, 1 denied, 0 failed"

# --- output ---------------------------------------------------------------

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
	bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
	declare -A colour=([demo]=$'\e[1m' [broker]=$'\e[90m'
		[central]=$'\e[36m' [CP001]=$'\e[33m' [CP002]=$'\e[35m'
		[CP003]=$'\e[34m' [driver]=$'\e[32m')
else
	bold= dim= off=
	declare -A colour=()
fi

# The time since the demo started, as " 12.3s".
elapsed()
{
	local ms=$(((${EPOCHREALTIME/[.,]/} - t0) / 1000))

	printf '%3d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# line NAME TEXT: one line of the demo's output, behind the time and NAME.
line()
{
	printf '%s%s%s %s%-8s%s %s\n' "$dim" "$(elapsed)" "$off" \
		"${colour[$1]:-}" "$1" "$off" "$2"
}

say()
{
	line demo "$bold$*$off"
}

# show NAME LOG: shows the lines of a process as they come, without the
# time and "evc ROLE:" its log lines begin with (the demo prints its own),
# and keeps them as they are in LOG for the checks.
show()
{
	local name=$1 log=$2 text

	while IFS= read -r text; do
		printf '%s\n' "$text" >>"$log"
		[[ $text =~ ^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\ (.*)$ ]] &&
			text=${BASH_REMATCH[1]}
		if [[ $text =~ ^evc\ [a-z]+\ engine:\ (.*)$ ]]; then
			text="engine: ${BASH_REMATCH[1]}"
		elif [[ $text =~ ^evc\ [a-z]+:\ (.*)$ ]]; then
			text=${BASH_REMATCH[1]}
		fi
		line "$name" "$text"
	done
}

# --- processes --------------------------------------------------------------

# start NAME CMD [ARGS...]: runs CMD in the background, its output shown
# behind NAME and kept in $dir/NAME.log.
start()
{
	local name=$1 fifo=$dir/$1.fifo

	shift
	mkfifo "$fifo" || return 1
	: >"$dir/$name.log"
	(
		trap '' INT HUP
		show "$name" "$dir/$name.log"
	) <"$fifo" &
	readers+=($!)
	# A session of its own: Ctrl-C reaches only this script, which then
	# stops the processes in order, Kafka last. (Not a process group
	# leader here, so setsid does not fork: $! stays the PID of evc.)
	$setsid "$@" >"$fifo" 2>&1 </dev/null &
	pid[$name]=$!
	started+=("$name")
}

# Is process $1 running (a zombie is not)?
alive()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# wait_for SECONDS CONDITION: polls CONDITION every 0.1 s.
wait_for()
{
	local i

	for ((i = 0; i < $1 * 10; i++)); do
		eval "$2" && return 0
		sleep 0.1
	done
	return 1
}

# await NAME SECONDS CONDITION: wait_for, but gives up at once when the
# process NAME ends.
await()
{
	local name=$1

	wait_for "$2" "$3 || ! alive ${pid[$1]}" && eval "$3" && return 0
	alive "${pid[$name]}" || fail "$name ended (see its lines above)"
	return 1
}

# stop NAME: SIGTERM, SIGKILL after 5 s; returns its exit status.
stop()
{
	local p=${pid[$1]:-}

	[ -n "$p" ] || return 0
	kill -s TERM "$p" 2>/dev/null
	wait_for 5 "! alive $p" || kill -s KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

# Stops what is still running, the last started first, so that Kafka
# outlives every client; then the readers, once they have shown all.
cleanup()
{
	local i r

	trap '' INT TERM HUP
	for ((i = ${#started[@]} - 1; i >= 0; i--)); do
		alive "${pid[${started[i]}]}" || continue
		say "stopping ${started[i]} (PID ${pid[${started[i]}]})"
		stop "${started[i]}"
	done
	# A reader ends with its process's output, unless a child of that
	# process still holds it.
	for r in "${readers[@]}"; do
		wait_for 2 "! alive $r" || kill -s KILL "$r" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "${EVC_DEMO_KEEP:-0}" = 1 ]; then
		echo "demo: logs kept in $dir"
	else
		rm -rf "$dir"
	fi
}

trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# fail WHAT: the demo cannot go on.
fail()
{
	say "demo failed: $*"
	exit 1
}

# --- the network ------------------------------------------------------------

say "evc demo: an in-memory Kafka, a Central, three charging points, one driver"
say "everything runs in $dir and is stopped at the end"

# Four CPs of the example catalogue; CP004 gets no CP process. A fast
# charger and half-second ticks make a charge last a few seconds.
{
	echo "# the first CPs of etc/cps.yaml"
	echo "cps:"
	grep -E '^ *- *\{ *id: *CP00[1-4] *,' "$top/etc/cps.yaml"
} >"$dir/cps.yaml"
cat >"$dir/evc.yaml" <<EOF
# evc.yaml of the demo: no kafka section, so every part uses evc broker.
central:
  catalogue: cps.yaml
cp:
  tick_ms: 500
  power_kw: 350
driver:
  wait_ms: 1500
EOF
cat >"$dir/requests" <<EOF
# DRIVER001's round: a CP, and the energy to ask for there (kWh)
CP001 0.5
CP009 0.5   # no such CP: Central denies it
CP002 0.3
CP003 0.4
EOF

start broker "$EVC" broker
await broker 15 'grep -qE "^[0-9.]+:[0-9]+$" "$dir/broker.log"' ||
	fail "evc broker did not start"
brokers=$(grep -m 1 -E '^[0-9.]+:[0-9]+$' "$dir/broker.log")
say "evc broker listens at $brokers; the others find it in $XDG_RUNTIME_DIR/evc/broker"

ncps=$(grep -c 'id: CP' "$dir/cps.yaml")
say "starting Central with $ncps CPs in its catalogue"
start central "$EVC" central
await central 30 'grep -q " ready: " "$dir/central.log"' ||
	fail "Central did not get ready"

say "starting charging points CP001, CP002 and CP003 (a monitor and an engine each)"
for cp in CP001 CP002 CP003; do
	start $cp "$EVC" cp $cp
done
for cp in CP001 CP002 CP003; do
	await $cp 30 "grep -q ' $cp ACTIVE\$' \"\$dir/central.log\"" ||
		fail "$cp did not register with Central"
done
say "every CP is ACTIVE; DRIVER001 now works through its requests:"
grep -v '^#' "$dir/requests" | while IFS= read -r req; do
	line demo "    $req"
done

start driver "$EVC" driver -f "$dir/requests" DRIVER001
wait_for 120 "! alive ${pid[driver]}" || fail "the driver did not finish in 2 minutes"
wait "${pid[driver]}"
driver_status=$?
# Its last lines may still be on their way to the screen.
wait_for 2 "grep -qE '^[0-9]+ served, ' \"\$dir/driver.log\""
sleep 0.2

services=$(grep '^service [0-9]*/[0-9]* at ' "$dir/driver.log")
summary=$(grep -E '^[0-9]+ served, ' "$dir/driver.log" | tail -n 1)
tickets=$(grep -c ' ticket .* (finished), DRIVER001' "$dir/central.log")

cleanup
trap - EXIT

echo
echo "${bold}evc demo: summary${off}"
echo "  Kafka     evc broker at $brokers (in memory)"
echo "  Central   $ncps CPs in the catalogue, $tickets tickets issued"
echo "  driver    $summary"
printf '%s\n' "$services" | sed 's/^/            /'
echo "  time      $(elapsed | tr -d ' ')"
if [ "$summary" = "$expected" ]; then
	echo "${bold}The demo went as expected.${off} Next: man ./man/evc.1, and 'make check' to run the tests."
	exit 0
fi
echo "${bold}The demo did not go as expected${off} (wanted '$expected', driver exit status $driver_status)."
exit 1
