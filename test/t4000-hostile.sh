#!/usr/bin/env bash
# t4000-hostile.sh: 100,000 malformed and hostile messages on every topic during a charge; nothing breaks, each role counts what it rejected.
. "$(dirname "$0")/lib.sh"

need_kafka
if ! command -v python3 >/dev/null; then
	test_skip 'a flood of hostile messages during a charge' 'no python3'
	test_done
fi

gen=$TEST_TOP/test/hostile-gen.py
topics="cp_register cp_register_ack auth_request auth_response cp_commands
telemetry health control cp_state"
central_topics="cp_register auth_request telemetry health control"
# kcat -P input: KEY, key delimiter, value, message delimiter. Random
# bytes hold newlines and tabs; these sequences hold neither, and no
# proper prefix of either is also its suffix, so no value can fake one.
kd='\x1f\xfe\x1c'
md='\x1e\xfd\x1d\xff'
tab=$(printf '\t')
# EVC_TEST_HOSTILE_COUNT: how many messages (the kinds that are not random
# bytes make about 30,000 whatever the count).
count=${EVC_TEST_HOSTILE_COUNT:-100000}

# Sentinels, one per partition of each topic Central reads (the test
# topics have 3): Central logs something it does for each, so that once
# all are logged Central has read the flood that came before them. The
# flood on telemetry goes to the partitions of CP001 and CP002 only, and
# their tickets, which follow it, play that part there.
sentinel_cps="SENT2 SENT4 SENT0"
ghosts="GHOST9 GHOST0 GHOST1"

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
  - {id: SENT2, location: Sentinel, price: 0.30}
  - {id: SENT4, location: Sentinel, price: 0.30}
  - {id: SENT0, location: Sentinel, price: 0.30}
EOF

# 360 kW: 20 Wh a tick (200 ms), 10 kWh in 100 s: the charge lasts until
# the test unplugs the car, however slow the machine. The test bed's
# short health timeout holds: behind the burst of 100,000 messages,
# Central judges a heartbeat late only once it has read the CP's
# partitions to their end.
test_config <<EOF
central:
  catalogue: cps.yaml
  group: central-$TEST_NAME-$$
cp:
  power_kw: 360
EOF

uuid() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
now() { date +%s%3N; }

# msgs TOPIC: every message of the test's TOPIC so far, as kcat -J lines.
# Without a stop time, kcat -e would wait for a pause in a busy topic
# (health, telemetry): it stops at the end only after an empty fetch.
msgs()
{
	kc -C -J -t "$(topic "$1")" -o beginning -o "e@$(now)" -e -q 2>/dev/null
}

# real TOPIC FIELD=VALUE...: the well-formed messages of TOPIC with those
# fields, one JSON line each (before the flood, all are real).
real()
{
	local t=$1

	shift
	msgs "$t" | python3 "$gen" pick "$@"
}

# sent TOPIC FIELD=VALUE...: the same, leaving out what the flood sent.
sent()
{
	local t=$1

	shift
	msgs "$t" | python3 "$gen" pick --made flood/ids "$@"
}

# field NAME: the value of field NAME of each JSON line on stdin.
field()
{
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# cents WH PRICE: evc-protocol(7): wh x price / 10, half away from zero.
cents()
{
	awk -v wh="$1" -v p="$2" 'BEGIN {
		n = wh * int(p * 1000000 + 0.5)
		printf "%d\n", int((n + 5000000) / 10000000)
	}'
}

# malformed TOPIC [PARTITION]: how many malformed messages the flood
# sent to TOPIC (to one partition of it).
malformed()
{
	awk -v t="$1" -v p="${2:--1}" '
		$1 == t && $3 == "malformed" && (p < 0 || $2 == p) { n += $5 }
		END { print n + 0 }' flood/counts
}

# ticket_of FILE: "SESSION WH CENTS PRICE REASON" of evc auth --json.
ticket_of()
{
	python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
t = o["ticket"]
print(o["session"], t["wh"], t["cents"], t["price"], t["reason"])' "$1"
}

alive() { _bg_alive "$TEST_DIR/.bg/$1"; }

# stats FILE: "RECEIVED REJECTED" from the stats line a role logs at its
# end (Central: "RECEIVED REJECTED IGNORED").
stats()
{
	grep "stats: received" "$1" >&2 &&
	sed -n "s/.*stats: received \([0-9]*\), rejected \([0-9]*\)\(, ignored \([0-9]*\)\)\{0,1\}.*/\1 \2 \4/p" "$1"
}

