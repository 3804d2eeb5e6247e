# common.sh: what the benchmark scripts share: their processes, their Kafka, waiting for a line.
#
# Sourced by run.sh, fleet.sh and ocpp.sh after they set say(), out (the
# output directory) and, from EVC_BENCH_BROKERS, brokers. It sets
# kafka_dir and kafka_pid when it starts a Kafka, keeps the PIDs it
# starts in pids, and on exit stops them and that Kafka.

kafka_dir= kafka_pid=
pids=()
# The code measured: the tree as the programs were copied from it.
evc_rev=$(git -C "$top" describe --always --dirty 2>/dev/null || echo '?')

# bg NAME CMD...: starts CMD with its output in OUT/NAME.out and .err;
# its PID in pid_NAME.
bg()
{
	local name=$1

	shift
	"$@" >"$out/$name.out" 2>"$out/$name.err" </dev/null &
	pids+=($!)
	eval "pid_$name=$!"
}

# stop_pid PID: SIGCONT (a paused Central), SIGTERM, then waits for it.
stop_pid()
{
	kill -s CONT "$1" 2>/dev/null
	kill -s TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

cleanup()
{
	local p

	for p in "${pids[@]}"; do
		stop_pid "$p"
	done
	pids=()
	if [ -n "$kafka_dir" ]; then
		test/kafka.sh stop "$kafka_dir"
		# Gigabytes of telemetry: the logs are worth keeping, not the data.
		rm -rf "$kafka_dir/data"
		kafka_dir=
	fi
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# wait_line FILE TEXT SECONDS: until FILE holds TEXT.
wait_line()
{
	local i

	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	say "no '$2' in $1 within $3 s:"
	tail -n 20 "$1" >&2
	return 1
}

# start_kafka: a Kafka of test/kafka.sh's in OUT/kafka (three tries: a
# port taken meanwhile), unless EVC_BENCH_BROKERS names one.
start_kafka()
{
	local try

	if [ -n "$brokers" ]; then
		say "Kafka at $brokers (EVC_BENCH_BROKERS)"
		return 0
	fi
	kafka_dir=$out/kafka
	for try in 1 2 3; do
		test/kafka.sh start "$kafka_dir" && break
		test/kafka.sh stop "$kafka_dir"
		[ "$try" = 3 ] && { kafka_dir=; say "cannot start Kafka"; return 1; }
	done
	brokers=$(cat "$kafka_dir/brokers") || return 1
	kafka_pid=$(cat "$kafka_dir/kafka.pid" 2>/dev/null)
	say "Kafka $(test/kafka.sh version) at $brokers (PID $kafka_pid)"
}

# copy_progs DIR PROG...: checks that every PROG was built and copies it
# to DIR: a rebuild in the tree during the run changes nothing measured.
copy_progs()
{
	local to=$1 p

	shift
	for p in "$@"; do
		[ -x "$p" ] || { say "no '$p' (run make bench-progs)"; exit 2; }
	done
	mkdir -p "$to" && cp "$@" "$to/" || exit 2
}

# topic_names SUFFIX: the names: block of a configuration, every topic
# evc knows named NAME-SUFFIX, so that runs never share one.
topic_names()
{
	local k

	echo "  names:"
	for k in cp_register cp_register_ack auth_request auth_response \
		cp_commands telemetry health control cp_state central_lease \
		cp_catalogue audit; do
		echo "    $k: ${k//_/-}-$1"
	done
}

# CPU ticks (user + system) a process has used; fields after the comm.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
