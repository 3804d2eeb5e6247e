#!/usr/bin/env bash
# t1000-central.sh: Central against hand-made messages: registration, health, authorisation, supply, tickets, stop/resume, bad input.
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')

uuid() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
now() { date +%s%3N; }

# put TOPIC KEY JSON: one message on the test's TOPIC.
put()
{
	printf '%s\t%s\n' "$2" "$3" | kc -P -t "$(topic "$1")" -K "$tab"
}

# msgs TOPIC: every message of the test's TOPIC, one per line.
msgs()
{
	kc -C -t "$(topic "$1")" -o beginning -e -q -f '%s\n' 2>/dev/null
}

# An ERE for KEY=VALUE: a number or boolean as it is, anything else quoted.
_pat()
{
	local k=${1%%=*} v=${1#*=}

	case $v in
	true | false) printf '"%s":%s[,}]' "$k" "$v" ;;
	'' | *[!0-9.]*) printf '"%s":"%s"' "$k" "$v" ;;
	*) printf '"%s":%s[,}]' "$k" "$v" ;;
	esac
}

# has TOPIC KEY=VALUE...: prints the messages of TOPIC with all those
# fields; fails when there is none.
has()
{
	local t=$1 f=$TEST_DIR/.has p

	shift
	msgs "$t" >"$f"
	for p in "$@"; do
		grep -E -- "$(_pat "$p")" "$f" >"$f.1" || return 1
		mv "$f.1" "$f"
	done
	cat "$f"
}

# count TOPIC KEY=VALUE...: how many messages of TOPIC have those fields.
count()
{
	local n

	n=$(has "$@" | wc -l)
	echo $((n))
}

