#!/usr/bin/env bash
# t1200-driver.sh: evc driver: --file services and summary, prompt commands, a restarted driver's missed session.
. "$(dirname "$0")/lib.sh"

test_expect_success 'usage text is the SYNOPSIS of evc-driver(1)' '
	"$EVC" driver -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-driver.1" |
		grep "^evc driver" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'no driver id: usage error (2)' '
	test_expect_code 2 "$EVC" driver >out 2>err &&
	test ! -s out &&
	grep -q "expected one driver id" err
'

test_expect_success 'a bad driver id is a usage error naming it' '
	test_expect_code 2 "$EVC" driver -b 127.0.0.1:1 "D:1" 2>err &&
	grep -qF "evc driver: bad driver id: '\''D:1'\''" err
'

test_expect_success '--file: a missing file is a usage error naming it' '
	test_expect_code 2 "$EVC" driver -b 127.0.0.1:1 -f nosuch D1 2>err &&
	grep -qF "cannot read '\''nosuch'\''" err
'

test_expect_success '--file: a bad CP id is reported with its line, before any request' '
	printf "CP001\n\nCP 002 x\n" >route &&
	test_expect_code 2 "$EVC" driver -b 127.0.0.1:1 -f route D1 2>err &&
	grep -qF "route:3: expected a CP id and maybe kWh" err &&
	printf "CP001\nCP/2\n" >route &&
	test_expect_code 2 "$EVC" driver -b 127.0.0.1:1 -f route D1 2>err &&
	grep -qF "route:2: bad CP id: '\''CP/2'\''" err
'

test_expect_success '--file: a file of comments only is a usage error' '
	printf "# nothing\n\n" >route &&
	test_expect_code 2 "$EVC" driver -b 127.0.0.1:1 -f route D1 2>err &&
	grep -qF "no CP ids in '\''route'\''" err
'

test_expect_success 'an unreachable Kafka: exit 3 naming it' '
	printf "CP001\n" >route &&
	test_expect_code 3 "$EVC" driver -b 127.0.0.1:1 -t 1 -f route D1 2>err &&
	grep -qF "cannot reach Kafka at '\''127.0.0.1:1'\''" err
'

need_kafka
test_config </dev/null
. "$TEST_TOP/test/fake-central.sh"

# drive ID [ARGS...]: a driver reading its commands from the fifo "in",
# which the test writes through fd 9.
drive()
{
	exec "$EVC" driver "$@" <"$TEST_DIR/in" 9>&-
}

test_expect_success 'the topics are ready' '
	topics_ready &&
	mkfifo in
'

test_expect_success '--file serves each CP in turn, one line per service, exit 0' '
	cat >route <<-EOF &&
	# the morning round
	CP001

	   # an indented comment
	CP002 2.5   # this one asks for 2.5 kWh
	EOF
	bg d "$EVC" driver -f route D1 &&
	await_request D1 1 &&
	test "$REQ_CP" = CP001 &&
	test "$REQ_KEY" = CP001 &&
	test "$(json_field target_wh "$REQ")" = 0 &&
	grant &&
	progress 0 0 0 &&
	progress 1 1000 35 &&
	ticket 3200 112 finished &&
	await_request D1 2 &&
	test "$REQ_CP" = CP002 &&
	test "$(json_field target_wh "$REQ")" = 2500 &&
	grant 0.4 &&
	ticket 2500 100 unplugged 0.4 &&
	bg_wait d 15 &&
	grep -qxF "authorised: D1 at CP002, session $SESSION, price 0.40 EUR/kWh" d.out &&
	grep -qx "authorised: D1 at CP001, session [0-9a-f]*, price 0.35 EUR/kWh" d.out &&
	grep -qxF "charging at CP001: 22.0 kW, 1.0 kWh, 0.35 EUR" d.out &&
	grep -qxF "service 1/2 at CP001: served, 3.2 kWh, 1.12 EUR at 0.35 EUR/kWh (finished)" d.out &&
	grep -qxF "service 2/2 at CP002: served, 2.5 kWh, 1.00 EUR at 0.40 EUR/kWh (unplugged)" d.out &&
	test "$(tail -n 1 d.out)" = "2 served, 0 denied, 0 failed"
