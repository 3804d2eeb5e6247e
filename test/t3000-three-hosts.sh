#!/usr/bin/env bash
# t3000-three-hosts.sh: three hosts (network namespaces), a Kafka node on each, Central, CPs and drivers spread over them.
#
# The deployment of etc/DEPLOY.md on one machine: hosts h1, h2 and h3 are
# network namespaces on a bridge of their own (test/netns.sh), each with
# one node of a 3-node KRaft cluster made from etc/kafka/server-N.properties
# (the addresses replaced by the hosts'). Central runs on h1, CP001 and
# CP002 on h2, CP003 and the driver on h3; each role knows the others
# only through the evc.yaml of its host, the example etc/evc.yaml with
# the hosts' addresses and quick timings. Every Kafka, evc and kcat the
# test starts runs inside these namespaces, where nothing can reach out;
# the namespace the test runs in keeps its interfaces and routes. When
# etc/kafka has no server-N.properties, the same settings are written here.
#
# Needs root; elsewhere every test is skipped, saying why. With
# EVC_TEST_REQUIRE_NETNS=1 (the default when CI=true) a root that cannot
# make the hosts fails instead.
. "$(dirname "$0")/lib.sh"
. "$TEST_TOP/test/netns.sh"

ID=$$
A1=$(netns_addr "$ID" 1)
A2=$(netns_addr "$ID" 2)
A3=$(netns_addr "$ID" 3)
# On the hosts' subnet, but no host has it.
A99=$(netns_addr "$ID" 99)
hosts_made=
jars=

# --- the hosts -------------------------------------------------------------

# host_exec H CMD...: replaces the shell with CMD on host H, configured by
# H's evc.yaml (for bg, whose PID is then CMD's).
host_exec()
{
	local h=$1

	shift
	EVC_CONFIG=$TEST_DIR/h$h/evc.yaml exec ip netns exec \
		"$(netns_name "$ID" "$h")" "$@"
}

# on H CMD...: runs CMD on host H and waits for it (90 s at most).
on()
{
	local h=$1

	shift
	(host_exec "$h" timeout --foreground -k 5 90 "$@")
}

# kcat_on H ARGS...: kcat on host H, bootstrapped by H's own broker.
kcat_on()
{
	local h=$1 a

	shift
	a=$(netns_addr "$ID" "$h")
	on "$h" kcat -b "$a:9092" "$@"
}

# Interfaces, IPv4 addresses and routes of the namespace the test runs
# in: the test must leave them as they were.
root_net()
{
	ip -o link show | awk -F': ' '{ print $2 }' | sort
	ip -o -4 addr show | awk '{ print $2, $4 }' | sort
	ip -4 route show | sort
}

# others_in_hosts PID...: the processes in the hosts' namespaces but these.
others_in_hosts()
{
	local h pid

	for h in 1 2 3; do
		for pid in $(ip netns pids "$(netns_name "$ID" "$h")" 2>/dev/null); do
			case " $* " in
			*" $pid "*) ;;
			*) echo "$pid" ;;
			esac
		done
	done
}

# Every process still running: evc first (SIGTERM, then 5 s for them and
# the engines they run), while Kafka can still take their last messages;
# then Kafka (SIGKILL: its data goes with the test directory); then
# whatever is left, which netns_down ends before it deletes the hosts.
hosts_down()
{
	local rec pid kafkas= i

	[ -n "$hosts_made" ] || return 0
	for rec in "$TEST_DIR"/.bg/*; do
		_bg_alive "$rec" || continue
		read -r pid _ <"$rec"
		case ${rec##*/} in
		kafka*) kafkas="$kafkas $pid" ;;
		*) kill -s TERM "$pid" 2>/dev/null ;;
		esac
	done
	for ((i = 0; i < 50; i++)); do
		[ -z "$(others_in_hosts $kafkas)" ] && break
		sleep 0.1
	done
	for pid in $kafkas; do
		kill -s KILL "$pid" 2>/dev/null
	done
	netns_down "$ID"
	hosts_made=
}

_t3000_end()
{
	local rc=$1

	trap - EXIT
	hosts_down
	_test_end "$rc"
}
trap '_t3000_end $?' EXIT

# --- Kafka -----------------------------------------------------------------

