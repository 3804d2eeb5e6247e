#!/usr/bin/env bash
# fleet.sh: benchmarks 3 and 5: Central's CPU, memory and consumer lag under N CPs simulated by evc fleet.
#
# usage: test/bench/fleet.sh [N...]     (default: 1000 10000 50000)
#
# For every N and repetition: fresh topics, one `evc central` (unknown
# CPs allowed), one `evc fleet -a` of N CPs, each sending a heartbeat
# and, once Central has granted its session, telemetry every second.
# Once every CP is registered and a warm-up has passed, a window of
# EVC_BENCH_SECS seconds is measured:
#   - Central's CPU: utime+stime of /proc/PID/stat over the window, in
#     per cent of one core (the fleet's and Kafka's too, for context);
#   - Central's RSS: VmRSS sampled every second, the largest and the last;
#   - the consumer lag of Central's group (`evc topics lag`), sampled
#     every 5 s, in messages and in seconds at the rate it is fed; Central
#     is run with auto.commit.interval.ms=200 so the committed offsets
#     are fresh;
#   - the messages Central's group consumed over the window (its
#     committed offsets), Central's CPU time per message, and the CPU
#     Central would need at the rate offered: its cost even when a busy
#     machine starves it;
#   - the delay from a telemetry to the progress Central derives from it
#     (their "ts" fields), over the last 5 s of the window: how far
#     behind the stream Central really is.
# One Kafka (test/kafka.sh, of EVC_KAFKA_VERSION) is started and stopped at the end,
# unless EVC_BENCH_BROKERS names one.
#
# Environment:
#   EVC_BENCH_REPEAT      repetitions of every N (default 3)
#   EVC_BENCH_SECS        measured window for N <= 10000 (default 60)
#   EVC_BENCH_SECS_LARGE  measured window for N > 10000 (default 30)
#   EVC_BENCH_WARMUP      seconds between the last registration and the window (default 10)
#   EVC_BENCH_OUT         directory for configs, logs and raw results (default:
#                         a new one under $TMPDIR, kept and printed)
#   EVC_BENCH_BROKERS     a Kafka to use instead of starting one
#   EVC_BENCH_PLOT        a fleet.csv: print its summary, draw test/bench/fleet.png, run nothing
#
# Results: OUT/fleet.csv (one line per run), OUT/fleet-summary.md
# (median and range per N, also printed), and copies in test/bench/:
# fleet.csv and, when gnuplot is installed, fleet.png.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
sizes=${*:-1000 10000 50000}
repeat=${EVC_BENCH_REPEAT:-3}
secs=${EVC_BENCH_SECS:-60}
secs_large=${EVC_BENCH_SECS_LARGE:-30}
warmup=${EVC_BENCH_WARMUP:-10}
hz=$(getconf CLK_TCK)

say() { echo "fleet.sh: $*" >&2; }

[ -x "$top/evc" ] || { say "no '$top/evc' (run make)"; exit 2; }
command -v kcat >/dev/null || { say "kcat not found"; exit 2; }
command -v jq >/dev/null || { say "jq not found"; exit 2; }
out=${EVC_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/evc-fleet.XXXXXX")} || exit 2
mkdir -p "$out" || exit 2
# A copy: a rebuild in the tree during the run changes nothing measured.
cp "$top/evc" "$out/evc" || exit 2
evc=$out/evc
csv=$out/fleet.csv
brokers=${EVC_BENCH_BROKERS:-}
# shellcheck source=test/bench/common.sh
. "$top/test/bench/common.sh"

# The total lag of Central's group, in messages ("-" when unknown).
group_lag()
{
	"$evc" topics -c "$1" lag "$2" 2>/dev/null |
		sed -n 's/^group .*, lag \([0-9]*\).*/\1/p' | tail -n 1 | grep . || echo -
}

# The offsets Central's group has committed, summed: messages consumed.
group_committed()
{
	"$evc" topics -c "$1" lag "$2" 2>/dev/null |
		awk -v g="$2" '$1 == g && $4 ~ /^[0-9]+$/ { s += $4 } END { print s + 0 }'
}

# messages TOPIC FROM_MS TO_MS CONFIG: the payloads produced in between.
messages()
{
	timeout 120 kcat -b "$brokers" -C -q -e -t "$1" -o "s@$2" -o "e@$3" \
		-f '%s\n' 2>/dev/null
}

# e2e CONFIG_SUFFIX FROM_MS TO_MS: p50 p99 max of progress.ts - telemetry.ts.
e2e()
{
	local suf=$1

	messages "telemetry-$suf" "$(($2 - 5000))" "$3" |
		jq -r 'select(.type == "telemetry") | "t \(.session) \(.seq) \(.ts)"' \
			>"$out/e2e.tel" 2>/dev/null
	messages "auth-response-$suf" "$2" "$3" |
		jq -r 'select(.type == "progress") | "p \(.session) \(.seq) \(.ts)"' \
			>"$out/e2e.prog" 2>/dev/null
	cat "$out/e2e.tel" "$out/e2e.prog" | awk '
		$1 == "t" { t[$2 " " $3] = $4; next }
		($2 " " $3) in t { print $4 - t[$2 " " $3] }' | sort -n |
		awk '{ v[NR] = $1 } END {
			if (!NR) { print "- - - 0"; exit }
			k = int(NR * 0.99); if (k < 1) k = 1
			print v[int((NR + 1) / 2)], v[k], v[NR], NR }'
}

