#!/usr/bin/env bash
# run.sh: builds evc's libFuzzer harnesses with clang and fuzzes each for a bounded time.
#
# usage: test/fuzz/run.sh [-b] [NAME...]
#   NAME  msg (msg_decode/msg_encode), conf (conf_load), catalogue
#         (catalogue_load), audit (audit_decode/audit_encode); default:
#         all four, one after the other
#   -b    build the harnesses only
#
# `make fuzz` runs it. Each harness runs FUZZ_SECONDS (default 60; 0 runs
# the seeds once) in one process, with inputs of up to 8192 bytes, from a
# scratch copy of its seeds in test/fuzz/corpus/NAME/ and its dictionary
# test/fuzz/*.dict. The corpus it grows is thrown away at the end: only
# the seeds belong in git. The exit status is 1 when any harness found a
# crash, a leak, a timeout or a broken invariant (the harnesses abort()
# on a round trip that changes a message, a value accepted out of range,
# ...); the reproducer is kept in test/fuzz/findings/ and its path is
# printed. Replay it with test/fuzz/NAME_fuzz FILE: the loaders' error
# messages, hidden while fuzzing, are shown then (EVC_FUZZ_STDERR=1
# shows them while fuzzing too). Every crash found becomes a unit test in
# test/unit/.
#
# Environment: FUZZ_SECONDS, FUZZ_CC (default clang), FUZZ_ARGS (more
# libFuzzer flags, e.g. -seed=1 or -only_ascii=1).

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2

all="msg conf catalogue audit"
build_only=0
while getopts bh opt; do
	case $opt in
	b) build_only=1 ;;
	h) sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: test/fuzz/run.sh [-b] [NAME...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
names=${*:-$all}
for n in $names; do
	case " $all " in
	*" $n "*) ;;
	*) echo "run.sh: no harness named '$n' (one of: $all)" >&2; exit 2 ;;
	esac
done

: "${FUZZ_SECONDS:=60}" "${FUZZ_CC:=clang}" "${FUZZ_ARGS:=}"
case $FUZZ_SECONDS in
'' | *[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a number of seconds: '$FUZZ_SECONDS'" >&2; exit 2 ;;
esac
if ! command -v "$FUZZ_CC" >/dev/null; then
	echo "run.sh: no '$FUZZ_CC' (libFuzzer needs clang and libclang-rt-dev)" >&2
	exit 2
fi

pkgs="jansson libcyaml yaml-0.1"
# UBSan must abort, or libFuzzer would never see what it reports.
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I.
	$(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lm"

# msg_fuzz holds the scanner and msg_decode against jansson (msg_oracle.c).
build()
{
	local oracle=
	[ "$1" = msg ] && oracle=test/fuzz/msg_oracle.c
	echo "CC test/fuzz/${1}_fuzz"
	# shellcheck disable=SC2086
	"$FUZZ_CC" $cflags -o "test/fuzz/${1}_fuzz" "test/fuzz/fuzz_$1.c" \
		lib/msg.c lib/jscan.c lib/numfmt.c lib/msgid.c lib/log.c \
		lib/conf.c lib/xalloc.c lib/ydoc.c lib/audit.c $oracle $libs
}

for n in $names; do
	build "$n" || exit 2
done
[ $build_only = 1 ] && exit 0

scratch=$(mktemp -d "${TMPDIR:-/tmp}/evc-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
mkdir -p test/fuzz/findings

dict()
{
	case $1 in
	msg) echo test/fuzz/msg.dict ;;
	audit) echo test/fuzz/audit.dict ;;
	*) echo test/fuzz/yaml.dict ;;
	esac
}

# Fuzzes harness $1; prints its figures, and the reproducer if it failed.
fuzz()
{
	local n=$1 log=test/fuzz/findings/$1.log corpus=$scratch/$1 limit rc

	mkdir -p "$corpus" "$scratch/tmp-$n"
	cp test/fuzz/corpus/"$n"/* "$corpus"/
	if [ "$FUZZ_SECONDS" = 0 ]; then
		limit=-runs=0
	else
		limit=-max_total_time=$FUZZ_SECONDS
	fi
	echo "FUZZ $n for ${FUZZ_SECONDS}s"
	# shellcheck disable=SC2086
	TMPDIR=$scratch/tmp-$n "test/fuzz/${n}_fuzz" "$limit" -max_len=8192 \
		-timeout=10 -rss_limit_mb=1024 -dict="$(dict "$n")" \
		-artifact_prefix="test/fuzz/findings/$n-" -print_final_stats=1 \
		$FUZZ_ARGS "$corpus" >"$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -n 1 | sed 's/^/  /'
	sed -n 's/^stat::\(number_of_executed_units\|average_exec_per_sec\|new_units_added\|peak_rss_mb\): */  \1 /p' "$log"
	if [ $rc != 0 ]; then
		echo "  FAILED (exit $rc), log in $log:"
		grep -E 'invariant broken|ERROR: |SUMMARY: |runtime error: ' "$log" |
			head -n 6 | sed 's/^/  | /'
		repro=$(sed -n 's/.*[Tt]est unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		echo "  reproducer: ${repro:-none written}"
		echo "  replay: test/fuzz/${n}_fuzz ${repro:-REPRODUCER}"
		return 1
	fi
	return 0
}

failed=0
for n in $names; do
	fuzz "$n" || failed=$((failed + 1))
done
if [ $failed != 0 ]; then
	echo "fuzz: $failed of $(echo $names | wc -w) harnesses found a problem"
	exit 1
fi
echo "fuzz: no problem found"