# The jar directory of test/kafka.sh (fetched there once).
kafka_jars()
{
	local dir

	if [ -n "${EVC_KAFKA_JARS:-}" ]; then
		dir=$EVC_KAFKA_JARS
	else
		"$TEST_TOP/test/kafka.sh" fetch || return 1
		dir=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/evc/kafka-3.9.1
	fi
	ls "$dir"/kafka_2.13-*.jar >/dev/null 2>&1 || {
		echo "no Kafka jars in '$dir'"
		return 1
	}
	echo "$dir"
}

# The shipped server-N.properties of etc/kafka, with each address of its
# quorum replaced by the host of the same node id; without them, the same
# settings written here.
kafka_props()
{
	local n=$1 src=$TEST_TOP/etc/kafka/server-$1.properties v id ip s=

	if [ -f "$src" ]; then
		for v in $(sed -n 's/^controller\.quorum\.voters=//p' "$src" | tr , ' '); do
			id=${v%%@*} ip=${v#*@}
			ip=${ip%:*}
			s="${s}s/${ip//./\\.}:/$(netns_addr "$ID" "$id"):/g;"
		done
		sed -e "$s" -e '/^log\.dirs=/d; /^metadata\.log\.dir=/d' "$src"
		return
	fi
	cat <<-EOF
	process.roles=broker,controller
	node.id=$n
	controller.quorum.voters=1@$A1:9093,2@$A2:9093,3@$A3:9093
	listeners=PLAINTEXT://$(netns_addr "$ID" "$n"):9092,CONTROLLER://$(netns_addr "$ID" "$n"):9093
	advertised.listeners=PLAINTEXT://$(netns_addr "$ID" "$n"):9092
	listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
	inter.broker.listener.name=PLAINTEXT
	controller.listener.names=CONTROLLER
	default.replication.factor=3
	min.insync.replicas=2
	offsets.topic.replication.factor=3
	transaction.state.log.replication.factor=3
	transaction.state.log.min.isr=2
	auto.create.topics.enable=false
	num.partitions=3
	group.initial.rebalance.delay.ms=0
	EOF
}

# kafka_config N: kafkaN/server.properties (and its logging) for host N.
kafka_config()
{
	local dir=$TEST_DIR/kafka$1

	mkdir -p "$dir" &&
	{
		kafka_props "$1" &&
		echo "# the test's own data directory" &&
		echo "log.dirs=$dir/data"
	} >"$dir/server.properties" &&
	cat >"$dir/log4j.properties" <<-EOF
	log4j.rootLogger=INFO, file
	log4j.appender.file=org.apache.log4j.FileAppender
	log4j.appender.file.File=$dir/kafka.log
	log4j.appender.file.layout=org.apache.log4j.PatternLayout
	log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
	log4j.logger.kafka.request.logger=WARN
	log4j.logger.state.change.logger=WARN
	EOF
}

# kjava N CLASS ARGS...: a Kafka main class on host N. Small heap, serial
# GC, quick JIT only: three of them share the machine with the tests.
kjava()
{
	local n=$1

	shift
	host_exec "$n" java -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Djava.awt.headless=true \
		"-Dlog4j.configuration=file:$TEST_DIR/kafka$n/log4j.properties" \
		-cp "$jars/*" "$@"
}

# The storage of the three nodes, formatted at once with one cluster id.
kafka_format()
{
	local cid n pids= pid ok=0

	cid=$("$TEST_TOP/test/kafka.sh" cluster-id)
	for n in 1 2 3; do
		(kjava "$n" kafka.tools.StorageTool format -t "$cid" \
			-c "$TEST_DIR/kafka$n/server.properties") \
			>"$TEST_DIR/kafka$n/format.out" 2>&1 &
		pids="$pids $!"
	done
	for pid in $pids; do
		wait "$pid" || ok=1
	done
	[ $ok = 0 ] || cat "$TEST_DIR"/kafka*/format.out
	return $ok
}

# Are the three nodes one cluster, seen from h1? Fails at once (status 2)
# when a node has exited.
cluster_up()
{
	local n

	for n in 1 2 3; do
		_bg_alive "$TEST_DIR/.bg/kafka$n" && continue
		echo "the Kafka of h$n exited; last lines of its log:"
		tail -n 30 "$TEST_DIR/kafka$n/kafka.log" "$TEST_DIR/kafka$n.err"
		return 2
	done
	kcat_on 1 -L -m 2 2>/dev/null | grep -q '^ 3 brokers:'
}

wait_cluster()
{
	local deadline=$((SECONDS + $1)) rc

	while ((SECONDS < deadline)); do
		cluster_up
		rc=$?
		[ $rc = 0 ] && return 0
		[ $rc = 2 ] && return 1
		sleep 0.5
	done
	echo "no cluster of 3 brokers within $1 s"
	kcat_on 1 -L -m 2
	return 1
}

# --- evc -------------------------------------------------------------------

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: "h2, bay 1", price: 0.35}
  - {id: CP002, location: "h2, bay 2", price: 0.30}
  - {id: CP003, location: "h3", price: 0.38}
