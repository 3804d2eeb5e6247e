#!/usr/bin/env bash
# ocpp.sh: the OCPP benchmark of BENCHMARKS.md: one evc ocpp with thousands of chargers (test/bench/bench_ocpp), its CPU, memory and latencies, against the raw Kafka echo.
#
# usage: test/bench/ocpp.sh
#
# For each repetition: fresh topics, `evc central` (unknown CPs allowed),
# one `evc ocpp`, and bench_ocpp with N chargers (M charging with
# MeterValues every second, heartbeats every 60 s, Authorize probes);
# after a warm-up it measures a window (see bench_ocpp.c). Then the
# baseline of `make bench`: bench_auth's single driver against
# bench_echo, the raw Kafka round trip, on topics of its own. One Kafka
# (test/kafka.sh, of EVC_KAFKA_VERSION: by default the test bed's, which
# `test/kafka.sh version` prints) is started and stopped at the end,
# unless EVC_BENCH_BROKERS names one.
#
# Environment:
#   EVC_BENCH_REPEAT    repetitions (default 3)
#   EVC_BENCH_CHARGERS  chargers (default 10000)
#   EVC_BENCH_CHARGING  of them charging (default 1000)
#   EVC_BENCH_SECS      measured window, seconds (default 60)
#   EVC_BENCH_WARMUP    seconds before it (default 10)
#   EVC_BENCH_HEALTH_MS cp.health_ms of the gateway's CPs (default 1000)
#   EVC_BENCH_OUT       directory for configs, logs and results (default:
#                       a new one under $TMPDIR, kept and printed)
#   EVC_BENCH_BROKERS   a Kafka to use instead of starting one
#
# Results: OUT/results.txt (key=value lines), OUT/summary.md (printed).

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
repeat=${EVC_BENCH_REPEAT:-3}
n=${EVC_BENCH_CHARGERS:-10000}
m=${EVC_BENCH_CHARGING:-1000}
secs=${EVC_BENCH_SECS:-60}
warmup=${EVC_BENCH_WARMUP:-10}
health_ms=${EVC_BENCH_HEALTH_MS:-1000}

say() { echo "ocpp.sh: $*" >&2; }

out=${EVC_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/evc-ocpp-bench.XXXXXX")} || exit 2
brokers=${EVC_BENCH_BROKERS:-}
# shellcheck source=test/bench/common.sh
. "$top/test/bench/common.sh"
copy_progs "$out/bin" "$top/evc" "$top"/test/bench/bench_{ocpp,auth,echo}
bin=$out/bin
results=$out/results.txt
: >"$results"
tag=$(date +%s)-$$

# config NAME: OUT/NAME.yaml with topics of its own, created.
config()
{
	local f=$out/$1.yaml k

	{
		echo "kafka:"
		echo "  brokers: [\"$brokers\"]"
		echo "topics:"
		echo "  partitions: 3"
		echo "  replication: 1"
		topic_names "ocpp-$1-$tag"
		echo "central:"
		echo "  allow_unknown: true"
		echo "  group: evc-central-ocpp-$1-$tag"
		echo "  max_power_kw: 100000"
		echo "  health_timeout_ms: $((health_ms * 3))"
		echo "cp:"
		echo "  health_ms: $health_ms"
		echo "  state_dir: $out/state-$1"
		echo "ocpp:"
		echo "  listen: 127.0.0.1:0"
	} >"$f"
	"$bin/evc" topics create -c "$f" >"$out/topics-$1.out" 2>&1 ||
		{ cat "$out/topics-$1.out" >&2; return 1; }
}

# One run: Central, the gateway, the chargers; the gateway's stats after.
run_one()
{
	local rep=$1 cfg=r$1 port line

	config "$cfg" || return 1
	bg "central_$cfg" "$bin/evc" central -c "$out/$cfg.yaml" &&
		wait_line "$out/central_$cfg.err" ready 60 || return 1
	bg "gw_$cfg" "$bin/evc" ocpp -c "$out/$cfg.yaml" &&
		wait_line "$out/gw_$cfg.err" "listening on" 30 || return 1
	port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$out/gw_$cfg.err")
	eval "line=\$(\"\$bin/bench_ocpp\" -c \"\$out/\$cfg.yaml\" -p \"\$port\" \
		-g \"\$pid_gw_$cfg\" -n \"\$n\" -m \"\$m\" -s \"\$secs\" \
		-w \"\$warmup\" 2>\"\$out/bench_$cfg.err\")" || {
		say "bench_ocpp failed:"; tail -n 5 "$out/bench_$cfg.err" >&2; return 1; }
	echo "$line rep=$rep health_ms=$health_ms load=$(cut -d' ' -f1 /proc/loadavg)" >>"$results"
	eval "stop_pid \$pid_gw_$cfg; stop_pid \$pid_central_$cfg"
	grep 'stats:' "$out/gw_$cfg.err" | tail -n 1 | sed 's/^.*stats: /gateway-stats /' >>"$results"
}

# The raw Kafka round trip of make bench: one driver against the echo.
echo_baseline()
{
	config echo || return 1
	bg echo "$bin/bench_echo" -c "$out/echo.yaml"
	"$bin/bench_auth" -c "$out/echo.yaml" ping -s 30 >&2 || return 1
	for ((rep = 1; rep <= repeat; rep++)); do
		"$bin/bench_auth" -c "$out/echo.yaml" run -m deny -d 1 -s 5 -w 1 \
			-l echo >>"$results" || return 1
	done
	stop_pid "$pid_echo"
}

summary()
{
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
	echo "- evc $evc_rev, libwebsockets $(pkg-config --modversion libwebsockets), $n chargers, $m charging, cp.health_ms $health_ms, $secs s windows after $warmup s, $repeat repetitions"
	echo
	echo "| run | booted/charging | gateway CPU % | generator CPU % | gateway RSS MiB | KiB per connection | MeterValues to progress p50 ms | p99 ms | Authorize p50 ms | p99 ms |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	awk '
	function get(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
	/^ocpp / {
		printf "| %s | %s/%s | %s | %s | %.1f | %s | %s | %s | %s | %s |\n",
			get("rep"), get("booted"), get("charging"), get("gw_cpu_pct"),
			get("gen_cpu_pct"), (get("gw_rss_kib") + 0) / 1024,
			sprintf("%.1f", (get("gw_rss_kib") - get("gw_rss_kib_idle")) * 1024 / get("n") / 1024),
			get("mv_p50_ms"), get("mv_p99_ms"), get("auth_p50_ms"), get("auth_p99_ms")
	}
	/^auth / { echo_p50[++e] = get("p50_ms"); echo_p99[e] = get("p99_ms") }
	END {
		for (i = 1; i <= e; i++)
			printf "echo %d: p50 %s ms, p99 %s ms\n", i, echo_p50[i], echo_p99[i]
	}' "$results"
}

start_kafka || exit 1
for ((rep = 1; rep <= repeat; rep++)); do
	say "repetition $rep of $repeat: $n chargers, $m charging"
	run_one "$rep" || { say "run failed (see $out)"; exit 1; }
done
echo_baseline || { say "echo baseline failed (see $out)"; exit 1; }
cleanup
summary | tee "$out/summary.md"
say "raw results and logs in $out"
