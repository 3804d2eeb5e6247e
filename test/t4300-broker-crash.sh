#!/usr/bin/env bash
# t4300-broker-crash.sh: kill -9 a Kafka broker of the three-node cluster at a random moment of a supply, round after round; nothing lost, every role carries on, the broker back is used again.
#
# The cluster of t3000 (test/netns.sh): hosts h1, h2 and h3, a node of
# etc/kafka/server-N.properties on each, the topics created with
# replication 3 under min.insync.replicas=2. Central runs on h1, CP001 on
# h2, CP002 on h3, the drivers on h1. Each round two drivers charge at
# CP001 and CP002 at once; at a random moment of the supply one broker is
# killed with SIGKILL: the active controller of the KRaft quorum, the
# leader of CP001's telemetry partition, or any node, each kind once in
# the first three rounds (in random order), then at random. The supplies
# must finish and be billed once, with the energy the CPs measured at the
# catalogue price; Central, the CPs and their engines must still run.
# Then the broker is started again and must be back in the in-sync
# replicas of every evc partition, and answer clients, before the next
# round. A report line per kind of victim gives the rounds, sessions, and
# tickets lost or duplicated (crash-check.py); all must be zero.
#
# EVC_BROKER_CRASH_ROUNDS sets the rounds (default 3, at most 50),
# EVC_BROKER_CRASH_KINDS the kinds of victim to draw from (default
# "controller leader any"; "controller" alone kills the controller every
# round), EVC_BROKER_CRASH_SECONDS the time after which no round begins
# (400), EVC_BROKER_CRASH_HEALTH_MS Central's health timeout (3000, its
# default), EVC_BROKER_CRASH_GROUP_MS the session timeout of Central's
# groups (6000, librdkafka's and evc's default).
# Needs root, java, kcat and python3; elsewhere every test is skipped.
. "$(dirname "$0")/lib.sh"
. "$TEST_TOP/test/netns.sh"

rounds=${EVC_BROKER_CRASH_ROUNDS:-3}
case $rounds in
'' | *[!0-9]* | 0) echo "EVC_BROKER_CRASH_ROUNDS: 1 to 50, not '$rounds'" >&2; exit 2 ;;
esac
[ "$rounds" -le 50 ] || { echo "EVC_BROKER_CRASH_ROUNDS: 1 to 50, not $rounds" >&2; exit 2; }
read -ra kinds_asked <<<"${EVC_BROKER_CRASH_KINDS:-controller leader any}"
[ ${#kinds_asked[@]} -gt 0 ] || kinds_asked=('')
for k in "${kinds_asked[@]}"; do
	case $k in
	controller | leader | any) ;;
	*) echo "EVC_BROKER_CRASH_KINDS: controller, leader or any, not '$k'" >&2; exit 2 ;;
	esac
done
if ! command -v python3 >/dev/null; then
	test_skip 'broker crash rounds' 'no python3'
	test_done
fi
# Roles are started again and again: all from one copy of the binary, so
# that a rebuild in the middle of the run cannot mix two versions.
mkdir bin && cp "$EVC" bin/evc && EVC=$TEST_DIR/bin/evc || exit 1
check=$TEST_TOP/test/crash-check.py
prices="CP001=0.35,CP002=0.40"

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: "h2", price: 0.35}
  - {id: CP002, location: "h3", price: 0.40}
EOF

hosts_init

# How long Central waits for a CP's heartbeat before it calls the CP
# DISCONNECTED. While a killed broker's partitions and the groups it
# coordinated move to the other two (4 s of missed broker heartbeats,
# etc/kafka, and the quorum's own election when it was the controller:
# 4 to 9 s from the kill here), no heartbeat is readable; Central judges
# only partitions where its own probes come back, so its default holds.
health_timeout=${EVC_BROKER_CRASH_HEALTH_MS:-3000}
# A monitor that has no answer from its engine within one health period
# reports it KO and Central shows the CP BROKEN. With the quick 200 ms of
# the other tests, an answer came too late during a failover in 1 run of
# 6 (two cores shared by three JVMs; the engine's telemetry of the other
# runs kept its 200 ms ticks): the default 1 s.
health_ms=1000
# Central's consumer groups (its work and its lease) give a member that
# stops heartbeating session.timeout.ms (6000 by default) before it loses
# its partitions. Their coordinator is a broker too: killed, its groups
# wait for another to take them over, as long as the partitions do, and
# a controller's failover (4 to 9 s here) outlasts the session: the
# group loses Central's lease, though no other Central may have it.
# Central then suspends rather than stand by again: it keeps what it
# knows, decides nothing, and serves on once the group gives the lease
# back and its takeover note shows no other Central took it meanwhile
# (evc-central(1), "Standby Centrals"); its work group, lost likewise,
# is read on where Central left it. So the default holds (4 controller
# kills: the lease in doubt twice, served on after 6.1 and 6.5 s, no CP
# shown DISCONNECTED; before, Central stood by again in each of 3 rounds
# and a CP showed DISCONNECTED), and a standby still takes over from a
# dead Central in 6 s and its start (t4110).
group_ms=${EVC_BROKER_CRASH_GROUP_MS:-6000}