test_expect_success 'the sentinel ids cover every partition' '
	python3 "$gen" part $sentinel_cps $ghosts >parts &&
	test "$(cut -d" " -f2 parts | tr -d "\n")" = 012012 &&
	test "$(python3 "$gen" part DRIVER001 CP001 CP002 | cut -d" " -f2 | tr -d "\n")" = 112
'

test_expect_success 'Central and two CPs start and register' '
	bg central "$EVC" central &&
	wait_for 30 "grep -q \"ready:\" central.err" &&
	bg cp1 "$EVC" cp CP001 &&
	bg cp2 "$EVC" cp CP002 &&
	wait_for 20 "grep -q \"CP001 ACTIVE\" central.err" &&
	wait_for 20 "grep -q \"CP002 ACTIVE\" central.err"
'

test_expect_success 'a charge starts at CP001' '
	t_start=$(_now_ms) &&
	bg charge "$EVC" auth -v --json --wait --kwh 10 DRIVER001 CP001 &&
	wait_for 30 "real cp_commands type=command cmd=start driver=DRIVER001 >start && test -s start" &&
	session=$(head -n 1 start | field session) &&
	test ${#session} = 32 &&
	wait_for 20 "grep -q \"CP001 supply started\" central.err"
'

test_expect_success 'the real traffic so far is captured for replays' '
	sleep 0.5 &&
	mkdir cap &&
	pids= &&
	for t in $topics; do
		kc -C -t "$(topic $t)" -o beginning -o "e@$(now)" -e -q \
			-f "%k\t%s\n" >cap/$t &
		pids="$pids $!"
	done &&
	for p in $pids; do
		wait $p || return 1
	done &&
	wc -l cap/* &&
	test -s cap/telemetry && test -s cap/auth_response && test -s cap/cp_state
'

test_expect_success "$count hostile messages are made for the nine topics" '
	python3 "$gen" gen --count $count --session $session \
		--cps CP001,CP002 --driver DRIVER001 \
		--key-delim "$kd" --msg-delim "$md" cap flood >gen.out &&
	cat gen.out &&
	n_sent=$(awk "{ n += \$5 } END { print n }" flood/counts) &&
	n_bad=$(awk "\$3 == \"malformed\" { n += \$5 } END { print n }" flood/counts) &&
	test "$n_sent" -ge "$count" &&
	! grep -q "^telemetry 0 " flood/counts &&
	t_made=$(_now_ms)
'

test_expect_success 'the flood reaches every topic while the charge runs' '
	t0=$(_now_ms) &&
	pids= &&
	for t in $topics; do
		kc -P -t "$(topic $t)" -X partitioner=consistent -K "$kd" \
			-D "$md" -l flood/$t.kc 2>flood/$t.err &
		pids="$pids $!"
	done &&
	for p in $pids; do
		wait $p || return 1
	done &&
	t_flood=$(_now_ms) &&
	echo "flood of $n_sent messages sent in $((t_flood - t0)) ms" &&
	alive charge
'

test_expect_success 'sentinels follow the flood on each partition Central reads' '
	old=$(($(now) - 86400000)) &&
	for i in 0 1 2; do
		set -- $sentinel_cps && shift $i && cp=$1 &&
		set -- $ghosts && shift $i && g=$1 &&
		printf "%s\t%s\n" $g "{\"v\":1,\"type\":\"register\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$g\",\"location\":\"\",\"engine_ok\":true}" >>s.cp_register &&
		printf "%s\t%s\n" $cp "{\"v\":1,\"type\":\"auth_request\",\"id\":\"$(uuid)\",\"ts\":$old,\"cp\":\"$cp\",\"driver\":\"SENTINEL\",\"target_wh\":1,\"target_s\":0,\"timeout_ms\":1000,\"cancel\":false}" >>s.auth_request &&
		printf "%s\t%s\n" $cp "{\"v\":1,\"type\":\"health\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$cp\",\"engine_ok\":true,\"seq\":1}" >>s.health &&
		printf "%s\t%s\n" $cp "{\"v\":1,\"type\":\"control\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$cp\",\"cmd\":\"stop\",\"all\":false}" >>s.control || return 1
	done &&
	for t in cp_register auth_request health control; do
		kc -P -t "$(topic $t)" -X partitioner=consistent -K "$tab" -l s.$t ||
			return 1
	done
'

test_expect_success 'Central, both CPs and the driver live through the flood' '
	alive central && alive cp1 && alive cp2 &&
	! grep -q "restarting it" cp1.err cp2.err
'

test_expect_success 'Central reads the whole flood' '
	for cp in $sentinel_cps; do
		wait_for 60 "grep -qF \"SENTINEL denied at $cp: expired\" central.err" &&
		wait_for 10 "grep -qF \"$cp registered by its heartbeat\" central.err" &&
		wait_for 10 "grep -qF \"$cp stopped by the operator\" central.err" ||
			return 1
	done &&
	for g in $ghosts; do
		wait_for 10 "grep -qF \"$g refused: not in the catalogue\" central.err" ||
			return 1
	done &&
	t_read=$(_now_ms) &&
	echo "Central read the flood $((t_read - t_flood)) ms after it was sent"
'

test_expect_success 'unplugged, the charge ends with its ticket: energy from the CP, cost at 0.35' '
	alive charge &&
	"$EVC" cp CP001 unplug &&
	bg_wait charge 20 &&
	t_done=$(_now_ms) &&
	cat charge.out &&
	set -- $(ticket_of charge.out) &&
	test "$1 $5" = "$session unplugged" &&
	wh=$2 &&
	test "$wh" -gt 0 &&
	test "$3" = "$(cents $wh 0.35)" &&
	test "$4" = 0.35 &&
	sent telemetry type=supply_end cp=CP001 driver=DRIVER001 session=$session >end &&
	test $(wc -l <end) = 1 &&
	test "$(field wh <end)" = $wh &&
	test "$(field reason <end)" = unplugged &&
	test "$(field ended <end)" -gt "$t_flood" &&
	sent telemetry type=telemetry cp=CP001 driver=DRIVER001 session=$session >tele &&
	last=$(field seq <tele | sort -n | tail -n 1) &&
	test "$(field seq <end)" = $((last + 1)) &&
	last_wh=$(grep -F "\"seq\":$last," tele | head -n 1 | field wh) &&
	echo "last telemetry: seq $last, $last_wh Wh; supply_end $wh Wh" &&
	test "$last_wh" -le "$wh"
'

test_expect_success 'Central sent one ticket, and progress only from real telemetry' '
	sent auth_response type=ticket session=$session >tickets &&
	test $(wc -l <tickets) = 1 &&
	grep -qF "\"driver\":\"DRIVER001\"" tickets &&
	test "$(field wh <tickets)" = $wh &&
	test "$(field cents <tickets)" = "$(cents $wh 0.35)" &&
	test "$(field reason <tickets)" = unplugged &&
	sent auth_response type=progress session=$session >progress &&
	test -s progress &&
	field seq <progress >seqs && sort -n -c seqs &&
	field wh <progress >whs && sort -n -c whs &&
	test "$(tail -n 1 whs)" -le $wh &&
	field cents <progress >cs &&
	paste -d" " whs cs | awk "{
		n = \$1 * 350000
		if (int((n + 5000000) / 10000000) != \$2) { print; exit 1 }
	}" &&
	paste -d" " seqs whs >seqwh &&
	while read -r s w; do
		grep -qF "\"seq\":$s,\"kw\":360,\"wh\":$w," tele || return 1
	done <seqwh
'

test_expect_success 'no phantom session: CP002 idle and ACTIVE, CP001 back to ACTIVE' '
	sent cp_state type=cp_state cp=CP002 >state2 &&
	! grep -qF "\"state\":\"SUPPLYING\"" state2 &&
	test "$(tail -n 1 state2 | field state)" = ACTIVE &&
	wait_for 10 "sent cp_state type=cp_state cp=CP001 | tail -n 1 | field state | grep -qx ACTIVE" &&
	"$EVC" cp CP002 status >status2 && cat status2 &&
	grep -q "state=idle" status2 &&
	"$EVC" cp CP001 status >status1 && cat status1 &&
	grep -q "state=idle" status1
'

test_expect_success 'both CPs serve new charges after the flood' '
	bg c1 "$EVC" auth --json --wait --kwh 0.3 DRIVER003 CP001 &&
	bg c2 "$EVC" auth --json --wait --timeout 60 --kwh 0.3 DRIVER002 CP002 &&
	bg_wait c1 20 && bg_wait c2 20 &&
	set -- $(ticket_of c1.out) &&
	test "$2 $3 $4 $5" = "300 $(cents 300 0.35) 0.35 finished" &&
	set -- $(ticket_of c2.out) &&
	test "$2 $3 $4 $5" = "300 $(cents 300 0.4) 0.4 finished"
'

test_expect_success 'evc driver list reads cp-state through the flood' '
	echo list | "$EVC" driver D0 >list 2>list.err &&
	cat list &&
	grep -q "^CP001 .*ACTIVE .*0.35 EUR/kWh  Alicante\$" list &&
	grep -q "^CP002 .*ACTIVE .*0.40 EUR/kWh  Madrid\$" list
'

# Replays after the fact: a CP that took an old start for a session it
# has ended, or a Central that granted a request again once the CP is
# free, would charge a driver for a supply nobody asked for.
test_expect_success 'an old start replayed after its session ended starts nothing' '
	grep -F "$session" cap/cp_commands >replay.start &&
	test -s replay.start &&
	kc -P -t "$(topic cp_commands)" -X partitioner=consistent -K "$tab" \
		-l replay.start &&
	sleep 2 &&
	"$EVC" cp CP001 status >status1 && cat status1 &&
	grep -q "state=idle" status1 &&
	test $(sent telemetry type=supply_end session=$session | wc -l) = 1
'

test_expect_success 'a request replayed once its charge is over is not granted again' '
	real auth_request type=auth_request driver=DRIVER002 >req2 &&
	test $(wc -l <req2) = 1 &&
	printf "CP002\t%s\n" "$(cat req2)" >replay.req &&
	kc -P -t "$(topic auth_request)" -X partitioner=consistent -K "$tab" \
		-l replay.req &&
	request=$(field id <req2) &&
	wait_for 10 "real auth_response type=auth_response request=$request >answers && test \$(wc -l <answers) -ge 2" &&
	cat answers &&
	test $(grep -c "\"authorized\":true" answers) = 1 &&
	"$EVC" cp CP002 status >status2 && cat status2 &&
	grep -q "state=idle" status2
'

test_expect_success 'Central counts at least every malformed message it read' '
	alive central && alive cp1 && alive cp2 &&
	bg_kill central &&
	set -- $(stats central.err) &&
	c_received=$1 c_rejected=$2 c_ignored=$3 &&
	c_want=0 &&
	for t in $central_topics; do
		c_want=$((c_want + $(malformed $t)))
	done &&
	echo "Central: rejected $c_rejected, the flood had $c_want malformed" &&
	test "$c_rejected" -ge "$c_want"
'

test_expect_success 'the driver counts at least the malformed messages of its partition' '
	set -- $(stats charge.err) &&
	d_rejected=$2 &&
	d_want=$(malformed auth_response 1) &&
	echo "DRIVER001: rejected $d_rejected, its partition had $d_want malformed" &&
	test "$d_rejected" -ge "$d_want"
'

test_expect_success 'the CPs stop cleanly' '
	cp1_log=$(grep -c "rejected message" cp1.err) &&
	cp2_log=$(grep -c "rejected message" cp2.err) &&
	bg_kill cp1 && bg_kill cp2
'

# The figures, in every run's output.
t_total=$(($(_now_ms) - ${t_start:-$(_now_ms)}))
echo "# flood: ${n_sent:-?} messages (${n_bad:-?} malformed) in $((${t_flood:-0} - ${t0:-0})) ms;" \
	"made in $((${t_made:-0} - ${t_start:-0})) ms after the charge began;" \
	"Central read it in $((${t_read:-0} - ${t_flood:-0})) ms"
echo "# rejected: Central ${c_rejected:-?} (of ${c_want:-?} malformed on its topics; ignored ${c_ignored:-?})," \
	"driver DRIVER001 ${d_rejected:-?} (of ${d_want:-?} in its partition)," \
	"CP001 and CP002 not reported (${cp1_log:-?} and ${cp2_log:-?} rate-limited log lines)"
if [ -s "$TEST_DIR/flood/counts" ]; then
	awk -v order="$topics" '{ n[$1] += $5; if ($3 == "malformed") m[$1] += $5 }
	END {
		k = split(order, t)
		printf "# sent per topic (malformed):"
		for (i = 1; i <= k; i++) printf " %s %d (%d)", t[i], n[t[i]], m[t[i]]
		printf "\n"
	}' "$TEST_DIR/flood/counts"
fi
echo "# charge and checks: $t_total ms"
