# lib.sh: the helpers every test/tNNNN-*.sh sources: test cases, Kafka configs, background processes.
#
# A test file reads like git's tests:
#
#   . "$(dirname "$0")/lib.sh"
#   need_kafka
#   test_config <<-EOF
#	central:
#	  allow_unknown: true
#	EOF
#   test_expect_success 'central starts' '
#	bg central "$EVC" central &&
#	wait_for 10 "grep -q ready central.err"
#   '
#
# Bodies run in the test file's shell (variables and exports persist),
# in $TEST_DIR, with stdin from /dev/null. test/run.sh runs the files;
# a file can also run alone: bash test/t0000-basics.sh.

# --- where things are ----------------------------------------------------

TEST_NAME=$(basename "$0" .sh)
TEST_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${EVC:=$TEST_TOP/evc}"
case $EVC in
/*) ;;
*) EVC=$PWD/$EVC ;;
esac
export EVC

# A developer's own settings must not leak into the tests.
unset EVC_BROKERS EVC_CONFIG STATE_DIRECTORY

if [ -n "${EVC_TEST_RUN:-}" ]; then
	TEST_DIR=$EVC_TEST_RUN/$TEST_NAME
	rm -rf "$TEST_DIR"
	mkdir -p "$TEST_DIR" || exit 1
else
	TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evc-$TEST_NAME.XXXXXX") || exit 1
fi
mkdir -p "$TEST_DIR/.bg" "$TEST_DIR/.log" "$TEST_DIR/.run" "$TEST_DIR/.state"
chmod 700 "$TEST_DIR/.run"
export TEST_DIR XDG_RUNTIME_DIR=$TEST_DIR/.run XDG_STATE_HOME=$TEST_DIR/.state
cd "$TEST_DIR" || exit 1
# stdin is never a terminal; 7 and 8 keep the file's stdout and stderr
# for the report when a signal ends it in the middle of a test.
exec </dev/null 7>&1 8>&2

_n=0 _passed=0 _failed=0 _skipped=0
_failed_list= _skip_all= _in_body= _body_skip= _topic_suffix=
_cur_title= _cur_body=
_verbose=${EVC_TEST_VERBOSE:-0}

# --- reporting -----------------------------------------------------------

_say() { printf '%s\n' "$*"; }

# Indents stdin by four spaces; at most $1 lines (the last ones).
_indent()
{
	local max=${1:-0} lines

	if [ "$max" -gt 0 ]; then
		lines=$(tee "$TEST_DIR/.log/indent" | wc -l)
		[ "$lines" -gt "$max" ] &&
			_say "    [... $((lines - max)) earlier lines left out ...]"
		tail -n "$max" "$TEST_DIR/.log/indent" | sed 's/^/    /'
	else
		sed 's/^/    /'
	fi
}

_pass()
{
	_passed=$((_passed + 1))
	_say "ok $_n - $1"
}

_skip()
{
	_skipped=$((_skipped + 1))
	_say "skip $_n - $1 # $2"
}

# The body, what it printed, and the tail of every background process's
# stderr: everything needed to understand a failure from a CI log.
_fail()
{
	local title=$1 body=$2 log=$3 f

	_failed=$((_failed + 1))
	_failed_list="${_failed_list:+$_failed_list }$_n"
	_say "not ok $_n - $title"
	if [ -n "$body" ]; then
		_say "  body:"
		printf '%s\n' "$body" | sed '/^[[:space:]]*$/d' | _indent
	fi
	if [ -s "$log" ]; then
		_say "  output:"
		_indent 200 <"$log"
	fi
	for f in "$TEST_DIR"/.bg/*; do
		[ -e "$f" ] || continue
		f=${f##*/}
		[ -s "$TEST_DIR/$f.err" ] || continue
		_say "  stderr of background '$f' (last lines):"
		_indent 15 <"$TEST_DIR/$f.err"
	done
}

# --- test cases ----------------------------------------------------------

# A function of its own, so that "return 1" in a body (in a loop, say)
# ends the body, as in git's tests.
_eval_body()
{
	eval "$1"
}