config()
{
	cat <<EOF
kafka:
  brokers: [$brokers]
topics:
  partitions: 3
  replication: 1
$(topic_names "$1")
central:
  allow_unknown: true
  group: central-$1
cp:
  tick_ms: 1000
  health_ms: 1000
EOF
}

# run N R: one measurement; appends a line to the CSV.
run()
{
	local n=$1 r=$2 suf=fleet$$-$1-$2 cfg w c0 c1 f0 f1 k0 k1 t0 t1
	local rss rss_max=0 lag lag_max=0 lags= started e sessions rate m0 m1

	w=$secs
	[ "$n" -le 10000 ] || w=$secs_large
	cfg=$out/$suf.yaml
	config "$suf" >"$cfg"
	"$evc" topics -c "$cfg" create >"$out/$suf.topics" 2>&1 ||
		{ say "cannot create topics: $out/$suf.topics"; return 1; }
	bg central "$evc" central -c "$cfg" -X auto.commit.interval.ms=200
	wait_line "$out/central.err" "ready:" 60 || return 1
	# -a: a session long enough for the whole window at every CP.
	bg fleet "$evc" fleet -c "$cfg" -a 3600 -p F "$n"
	wait_line "$out/fleet.err" "all $n CPs answered" 180 || return 1
	sleep "$warmup"
	started=$(grep -c "supply started" "$out/central.err")
	say "N=$n run $r: $started sessions started; measuring ${w}s"
	m0=$(group_committed "$cfg" "central-$suf")
	c0=$(ticks "$pid_central") f0=$(ticks "$pid_fleet")
	k0=$( [ -n "$kafka_pid" ] && ticks "$kafka_pid" || echo 0)
	t0=$(date +%s%3N)
	for ((i = 1; i <= w; i++)); do
		sleep $(awk -v t0="$t0" -v i="$i" -v now="$(date +%s%3N)" \
			'BEGIN { s = (t0 + i * 1000 - now) / 1000; print (s > 0 ? s : 0) }')
		rss=$(rss_kib "$pid_central")
		[ "$rss" -le "$rss_max" ] || rss_max=$rss
		if ((i % 5 == 0)); then
			lag=$(group_lag "$cfg" "central-$suf")
			lags="$lags $lag"
			[ "$lag" = - ] || [ "$lag" -le "$lag_max" ] || lag_max=$lag
		fi
	done
	c1=$(ticks "$pid_central") f1=$(ticks "$pid_fleet")
	m1=$(group_committed "$cfg" "central-$suf")
	k1=$( [ -n "$kafka_pid" ] && ticks "$kafka_pid" || echo 0)
	t1=$(date +%s%3N)
	kill -0 "$pid_central" 2>/dev/null || { say "Central died: $out/central.err"; return 1; }
	e=$(e2e "$suf" "$((t1 - 5000))" "$t1")
	sessions=$(grep -c "supply started" "$out/central.err")
	stop_pid "$pid_fleet"
	stop_pid "$pid_central"
	cp "$out/central.err" "$out/$suf.central.err"
	cp "$out/fleet.err" "$out/$suf.fleet.err"
	# Central is fed one heartbeat a CP a second, and one telemetry a
	# CP with a session.
	rate=$((n + sessions))
	awk -v n="$n" -v r="$r" -v w="$(( (t1 - t0) ))" -v hz="$hz" \
		-v c="$((c1 - c0))" -v f="$((f1 - f0))" -v k="$((k1 - k0))" \
		-v rss="$rss" -v rss_max="$rss_max" -v lag_max="$lag_max" \
		-v rate="$rate" -v s="$sessions" -v e="$e" -v lags="$lags" \
		-v m="$((m1 - m0))" 'BEGIN {
		split(e, x, " ")
		cpu = c / hz / (w / 1000) * 100
		# CPU per message consumed, and what it costs at the offered rate:
		# what Central needs, even when a busy machine starves it.
		us = m > 0 ? c / hz * 1e6 / m : 0
		printf "%d,%d,%.1f,%d,%.1f,%d,%d,%.3f,%.0f,%d,%.2f,%s,%s,%s,%s,%.1f,%.1f,%d,%.1f,%.1f,%.1f,%s\n",
			n, r, w / 1000, s, cpu, rss_max, rss, cpu / (n / 1000),
			rss_max * 1024 / n, lag_max, lag_max / rate, x[1], x[2], x[3], x[4],
			f / hz / (w / 1000) * 100, k / hz / (w / 1000) * 100,
			m, m / (w / 1000), us, us * rate / 1e4, lags
	}' >>"$csv"
	tail -n 1 "$csv" >&2
}