EOF

# price CP: its price in the catalogue.
price()
{
	sed -n "s/.*id: $1,.* price: \([0-9.]*\)}.*/\1/p" "$TEST_DIR/cps.yaml"
}

# evc_config N: hN/evc.yaml: the example etc/evc.yaml for three machines,
# its brokers the hosts', quick timings, the catalogue above.
evc_config()
{
	local dir=$TEST_DIR/h$1

	mkdir -p "$dir/state" &&
	cp "$TEST_DIR/cps.yaml" "$dir/" &&
	cat >"$dir/extra.yaml" <<-EOF &&
	kafka:
	  brokers: ["$A1:9092", "$A2:9092", "$A3:9092"]
	topics:
	  partitions: 3
	  replication: 3
	central:
	  catalogue: cps.yaml
	  health_timeout_ms: 1500
	cp:
	  tick_ms: 200
	  health_ms: 200
	  power_kw: 3600
	  default_kwh: 0.5
	  state_dir: $dir/state
	driver:
	  wait_ms: 300
	EOF
	_yaml_merge "$TEST_TOP/etc/evc.yaml" "$dir/extra.yaml" >"$dir/evc.yaml"
}

# cents WH PRICE: what WH at PRICE EUR/kWh cost, in cents, half up.
cents()
{
	awk -v wh="$1" -v p="$2" 'BEGIN {
		micro = int(p * 1000000 + 0.5)
		printf "%d\n", int((wh * micro + 5000000) / 10000000)
	}'
}

# ticket_text WH CP [REASON]: a ticket as evc prints it, at CP's price.
ticket_text()
{
	local c p

	p=$(price "$2")
	c=$(cents "$1" "$p")
	printf '%d.%s kWh, %d.%02d EUR at %s EUR/kWh (%s)\n' \
		$(($1 / 1000)) "$(printf '%03d' $(($1 % 1000)) | sed 's/0*$//; s/^$/0/')" \
		$((c / 100)) $((c % 100)) "$p" "${3:-finished}"
}

# The wh of the supply_end CP sent for DRIVER (read on host H).
supply_end_wh()
{
	kcat_on "$1" -C -q -e -t telemetry -f '%s\n' 2>/dev/null |
		grep '"type":"supply_end"' | grep "\"cp\":\"$2\"" |
		grep "\"driver\":\"$3\"" |
		sed -n 's/.*"wh":\([0-9]*\).*/\1/p' | tail -n 1
}

# in_sync H: seen from host H, each of the 3 partitions of the 9 topics
# has a leader and 3 replicas, all in sync.
in_sync()
{
	on "$1" "$EVC" topics describe >describe 2>&1 &&
	awk '{ n++ }
	$5 < 0 || split($7, r, ",") != 3 || split($9, i, ",") != 3 { bad++ }
	END { exit !(n == 27 && !bad) }' describe
}

# led_without H N: seen from host H, every partition has a leader, and
# none is node N.
led_without()
{
	on "$1" "$EVC" topics describe >describe 2>&1 &&
	awk -v node="$2" '{ n++ } $5 < 0 || $5 == node { bad++ }
	END { exit !(n == 27 && !bad) }' describe
}

# json_field KEY TEXT: a number, string or boolean of one-level JSON.
json_field()
{
	printf '%s\n' "$2" |
		sed -n "s/.*\"$1\":\(\"[^\"]*\"\|[-0-9.e][-0-9.e]*\|true\|false\|null\).*/\1/p"
}

# The object of evc auth --json FILE without its ticket.
json_top()
{
	sed 's/,"ticket":{[^}]*}//' "$1"
}

# The ticket object of evc auth --json FILE (without its braces).
json_ticket()
{
	sed -n 's/.*"ticket":{\([^}]*\)}.*/\1/p' "$1"
}