# test_expect_success TITLE BODY: runs BODY; the test passes if it
# returns 0. Its output is shown only when it fails (or with -v).
test_expect_success()
{
	local title=$1 body=$2 log rc

	_n=$((_n + 1))
	if [ $# != 2 ]; then
		_fail "$title" "" /dev/null
		_say "    test_expect_success takes 2 arguments, not $#"
		return 0
	fi
	if [ -n "$_skip_all" ]; then
		_skip "$title" "$_skip_all"
		return 0
	fi
	log=$TEST_DIR/.log/$_n
	_in_body=1 _body_skip= _cur_title=$title _cur_body=$body
	if [ "$_verbose" = 1 ]; then
		_say "# expecting success of $_n - $title:"
		printf '%s\n' "$body" | sed '/^[[:space:]]*$/d' | _indent
		: >"$log"
		_eval_body "$body"
		rc=$?
	else
		_eval_body "$body" >"$log" 2>&1
		rc=$?
	fi
	_in_body=
	if [ -n "$_body_skip" ]; then
		_skip "$title" "$_body_skip"
	elif [ $rc = 0 ]; then
		_pass "$title"
	else
		_fail "$title" "$body" "$log"
	fi
	return 0
}

# test_skip TITLE REASON: a test that cannot run here, counted as skipped.
test_skip()
{
	_n=$((_n + 1))
	_skip "$1" "$2"
}

# test_expect_code CODE CMD [ARGS...]: fails unless CMD exits with CODE.
test_expect_code()
{
	local want=$1 rc

	shift
	"$@"
	rc=$?
	[ "$rc" = "$want" ] && return 0
	echo "test_expect_code: expected exit $want, got $rc: $*" >&2
	return 1
}

# need_kafka: without a Kafka the rest of the file is skipped. At the top
# of a file it just marks the following tests; in a body it returns 1 so
# the body stops, and that test is counted as skipped too.
need_kafka()
{
	[ -n "${EVC_TEST_BROKERS:-}" ] && return 0
	_skip_all="no Kafka (${EVC_TEST_KAFKA_WHY:-EVC_TEST_BROKERS is not set})"
	if [ -n "$_in_body" ]; then
		_body_skip=$_skip_all
		return 1
	fi
	return 0
}

# need_command CMD...: as need_kafka, for commands the tests run (tmux).
need_command()
{
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 && continue
		_skip_all="no $c"
		if [ -n "$_in_body" ]; then
			_body_skip=$_skip_all
			return 1
		fi
		return 0
	done
	return 0
}

# test_done: optional; ends the file (the EXIT trap reports).
test_done()
{
	exit 0
}

# --- Kafka and configuration ---------------------------------------------

_topic_keys="cp_register cp_register_ack auth_request auth_response
cp_commands telemetry health control cp_state central_lease cp_catalogue audit"

# topic KEY: this test's name of a topic (cp_register or cp-register).
topic()
{
	local key=${1//-/_} k

	for k in $_topic_keys; do
		if [ "$k" = "$key" ]; then
			printf '%s-%s\n' "${key//_/-}" "$_topic_suffix"
			return 0
		fi
	done
	echo "topic: unknown topic key: '$1'" >&2
	return 1
}

# The YAML test_config writes, before the caller's additions.
_config_defaults()
{
	local b k

	_say "kafka:"
	_say "  brokers:"
	for b in ${EVC_TEST_BROKERS//,/ }; do
		_say "    - \"$b\""
	done
	[ -n "${EVC_TEST_BROKERS:-}" ] || _say '    - "127.0.0.1:9"'
	_say "topics:"
	_say "  partitions: 3"
	_say "  replication: 1"
	_say "  names:"
	for k in $_topic_keys; do
		_say "    $k: $(topic "$k")"
	done
	_say "central:"
	_say "  group: evc-central-$_topic_suffix"
	_say "  health_timeout_ms: 1500"
	_say "cp:"
	_say "  tick_ms: 200"
	_say "  health_ms: 200"
	_say "driver:"
	_say "  wait_ms: 500"
}

# Merges two YAML documents made of block-style top-level sections of
# "key:" blocks (indented two spaces): a key the additions ($2) set replaces the same
# key of the defaults ($1), whole block with it; new keys and sections
# follow. Enough for evc.yaml, without a YAML library in the shell.
_yaml_merge()
{
	awk '
	function flush_key() { if (key != "") { blk[sec, key] = text; key = "" } }
	FNR == 1 { flush_key(); file++; sec = "" }
	/^[[:space:]]*(#.*)?$/ { next }
	/^[^ ]/ {
		if ($0 !~ /^[a-z_]+:[[:space:]]*(#.*)?$/) {
			print "test_config: write sections in block style: " \
				FILENAME ": " $0 > "/dev/stderr"
			err = 1; exit 2
		}
		flush_key(); sec = $0; sub(/:.*/, "", sec)
		if (!(sec in seen)) { seen[sec] = 1; order[++nsec] = sec }
		next
	}
	/^  [^ ]/ {
		flush_key(); key = $0; sub(/^  /, "", key); sub(/:.*/, "", key)
		if (!((sec, key) in blk)) { keys[sec] = keys[sec] SUBSEP key }
		text = $0 "\n"; next
	}
	{ text = text $0 "\n" }
	END {
		if (err)
			exit 2
		flush_key()
		for (i = 1; i <= nsec; i++) {
			s = order[i]; print s ":"
			n = split(substr(keys[s], 2), ks, SUBSEP)
			for (j = 1; j <= n; j++) printf "%s", blk[s, ks[j]]
		}
	}' "$1" "$2"
}

# Do all twelve topics with suffix $1 exist, each partition with a leader?
_topics_ready()
{
	kc -L -m 2 2>/dev/null | awk -v suf="-$1" '
	/^  topic "/ {
		t = $2; gsub(/"/, "", t)
		mine = length(t) > length(suf) &&
			substr(t, length(t) - length(suf) + 1) == suf
		if (mine) { n++; if ($0 ~ /error/) bad++ }
		next
	}
	mine && /^    partition / { if ($4 !~ /^[0-9]+,$/) bad++ }
	END { exit !(n == 12 && !bad) }'
}

# test_config [NAME] [<<EOF extra YAML EOF]: writes $TEST_DIR/NAME.yaml
# (default evc.yaml) for the test's Kafka with topic names unique to this
# file (and NAME), fast timings and the YAML given on stdin merged in;
# exports EVC_CONFIG to it and creates the topics with evc topics create.
test_config()
{
	local name=${1:-evc} file out

	file=$TEST_DIR/$name.yaml
	_topic_suffix=${TEST_NAME%%-*}-$$
	[ "$name" = evc ] || _topic_suffix=$_topic_suffix-$name
	_config_defaults >"$file.defaults"
	cat >"$file.extra"
	_yaml_merge "$file.defaults" "$file.extra" >"$file" || return 1
	rm -f "$file.defaults" "$file.extra"
	export EVC_CONFIG=$file
	[ -n "${EVC_TEST_BROKERS:-}" ] || { need_kafka; return 1; }
	out=$TEST_DIR/.log/topics-create-$name
	if "$EVC" topics create >"$out" 2>&1; then
		# A topic just created may have no leader yet for a moment:
		# clients would then see "not leader" errors, not the test's.
		wait_for 15 "_topics_ready $_topic_suffix" 2>>"$out" && return 0
	fi
	if [ -n "$_in_body" ]; then
		echo "test_config: '$EVC topics create' failed:" >&2
		cat "$out" >&2
		return 1
	fi
	# At the top of a file: one failure, and the tests that needed the
	# topics are skipped rather than each failing on its own.
	_n=$((_n + 1))
	_fail "test_config $name: evc topics create" "" "$out"
	_skip_all="test_config $name failed"
	return 1
}

# kc ARGS...: kcat against the test's Kafka.
kc()
{
	kcat -b "${EVC_TEST_BROKERS:?no Kafka}" "$@"
}

# --- waiting -------------------------------------------------------------

_now_ms()
{
	local t=${EPOCHREALTIME/[.,]/}

	echo $((t / 1000))
}

# wait_for TIMEOUT_S CONDITION: evaluates CONDITION every 0.1 s until it
# holds; fails after TIMEOUT_S seconds (decimals allowed).
wait_for()
{
	local cond=$2 deadline ms

	ms=$(awk -v t="$1" 'BEGIN { printf "%d", t * 1000 }')
	deadline=$(($(_now_ms) + ms))
	while :; do
		eval "$cond" && return 0
		if [ "$(_now_ms)" -ge "$deadline" ]; then
			echo "wait_for: timed out after $1s: $cond" >&2
			return 1
		fi
		sleep 0.1
	done
}

# --- background processes ------------------------------------------------

# Prints the state and the start time (clock ticks since boot) of process
# $1: with the PID, the start time names a process that a recycled PID
# cannot impersonate.
_procstat()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	set -- $stat
	echo "$1 ${20}"
}

_starttime()
{
	local st

	st=$(_procstat "$1") || return 1
	echo "${st#* }"
}

# Is the background process recorded in file $1 still running?
_bg_alive()
{
	local pid start st

	[ -f "$1" ] && read -r pid start <"$1" || return 1
	st=$(_procstat "$pid") || return 1
	[ "${st#* }" = "$start" ] && [ "${st%% *}" != Z ]
}

# bg NAME CMD [ARGS...]: starts CMD in the background, stdout and stderr
# in $TEST_DIR/NAME.out and NAME.err; killed when the file ends.
bg()
{
	local name=$1 rec

	shift
	rec=$TEST_DIR/.bg/$name
	if _bg_alive "$rec"; then
		echo "bg: '$name' is already running" >&2
		return 1
	fi
	# A background job of a script ignores SIGINT; the processes under
	# test must get it like from a terminal, so it is reset.
	(
		exec 7>&- 8>&-
		trap - INT QUIT
		[ "$(type -t "$1")" = function ] && { "$@"; exit; }
		exec "$@"
	) >"$TEST_DIR/$name.out" 2>"$TEST_DIR/$name.err" </dev/null &
	echo "$! $(_starttime $!)" >"$rec"
}

# bg_pid NAME: prints the PID of a background process.
bg_pid()
{
	local pid

	[ -f "$TEST_DIR/.bg/$1" ] && read -r pid _ <"$TEST_DIR/.bg/$1" &&
		echo "$pid" && return 0
	echo "bg_pid: no background process '$1'" >&2
	return 1
}

# Waits up to $2 tenths of a second for the process of record $1 to end.
_bg_settle()
{
	local i

	for ((i = 0; i < $2; i++)); do
		_bg_alive "$1" || return 0
		sleep 0.1
	done
	! _bg_alive "$1"
}

# Its exit status, when it is a child of this shell.
_bg_status()
{
	local pid=$1

	wait "$pid" 2>/dev/null
}

# bg_wait NAME [TIMEOUT_S]: waits for a background process to exit by
# itself (default 10 s); returns its exit status, or 124 on timeout.
bg_wait()
{
	local rec=$TEST_DIR/.bg/$1 pid

	pid=$(bg_pid "$1") || return 1
	if ! _bg_settle "$rec" "$((${2:-10} * 10))"; then
		echo "bg_wait: '$1' still running after ${2:-10}s" >&2
		return 124
	fi
	_bg_status "$pid"
}

# bg_kill NAME [SIG]: signals a background process (default TERM), waits
# for it (SIGKILL after 10 s) and returns its exit status.
bg_kill()
{
	local rec=$TEST_DIR/.bg/$1 pid

	pid=$(bg_pid "$1") || return 1
	if _bg_alive "$rec"; then
		kill -s "${2:-TERM}" "$pid" 2>/dev/null
		if ! _bg_settle "$rec" 100; then
			echo "bg_kill: '$1' ignored SIG${2:-TERM} for 10s: SIGKILL" >&2
			kill -s KILL "$pid" 2>/dev/null
			_bg_settle "$rec" 50
		fi
	fi
	_bg_status "$pid"
}

# Every background process still running gets SIGTERM, then SIGKILL.
_bg_kill_all()
{
	local rec pid left=

	for rec in "$TEST_DIR"/.bg/*; do
		_bg_alive "$rec" || continue
		read -r pid _ <"$rec"
		kill -s TERM "$pid" 2>/dev/null
		left="$left $rec"
	done
	for rec in $left; do
		_bg_settle "$rec" 50 && continue
		read -r pid _ <"$rec"
		kill -s KILL "$pid" 2>/dev/null
	done
}

# --- the end of a file ---------------------------------------------------

_test_end()
{
	local rc=$1

	trap - EXIT INT TERM
	exec 1>&7 2>&8
	cd "$TEST_TOP" || :
	_bg_kill_all
	if [ -n "$_in_body" ]; then
		# Stopped in the middle of a test: what it had done so far.
		_fail "$_cur_title (cut short, status $rc)" "$_cur_body" \
			"$TEST_DIR/.log/$_n"
	elif [ "$rc" != 0 ]; then
		_n=$((_n + 1))
		_failed=$((_failed + 1))
		_failed_list="${_failed_list:+$_failed_list }$_n"
		_say "not ok $_n - $TEST_NAME.sh ended early with status $rc"
	fi
	if [ -n "${EVC_TEST_RESULTS:-}" ]; then
		echo "$_passed $_failed $_skipped $_failed_list" >"$EVC_TEST_RESULTS"
	else
		_say "# $_passed passed, $_failed failed, $_skipped skipped"
	fi
	[ "${EVC_TEST_KEEP:-0}" = 1 ] || rm -rf "$TEST_DIR"
	[ "$rc" = 130 ] || [ "$rc" = 143 ] && exit "$rc"
	[ "$_failed" = 0 ] && exit 0
	exit 1
}

trap '_test_end $?' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