# --- summary -----------------------------------------------------------------

# The median and range of each column per N, as a Markdown table.
summary()
{
	sort -t, -k1,1n -k5,5n "$csv" | awk -F, '
	function med(col,   a, i, j, k, v) {
		k = 0
		for (i = 1; i <= cnt; i++) {	# insertion sort: mawk has no asort
			if (row[i, col] !~ /^[0-9.]+$/) continue	# "-": no figure
			v = row[i, col] + 0
			for (j = ++k; j > 1 && a[j - 1] > v; j--) a[j] = a[j - 1]
			a[j] = v
		}
		if (!k) return "-"
		return sprintf(fmt[col], a[int((k + 1) / 2)]) " (" sprintf(fmt[col], a[1]) "-" sprintf(fmt[col], a[k]) ")"
	}
	function flush() {
		if (!cnt) return
		printf "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, cnt,
			med(5), med(6) , med(8), med(9), med(10), med(11), med(13), med(14),
			med(19), med(20), med(21)
		cnt = 0
	}
	BEGIN {
		fmt[5] = "%.1f"; fmt[6] = "%d"; fmt[8] = "%.2f"; fmt[9] = "%.0f"
		fmt[10] = "%d"; fmt[11] = "%.2f"; fmt[13] = "%d"; fmt[14] = "%d"
		fmt[19] = "%.0f"; fmt[20] = "%.1f"; fmt[21] = "%.1f"
		print "| CPs | runs | Central CPU % of a core | Central RSS max KiB | CPU % per 1k CPs | RSS bytes per CP | max lag (msgs) | max lag (s) | telemetry->progress p99 ms | max ms | consumed msgs/s | CPU us per msg | CPU % needed at offered rate |"
		print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	}
	$1 == "n" { next }
	$1 != n { flush(); n = $1 }
	{ cnt++; for (i = 1; i <= NF; i++) row[cnt, i] = $i }
	END { flush() }'
}

plot()
{
	command -v gnuplot >/dev/null || { say "no gnuplot: no plot"; return 0; }
	sort -t, -k1,1n "$csv" | awk -F, '$1 != "n"' >"$out/fleet.dat"
	gnuplot <<EOF
set terminal pngcairo size 900,500 noenhanced
set output "$top/test/bench/fleet.png"
set datafile separator ","
set title "evc central under evc fleet: each CP one heartbeat and one telemetry a second"
set logscale x
set xlabel "simulated CPs"
set ylabel "Central CPU, % of one core"
set y2label "Central RSS, MiB"
set ytics nomirror
set y2tics
set key top left
set grid
set xrange [500:100000]
set yrange [0:100]
set y2range [0:*]
plot "$out/fleet.dat" using 1:5 with points pt 7 ps 1.5 title "CPU used (each run)", \
     "$out/fleet.dat" using 1:21 with points pt 6 ps 1.5 title "CPU needed at the offered rate", \
     "$out/fleet.dat" using 1:(\$6/1024) axes x1y2 with points pt 5 title "RSS max (each run)", \
     50 with lines dt 2 title "target CPU 50 %", \
     64 axes x1y2 with lines dt 3 title "target RSS 64 MiB"
EOF
}

# EVC_BENCH_PLOT=CSV: the summary and test/bench/fleet.png from a run's CSV.
if [ -n "${EVC_BENCH_PLOT:-}" ]; then
	csv=$EVC_BENCH_PLOT
	summary
	plot
	exit
fi
start_kafka || exit 3
echo "n,run,window_s,sessions,central_cpu_pct,central_rss_max_kib,central_rss_end_kib,cpu_pct_per_1k_cps,rss_bytes_per_cp,lag_max_msgs,lag_max_s,e2e_p50_ms,e2e_p99_ms,e2e_max_ms,e2e_samples,fleet_cpu_pct,kafka_cpu_pct,consumed,consumed_per_s,central_cpu_us_per_msg,central_cpu_pct_needed,lag_samples" >"$csv"
for n in $sizes; do
	for ((r = 1; r <= repeat; r++)); do
		run "$n" "$r" || say "N=$n run $r failed (logs in $out)"
		for p in "${pids[@]}"; do
			stop_pid "$p"
		done
		pids=()
	done
done
summary | tee "$out/fleet-summary.md"
cp "$csv" "$top/test/bench/fleet.csv"
plot
say "results in $out"
