#!/usr/bin/env bash
# t1100-cp.sh: the CP (monitor and engine) with kcat playing Central: registration, health, supply, ends, faults, crashes, bad input.
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')

uuid() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
now() { date +%s%3N; }

# put TOPIC KEY JSON: one message on the test's TOPIC.
put()
{
	printf '%s\t%s\n' "$2" "$3" | kc -P -t "$(topic "$1")" -K "$tab"
}

# msgs TOPIC: every message of the test's TOPIC, one per line. It reads
# as many as the topic holds now: -e alone may never see the end of a
# partition the heartbeats keep growing.
msgs()
{
	local t n

	t=$(topic "$1") &&
	n=$(kc -Q -t "$t:0:-1" -t "$t:1:-1" -t "$t:2:-1" 2>/dev/null |
		awk '/offset/ { n += $NF } END { print n + 0 }') &&
	test "$n" -gt 0 &&
	kc -C -t "$t" -o beginning -c "$n" -e -q -f '%s\n' 2>/dev/null
}

# field NAME: the value of field NAME of each message on stdin.
field()
{
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# ack CP [REASON]: Central's register_ack, accepted at 0.35 EUR/kWh or refused.
ack()
{
	if [ -z "${2-}" ]; then
		put cp_register_ack "$1" "{\"v\":1,\"type\":\"register_ack\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$1\",\"accepted\":true,\"reason\":\"none\",\"price\":0.35,\"location\":\"Main St 1\"}"
	else
		put cp_register_ack "$1" "{\"v\":1,\"type\":\"register_ack\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$1\",\"accepted\":false,\"reason\":\"$2\",\"price\":0,\"location\":\"\"}"
	fi
}

# command KEY CP CMD [SESSION DRIVER [TARGET_WH [TARGET_S]]]: Central's
# command to CP, on the partition of KEY (the CP's own, or another's).
command()
{
	local ids=

	[ -n "${4-}" ] && ids=",\"driver\":\"$5\",\"session\":\"$4\""
	[ "$3" = end ] && ids=",\"session\":\"$4\""
	put cp_commands "$1" "{\"v\":1,\"type\":\"command\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"$2\"$ids,\"cmd\":\"$3\",\"target_wh\":${6:-0},\"target_s\":${7:-0},\"price\":0.35}"
}

# start CP DRIVER [TARGET_WH [TARGET_S]]: a start command; its session in $S.
start()
{
	S=$(uuid)
	command "$1" "$1" start "$S" "$2" "${3:-0}" "${4:-0}"
}

# sess SESSION: the telemetry and supply_end of a session, in order.
sess()
{
	msgs telemetry | grep -F "\"session\":\"$1\""
}

ticks() { sess "$1" | grep -F '"type":"telemetry"'; }
ended() { sess "$1" | grep -F '"type":"supply_end"'; }

# wait_end SESSION REASON: waits for the supply_end of SESSION, checks its reason.
wait_end()
{
	wait_for "${3:-10}" "ended $1 | grep -q ." &&
	test "$(ended "$1" | field reason)" = "$2"
}

# last_health CP: engine_ok of the latest heartbeat of CP.
last_health()
{
	msgs health | grep -F "\"cp\":\"$1\"" | tail -n 1 | field engine_ok
}

engine_pid() { pgrep -P "$(bg_pid "$1")"; }

# check_crash_end SESSION: the end an engine restarted after a crash sent
# has the figures of its last telemetry, seq one after it. A telemetry
# the kill caught before Kafka had it is in the end all the same (the
# engine keeps each one before it is delivered): one tick, 20 Wh, more.
check_crash_end()
{
	local last end lseq lwh seq wh

	last=$(ticks "$1" | tail -n 1) && end=$(ended "$1") &&
	lseq=$(echo "$last" | field seq) && lwh=$(echo "$last" | field wh) &&
	seq=$(echo "$end" | field seq) && wh=$(echo "$end" | field wh) &&
	echo "last telemetry seq $lseq wh $lwh; end seq $seq wh $wh" &&
	test "$(echo "$end" | field cents)" = $(((wh * 35 + 500) / 1000)) &&
	{ { test $seq = $((lseq + 1)) && test $wh = $lwh; } ||
	  { test $seq = $((lseq + 2)) && test $wh = $((lwh + 20)); }; }
}

test_expect_success 'evc cp -h prints the usage; the man page SYNOPSIS says the same' '
	"$EVC" cp -h >out &&
	head -n 1 out | grep -q "^usage: evc cp " &&
	sed -n "/^usage:/,/^\$/p" out | sed "/^\$/d; s/^usage: //; s/^ *//" >usage &&
	sed -n "/^\.SH SYNOPSIS/,/^\.SH/p" "$TEST_TOP/man/evc-cp.1" |
		sed "/^\./d; s/\\\\-/-/g" >synopsis &&
	diff usage synopsis
'

test_expect_success 'usage errors exit 2' '
	test_expect_code 2 "$EVC" cp 2>err &&
	grep -q "missing CP_ID" err &&
	test_expect_code 2 "$EVC" cp -n "bad id" 2>err &&
	grep -q "bad CP id" err &&
	test_expect_code 2 "$EVC" cp -n .probe 2>err &&
	grep -q "bad CP id .*not first" err && grep -qF .probe err &&
	test_expect_code 2 "$EVC" cp CP001 explode 2>err &&
	grep -q "unknown action: .explode." err &&
	test_expect_code 2 "$EVC" cp CP001 status extra
'

test_expect_success 'a control command for a CP that does not run here exits 3' '
	test_expect_code 3 "$EVC" cp CP404 status 2>err &&
	grep -q "no such CP runs here: .CP404." err
'

need_kafka
test_config <<EOF
cp:
  power_kw: 360
  default_kwh: 10
EOF

test_expect_success '-n checks the configuration and exits 0' '
	"$EVC" cp -n CP001 &&
	test_expect_code 2 "$EVC" cp -n -l "$(printf "%0200d" 0)" CP001
'

test_expect_success 'the CP registers with its location and retries until acked' '
	bg cp "$EVC" cp -l "Main St 1" CP001 &&
	wait_for 10 "test \$(msgs cp_register | grep -c \"\\\"cp\\\":\\\"CP001\\\"\") -ge 2" &&
	msgs cp_register | grep -F "\"cp\":\"CP001\"" | head -n 1 >reg &&
	grep -qF "\"location\":\"Main St 1\"" reg &&
	grep -qF "\"engine_ok\":true" reg &&
	ack CP001 &&
	wait_for 10 "grep -q \"registered as .CP001.\" cp.err" &&
	"$EVC" cp CP001 status >st &&
	grep -q "state=idle engine=ok registered=yes" st
'

test_expect_success 'the monitor sends heartbeats with engine_ok true' '
	wait_for 5 "test \$(msgs health | grep -F \"\\\"cp\\\":\\\"CP001\\\"\" | grep -c engine_ok.:true) -ge 3" &&
	msgs health | grep -F "\"cp\":\"CP001\"" | field seq >seqs &&
	test "$(head -n 1 seqs)" = 0 &&
	sort -n -c seqs
'

test_expect_success 'a second monitor for the same CP refuses to start' '
	test_expect_code 1 "$EVC" cp CP001 2>err &&
	grep -q "already running here: .CP001." err
'

test_expect_success 'a start supplies: telemetry every tick, then the target ends it' '
	start CP001 D1 100 &&
	wait_end $S finished &&
	ticks $S >t &&
	test "$(field seq <t | tr "\n" " ")" = "$(seq -s " " 0 $(($(wc -l <t) - 1))) " &&
	test "$(head -n 1 t | field wh)" = 0 &&
	field wh <t | sort -n -c -u &&
	! grep -v "\"driver\":\"D1\"" t &&
	paste -d " " <(field wh <t) <(field cents <t) |
		awk "{ if (\$2 != int((\$1 * 35 + 500) / 1000)) exit 1 }" &&
	ended $S >e &&
	test "$(field wh <e)" = 100 &&
	test "$(field cents <e)" = 4 &&
	test "$(field price <e)" = 0.35 &&
	test "$(field seq <e)" = "$(wc -l <t)"
'

test_expect_success 'a target in seconds ends the supply after that time' '
	start CP001 D1 0 1 &&
	wait_end $S finished &&
	ended $S >e &&
	test "$(field wh <e)" = 100 &&
	test $(( $(field ended <e) - $(field started <e) )) -ge 1000
'

test_expect_success 'unplug ends the supply in progress (unplugged); idle, it is refused' '
	start CP001 D2 &&
	wait_for 10 "ticks $S | grep -q seq.:2," &&
	"$EVC" cp CP001 unplug >out &&
	grep -q unplugged out &&
	wait_end $S unplugged &&
	last=$(ticks $S | tail -n 1) &&
	test "$(ended $S | field wh)" -ge "$(echo "$last" | field wh)" &&
	test "$(ended $S | field seq)" = $(( $(echo "$last" | field seq) + 1 )) &&
	test_expect_code 1 "$EVC" cp CP001 unplug 2>err &&
	grep -q "cannot unplug: no car is plugged in: .CP001." err
'

test_expect_success 'the state file goes once the supply has ended' '
	test ! -e "$XDG_STATE_HOME/evc/CP001.session"
'

test_expect_success 'a fault ends the supply (broken) and the heartbeats say KO' '
	start CP001 D3 &&
	wait_for 10 "ticks $S | grep -q seq.:1," &&
	"$EVC" cp CP001 fault >out &&
	wait_end $S broken &&
	wait_for 5 "test \"\$(last_health CP001)\" = false" &&
	"$EVC" cp CP001 status | grep -q "state=faulted engine=ko"
'

test_expect_success 'a faulted CP refuses a start at once (broken, nothing supplied)' '
	start CP001 D4 &&
	wait_end $S broken &&
	test "$(ended $S | field wh)" = 0 &&
	! ticks $S
'

test_expect_success 'recover: the heartbeats say OK again and supply works' '
	"$EVC" cp CP001 recover >out &&
	grep -q recovered out &&
	wait_for 5 "test \"\$(last_health CP001)\" = true" &&
	start CP001 D5 40 &&
	wait_end $S finished
'

test_expect_success 'SIGUSR1 makes the engine fail, SIGUSR2 recovers it' '
	kill -USR1 "$(bg_pid cp)" &&
	wait_for 5 "test \"\$(last_health CP001)\" = false" &&
	kill -USR2 "$(bg_pid cp)" &&
	wait_for 5 "test \"\$(last_health CP001)\" = true"
'

test_expect_success 'Central stops the CP (stopped), it refuses starts until resumed' '
	start CP001 D6 &&
	wait_for 10 "ticks $S | grep -q seq.:1," &&
	command CP001 CP001 stop &&
	wait_end $S stopped &&
	"$EVC" cp CP001 status | grep -q state=stopped &&
	start CP001 D6 &&
	wait_end $S stopped &&
	command CP001 CP001 resume &&
	wait_for 5 "\"$EVC\" cp CP001 status | grep -q state=idle" &&
	start CP001 D6 40 &&
	wait_end $S finished
'

test_expect_success 'Central ends the session the driver cancelled (cancelled)' '
	start CP001 D7 &&
	wait_for 10 "ticks $S | grep -q seq.:1," &&
	command CP001 CP001 end "$(uuid)" &&
	sleep 0.5 &&
	! ended $S &&
	command CP001 CP001 end $S &&
	wait_end $S cancelled
'

test_expect_success 'commands for another CP on the same partition are ignored and logged' '
	other=$(uuid) &&
	command CP001 CP002 start $other D8 40 &&
	start CP001 D8 40 &&
	wait_end $S finished &&
	! sess $other &&
	grep -q "ignoring command for another CP: .CP002." cp.err
'

test_expect_success 'malformed messages on cp-commands are counted, logged and skipped' '
	put cp_commands CP001 "not json" &&
	put cp_commands CP001 "{\"v\":1,\"type\":\"command\"}" &&
	printf "CP001\t\001\002\377\376\n" | kc -P -t "$(topic cp_commands)" -K "$tab" &&
	put cp_commands CP001 "{\"v\":1,\"type\":\"command\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"CP001\",\"cmd\":\"start\",\"target_wh\":0,\"target_s\":0,\"price\":0.35,\"extra\":1}" &&
	start CP001 D9 40 &&
	wait_end $S finished &&
	test $(grep -c "rejected message" cp.err) -ge 3 &&
	kill -0 "$(bg_pid cp)"
'

test_expect_success 'an engine killed mid-supply is restarted and reports the end (broken)' '
	start CP001 D10 &&
	wait_for 10 "ticks $S | grep -q seq.:3," &&
	old=$(engine_pid cp) &&
	kill -KILL $old &&
	wait_end $S broken &&
	check_crash_end $S &&
	grep -q "engine killed by signal 9" cp.err &&
	wait_for 5 "new=\$(engine_pid cp) && test -n \"\$new\" && test \$new != $old" &&
	wait_for 5 "test ! -e \"$XDG_STATE_HOME/evc/CP001.session\""
'

test_expect_success 'the restarted engine registers again and supplies' '
	ack CP001 &&
	wait_for 10 "\"$EVC\" cp CP001 status | grep -q registered=yes" &&
	wait_for 5 "test \"\$(last_health CP001)\" = true" &&
	start CP001 D11 40 &&
	wait_end $S finished
'

test_expect_success 'SIGTERM stops monitor and engine (exit 0), the supply ends (disconnected)' '
	start CP001 D12 &&
	wait_for 10 "ticks $S | grep -q seq.:1," &&
	eng=$(engine_pid cp) &&
	bg_kill cp TERM &&
	wait_end $S disconnected &&
	! kill -0 $eng 2>/dev/null &&
	test ! -e "$XDG_RUNTIME_DIR/evc/cp-CP001.sock"
'

test_expect_success 'a monitor killed mid-supply takes its engine along (disconnected)' '
	bg cp2 "$EVC" cp CP002 &&
	wait_for 10 "msgs cp_register | grep -qF \"\\\"cp\\\":\\\"CP002\\\"\"" &&
	ack CP002 &&
	start CP002 D13 &&
	wait_for 10 "ticks $S | grep -q seq.:1," &&
	eng=$(engine_pid cp2) &&
	bg_kill cp2 KILL
	wait_end $S disconnected &&
	wait_for 5 "! kill -0 $eng 2>/dev/null"
'

test_expect_success 'a monitor starts again over the socket a killed one left' '
	test -S "$XDG_RUNTIME_DIR/evc/cp-CP002.sock" &&
	bg cp2b "$EVC" cp CP002 &&
	wait_for 10 "\"$EVC\" cp CP002 status | grep -q state=" &&
	bg_kill cp2b
'

test_expect_success 'a refused registration ends the CP with status 1' '
	bg cp3 "$EVC" cp CP003 &&
	wait_for 10 "msgs cp_register | grep -qF \"\\\"cp\\\":\\\"CP003\\\"\"" &&
	ack CP003 unknown_cp &&
	test_expect_code 1 bg_wait cp3 10 &&
	grep -q "registration refused" cp3.err
'

# keyboard: the CP on a terminal (script(1) makes one), its keys from the
# FIFO keys.
keyboard()
{
	exec script -qfec "\"$EVC\" cp CP005" /dev/null <keys
}

if command -v script >/dev/null; then
	test_expect_success 'on a terminal, keys f, r, u and q fault, recover, unplug and quit' '
		mkfifo keys &&
		bg tty keyboard &&
		exec 9>keys &&
		wait_for 10 "\"$EVC\" cp CP005 status | grep -q engine=ok" &&
		printf f >&9 &&
		wait_for 5 "test \"\$(last_health CP005)\" = false" &&
		"$EVC" cp CP005 status | grep -q state=faulted &&
		printf r >&9 &&
		wait_for 5 "test \"\$(last_health CP005)\" = true" &&
		printf u >&9 &&
		wait_for 5 "grep -q \"no car is plugged in\" tty.out" &&
		grep -q "\[u\]nplug \[f\]ault \[r\]ecover \[q\]uit" tty.out &&
		printf q >&9 &&
		bg_wait tty 15 &&
		exec 9>&- &&
		grep -q "evc cp: stopped" tty.out
	'
else
	test_skip 'on a terminal, keys f, r, u and q fault, recover, unplug and quit' 'no script(1)'
fi

test_expect_success 'a CP without Kafka says so and keeps trying; SIGTERM exits 0' '
	bg cp4 "$EVC" cp -b 127.0.0.1:9 CP004 &&
	wait_for 20 "grep -q \"cannot reach Kafka at .127.0.0.1:9.\" cp4.err" &&
	kill -0 "$(bg_pid cp4)" &&
	bg_kill cp4
'
