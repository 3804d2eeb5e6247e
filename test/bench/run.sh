#!/usr/bin/env bash
# run.sh: the benchmarks of BENCHMARKS.md: authorisation latency, telemetry ingest, one-shot evc auth.
#
# usage: test/bench/run.sh [SECTION...]
#
# SECTIONs (default all, in this order): auth, oneshot, ingest, codec.
# One Kafka (test/kafka.sh, of EVC_KAFKA_VERSION) is started for the run and stopped
# at the end, unless EVC_BENCH_BROKERS names one. `make bench` builds
# evc and the programs of test/bench first; this script builds nothing.
#
# Environment:
#   EVC_BENCH_REPEAT  repetitions of every measurement (default 5)
#   EVC_BENCH_SECS    seconds counted per latency run (default 3, after 1 s warm-up)
#   EVC_BENCH_DRIVERS concurrent drivers of the latency runs (default "1 100 1000")
#   EVC_BENCH_N       telemetry messages per ingest run (default 3000000)
#   EVC_BENCH_CPS     CPs with a session that the telemetry is for (default 2000)
#   EVC_BENCH_RUNS    evc auth runs per one-shot measurement (default 30)
#   EVC_BENCH_OUT     directory for configs, logs and raw results (default: a new
#                     one under $TMPDIR, kept and printed at the end)
#   EVC_BENCH_BROKERS a Kafka to use instead of starting one; every run
#                     names its topics and groups with a tag of its own,
#                     so runs one after another on it start alike
#   EVC_BENCH_SERVER_X librdkafka properties NAME=VALUE, separated by spaces,
#                     given with -X to Central and to the echo of the latency
#                     runs alike (default none)
#
# Every raw result is one line of key=value in OUT/results.txt; the
# summary (OUT/summary.md, also printed) gives the median and the range
# over the repetitions.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
evc=$top/evc
bench=$top/test/bench
repeat=${EVC_BENCH_REPEAT:-5}
secs=${EVC_BENCH_SECS:-3}
n=${EVC_BENCH_N:-3000000}
cps=${EVC_BENCH_CPS:-2000}
runs=${EVC_BENCH_RUNS:-30}
drivers=${EVC_BENCH_DRIVERS:-1 100 1000}
sections=${*:-auth oneshot ingest codec}
server_x=()
for x in ${EVC_BENCH_SERVER_X:-}; do
	server_x+=(-X "$x")
done

say() { echo "run.sh: $*" >&2; }

out=${EVC_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/evc-bench.XXXXXX")} || exit 2
brokers=${EVC_BENCH_BROKERS:-}
# shellcheck source=test/bench/common.sh
. "$top/test/bench/common.sh"
copy_progs "$out/bin" "$evc" "$bench"/bench_{auth,echo,ingest,bare,codec}
evc=$out/bin/evc
bench=$out/bin
results=$out/results.txt
: >"$results"
tag=$(date +%s)-$$

# config NAME: OUT/NAME.yaml with topics of its own, created. The
# timeouts are a day: the benchmarks play CPs that send no heartbeats.
config()
{
	local f=$out/$1.yaml k

	{
		echo "kafka:"
		echo "  brokers: [\"$brokers\"]"
		echo "topics:"
		echo "  partitions: 3"
		echo "  replication: 1"
		topic_names "bench-$1-$tag"
		echo "central:"
		echo "  allow_unknown: true"
		echo "  health_timeout_ms: 86400000"
		echo "  auth_timeout_ms: 86400000"
		echo "  group: evc-central-bench-$1-$tag"
		# ingest sends a session's hours of telemetry within seconds:
		# no CP could measure that, so Central is told CPs may.
		echo "  max_power_kw: 100000"
	} >"$f"
	"$evc" topics create -c "$f" >"$out/topics-$1.out" 2>&1 ||
		{ cat "$out/topics-$1.out" >&2; return 1; }
}

# central NAME [ARGS...]: Central on config NAME, once it says ready.
central()
{
	local name=$1

	shift
	bg "central_$name" "$evc" central -c "$out/$name.yaml" "$@" &&
		wait_line "$out/central_$name.err" ready 60
}

# stop_central NAME: SIGTERM, and its stats line into the results.
stop_central()
{
	local pid

	eval "pid=\$pid_central_$1"
	stop_pid "$pid"
	# "stats: received 5, rejected 0, ..." -> "received=5 rejected=0 ..."
	grep 'stats:' "$out/central_$1.err" | tail -n 1 |
		sed 's/^.*stats: //; s/,//g' |
		awk -v c="$1" '{ printf "central-stats config=%s", c
			for (i = 1; i < NF; i += 2) printf " %s=%s", $i, $(i + 1)
			print "" }' >>"$results"
}

# --- the sections --------------------------------------------------------------

# Central and the echo on topics of their own, Central's CPs registered
# and its drivers ddI holding a session at CPAI (bench_auth setup).
auth_setup()
{
	[ -n "${pid_central_authcentral:-}" ] && return 0
	config authcentral && config authecho || return 1
	central authcentral "${server_x[@]}" || return 1
	bg echo "$bench/bench_echo" -c "$out/authecho.yaml" "${server_x[@]}"
	"$bench/bench_auth" -c "$out/authcentral.yaml" setup 1000 >&2 &&
		"$bench/bench_auth" -c "$out/authcentral.yaml" ping -s 30 >&2 &&
		"$bench/bench_auth" -c "$out/authecho.yaml" ping -s 30 >&2
}