# --- the cluster -------------------------------------------------------------

# A host whose broker runs, for reading the topics.
up_host()
{
	local n

	for n in 1 2 3; do
		_bg_alive "$TEST_DIR/.bg/kafka$n" && { echo "$n"; return 0; }
	done
	return 1
}

# dump TOPIC: every message of TOPIC, as kcat -J prints them.
dump()
{
	kcat_on "$(up_host)" -C -J -e -q -t "$1" 2>/dev/null
}

# The node that leads the KRaft quorum, as the quorum itself says
# (kafka-metadata-quorum.sh describe --status, in any Kafka version).
controller()
{
	local h

	h=$(up_host) || return 1
	on "$h" "$TEST_TOP/test/kafka.sh" tool MetadataQuorumCommand \
		--bootstrap-server "$(netns_addr "$ID" "$h"):9092" \
		describe --status 2>/dev/null |
		sed -n 's/^LeaderId:[[:space:]]*\([0-9]*\).*/\1/p'
}

# The leader of the partition of telemetry that CP001 writes to.
telemetry_leader()
{
	local p

	p=$(kcat_on "$(up_host)" -C -e -q -t telemetry -f '%p %s\n' 2>/dev/null |
		grep -m 1 '"cp":"CP001"' | cut -d ' ' -f 1)
	[ -n "$p" ] &&
	on "$(up_host)" "$EVC" topics describe 2>/dev/null |
		awk -v p="$p" '$1 == "telemetry" && $3 == p { print $5 }'
}

# victim KIND: the node to kill: the controller, the telemetry leader,
# or any.
victim()
{
	case $1 in
	controller) controller ;;
	leader) telemetry_leader ;;
	any) echo $((RANDOM % 3 + 1)) ;;
	esac
}

# leads N: how many evc partitions node N leads.
leads()
{
	on "$(up_host)" "$EVC" topics describe 2>/dev/null |
		awk -v n="$1" '$5 == n { c++ } END { print c + 0 }'
}

# The kinds of victim of the rounds: each kind asked once, in random
# order, then one at random a round.
kinds()
{
	local k=("${kinds_asked[@]}") n=${#kinds_asked[@]} i j t r

	for ((i = n - 1; i > 0; i--)); do
		j=$((RANDOM % (i + 1)))
		t=${k[i]} k[i]=${k[j]} k[j]=$t
	done
	for ((r = 0; r < rounds; r++)); do
		if [ $r -lt $n ]; then
			echo "${k[r]}"
		else
			echo "${k[RANDOM % n]}"
		fi
	done
}

# letter KIND: the first letter of the driver ids of a kind of victim.
letter()
{
	local l=${1:0:1}

	echo "${l^^}"
}

# --- evc -----------------------------------------------------------------------

# states CP: every state Central published for CP, in order.
states()
{
	kcat_on "$(up_host)" -C -e -q -t cp-state -f '%s\n' 2>/dev/null |
		grep "\"cp\":\"$1\"" | sed -n 's/.*"state":"\([A-Z]*\)".*/\1/p'
}

state()
{
	states "$1" | tail -n 1
}

# The PID of the engine of CP monitor NAME: its only child.
engine_of()
{
	pgrep -P "$(bg_pid "$1")"
}

# Every long-running role, and the engines, still as they were started.
roles_running()
{
	local name

	for name in central cp1 cp2; do
		_bg_alive "$TEST_DIR/.bg/$name" ||
			{ echo "$name is gone"; return 1; }
	done
	test "$(engine_of cp1)" = "$eng1" ||
		{ echo "the engine of CP001 changed: $eng1 -> $(engine_of cp1)"; return 1; }
	test "$(engine_of cp2)" = "$eng2" ||
		{ echo "the engine of CP002 changed: $eng2 -> $(engine_of cp2)"; return 1; }
}

# supplying NAME DRIVER: has the engine of monitor NAME started DRIVER's
# session?
supplying()
{
	grep -q "session started for '$2'" "$1.err"
}

# A random pause of 0.3 to 3 s.
random_pause()
{
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.3 + (r % 2701) / 1000 }')"
}