# --- can it run here? ------------------------------------------------------

cannot_run()
{
	local require=${EVC_TEST_REQUIRE_NETNS:-0}

	case ${CI:-} in
	true | 1 | yes) require=${EVC_TEST_REQUIRE_NETNS:-1} ;;
	esac
	if [ "$require" = 1 ] && [ "$EUID" = 0 ]; then
		why=$1
		test_expect_success 'three hosts and their Kafka can be made here' '
			echo "$why"; false
		'
	fi
	_skip_all=$1
}

if ! why=$(netns_usable); then
	cannot_run "$why"
elif ! command -v java >/dev/null || ! command -v kcat >/dev/null; then
	cannot_run "needs java and kcat (test/deps.sh)"
elif ! jars=$(kafka_jars 2>"$TEST_DIR/.log/jars"); then
	cannot_run "no Kafka jars: $jars $(tail -n 3 "$TEST_DIR/.log/jars")"
else
	netns_sweep
	root_net >root-net.before
	if netns_up "$ID" 3 2>"$TEST_DIR/.log/netns"; then
		hosts_made=1
	else
		cannot_run "cannot make network namespaces: $(cat "$TEST_DIR/.log/netns")"
	fi
fi

# --- the tests -------------------------------------------------------------

test_expect_success 'three hosts on a bridge of their own, no way out' '
	for h in 1 2 3; do
		ns=$(netns_name $ID $h) &&
		ip -n $ns -4 -o addr show dev eth0 | grep -qF " $(netns_addr $ID $h)/24 " &&
		test -z "$(ip -n $ns route show default)" &&
		test -z "$(ip -n $ns -6 route show default)" || return 1
	done &&
	test -z "$(ip -n $(netns_name $ID br) -4 addr show dev br0)" &&
	for h in 2 3; do
		on 1 bash -c "exec 3<>/dev/tcp/$(netns_addr $ID $h)/9" 2>err;
		grep -q "Connection refused" err || { cat err; return 1; }
	done
'

test_expect_success 'a Kafka node on each host: one cluster of three brokers' '
	for n in 1 2 3; do
		kafka_config $n || return 1
	done &&
	for n in 1 2 3; do
		a=$(netns_addr $ID $n) &&
		grep -qx "node.id=$n" kafka$n/server.properties &&
		grep -qx "advertised.listeners=PLAINTEXT://$a:9092" kafka$n/server.properties &&
		grep -qx "controller.quorum.voters=1@$A1:9093,2@$A2:9093,3@$A3:9093" \
			kafka$n/server.properties &&
		grep -qx "min.insync.replicas=2" kafka$n/server.properties || return 1
	done &&
	kafka_format &&
	for n in 1 2 3; do
		bg kafka$n kjava $n kafka.Kafka "$TEST_DIR/kafka$n/server.properties" || return 1
	done &&
	wait_cluster 120
'

test_expect_success 'evc topics create on h1: 3 partitions of 3 replicas, all in sync' '
	for h in 1 2 3; do
		evc_config $h || return 1
	done &&
	on 1 "$EVC" topics create >out 2>err &&
	test $(grep -c "^created .* (3 partitions, replication 3)\$" out) = 9 &&
	wait_for 20 "in_sync 2"
'

test_expect_success 'Central on h1, CP001 and CP002 on h2, CP003 on h3: all ACTIVE' '
	bg central host_exec 1 "$EVC" central &&
	wait_for 30 "grep -q \"ready:\" central.err" &&
	bg cp1 host_exec 2 "$EVC" cp CP001 &&
	bg cp2 host_exec 2 "$EVC" cp CP002 &&
	bg cp3 host_exec 3 "$EVC" cp CP003 &&
	wait_for 30 "grep -q \"CP001 ACTIVE\" central.err" &&
	wait_for 30 "grep -q \"CP002 ACTIVE\" central.err" &&
	wait_for 30 "grep -q \"CP003 ACTIVE\" central.err"
'