'

test_expect_success '--file: a denial and a missing answer make exit 1' '
	printf "CP001\nCP002\nCP003\n" >route &&
	bg d "$EVC" driver -q -t 4 -w 0.2 -f route D2 &&
	await_request D2 1 &&
	deny busy &&
	await_request D2 2 &&
	test "$REQ_CP" = CP002 &&
	await_request D2 3 &&
	grant &&
	ticket 1000 35 finished &&
	test_expect_code 1 bg_wait d 15 &&
	cat >expect <<-EOF &&
	service 1/3 at CP001: denied, CP001 is busy
	service 2/3 at CP002: failed, no answer from Central within 4 s
	service 3/3 at CP003: served, 1.0 kWh, 0.35 EUR at 0.35 EUR/kWh (finished)
	1 served, 1 denied, 1 failed
	EOF
	diff -u expect d.out
'

test_expect_success '--file: a charge cut short by a fault counts as failed' '
	printf "CP001\n" >route &&
	bg d "$EVC" driver -q -f route D3 &&
	await_request D3 &&
	grant &&
	notice BROKEN "engine failure" &&
	ticket 400 14 broken &&
	test_expect_code 1 bg_wait d 10 &&
	grep -qxF "service 1/1 at CP001: failed, 0.4 kWh, 0.14 EUR at 0.35 EUR/kWh (broken)" d.out &&
	! grep -q notice d.out
'

# -t leaves time for the hand-made Central of fake-central.sh, which
# finds each request by reading the topic with kcat: two seconds and more
# on a loaded machine.
test_expect_success '--file: a session without news is cancelled, then the next line' '
	printf "CP001\nCP002\n" >route &&
	bg d "$EVC" driver -q -t 8 -w 0.2 -f route D15 &&
	await_request D15 &&
	grant &&
	await_request D15 2 &&
	test "$(json_field cancel "$REQ")" = true &&
	test "$(json_field session "$REQ")" = "$SESSION" &&
	test "$REQ_CP" = CP001 &&
	ticket 0 0 cancelled &&
	await_request D15 3 &&
	test "$REQ_CP" = CP002 &&
	grant &&
	ticket 100 4 finished &&
	test_expect_code 1 bg_wait d 10 &&
	grep -qxF "service 1/2 at CP001: failed, no news of the session within 8 s" d.out &&
	test "$(tail -n 1 d.out)" = "1 served, 0 denied, 1 failed"
'

test_expect_success '--file waits driver.wait_ms (or -w) between services' '
	printf "CP001\nCP002\n" >route &&
	bg d "$EVC" driver -q -w 1.5 -f route D4 &&
	await_request D4 1 &&
	grant &&
	sent=$(_now_ms) &&
	ticket 100 4 finished &&
	await_request D4 2 &&
	test $(($(json_field ts "$REQ") - sent)) -ge 1500 &&
	grant &&
	ticket 100 4 finished &&
	bg_wait d 10
'

