#!/usr/bin/env bash
# web.sh: the web benchmark of BENCHMARKS.md: evc web under N supplying CPs, its event streams' delay and CPU, and GET /api/cps.
#
# usage: test/bench/web.sh
#
# One set-up: fresh topics, `evc central` (unknown CPs allowed), `evc
# fleet -a` of N CPs, each supplying with telemetry every second, so
# that Central publishes a cp_state per CP a second; `evc web` on a
# free port of loopback. Once every CP has answered and a warm-up has
# passed, REPEAT windows of SECS seconds each with STREAMS open event
# streams (test/bench/bench_sse): the age of every CP change on arrival
# (from the cp_state's own time stamp, written by Central), the changes
# each stream got per second, and evc web's CPU in per cent of one
# core. Then REPEAT rounds of GETS requests `GET /api/cps` (all N CPs)
# timed by curl. One Kafka (test/kafka.sh) is started and stopped at the
# end, unless EVC_BENCH_BROKERS names one.
#
# Environment:
#   EVC_BENCH_REPEAT   windows and GET rounds (default 3)
#   EVC_BENCH_CPS      CPs (default 10000)
#   EVC_BENCH_STREAMS  event streams (default 100)
#   EVC_BENCH_SECS     window, seconds (default 30)
#   EVC_BENCH_WARMUP   seconds after the last CP answered (default 10)
#   EVC_BENCH_GETS     requests per GET round (default 20)
#   EVC_BENCH_OUT      directory for configs, logs and results (default:
#                      a new one under $TMPDIR, kept and printed)
#   EVC_BENCH_BROKERS  a Kafka to use instead of starting one
#
# Results: OUT/results.txt (key=value lines), OUT/summary.md (printed).

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
repeat=${EVC_BENCH_REPEAT:-3}
n=${EVC_BENCH_CPS:-10000}
streams=${EVC_BENCH_STREAMS:-100}
secs=${EVC_BENCH_SECS:-30}
warmup=${EVC_BENCH_WARMUP:-10}
gets=${EVC_BENCH_GETS:-20}

say() { echo "web.sh: $*" >&2; }

command -v curl >/dev/null || { say "curl not found"; exit 2; }
out=${EVC_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/evc-web-bench.XXXXXX")} || exit 2
brokers=${EVC_BENCH_BROKERS:-}
# shellcheck source=test/bench/common.sh
. "$top/test/bench/common.sh"
copy_progs "$out/bin" "$top/evc" "$top/test/bench/bench_sse"
bin=$out/bin
results=$out/results.txt
: >"$results"
tag=web-$(date +%s)-$$

config()
{
	cat <<EOF
kafka:
  brokers: ["$brokers"]
topics:
  partitions: 3
  replication: 1
$(topic_names "$tag")
central:
  allow_unknown: true
  group: evc-central-$tag
cp:
  tick_ms: 1000
  health_ms: 1000
web:
  listen: 127.0.0.1:0
EOF
}

# The network and evc web; sets port.
start_all()
{
	config >"$out/web.yaml"
	"$bin/evc" topics -c "$out/web.yaml" create >"$out/topics.out" 2>&1 ||
		{ say "cannot create topics: $out/topics.out"; return 1; }
	bg central "$bin/evc" central -c "$out/web.yaml"
	wait_line "$out/central.err" "ready:" 60 || return 1
	bg fleet "$bin/evc" fleet -c "$out/web.yaml" -a 3600 -p F "$n"
	wait_line "$out/fleet.err" "all $n CPs answered" 180 || return 1
	bg web "$bin/evc" web -c "$out/web.yaml"
	wait_line "$out/web.err" "listening on" 60 || return 1
	port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$out/web.err")
	[ -n "$port" ] || { say "no port in $out/web.err"; return 1; }
	sleep "$warmup"
}

# One round of GET /api/cps: every time in ms, and the size.
get_round()
{
	local rep=$1 i

	for ((i = 0; i < gets; i++)); do
		curl -s -o "$out/cps.json" -w '%{time_total} %{size_download} %{http_code}\n' \
			"http://127.0.0.1:$port/api/cps"
	done >"$out/get-$rep.txt"
	sort -n "$out/get-$rep.txt" | awk -v rep="$rep" '
		$3 != 200 { bad++ }
		{ t[NR] = $1 * 1000; size = $2 }
		END {
			printf "get rep=%d n=%d bad=%d bytes=%d p50_ms=%.1f max_ms=%.1f\n",
				rep, NR, bad, size, t[int((NR + 1) / 2)], t[NR]
		}' >>"$results"
	jq -e ".total == $n" "$out/cps.json" >/dev/null ||
		{ say "GET /api/cps did not list $n CPs"; return 1; }
}

summary()
{
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
	echo "- evc $evc_rev, libwebsockets $(pkg-config --modversion libwebsockets), $n CPs supplying, $streams event streams, $secs s windows after $warmup s, $repeat windows"
	echo
	echo "| window | streams open | CP changes per stream per s | age p50 ms | p99 ms | max ms | evc web CPU % |"
	echo "|---|---|---|---|---|---|---|"
	awk '
	function get(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
	/^sse / { printf "| %d | %s/%s | %s | %s | %s | %s | %s |\n", ++w,
		get("open"), get("streams"), get("changes_per_stream_s"),
		get("age_p50_ms"), get("age_p99_ms"), get("age_max_ms"), get("web_cpu_pct") }
	/^get / { g[++r] = sprintf("| %s | %s | %s | %s | %s |", get("rep"), get("n"), get("bytes"), get("p50_ms"), get("max_ms")) }
	END {
		print ""
		print "| GET /api/cps round | requests | bytes | p50 ms | max ms |"
		print "|---|---|---|---|---|"
		for (i = 1; i <= r; i++) print g[i]
	}' "$results"
}

start_kafka || exit 1
start_all || { say "set-up failed (see $out)"; exit 1; }
for ((rep = 1; rep <= repeat; rep++)); do
	say "window $rep of $repeat: $streams streams, ${secs}s"
	"$bin/bench_sse" -p "$port" -n "$streams" -s "$secs" -w 2 \
		-g "$pid_web" >>"$results" 2>"$out/sse.err" ||
		{ say "bench_sse failed: $out/sse.err"; exit 1; }
	tail -n 1 "$results" >&2
done
for ((rep = 1; rep <= repeat; rep++)); do
	get_round "$rep" || exit 1
done
kill -0 "$pid_web" 2>/dev/null || { say "evc web died: $out/web.err"; exit 1; }
cleanup
summary | tee "$out/summary.md"
say "raw results and logs in $out"