# Latency: Central and the echo take turns within each repetition, so
# that the noise of the machine falls on both alike.
section_auth()
{
	local rep d mode t targets

	auth_setup || return 1
	for ((rep = 1; rep <= repeat; rep++)); do
		say "auth: repetition $rep of $repeat"
		targets="central echo"
		[ $((rep % 2)) = 0 ] && targets="echo central"
		for d in $drivers; do
			for mode in deny grant; do
				for t in $targets; do
					"$bench/bench_auth" -c "$out/auth$t.yaml" run -m "$mode" \
						-d "$d" -s "$secs" -w 1 -l "$t" >>"$results" || return 1
				done
			done
		done
	done
}

# One-shot: hyperfine (or a loop of date calls), against the Central of
# section_auth (a driver_busy refusal: exit 1) and against the echo.
oneshot_one()
{
	local target=$1 cfg=$out/auth$1.yaml csv=$out/oneshot-$1-$2.csv
	local cmd=("$evc" auth -c "$cfg" dd0001 CPB0001) i t0 t1

	if command -v hyperfine >/dev/null; then
		hyperfine -N -i --warmup 3 --runs "$runs" --export-csv "$csv" \
			"${cmd[*]}" >"$out/oneshot-$1-$2.out" 2>&1 || return 1
		awk -F, -v t="$target" 'NR == 2 {
			printf "oneshot target=%s runs=%d median_ms=%.1f mean_ms=%.1f min_ms=%.1f max_ms=%.1f\n",
				t, '"$runs"', $4 * 1000, $2 * 1000, $7 * 1000, $8 * 1000 }' "$csv"
		return
	fi
	for ((i = 0; i < runs; i++)); do
		t0=$(date +%s%N)
		"${cmd[@]}" >/dev/null 2>&1
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | awk -v t="$target" '{ v[NR] = $1; s += $1 } END {
		printf "oneshot target=%s runs=%d median_ms=%.1f mean_ms=%.1f min_ms=%.1f max_ms=%.1f\n",
			t, NR, v[int((NR + 1) / 2)] / 1000, s / NR / 1000, v[1] / 1000, v[NR] / 1000 }'
}

section_oneshot()
{
	local rep

	auth_setup || return 1
	for ((rep = 1; rep <= repeat; rep++)); do
		say "oneshot: repetition $rep of $repeat"
		oneshot_one central "$rep" >>"$results" &&
			oneshot_one echo "$rep" >>"$results" || return 1
	done
}

# Ingest: Central is paused while the telemetry is queued, then timed
# until cp-state shows every session's last figures; a bare consumer
# then reads the very same offsets.
section_ingest()
{
	local rep line range per=$((n / cps))

	if [ -n "${pid_central_authcentral:-}" ]; then
		stop_central authcentral
		stop_pid "$pid_echo"
		pid_central_authcentral=
	fi
	config ingest || return 1
	# A pause longer than the group's session would cost a rebalance.
	central ingest -X session.timeout.ms=120000 || return 1
	"$bench/bench_ingest" -c "$out/ingest.yaml" -o "$out/sessions.txt" \
		setup "$cps" >&2 || return 1
	for ((rep = 1; rep <= repeat; rep++)); do
		say "ingest: repetition $rep of $repeat ($n messages)"
		line=$("$bench/bench_ingest" -c "$out/ingest.yaml" -o "$out/sessions.txt" \
			run -n "$n" -p "$pid_central_ingest" -q $(((rep - 1) * per)) \
			2>>"$out/ingest.err") || { cat "$out/ingest.err" >&2; return 1; }
		echo "$line" >>"$results"
		range=${line##*range=}
		"$bench/bench_bare" -c "$out/ingest.yaml" -r "$range" >>"$results" || return 1
	done
	stop_central ingest
}

section_codec()
{
	local rep

	for ((rep = 1; rep <= repeat; rep++)); do
		"$bench/bench_codec" | grep ns_per_msg >>"$results" || return 1
	done
}

# --- the summary -------------------------------------------------------------

machine()
{
	local kafka="Kafka $(test/kafka.sh version) (test/kafka.sh: one KRaft node on loopback, JVM ${EVC_KAFKA_JVM:-quick})"

	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
		"$(uname -sr)"
	[ -n "${EVC_BENCH_BROKERS:-}" ] && kafka="Kafka at $EVC_BENCH_BROKERS (EVC_BENCH_BROKERS)"
	echo "- $kafka, librdkafka" \
		"$(pkg-config --modversion rdkafka 2>/dev/null || echo '?'), evc $evc_rev"
	echo "- repetitions: $repeat; latency runs: $secs s counted after 1 s warm-up;" \
		"ingest: $n messages for $cps sessions; one-shot: $runs runs each"
	[ -n "${EVC_BENCH_SERVER_X:-}" ] &&
		echo "- Central and the echo with -X: $EVC_BENCH_SERVER_X"
	return 0
}

summary()
{
	machine
	echo
	awk -f "$top/test/bench/summary.awk" "$results"
}

start_kafka || exit 1
for s in $sections; do
	case $s in
	auth | oneshot | ingest | codec) ;;
	*) say "unknown section: '$s'"; exit 2 ;;
	esac
	t0=$SECONDS l0=$(cut -d' ' -f1 /proc/loadavg)
	"section_$s" || { say "section $s failed (see $out)"; exit 1; }
	say "$s: $((SECONDS - t0)) s"
	echo "section name=$s secs=$((SECONDS - t0)) load_start=$l0 load_end=$(cut -d' ' -f1 /proc/loadavg)" >>"$results"
done
cleanup
summary | tee "$out/summary.md"
say "raw results and logs in $out"