# charge NAME DRIVER CP: a driver on h1 served once at CP.
charge()
{
	echo "$3" >"$1.route"
	bg "$1" host_exec 1 "$EVC" driver -t 60 --file "$TEST_DIR/$1.route" "$2"
}

# check_tickets NAME ROUNDS PREFIX: crash-check.py on the whole of both topics,
# for the drivers whose ids start with PREFIX: every session billed once,
# as the CP measured it, at the catalogue price.
check_tickets()
{
	dump telemetry >tele.json &&
	dump auth-response >resp.json &&
	python3 "$check" "$1" "$2" "$3" finished tele.json resp.json "$prices"
}

# sessions LINE: the sessions of a crash-check.py report line.
sessions()
{
	sed -n 's/.* sessions \([0-9]*\),.*/\1/p' <<<"$1"
}

# --- the tests -------------------------------------------------------------------

test_expect_success 'three Kafka nodes, min.insync.replicas=2: one cluster' '
	cluster_start &&
	for n in 1 2 3; do
		grep -qx "min.insync.replicas=2" kafka$n/server.properties &&
		grep -qx "unclean.leader.election.enable=false" kafka$n/server.properties ||
			return 1
	done
'

test_expect_success 'evc topics create: replication 3, all in sync' '
	for h in 1 2 3; do
		evc_config $h <<-EOF || return 1
		central:
		  health_timeout_ms: $health_timeout
		cp:
		  health_ms: $health_ms
		  power_kw: 1111
		  default_kwh: 1.5
		driver:
		  lookback_s: 600
		EOF
	done &&
	on 1 "$EVC" topics create >out 2>err &&
	cat out &&
	! grep -v -e "^created .* partitions\?, replication 3)\$" \
		-e "^seeded .* with [0-9]* CPs from " out &&
	wait_for 30 "in_sync 1"
'

test_expect_success 'Central on h1, CP001 on h2, CP002 on h3: ACTIVE, a first charge' '
	bg central host_exec 1 "$EVC" central -X session.timeout.ms=$group_ms &&
	wait_for 30 "grep -q \"ready:\" central.err" &&
	bg cp1 host_exec 2 "$EVC" cp CP001 &&
	bg cp2 host_exec 3 "$EVC" cp CP002 &&
	wait_for 30 "test \"\$(state CP001)\" = ACTIVE" &&
	wait_for 30 "test \"\$(state CP002)\" = ACTIVE" &&
	eng1=$(engine_of cp1) && eng2=$(engine_of cp2) &&
	test -n "$eng1" && test -n "$eng2" &&
	charge w0 W0 CP001 &&
	bg_wait w0 60 &&
	test "$(tail -n 1 w0.out)" = "1 served, 0 denied, 0 failed" &&
	test -n "$(controller)" && test -n "$(telemetry_leader)"
'

# one_round R KIND: round R, its victim a broker of KIND. The kind is
# added to the file "ran" once the broker is dead. Returns 1 when an
# invariant broke (the next round still runs), 2 when the cluster or a
# role cannot go on.
one_round()
{
	local r=$1 kind=$2 id v ctl tl t0 t1 d rc bad=0 line led over sync

	id=$(printf "%s%03d" "$(letter "$kind")" "$r")
	echo "--- round $r: kill the $kind"
	charge "a$r" "${id}A" CP001 && charge "b$r" "${id}B" CP002 &&
		wait_for 10 "supplying cp1 ${id}A && supplying cp2 ${id}B" || return 2
	random_pause
	ctl=$(controller) tl=$(telemetry_leader) v=$(victim "$kind")
	if [ -z "$ctl" ] || [ -z "$tl" ] || [ -z "$v" ]; then
		echo "controller '$ctl', telemetry leader '$tl', victim '$v'?"
		return 2
	fi
	echo "controller $ctl, telemetry leader $tl: killing node $v"
	t0=$(_now_ms)
	kill -s KILL "$(bg_pid "kafka$v")" &&
		wait_for 5 "! _bg_alive .bg/kafka$v" || return 2
	echo "$kind" >>ran
	wait_for 60 "led_without $(up_host) $v" || return 2
	led=$(($(_now_ms) - t0))
	echo "every partition led by another node after $led ms;" \
		"partitions led by node 1, 2, 3: $(leads 1), $(leads 2), $(leads 3)"
	for d in "a$r" "b$r"; do
		bg_wait "$d" 60
		rc=$?
		cat "$d.out"
		[ $rc = 0 ] && [ "$(tail -n 1 "$d.out")" = "1 served, 0 denied, 0 failed" ] ||
			bad=1
	done
	over=$(($(_now_ms) - t0))
	echo "supplies over $over ms after the kill"
	wait_for 15 "test \"\$(state CP001)\" = ACTIVE && test \"\$(state CP002)\" = ACTIVE" ||
		bad=1
	line=$(check_tickets "round $r" 1 "$id") || bad=1
	echo "$line"
	[ "$(sessions "$(head -n 1 <<<"$line")")" = 2 ] || bad=1
	roles_running || return 2
	kafka_start "$v" || return 2
	t1=$(_now_ms)
	wait_for 90 "in_sync $v" || return 2
	sync=$(($(_now_ms) - t1))
	echo "node $v back in sync $sync ms after its start"
	on "$v" "$EVC" topics list -b "$(netns_addr "$ID" "$v"):9092" >list 2>&1 ||
		{ cat list; return 2; }
	echo "node $v answers; leads $(leads "$v") partitions"
	echo "round $r: node $v killed ($kind): new leaders in $led ms," \
		"tickets in $over ms, back in sync $sync ms after its restart" >>report
	return $bad
}