test_expect_success 'every process runs in the namespace of its host' '
	for p in kafka1:1 kafka2:2 kafka3:3 central:1 cp1:2 cp2:2 cp3:3; do
		pid=$(bg_pid ${p%:*}) &&
		want=$(on ${p#*:} readlink /proc/self/ns/net) &&
		test "$(readlink /proc/$pid/ns/net)" = "$want" || {
			echo "${p%:*} (PID $pid) is not on h${p#*:}"
			return 1
		}
	done
'

test_expect_success 'a driver on h3 is served at CP001, CP002 and CP003 (--file)' '
	printf "CP001\nCP002\nCP003\n" >h3/route &&
	bg driver host_exec 3 "$EVC" driver --file "$TEST_DIR/h3/route" --kwh 0.75 DRIVER001 &&
	bg_wait driver 60 &&
	test "$(tail -n 1 driver.out)" = "3 served, 0 denied, 0 failed"
'

test_expect_success 'its three tickets: the energy asked, the EUR of the catalogue price' '
	i=0 &&
	for cp in CP001 CP002 CP003; do
		i=$((i + 1)) &&
		echo "service $i/3 at $cp: served, $(ticket_text 750 $cp)" >expect &&
		grep "^service $i/3 at " driver.out >actual &&
		diff -u expect actual || return 1
	done
'

test_expect_success 'the tickets carry the energy the CPs measured' '
	for cp in CP001 CP002 CP003; do
		wh=$(supply_end_wh 1 $cp DRIVER001) &&
		test "$wh" = 750 || { echo "supply_end of $cp: wh $wh"; return 1; }
	done
'

test_expect_success 'evc auth on h2: authorized at CP001, and its ticket (--json)' '
	on 2 "$EVC" auth DRIVER002 CP001 --wait --json >auth.json 2>auth.err &&
	cat auth.json &&
	o=$(json_top auth.json) &&
	test "$(json_field authorized "$o")" = true &&
	test "$(json_field driver "$o")" = "\"DRIVER002\"" &&
	test "$(json_field cp "$o")" = "\"CP001\"" &&
	test "$(json_field session "$o")" != null &&
	t=$(json_ticket auth.json) &&
	test -n "$t" &&
	test "$(json_field wh "$t")" = 500 &&
	test "$(json_field price "$t")" = "$(price CP001)" &&
	test "$(json_field cents "$t")" = "$(cents 500 "$(price CP001)")" &&
	test "$(json_field reason "$t")" = "\"finished\"" &&
	test "$(supply_end_wh 3 CP001 DRIVER002)" = 500
'

test_expect_success 'with the Kafka of h2 stopped, a charge on h3 is still served' '
	bg_kill kafka2;
	wait_for 30 "led_without 3 2" &&
	on 3 "$EVC" auth DRIVER003 CP003 --wait --kwh 0.25 --json >auth3.json 2>auth3.err &&
	cat auth3.json &&
	t=$(json_ticket auth3.json) &&
	test "$(json_field wh "$t")" = 250 &&
	test "$(json_field cents "$t")" = "$(cents 250 "$(price CP003)")"
'

test_expect_success 'a broker address with no host behind: exit 3, cannot reach Kafka' '
	start=$SECONDS &&
	test_expect_code 3 on 2 "$EVC" auth DRIVER004 CP001 -b "$A99:9092" --timeout 3 \
		>out 2>err &&
	cat err &&
	test $((SECONDS - start)) -lt 15 &&
	grep -qF "evc auth: cannot reach Kafka at '\''$A99:9092'\''" err
'

test_expect_success 'a config naming a missing host: exit 3, cannot reach Kafka' '
	sed "s/^  brokers: .*/  brokers: [\"$A99:9092\"]/" h3/evc.yaml >h3/missing.yaml &&
	grep -qF "$A99:9092" h3/missing.yaml &&
	test_expect_code 3 on 3 "$EVC" driver -c "$TEST_DIR/h3/missing.yaml" -t 3 DRIVER005 \
		>out 2>err &&
	cat err &&
	grep -qF "evc driver: cannot reach Kafka at '\''$A99:9092'\''" err
'

test_expect_success 'a host with nothing on the port: exit 3, cannot reach Kafka' '
	test_expect_code 3 on 1 "$EVC" topics list -b "$A3:9999" >out 2>err &&
	cat err &&
	grep -qF "evc topics: cannot reach Kafka at '\''$A3:9999'\''" err
'

test_expect_success 'at the end no namespace and no process is left; the rest untouched' '
	hosts_down &&
	test -z "$(ip netns list | grep "^evc-t$ID-")" &&
	for rec in .bg/*; do
		! _bg_alive $rec || { echo "${rec##*/} still running"; return 1; }
	done &&
	root_net >root-net.after &&
	diff -u root-net.before root-net.after
'
