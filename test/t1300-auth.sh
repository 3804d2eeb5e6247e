#!/usr/bin/env bash
# t1300-auth.sh: evc auth: the request it sends, Central's decision, exit codes, --json and --wait.
. "$(dirname "$0")/lib.sh"

test_expect_success 'usage text is the SYNOPSIS of evc-auth(1)' '
	"$EVC" auth -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-auth.1" |
		grep "^evc auth" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'no arguments: usage error (2)' '
	test_expect_code 2 "$EVC" auth >out 2>err &&
	test ! -s out &&
	grep -q "expected a driver id and a CP id" err
'

test_expect_success 'a bad driver id is a usage error naming it' '
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 "D 1" CP001 2>err &&
	grep -qF "evc auth: bad driver id: '\''D 1'\''" err
'

test_expect_success 'a bad CP id is a usage error naming it' '
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 D1 "CP/1" 2>err &&
	grep -qF "evc auth: bad CP id: '\''CP/1'\''" err
'

test_expect_success '--kwh and --seconds exclude each other' '
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 --kwh 5 --seconds 60 D1 CP001 2>err &&
	grep -q "exclude each other" err
'

test_expect_success 'a bad --kwh, --seconds or --timeout is a usage error' '
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 --kwh -1 D1 CP001 2>err &&
	grep -qF "bad energy: '\''-1'\''" err &&
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 --kwh 5x D1 CP001 &&
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 --seconds 0 D1 CP001 &&
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 --timeout 0 D1 CP001 &&
	test_expect_code 2 "$EVC" auth -b 127.0.0.1:1 D1 CP001 extra
'

test_expect_success 'an unreachable Kafka: exit 3 within the timeout, naming it' '
	start=$(_now_ms) &&
	test_expect_code 3 "$EVC" auth -b 127.0.0.1:1 -t 2 D1 CP001 >out 2>err &&
	test $(($(_now_ms) - start)) -lt 5000 &&
	test ! -s out &&
	grep -qF "evc auth: cannot reach Kafka at '\''127.0.0.1:1'\''" err
'

test_expect_success 'an unreachable Kafka with --json: reason "unreachable"' '
	test_expect_code 3 "$EVC" auth -b 127.0.0.1:1 -t 1 --json D1 CP001 >out &&
	grep -qF "\"authorized\":false" out &&
	grep -qF "\"reason\":\"unreachable\"" out
'

need_kafka
test_config </dev/null
. "$TEST_TOP/test/fake-central.sh"

test_expect_success 'the topics are ready' '
	topics_ready
'

test_expect_success 'no answer from Central: exit 3 within the timeout' '
	start=$(_now_ms) &&
	test_expect_code 3 "$EVC" auth -t 1.5 D1 CP001 >out 2>err &&
	elapsed=$(($(_now_ms) - start)) &&
	test $elapsed -ge 1400 && test $elapsed -lt 4500 &&
	test ! -s out &&
	grep -qF "evc auth: no answer from Central within 1.5 s" err
'

test_expect_success 'the request is keyed by the CP and carries driver, target and timeout' '
	bg a "$EVC" auth -t 5 --kwh 7.5 D2 CP001 &&
	await_request D2 &&
	test "$REQ_KEY" = CP001 &&
	test "$REQ_CP" = CP001 &&
	test "$(json_field type "$REQ")" = auth_request &&
	test "$(json_field target_wh "$REQ")" = 7500 &&
	test "$(json_field target_s "$REQ")" = 0 &&
	test "$(json_field timeout_ms "$REQ")" = 5000 &&
	test "$(json_field cancel "$REQ")" = false &&
	grant &&
	bg_wait a 10
'

test_expect_success 'authorised: exit 0 and one line naming driver, CP, session and price' '
	bg a "$EVC" auth D3 CP002 &&
	await_request D3 &&
	test "$(json_field timeout_ms "$REQ")" = 10000 &&
	grant 0.4 &&
	bg_wait a 10 &&
	echo "authorised: D3 at CP002, session $SESSION, price 0.40 EUR/kWh" >expect &&
	diff -u expect a.out
'

test_expect_success 'denied: exit 1 and the reason on stderr' '
	bg a "$EVC" auth D4 CP002 &&
	await_request D4 &&
	deny busy &&
	test_expect_code 1 bg_wait a 10 &&
	test ! -s a.out &&
	grep -qxF "evc auth: denied: CP002 is busy" a.err
'