# field NAME: the value of field NAME of the first message on stdin.
field()
{
	head -n 1 | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# state CP: the last state Central published for CP.
state()
{
	msgs cp_state | grep -F "\"cp\":\"$1\"" | tail -n 1 | field state
}

wait_state()
{
	wait_for "${3:-10}" "test \"\$(state $1)\" = $2"
}

reg()
{
	put cp_register "$1" "{\"v\":1,\"type\":\"register\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$1\",\"location\":\"${3-}\",\"engine_ok\":${2:-true}}"
}

# beat OK CP...: one heartbeat from each CP, its engine OK or not.
beat()
{
	local ok=$1 cp

	shift
	for cp; do
		printf '%s\t{"v":1,"type":"health","id":"%s","ts":%s,"cp":"%s","engine_ok":%s,"seq":1}\n' \
			"$cp" "$(uuid)" "$(now)" "$cp" "$ok"
	done | kc -P -t "$(topic health)" -K "$tab"
}

# beats OK CP...: a monitor for each CP, every 0.3 s (run with bg).
beats()
{
	while :; do
		beat "$@"
		sleep 0.3
	done
}

# ask CP DRIVER [TS] [TIMEOUT_MS]: an auth_request; its id goes in $req.
ask()
{
	req=$(uuid)
	put auth_request "$1" "{\"v\":1,\"type\":\"auth_request\",\"id\":\"$req\",\"ts\":${3:-$(now)},\"cp\":\"$1\",\"driver\":\"$2\",\"target_wh\":10000,\"target_s\":0,\"timeout_ms\":${4:-0},\"cancel\":false}"
}

# cancel CP DRIVER SESSION: the driver ends its charge; the id in $req.
cancel()
{
	req=$(uuid)
	put auth_request "$1" "{\"v\":1,\"type\":\"auth_request\",\"id\":\"$req\",\"ts\":$(now),\"cp\":\"$1\",\"driver\":\"$2\",\"session\":\"$3\",\"target_wh\":0,\"target_s\":0,\"timeout_ms\":0,\"cancel\":true}"
}

# answer REQ: waits for Central's auth_response to REQ, leaves it in answer.
answer()
{
	wait_for 10 "has auth_response request=$1 >answer && test -s answer"
}

# denied REQ REASON: Central refused REQ for REASON.
denied()
{
	answer "$1" && grep -qE "$(_pat authorized=false)" answer &&
		grep -qE "$(_pat reason="$2")" answer
}

# granted REQ: Central authorised REQ; the session goes in $sess.
granted()
{
	answer "$1" && grep -qE "$(_pat authorized=true)" answer &&
		sess=$(field session <answer) && test ${#sess} = 32
}

tele()
{
	put telemetry "$1" "{\"v\":1,\"type\":\"telemetry\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$1\",\"session\":\"$2\",\"seq\":$3,\"kw\":22,\"wh\":$4,\"cents\":0}"
}

# fin CP SESSION SEQ WH REASON: the CP's supply_end (with wrong cents).
fin()
{
	put telemetry "$1" "{\"v\":1,\"type\":\"supply_end\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$1\",\"session\":\"$2\",\"seq\":$3,\"wh\":$4,\"cents\":1,\"price\":9,\"started\":$(($(now) - 60000)),\"ended\":$(now),\"reason\":\"$5\"}"
}

# quiet_kill NAME: stops a background helper, whatever its status.
quiet_kill()
{
	bg_kill "$1" >/dev/null 2>&1
	return 0
}

start_central()
{
	bg "$1" "$EVC" central &&
		wait_for 30 "grep -q \"ready: \" $1.err"
}

# --- without Kafka ----------------------------------------------------------

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
  - {id: CP003, location: Valencia, price: 0.30}
  - {id: CP004, location: Elche, price: 0.25}
  - {id: CP005, location: Elda, price: 0.50, power_kw: 22}
EOF

test_expect_success 'usage text is the SYNOPSIS of evc-central(1)' '
	"$EVC" central -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-central.1" |
		grep "^evc central" >synopsis &&
	cmp usage synopsis
'

test_expect_success '-n accepts a good configuration and catalogue, silently' '
	printf "central:\n  catalogue: cps.yaml\n" >good.yaml &&
	"$EVC" central -n -c good.yaml >out 2>err &&
	test ! -s out && test ! -s err
'

test_expect_success '-n rejects an unknown key with FILE:LINE and status 2' '
	printf "central:\n  catalogue: cps.yaml\n  colour: red\n" >bad.yaml &&
	test_expect_code 2 "$EVC" central -n -c bad.yaml 2>err &&
	grep -q "bad.yaml:3" err
'

test_expect_success '-n rejects a catalogue with a duplicate id, with its FILE:LINE' '
	{ cat cps.yaml && echo "  - {id: CP002, location: Again, price: 1}"; } >dup.yaml &&
	printf "central:\n  catalogue: dup.yaml\n" >dupconf.yaml &&
	test_expect_code 2 "$EVC" central -n -c dupconf.yaml 2>err &&
	grep -q "dup.yaml:7" err && grep -q CP002 err
'

test_expect_success 'bad words and ids after the options are usage errors' '
	test_expect_code 2 "$EVC" central -c good.yaml stop 2>err &&
	test_expect_code 2 "$EVC" central -c good.yaml pause CP001 2>err &&
	grep -q pause err &&
	test_expect_code 2 "$EVC" central -c good.yaml stop "C P" 2>err &&
	test_expect_code 2 "$EVC" central -n -c good.yaml stop CP001 2>err &&
	test_expect_code 2 "$EVC" central --frobnicate 2>err
'

test_expect_success 'stop without Kafka exits 3 naming the address' '
	test_expect_code 3 "$EVC" central -c good.yaml -b 127.0.0.1:9 stop CP001 2>err &&
	grep -qF "cannot reach Kafka at '\''127.0.0.1:9'\''" err
'

test_expect_success 'Central without Kafka says so, keeps trying, stops on SIGTERM with 0' '
	bg lonely "$EVC" central -c good.yaml -b 127.0.0.1:9 &&
	wait_for 15 "grep -qF \"cannot reach Kafka at \" lonely.err" &&
	grep -qF "127.0.0.1:9" lonely.err &&
	kill -0 "$(bg_pid lonely)" &&
	bg_kill lonely
'

# --- against Kafka -----------------------------------------------------------

need_kafka
# The hand-made figures below come far faster than a CP could measure
# them: CPs without a power_kw in the catalogue may report up to 100 MW.
# CP005, rated 22 kW, is the one whose figures are held to its power.
test_config <<-EOF
	central:
	  catalogue: cps.yaml
	  group: central-$TEST_NAME-$$
	  health_timeout_ms: 5000
	  max_power_kw: 100000
EOF
conf=$EVC_CONFIG

test_expect_success 'Central starts, and shows every catalogue CP DISCONNECTED' '
	start_central central &&
	for cp in CP001 CP002 CP003 CP004; do
		wait_state $cp DISCONNECTED || return 1
	done
'

test_expect_success 'a catalogue CP registers: accepted with the catalogue price and location' '
	reg CP001 true "Somewhere else" &&
	wait_for 10 "has cp_register_ack cp=CP001 >ack" &&
	grep -qE "$(_pat accepted=true)" ack &&
	grep -qE "$(_pat price=0.35)" ack &&
	grep -qE "$(_pat location=Alicante)" ack &&
	wait_state CP001 ACTIVE &&
	grep -q "CP001 registered (Alicante, 0.35 EUR/kWh)" central.err &&
	grep -q "CP001 ACTIVE" central.err
'

test_expect_success 'a CP missing from the catalogue is refused with a reason' '
	reg CP999 &&
	wait_for 10 "has cp_register_ack cp=CP999 >ack" &&
	grep -qE "$(_pat accepted=false)" ack &&
	grep -qE "$(_pat reason=unknown_cp)" ack &&
	grep -q "CP999 refused" central.err
'

test_expect_success 'heartbeats keep CPs connected and register them implicitly' '
	bg beats beats true CP001 CP002 &&
	bg broken beats false CP004 &&
	wait_state CP002 ACTIVE &&
	wait_state CP004 BROKEN &&
	grep -q "CP002 registered by its heartbeat" central.err
'

test_expect_success 'an authorisation sends start to the CP and the session to the driver' '
	ask CP001 DRIVER1 &&
	granted $req &&
	grep -qE "$(_pat price=0.35)" answer &&
	wait_for 10 "has cp_commands cmd=start session=$sess driver=DRIVER1 price=0.35 target_wh=10000" &&
	wait_state CP001 SUPPLYING &&
	grep -q "DRIVER1 authorised at CP001, session ${sess:0:8}" central.err &&
	tele CP001 $sess 0 0
'
sess1=$sess

test_expect_success 'the CP supplying is busy for another driver' '
	ask CP001 DRIVER2 && denied $req busy &&
	grep -q "DRIVER2 denied at CP001: busy" central.err
'

test_expect_success 'a driver with a charge in progress is refused elsewhere' '
	ask CP002 DRIVER1 && denied $req driver_busy
'

test_expect_success 'a CP never heard from is disconnected' '
	ask CP003 DRIVER3 && denied $req disconnected
'

test_expect_success 'a CP Central does not know is unknown' '
	ask CP777 DRIVER3 && denied $req unknown_cp
'

test_expect_success 'a broken CP is refused as broken' '
	ask CP004 DRIVER3 && denied $req broken
'

test_expect_success 'a request older than its timeout is expired' '
	ask CP002 DRIVER3 $(($(now) - 20000)) 5000 && denied $req expired
'

test_expect_success 'telemetry is forwarded as progress, costed at Central price' '
	tele CP001 $sess1 1 700 &&
	tele CP001 $sess1 2 1834 &&
	wait_for 10 "has auth_response type=progress session=$sess1 seq=2 wh=1834 cents=64" &&
	has auth_response type=progress session=$sess1 seq=1 wh=700 cents=25 &&
	has auth_response type=notice session=$sess1 state=SUPPLYING &&
	wait_for 10 "msgs cp_state | grep -F CP001 | tail -n 1 | grep -qF 1834"
'

test_expect_success 'stale telemetry, and telemetry of a wrong session or CP, is ignored' '
	tele CP001 $sess1 1 999 &&
	tele CP001 $(uuid) 5 999 &&
	tele CP002 $sess1 6 999 &&
	tele CP001 $sess1 3 2000 &&
	wait_for 10 "has auth_response type=progress session=$sess1 seq=3" &&
	test $(count auth_response type=progress wh=999) = 0 &&
	grep -q "stale seq 1" central.err
'

test_expect_success 'telemetry read in a burst reaches the driver as its newest figures' '
	for i in $(seq 10 29); do
		printf "%s\t%s\n" CP001 "{\"v\":1,\"type\":\"telemetry\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"CP001\",\"session\":\"$sess1\",\"seq\":$i,\"kw\":22,\"wh\":$((2000 + i * 100)),\"cents\":0}"
	done | kc -P -t "$(topic telemetry)" -K "$tab" &&
	wait_for 10 "has auth_response type=progress session=$sess1 seq=29 wh=4900 cents=172" &&
	n=$(has auth_response type=progress session=$sess1 | grep -cE "\"seq\":(1[0-9]|2[0-9])," ) &&
	test "$n" -ge 1 && test "$n" -lt 20
'

test_expect_success 'supply_end gives the driver a ticket with Central cents' '
	fin CP001 $sess1 4 10000 finished &&
	wait_for 10 "has auth_response type=ticket session=$sess1 >ticket" &&
	has auth_response type=ticket session=$sess1 driver=DRIVER1 wh=10000 cents=350 price=0.35 reason=finished &&
	grep -qE "\"started\":[1-9][0-9]*,\"ended\":[1-9]" ticket &&
	wait_state CP001 ACTIVE &&
	grep -q "CP001 ticket 10.0 kWh 3.50 EUR (finished)" central.err
'

test_expect_success 'a late supply_end leaves the CP alone; a cancel sends end' '
	fin CP001 $sess1 5 20000 finished &&
	ask CP001 DRIVER2 && granted $req && sess2=$sess &&
	cancel CP001 DRIVER2 $(uuid) && denied $req bad_request &&
	cancel CP001 DRIVER2 $sess2 &&
	wait_for 10 "has cp_commands cmd=end session=$sess2" &&
	fin CP001 $sess2 0 0 cancelled &&
	wait_for 10 "has auth_response type=ticket session=$sess2 reason=cancelled" &&
	test $(count auth_response type=ticket session=$sess1) = 1 &&
	wait_state CP001 ACTIVE
'

test_expect_success 'evc central stop puts a CP out of order, resume brings it back' '
	"$EVC" central stop CP002 &&
	wait_for 10 "has cp_commands cp=CP002 cmd=stop" &&
	wait_state CP002 STOPPED &&
	grep -q "CP002 STOPPED (Out of Order)" central.err &&
	ask CP002 DRIVER3 && denied $req out_of_order &&
	"$EVC" central resume CP002 &&
	wait_for 10 "has cp_commands cp=CP002 cmd=resume" &&
	wait_state CP002 ACTIVE
'

test_expect_success 'stopping a CP that supplies: notice, stop, and the ticket follows' '
	ask CP002 DRIVER4 && granted $req &&
	tele CP002 $sess 0 0 && tele CP002 $sess 1 500 &&
	wait_for 10 "has auth_response type=progress session=$sess seq=1" &&
	"$EVC" central stop all &&
	wait_for 10 "has cp_commands cp=CP002 cmd=stop" &&
	wait_for 10 "has auth_response type=notice session=$sess state=STOPPED" &&
	fin CP002 $sess 2 600 stopped &&
	wait_for 10 "has auth_response type=ticket session=$sess reason=stopped wh=600 cents=24" &&
	wait_state CP002 STOPPED && wait_state CP001 STOPPED &&
	"$EVC" central resume all &&
	wait_state CP002 ACTIVE && wait_state CP001 ACTIVE
'

test_expect_success 'a stopped CP that sends no supply_end is closed by Central' '
	ask CP002 DRIVER5 && granted $req &&
	tele CP002 $sess 0 0 && tele CP002 $sess 1 300 &&
	wait_for 10 "has auth_response type=progress session=$sess seq=1" &&
	"$EVC" central stop CP002 &&
	wait_for 10 "has auth_response type=ticket session=$sess reason=stopped wh=300" &&
	"$EVC" central resume CP002 && wait_state CP002 ACTIVE
'

test_expect_success 'a CP that breaks while supplying: BROKEN, notice, ticket' '
	ask CP001 DRIVER6 && granted $req &&
	tele CP001 $sess 0 0 && tele CP001 $sess 1 100 &&
	wait_for 10 "has auth_response type=progress session=$sess seq=1" &&
	quiet_kill beats && bg beats beats true CP002 &&
	bg broken1 beats false CP001 &&
	wait_state CP001 BROKEN &&
	wait_for 10 "has auth_response type=notice session=$sess state=BROKEN" &&
	fin CP001 $sess 2 150 broken &&
	wait_for 10 "has auth_response type=ticket session=$sess reason=broken wh=150" &&
	quiet_kill broken1 && bg beats1 beats true CP001 &&
	wait_state CP001 ACTIVE
'

test_expect_success 'heartbeats that stop: DISCONNECTED, and the session ends' '
	ask CP002 DRIVER7 && granted $req &&
	tele CP002 $sess 0 0 && tele CP002 $sess 1 400 &&
	wait_for 10 "has auth_response type=progress session=$sess seq=1" &&
	quiet_kill beats &&
	wait_state CP002 DISCONNECTED &&
	wait_for 10 "has auth_response type=ticket session=$sess reason=disconnected wh=400 cents=16" &&
	has auth_response type=notice session=$sess state=DISCONNECTED &&
	has cp_commands cmd=end session=$sess &&
	ask CP002 DRIVER7 && denied $req disconnected
'

test_expect_success 'malformed messages are counted and skipped' '
	put cp_register CP001 "garbage" &&
	put health CP001 "{\"v\":1}" &&
	put telemetry CP001 "[1,2,3]" &&
	put auth_request CP001 "" &&
	put control CP001 "{\"v\":2,\"type\":\"control\"}" &&
	put health CP001 "{\"v\":1,\"type\":\"register\",\"id\":\"$(uuid)\",\"ts\":1,\"cp\":\"CP001\",\"location\":\"\",\"engine_ok\":true}" &&
	put health CP001 "{\"v\":1,\"type\":\"health\",\"id\":\"$(uuid)\",\"ts\":1,\"cp\":\"CP001\",\"engine_ok\":true,\"seq\":1,\"colour\":1}" &&
	put telemetry CP001 "$(head -c 300 /dev/urandom | tr -d "\n\t\0")" &&
	put telemetry CP001 "$(head -c 70000 /dev/zero | tr "\0" x)" &&
	wait_for 10 "test \$(grep -c \"rejected message\" central.err) -ge 5" &&
	ask CP001 DRIVER8 && granted $req &&
	fin CP001 $sess 0 0 unplugged &&
	wait_for 10 "has auth_response type=ticket session=$sess"
'

test_expect_success 'messages about unknown CPs change nothing' '
	tele CP555 $(uuid) 0 0 &&
	beat true CP556 &&
	ask CP001 DRIVER8 && granted $req &&
	fin CP001 $sess 0 0 unplugged &&
	wait_for 10 "has auth_response type=ticket session=$sess" &&
	! has cp_state cp=CP555 && ! has cp_state cp=CP556
'

test_expect_success 'a forged supply_end of 999 kWh after 4 s at 22 kW bills only what was verified' '
	bg beats5 beats true CP005 &&
	reg CP005 && wait_state CP005 ACTIVE &&
	ask CP005 DRIVER10 && granted $req &&
	tele CP005 $sess 0 0 && sleep 4 && tele CP005 $sess 1 24 &&
	wait_for 10 "has auth_response type=progress session=$sess seq=1 wh=24" &&
	fin CP005 $sess 2 999000 finished &&
	wait_for 10 "has auth_response type=ticket session=$sess >ticket" &&
	has auth_response type=ticket session=$sess wh=24 cents=1 reason=finished &&
	has auth_response type=notice session=$sess state=BROKEN &&
	wait_state CP005 BROKEN &&
	grep -qE "refused supply_end from .CP005.*999.0 kWh in [0-9]+s is more than 22.0 kW can deliver" central.err
'

test_expect_success 'the CP registers again: its meter fault is cleared' '
	reg CP005 && wait_state CP005 ACTIVE
'

test_expect_success 'energy that goes backwards is refused and the figures stay' '
	ask CP005 DRIVER10 && granted $req &&
	sleep 2 && tele CP005 $sess 0 10 && tele CP005 $sess 1 5 &&
	fin CP005 $sess 2 11 unplugged &&
	wait_for 10 "has auth_response type=ticket session=$sess wh=11" &&
	! has auth_response type=progress session=$sess wh=5 &&
	grep -q "refused telemetry from .CP005.*energy went back from 0.01 to 0.005 kWh" central.err &&
	wait_state CP005 ACTIVE &&
	quiet_kill beats5
'

test_expect_success 'after a restart Central keeps its sessions and stopped CPs' '
	ask CP001 DRIVER9 && granted $req &&
	tele CP001 $sess 0 0 && tele CP001 $sess 1 800 &&
	wait_for 10 "has auth_response type=progress session=$sess seq=1" &&
	bg beats3 beats true CP003 && wait_state CP003 ACTIVE &&
	"$EVC" central stop CP003 && wait_state CP003 STOPPED &&
	bg_kill central &&
	grep -q "stats: received [1-9][0-9]*, rejected [1-9][0-9]*, ignored [1-9][0-9]*, sent [1-9][0-9]*, failed 0, implausible 2" central.err &&
	fin CP001 $sess 2 900 unplugged &&
	start_central central2 &&
	wait_for 10 "has auth_response type=ticket session=$sess reason=unplugged wh=900" &&
	wait_state CP003 STOPPED &&
	ask CP003 DRIVER9 && denied $req out_of_order
'

test_expect_success 'SIGTERM: a stats line and status 0' '
	bg_kill central2 &&
	grep -q "stats: received [0-9]*, rejected [0-9]*, ignored [0-9]*" central2.err
'

if command -v script >/dev/null; then
	test_expect_success 'on a terminal: a panel in colour; q quits with 0' '
		{ sleep 6; printf q; } |
			TERM=xterm script -qfec "stty cols 120 rows 30; $EVC central" panel.out >/dev/null 2>&1 &&
		grep -qF "$(printf "\033[32mCP001")" panel.out &&
		grep -qF "$(printf "\033[90mCP002")" panel.out &&
		grep -qF "$(printf "\033[31mCP004")" panel.out &&
		grep -q "Out of Order" panel.out &&
		grep -q "stats: received" panel.out
	'

	test_expect_success 'NO_COLOR: the panel has no colours' '
		{ sleep 4; printf q; } |
			NO_COLOR=1 TERM=xterm script -qfec "stty cols 120 rows 30; $EVC central" plain.out >/dev/null 2>&1 &&
		grep -q "CP001 .*ACTIVE" plain.out &&
		! grep -qF "$(printf "\033[3")" plain.out &&
		! grep -qF "$(printf "\033[9")" plain.out
	'
else
	test_skip 'on a terminal: a panel in colour; q quits with 0' 'no script(1)'
	test_skip 'NO_COLOR: the panel has no colours' 'no script(1)'
fi

# --- unknown CPs allowed --------------------------------------------------------

test_config unknown <<-EOF
	central:
	  allow_unknown: true
	  default_price: 0.5
	  default_location: Nowhere
	  group: central-$TEST_NAME-$$-unknown
EOF

test_expect_success 'allow_unknown: a CP outside the catalogue gets the default price' '
	start_central central3 &&
	reg NEW1 &&
	wait_for 10 "has cp_register_ack cp=NEW1 accepted=true price=0.5 location=Nowhere" &&
	reg NEW2 true "Plaza Mayor" &&
	wait_for 10 "has cp_register_ack cp=NEW2 accepted=true price=0.5 >ack" &&
	grep -q "Plaza Mayor" ack &&
	wait_for 10 "has cp_state cp=NEW1 state=ACTIVE" &&
	beat true NEW3 &&
	wait_for 10 "has cp_state cp=NEW3 state=ACTIVE" &&
	bg_kill central3
'

# A backlog larger than a small fetch queue (64 KiB): librdkafka 2.0 stops
# fetching when the queue is full and would look again up to a second
# later; Central wakes the leaders as soon as it has emptied the queue.
test_expect_success 'a backlog larger than the fetch queue: leaders woken, all of it read' '
	bg central4 "$EVC" central -v -X queued.max.messages.kbytes=64 &&
	wait_for 30 "grep -q \"ready: \" central4.err" &&
	pid=$(bg_pid central4) && kill -STOP "$pid" &&
	awk -v ts="$(now)" "BEGIN { for (i = 1; i <= 4000; i++)
		printf \"BACKLOG\t{\\\"v\\\":1,\\\"type\\\":\\\"health\\\",\\\"id\\\":\\\"%032x\\\",\\\"ts\\\":%d,\\\"cp\\\":\\\"BACKLOG\\\",\\\"engine_ok\\\":true,\\\"seq\\\":%d}\n\", i, ts + i, i }" |
		kc -P -t "$(topic health)" -K "$tab" &&
	kill -CONT "$pid" &&
	wait_for 20 "test \$(grep -c \"health from .BACKLOG.\" central4.err) -ge 4000" &&
	grep -q "fetch queue empty after [0-9]* messages: waking the leaders" central4.err &&
	bg_kill central4
'