test_expect_success 'prompt: help, charge, live figures, status, stop, quit' '
	exec 9<>in &&
	bg d drive D5 &&
	echo help >&9 &&
	wait_for 5 "grep -q \"^  charge CP \[KWH\]\" d.out" &&
	echo "status" >&9 &&
	wait_for 5 "grep -qx \"no session\" d.out" &&
	echo "charge CP001" >&9 &&
	await_request D5 &&
	grant &&
	progress 0 0 0 &&
	progress 1 500 18 &&
	wait_for 5 "grep -qxF \"charging at CP001: 22.0 kW, 0.5 kWh, 0.18 EUR\" d.out" &&
	echo "status" >&9 &&
	wait_for 5 "grep -qxF \"charging at CP001, session $SESSION: 22.0 kW, 0.5 kWh, 0.18 EUR\" d.out" &&
	echo "stop" >&9 &&
	await_request D5 2 &&
	test "$REQ_KEY" = CP001 &&
	test "$(json_field cancel "$REQ")" = true &&
	test "$(json_field session "$REQ")" = "$SESSION" &&
	ticket 500 18 cancelled &&
	wait_for 5 "grep -qxF \"ticket at CP001: 0.5 kWh, 0.18 EUR at 0.35 EUR/kWh (cancelled)\" d.out" &&
	echo quit >&9 &&
	bg_wait d 5 &&
	exec 9>&- &&
	grep -qxF "asking Central to charge at CP001" d.out &&
	grep -qxF "authorised: D5 at CP001, session $SESSION, price 0.35 EUR/kWh" d.out &&
	grep -qxF "charging started at CP001" d.out &&
	grep -qxF "asking Central to stop the charge at CP001" d.out
'

test_expect_success 'prompt: auth is charge, an unknown command is reported' '
	exec 9<>in &&
	bg d drive D6 &&
	echo "fly CP001" >&9 &&
	wait_for 5 "grep -qF \"unknown command: '\''fly'\''\" d.err" &&
	echo "auth CP002 1.5" >&9 &&
	await_request D6 &&
	test "$REQ_CP" = CP002 &&
	test "$(json_field target_wh "$REQ")" = 1500 &&
	deny driver_busy &&
	wait_for 5 "grep -qxF \"denied: D6 is already charging elsewhere\" d.out" &&
	echo quit >&9 &&
	bg_wait d 5 &&
	exec 9>&-
'

test_expect_success 'prompt: a stop that Central refuses is reported' '
	exec 9<>in &&
	bg d drive D14 &&
	echo "charge CP003" >&9 &&
	await_request D14 &&
	grant &&
	echo "stop" >&9 &&
	await_request D14 2 &&
	deny bad_request &&
	wait_for 5 "grep -qxF \"cannot stop the charge at CP003: the request is invalid\" d.out" &&
	echo quit >&9 &&
	bg_wait d 5 &&
	exec 9>&-
'

test_expect_success 'piped commands: at their end the driver sees its charge through' '
	printf "charge CP001\n" >cmds &&
	bg d sh -c "exec \"\$EVC\" driver D7 <cmds" &&
	await_request D7 &&
	grant &&
	progress 0 0 0 &&
	sleep 0.5 &&
	bg_pid d >/dev/null && kill -0 $(bg_pid d) &&
	ticket 800 28 finished &&
	bg_wait d 5 &&
	grep -qxF "ticket at CP001: 0.8 kWh, 0.28 EUR at 0.35 EUR/kWh (finished)" d.out
'

test_expect_success 'the driver shows only its own messages' '
	exec 9<>in &&
	bg d drive D8 &&
	echo "charge CP001" >&9 &&
	await_request D8 &&
	other=$(REQ_DRIVER=D9 _head progress "$(uuid)") &&
	send D8 "{$other,\"seq\":0,\"kw\":22,\"wh\":0,\"cents\":0}" &&
	send D8 "{$(_head progress "$(uuid)"),\"seq\":0,\"kw\":22,\"wh\":0,\"cents\":0}" &&
	grant &&
	progress 0 0 0 &&
	wait_for 5 "grep -qxF \"charging started at CP001\" d.out" &&
	echo quit >&9 &&
	bg_wait d 5 &&
	exec 9>&- &&
	test $(grep -c "^charging" d.out) = 1
'