test_expect_success '--seconds asks for a time instead of energy' '
	bg a "$EVC" auth --seconds 90 D5 CP003 &&
	await_request D5 &&
	test "$(json_field target_s "$REQ")" = 90 &&
	test "$(json_field target_wh "$REQ")" = 0 &&
	deny out_of_order &&
	test_expect_code 1 bg_wait a 10 &&
	grep -qxF "evc auth: denied: CP003 is out of order" a.err
'

test_expect_success 'answers to other requests, other drivers and garbage are skipped' '
	bg a "$EVC" auth D6 CP001 &&
	await_request D6 &&
	send D6 "{$(_head auth_response),\"request\":\"$(uuid)\",\"authorized\":false,\"reason\":\"busy\",\"price\":0}" &&
	send D6 "not json at all" &&
	other=$(REQ_DRIVER=D7 _head auth_response) &&
	send D6 "{$other,\"request\":\"$REQ_ID\",\"authorized\":false,\"reason\":\"broken\",\"price\":0}" &&
	grant &&
	bg_wait a 10 &&
	grep -q "^authorised: D6 at CP001" a.out &&
	grep -q "rejected message" a.err
'

test_expect_success '--json: one object with the decision' '
	bg a "$EVC" auth --json D8 CP001 &&
	await_request D8 &&
	grant &&
	bg_wait a 10 &&
	test $(wc -l <a.out) = 1 &&
	grep -q "^{.*}\$" a.out &&
	grep -qF "\"authorized\":true" a.out &&
	grep -qF "\"driver\":\"D8\"" a.out &&
	grep -qF "\"cp\":\"CP001\"" a.out &&
	grep -qF "\"reason\":null" a.out &&
	grep -qF "\"session\":\"$SESSION\"" a.out &&
	grep -qF "\"request\":\"$REQ_ID\"" a.out &&
	grep -qF "\"price\":0.35" a.out &&
	! grep -qF "\"ticket\"" a.out
'

test_expect_success '--json denied: exit 1, the reason in the object, stderr quiet' '
	bg a "$EVC" auth --json D9 CP004 &&
	await_request D9 &&
	deny disconnected &&
	test_expect_code 1 bg_wait a 10 &&
	test ! -s a.err &&
	grep -qF "\"authorized\":false" a.out &&
	grep -qF "\"reason\":\"disconnected\"" a.out &&
	grep -qF "\"detail\":\"CP004 is not connected\"" a.out &&
	grep -qF "\"session\":null" a.out
'

test_expect_success '--json with no answer: exit 3, reason "timeout"' '
	test_expect_code 3 "$EVC" auth --json -t 1 D10 CP001 >out 2>err &&
	grep -qF "\"reason\":\"timeout\"" out
'

test_expect_success '--wait prints the live figures and the ticket, exit 0' '
	bg a "$EVC" auth --wait D11 CP001 &&
	await_request D11 &&
	grant &&
	progress 0 0 0 &&
	progress 1 1500 53 &&
	notice ACTIVE "plugged in" &&
	ticket 3200 112 finished &&
	bg_wait a 10 &&
	cat >expect <<-EOF &&
	authorised: D11 at CP001, session $SESSION, price 0.35 EUR/kWh
	charging started at CP001
	charging at CP001: 22.0 kW, 1.5 kWh, 0.53 EUR
	notice: plugged in (ACTIVE)
	ticket at CP001: 3.2 kWh, 1.12 EUR at 0.35 EUR/kWh (finished)
	EOF
	diff -u expect a.out
'

test_expect_success '--wait --json: the ticket inside the one object' '
	bg a "$EVC" auth --wait --json D12 CP001 &&
	await_request D12 &&
	grant &&
	progress 0 0 0 &&
	ticket 3200 112 unplugged &&
	bg_wait a 10 &&
	test $(wc -l <a.out) = 1 &&
	grep -qF "\"ticket\":{\"session\":\"$SESSION\",\"wh\":3200,\"kwh\":3.2,\"cents\":112,\"eur\":1.12,\"price\":0.35,\"reason\":\"unplugged\"" a.out
'

test_expect_success '--wait: a charge cut short by a fault exits 1' '
	bg a "$EVC" auth --wait D13 CP001 &&
	await_request D13 &&
	grant &&
	ticket 700 25 broken &&
	test_expect_code 1 bg_wait a 10 &&
	grep -qF "(broken)" a.out &&
	grep -qF "evc auth: the charge at CP001 ended early (broken)" a.err
'

test_expect_success '--wait: a session that goes quiet exits 3' '
	bg a "$EVC" auth --wait -t 3 D14 CP001 &&
	await_request D14 &&
	grant &&
	test_expect_code 3 bg_wait a 10 &&
	grep -qF "no news of the session for 3 s" a.err
'
