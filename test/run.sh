#!/usr/bin/env bash
# run.sh: runs the unit tests and the shell tests against one Kafka, and prints the totals.
#
# usage: test/run.sh [-v] [FILE...]
#
# Without FILEs: every test/unit/*_test binary that exists, then every
# test/tNNNN-*.sh. One Kafka (test/kafka.sh) serves the whole run unless
# EVC_TEST_BROKERS is set already; the tests that start Kafkas of their
# own (t3000, t4200, t4300) run the same version. It builds nothing:
# `make check` builds first. The last line is "N passed, N failed, N skipped".
#
# Environment: EVC (the binary, default ./evc), EVC_KAFKA_VERSION (the
# Kafka to run, default the newest 4.x the suite passes on; 3.9.1 for
# the last 3.x), EVC_TEST_BROKERS,
# EVC_TEST_KEEP=1 (keep the run directory), EVC_TEST_TIMEOUT (seconds per
# file, default 600), EVC_TEST_REQUIRE_KAFKA=1 (a Kafka that cannot start
# is a failure, not a skip; the default when CI=true), EVC_TEST_TOTALS
# (a file that gets the totals as "PASSED FAILED SKIPPED", for a caller
# such as test/distro.sh).

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

usage()
{
	echo "usage: test/run.sh [-v] [FILE...]"
	echo "  -v  show every test's body and output, and the unit tests' lines"
}

verbose=0
while getopts hv opt; do
	case $opt in
	h) usage; exit 0 ;;
	v) verbose=1 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

: "${EVC:=$top/evc}"
case $EVC in
/*) ;;
*) EVC=$top/$EVC ;;
esac
if [ ! -x "$EVC" ]; then
	echo "run.sh: no evc binary at '$EVC' (run make first)" >&2
	exit 2
fi

# A version that is no release stops the run before anything starts.
kafka_version=$(test/kafka.sh version) || exit 2

units=() files=()
if [ $# = 0 ]; then
	for f in test/unit/*_test; do
		[ -x "$f" ] && units+=("$f")
	done
	for f in test/t[0-9]*.sh; do
		[ -f "$f" ] && files+=("$f")
	done
else
	for f in "$@"; do
		case $f in
		*.sh) files+=("$f") ;;
		*) units+=("$f") ;;
		esac
	done
fi

passed=0 failed=0 skipped=0
failures=()
kafka_dir= child= finished=0
run=$(mktemp -d "${TMPDIR:-/tmp}/evc-test.XXXXXX") || exit 2
export EVC EVC_TEST_RUN=$run EVC_TEST_VERBOSE=$verbose
unset EVC_TEST_RESULTS EVC_TEST_KAFKA_WHY

# --- unit tests ------------------------------------------------------------

# A unit test binary prints "N passed, N failed" last; a crash or a
# missing summary counts as one more failure.
run_unit()
{
	local bin=$1 out=$run/unit-${1##*/}.out rc last p f

	case $bin in
	/*) "$bin" ;;
	*) "./$bin" ;;
	esac >"$out" 2>&1 </dev/null
	rc=$?
	last=$(tail -n 1 "$out")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
	else
		p=0 f=1
		last="no 'N passed, N failed' line at the end"
	fi
	[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1 last="$last (exit status $rc)"
	passed=$((passed + p)) failed=$((failed + f))
	[ "$verbose" = 1 ] && cat "$out"
	if [ "$f" = 0 ]; then
		echo "ok - $bin: $last"
		return
	fi
	failures+=("$bin")
	echo "not ok - $bin: $last (exit status $rc)"
	grep '^not ok' "$out" | head -n 50 | sed 's/^/    /'
	echo "    last lines:"
	tail -n 20 "$out" | sed 's/^/    /'
}

# --- Kafka -----------------------------------------------------------------

# Do the files need Kafka at all? (a run of t0000 alone needs none)
files_need_kafka()
{
	[ ${#files[@]} -gt 0 ] &&
		grep -qE 'need_kafka|test_config|EVC_TEST_BROKERS|(^|[^a-z_])kc ' \
			"${files[@]}" 2>/dev/null
}

kafka_fail()
{
	local why=$1 require=${EVC_TEST_REQUIRE_KAFKA:-0}

	export EVC_TEST_KAFKA_WHY=$why
	cat <<EOF

######################################################################
##  ${why^^}
##  EVERY TEST THAT NEEDS KAFKA IS SKIPPED (see the messages above).
##  Try: test/kafka.sh start /tmp/k  (and test/kafka.sh stop /tmp/k)
######################################################################

EOF
	case ${CI:-} in
	true | 1 | yes) require=${EVC_TEST_REQUIRE_KAFKA:-1} ;;
	esac
	if [ "$require" = 1 ]; then
		echo "not ok - Kafka is required here (CI or EVC_TEST_REQUIRE_KAFKA=1)"
		failed=$((failed + 1))
		failures+=("kafka")
	fi
}

start_kafka()
{
	local t0=$SECONDS

	if [ -n "${EVC_TEST_BROKERS:-}" ]; then
		echo "# Kafka: $EVC_TEST_BROKERS (from EVC_TEST_BROKERS)"
		export EVC_TEST_BROKERS
		return
	fi
	files_need_kafka || return 0
	echo "# starting Kafka $kafka_version in $run/kafka"
	kafka_dir=$run/kafka
	if ! test/kafka.sh start "$kafka_dir"; then
		kafka_fail "Kafka could not be started"
		return
	fi
	EVC_TEST_BROKERS=$(cat "$kafka_dir/brokers")
	export EVC_TEST_BROKERS
	echo "# Kafka: $EVC_TEST_BROKERS (PID $(cat "$kafka_dir/kafka.pid"), started in $((SECONDS - t0))s)"
}

stop_kafka()
{
	[ -n "$kafka_dir" ] || return 0
	test/kafka.sh stop "$kafka_dir"
	kafka_dir=
}

# Is process $1 running (a zombie is not)?
alive()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# --- test files ------------------------------------------------------------

# Background processes a test file could not stop itself (killed, timed
# out): lib.sh records each as "PID STARTTIME" in its .bg directory.
sweep()
{
	local rec pid start stat

	for rec in "$run"/*/.bg/*; do
		[ -f "$rec" ] || continue
		read -r pid start <"$rec" || continue
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		stat=${stat##*) }
		set -- $stat
		[ "${20}" = "$start" ] && [ "$1" != Z ] || continue
		echo "run.sh: killing leftover ${rec##*/} (PID $pid)" >&2
		kill -s KILL "$pid" 2>/dev/null
	done
}