test_expect_success 'list: each CP once, its last state, and how many are available' '
	now=$(_now_ms) &&
	st() {
		printf "%s|{\"v\":1,\"type\":\"cp_state\",\"id\":\"%s\",\"ts\":%s,\"cp\":\"%s\",\"state\":\"%s\",\"location\":\"%s\",\"price\":%s,\"live\":{\"seq\":0,\"kw\":0,\"wh\":0,\"cents\":0},\"since\":%s}\n" \
			"$1" "$(uuid)" "$now" "$1" "$2" "$3" "$4" "$now"
	} &&
	{
		st CP001 DISCONNECTED "Calle Mayor 1" 0.35 &&
		st CP002 SUPPLYING "Plaza Nueva 2" 0.4 &&
		st CP003 STOPPED "Avenida 3" 0.3 &&
		st CP001 ACTIVE "Calle Mayor 1" 0.35
	} | kc -P -K "|" -t "$(topic cp_state)" &&
	echo list | "$EVC" driver D10 >out &&
	cat >expect <<-EOF &&
	CP001        ACTIVE         0.35 EUR/kWh  Calle Mayor 1
	CP002        SUPPLYING      0.40 EUR/kWh  Plaza Nueva 2
	CP003        STOPPED        0.30 EUR/kWh  Avenida 3
	3 CPs, 1 available
	EOF
	diff -u expect out
'

test_expect_success 'a driver killed while charging shows the ticket it missed' '
	exec 9<>in &&
	bg d drive D11 &&
	echo "charge CP001" >&9 &&
	await_request D11 &&
	grant &&
	progress 0 0 0 &&
	wait_for 5 "grep -qxF \"charging started at CP001\" d.out" &&
	bg_kill d KILL;
	exec 9>&- &&
	progress 1 1600 56 &&
	ticket 3200 112 finished &&
	test "$(requests D11 | wc -l)" = 1 &&
	"$EVC" driver D11 >out 2>err &&
	echo "last session at CP001: ticket 3.2 kWh, 1.12 EUR at 0.35 EUR/kWh (finished)" >expect &&
	diff -u expect out
'

test_expect_success 'restarted during its charge, it shows the session, then its end' '
	exec 9<>in &&
	bg d drive D12 &&
	echo "charge CP002" >&9 &&
	await_request D12 &&
	grant 0.4 &&
	progress 0 0 0 &&
	wait_for 5 "grep -qxF \"charging started at CP002\" d.out" &&
	bg_kill d KILL;
	progress 1 1000 40 &&
	bg d2 drive D12 &&
	wait_for 5 "grep -qxF \"session in progress at CP002: 22.0 kW, 1.0 kWh, 0.40 EUR\" d2.out" &&
	echo status >&9 &&
	wait_for 5 "grep -qxF \"charging at CP002, session $SESSION: 22.0 kW, 1.0 kWh, 0.40 EUR\" d2.out" &&
	progress 2 2000 80 &&
	ticket 2100 84 unplugged 0.4 &&
	wait_for 5 "grep -qxF \"ticket at CP002: 2.1 kWh, 0.84 EUR at 0.40 EUR/kWh (unplugged)\" d2.out" &&
	echo quit >&9 &&
	bg_wait d2 5 &&
	exec 9>&-
'

test_expect_success '--file after a restart first sees the session in progress end' '
	exec 9<>in &&
	bg d drive D13 &&
	echo "charge CP001" >&9 &&
	await_request D13 &&
	grant &&
	progress 0 0 0 &&
	wait_for 5 "grep -qxF \"charging started at CP001\" d.out" &&
	bg_kill d KILL;
	exec 9>&- &&
	printf "CP002\n" >route &&
	bg f "$EVC" driver -f route D13 &&
	wait_for 5 "grep -qxF \"waiting for the session at CP001 to end\" f.out" &&
	test "$(requests D13 | wc -l)" = 1 &&
	ticket 500 18 finished &&
	await_request D13 2 &&
	test "$REQ_CP" = CP002 &&
	grant &&
	ticket 600 21 finished &&
	bg_wait f 10 &&
	grep -qxF "ticket at CP001: 0.5 kWh, 0.18 EUR at 0.35 EUR/kWh (finished)" f.out &&
	test "$(tail -n 1 f.out)" = "1 served, 0 denied, 0 failed"
'