# No round begins after this many seconds of rounds: run.sh gives a file
# 600 s.
budget=${EVC_BROKER_CRASH_SECONDS:-400}
kinds >kinds
: >ran
: >report
test_expect_success "a broker killed mid-supply, $rounds rounds: supplies billed once, roles run on, broker back in sync" '
	r=0 bad=0 start=$SECONDS &&
	while read -r kind; do
		r=$((r + 1))
		if ((SECONDS - start > budget)); then
			echo "round $r not started: $budget s of rounds are over"
			bad=1
			break
		fi
		one_round $r $kind
		rc=$?
		[ $rc = 2 ] && return 1
		[ $rc = 0 ] || bad=1
	done <kinds
	test $bad = 0
'

# Central marks every CP DISCONNECTED when it starts; from their first
# ACTIVE on, the CPs' monitors and engines never stopped: the truth
# table of evc-protocol(7) leaves them ACTIVE or SUPPLYING.
test_expect_success 'after their first ACTIVE, no CP was shown DISCONNECTED or BROKEN' '
	for cp in CP001 CP002; do
		states $cp | sed -n "/^ACTIVE\$/,\$p" >states.$cp &&
		echo "$cp: $(sort states.$cp | uniq -c | tr -s " \n" " ")" &&
		test "$(sort -u states.$cp | tr "\n" " ")" = "ACTIVE SUPPLYING " ||
			return 1
	done
'

# A lone Central never stands by again (that would forget all it held
# and show every CP DISCONNECTED until it served again): a lease the
# group lost in a failover is only in doubt, and comes back as it was.
test_expect_success 'Central never started again: a lease lost in a failover came back, no other Central having served' '
	n=$(grep -c "the lease of group .* is in doubt" central.err)
	back=$(grep "is ours again, no other Central served meanwhile" central.err |
		sed -n "s/.* after \([0-9]*\) ms\$/\1/p" | paste -sd " ")
	echo "the lease in doubt $n times; served on after: ${back:-none} ms" | tee -a report &&
	test "$(wc -w <<<"$back")" = "$n" &&
	! grep "standing by again\|lost the lease" central.err
'

test_expect_success 'report: per kind of victim, rounds, sessions, nothing lost or duplicated' '
	fail=0 &&
	echo "rounds run: $(grep -c . ran) of $rounds" | tee -a report &&
	for kind in controller leader any; do
		n=$(grep -c "^$kind\$" ran)
		[ "$n" -gt 0 ] || continue
		line=$(check_tickets "broker killed ($kind)" $n $(letter $kind)) || fail=1
		echo "$line" &&
		head -n 1 <<<"$line" >>report &&
		test "$(sessions "$(head -n 1 <<<"$line")")" = $((2 * n)) || fail=1
	done &&
	sed "s/^/# /" report >&7 &&
	test "$(grep -c . ran)" = "$rounds" &&
	test $fail = 0
'

test_expect_success 'after the rounds: every broker in sync, a charge at each CP served, every role running' '
	wait_for 30 "in_sync 1" &&
	charge y Z001 CP001 && charge z Z002 CP002 &&
	bg_wait y 60 && bg_wait z 60 &&
	test "$(tail -n 1 y.out)" = "1 served, 0 denied, 0 failed" &&
	test "$(tail -n 1 z.out)" = "1 served, 0 denied, 0 failed" &&
	roles_running
'

test_expect_success 'at the end no namespace and no process is left; the rest untouched' '
	hosts_down &&
	hosts_clean
'