run_file()
{
	local f=$1 name res rc p=0 fl=0 s=0 list=

	name=$(basename "$f" .sh)
	res=$run/$name.results
	echo "# $f"
	# timeout runs the file in a process group of its own, and passes a
	# signal on to the whole group: a test blocked in a long command
	# still ends at once when the run is interrupted.
	EVC_TEST_RESULTS=$res timeout -k 15 \
		"${EVC_TEST_TIMEOUT:-600}" bash "$f" </dev/null &
	child=$!
	wait "$child"
	rc=$?
	child=
	sweep
	if [ -s "$res" ]; then
		read -r p fl s list <"$res"
		if [ "$rc" = 124 ]; then
			echo "not ok - $f timed out after ${EVC_TEST_TIMEOUT:-600}s"
			list="$list (timed out)"
		fi
		[ "$rc" != 0 ] && [ "$fl" = 0 ] && fl=1 list="(exit status $rc)"
	else
		fl=1
		list="(no results)"
		[ "$rc" = 124 ] && list="(timed out after ${EVC_TEST_TIMEOUT:-600}s)"
		echo "not ok - $f ended without results, exit status $rc $list"
	fi
	passed=$((passed + p)) failed=$((failed + fl)) skipped=$((skipped + s))
	[ "$fl" = 0 ] || failures+=("$f: $list")
}

# --- the end -----------------------------------------------------------------

summary()
{
	local x

	if [ ${#failures[@]} -gt 0 ]; then
		echo
		echo "failed:"
		for x in "${failures[@]}"; do
			echo "    $x"
		done
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
	[ -z "${EVC_TEST_TOTALS:-}" ] ||
		echo "$passed $failed $skipped" >"$EVC_TEST_TOTALS"
}

finish()
{
	[ "$finished" = 1 ] && return
	finished=1
	sweep
	stop_kafka
	if [ "${EVC_TEST_KEEP:-0}" = 1 ]; then
		echo "# kept $run"
	else
		rm -rf "$run"
	fi
	summary
}

# On Ctrl-C or SIGTERM: the running test file cleans up its own
# processes; Kafka is stopped; then the totals so far.
interrupted()
{
	local i

	trap '' INT TERM
	echo
	echo "run.sh: interrupted by SIG$1" >&2
	if [ -n "$child" ]; then
		kill -s TERM "$child" 2>/dev/null
		for ((i = 0; i < 150; i++)); do
			alive "$child" || break
			sleep 0.1
		done
		kill -s KILL "$child" 2>/dev/null
	fi
	failed=$((failed + 1))
	failures+=("interrupted by SIG$1")
	finish
	trap - EXIT
	[ "$1" = INT ] && exit 130
	exit 143
}

trap finish EXIT
trap 'interrupted INT' INT
trap 'interrupted TERM' TERM

for u in "${units[@]}"; do
	run_unit "$u"
done
start_kafka
for f in "${files[@]}"; do
	run_file "$f"
done
finish
trap - EXIT
[ "$failed" = 0 ]
