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
# the namespace the test runs in keeps its interfaces and routes. The
# hosts and the cluster are test/netns.sh's, shared with t4300.
#
# Needs root; elsewhere every test is skipped, saying why. With
# EVC_TEST_REQUIRE_NETNS=1 (the default when CI=true) a root that cannot
# make the hosts fails instead.
. "$(dirname "$0")/lib.sh"
. "$TEST_TOP/test/netns.sh"

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

hosts_init

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
	cluster_start &&
	for n in 1 2 3; do
		a=$(netns_addr $ID $n) &&
		grep -qx "node.id=$n" kafka$n/server.properties &&
		grep -qx "advertised.listeners=PLAINTEXT://$a:9092,CONTROLLER://$a:9093" \
			kafka$n/server.properties &&
		grep -qx "controller.quorum.bootstrap.servers=$A1:9093,$A2:9093,$A3:9093" \
			kafka$n/server.properties &&
		grep -qx "min.insync.replicas=2" kafka$n/server.properties || return 1
	done
'

test_expect_success 'evc topics create on h1: 3 partitions of 3 replicas, all in sync' '
	for h in 1 2 3; do
		evc_config $h <<-EOF || return 1
		cp:
		  power_kw: 3600
		  default_kwh: 0.5
		EOF
	done &&
	on 1 "$EVC" topics create >out 2>err &&
	cat out err &&
	! grep -v -e "^created .* partitions\?, replication 3)\$" \
		-e "^seeded .* with [0-9]* CPs from " out &&
	test $(grep -c "^created .* (3 partitions, replication 3)\$" out) -ge 9 &&
	wait_for 60 "in_sync 2"
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
	hosts_clean
'
