#!/usr/bin/env bash
# t1900-metrics.sh: GET /metrics of Central and evc ocpp, read by PyPI's prometheus_client parser: what was done is what is counted.
. "$(dirname "$0")/lib.sh"

test_expect_success 'a bad --metrics, central.metrics or ocpp.metrics: exit 2, named' '
	test_expect_code 2 "$EVC" central -n -m nowhere 2>err &&
	grep -qF "evc central: bad --metrics (ADDR:PORT): '\''nowhere'\''" err &&
	test_expect_code 2 "$EVC" central -m 127.0.0.1:0 stop CP001 2>err &&
	grep -qF "evc central: -m does not go with '\''stop'\''" err &&
	test_expect_code 2 "$EVC" ocpp -n -m 127.0.0.1:70000 2>err &&
	grep -qF "evc ocpp: bad --metrics (ADDR:PORT): '\''127.0.0.1:70000'\''" err &&
	printf "central:\n  group: g\n  metrics: localhost:http\n" >bad.yaml &&
	test_expect_code 2 "$EVC" central -n -c bad.yaml 2>err &&
	grep -qF "bad.yaml:3: expected ADDR:PORT for '\''metrics'\'': '\''localhost:http'\''" err &&
	printf "ocpp:\n  metrics: \"[::1:9100\"\n" >bad.yaml &&
	test_expect_code 2 "$EVC" ocpp -n -c bad.yaml 2>err &&
	grep -qF "bad.yaml:2: expected ADDR:PORT for '\''metrics'\''" err
'

test_expect_success 'central.metrics and ocpp.metrics pass the check when well formed' '
	printf "central:\n  metrics: 127.0.0.1:9101\nocpp:\n  metrics: \"[::1]:9102\"\n" >good.yaml &&
	"$EVC" central -n -c good.yaml &&
	"$EVC" ocpp -n -c good.yaml
'

if ! PROM=$("$TEST_TOP/test/py-venv.sh" prometheus 2>"$TEST_DIR/venv.err"); then
	_skip_all="no prometheus_client parser: $(tail -n 1 "$TEST_DIR/venv.err")"
fi
need_kafka
need_command curl ss

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35, power_kw: 3600}
  - {id: CP002, location: Madrid, price: 0.40, power_kw: 3600}
EOF

test_config <<EOF
central:
  catalogue: cps.yaml
  health_timeout_ms: 3000
cp:
  power_kw: 3600
  state_dir: $TEST_DIR/state
ocpp:
  listen: 127.0.0.1:0
  heartbeat_s: 5
  retry_s: 2
  central_wait_ms: 3000
EOF
group=$(sed -n "s/^  group: //p" "$EVC_CONFIG")

# mport NAME: the metrics port process NAME said it took.
mport()
{
	sed -n "s/.*metrics: listening on [^ ]*:\([0-9]*\) for GET \/metrics/\1/p" "$1.err"
}

# scrape NAME PORT: GET /metrics of PORT in NAME.txt, parsed in NAME.prom.
scrape()
{
	curl -sf "http://127.0.0.1:$2/metrics" >"$1.txt" &&
	"$PROM" "$TEST_TOP/test/metrics-parse.py" <"$1.txt" >"$1.prom"
}

# is NAME SAMPLE VALUE: SAMPLE (as metrics-parse.py writes it) is VALUE.
is()
{
	local v

	v=$(awk -v s="$2" '$1 == s { print $2 }' "$1.prom")
	[ "$v" = "$3" ] && return 0
	echo "is: $2 is '$v', not '$3'" >&2
	return 1
}

# above NAME SAMPLE N: SAMPLE is there, and over N.
above()
{
	awk -v s="$2" -v n="$3" '$1 == s { f = 1; v = $2 }
		END { if (!f || v <= n) { print "above: " s " is " v >"/dev/stderr"; exit 1 } }' "$1.prom"
}

test_expect_success 'metrics are off by default: Central listens on nothing' '
	bg central0 "$EVC" central &&
	wait_for 30 "grep -q \"ready:\" central0.err" &&
	! grep -q "metrics: listening" central0.err &&
	pid=$(bg_pid central0) &&
	ss -Hltnp >listening &&
	! grep -q "pid=$pid," listening &&
	bg_kill central0
'

test_expect_success 'Central with -m 127.0.0.1:0 says the port it took, and listens there' '
	bg central "$EVC" central -m 127.0.0.1:0 &&
	wait_for 30 "grep -q \"ready:\" central.err" &&
	PORT=$(mport central) &&
	test -n "$PORT" &&
	ss -Hltn "( sport = :$PORT )" | grep -q "127.0.0.1:$PORT"
'

test_expect_success 'an address already taken: one line naming it, exit 1' '
	test_expect_code 1 "$EVC" central -m "127.0.0.1:$PORT" 2>taken.err &&
	cat taken.err &&
	test "$(wc -l <taken.err)" = 1 &&
	grep -qxF "evc central: cannot listen on '\''127.0.0.1:$PORT'\'': Address already in use" taken.err
'

test_expect_success 'the text: version 0.0.4, HELP and TYPE once per family, the parser takes it' '
	curl -sf -D head -o body "http://127.0.0.1:$PORT/metrics" &&
	grep -qi "^content-type: text/plain; version=0.0.4; charset=utf-8" head &&
	test "$(grep -c "^# TYPE evc_cps gauge\$" body)" = 1 &&
	test "$(grep -c "^# HELP evc_cps " body)" = 1 &&
	test -z "$(grep "^# TYPE" body | sort | uniq -d)" &&
	"$PROM" "$TEST_TOP/test/metrics-parse.py" <body >parsed &&
	grep -qx "family evc_cps gauge" parsed &&
	grep -qx "family evc_billed_sessions counter" parsed &&
	grep -qx "family evc_consumer_lag gauge" parsed
'

test_expect_success 'a CP registers: CPs by state, nothing billed yet' '
	bg cp1 "$EVC" cp CP001 &&
	wait_for 20 "grep -q \"CP001 ACTIVE\" central.err" &&
	wait_for 10 "scrape m0 $PORT && is m0 evc_cps{state=ACTIVE} 1" &&
	is m0 evc_cps{state=DISCONNECTED} 1 &&
	is m0 evc_cps{state=SUPPLYING} 0 &&
	is m0 evc_sessions_in_progress 0 &&
	is m0 evc_billed_sessions_total 0 &&
	is m0 evc_central_ready 1
'

test_expect_success 'a session in progress is counted; stopped by the operator, it is billed as its ticket says' '
	bg auth "$EVC" auth --wait --seconds 60 D1 CP001 &&
	wait_for 10 "grep -q \"^charging started at CP001\" auth.out" &&
	wait_for 10 "scrape m1 $PORT && is m1 evc_cps{state=SUPPLYING} 1" &&
	is m1 evc_sessions_in_progress 1 &&
	is m1 evc_billed_sessions_total 0 &&
	sleep 1 &&
	"$EVC" central stop CP001 &&
	{ bg_wait auth 20; :; } &&
	line=$(grep "^ticket at CP001: " auth.out) &&
	echo "$line" &&
	wh=$(echo "$line" | awk "{ printf \"%d\", \$4 * 1000 + 0.5 }") &&
	cents=$(echo "$line" | awk "{ printf \"%d\", \$6 * 100 + 0.5 }") &&
	test "$wh" -gt 0 &&
	wait_for 10 "scrape m2 $PORT && is m2 evc_billed_sessions_total 1" &&
	is m2 evc_billed_energy_wh_total "$wh" &&
	is m2 evc_billed_cents_total "$cents" &&
	is m2 evc_sessions_in_progress 0 &&
	is m2 evc_cps{state=STOPPED} 1 &&
	is m2 evc_cps{state=ACTIVE} 0 &&
	"$EVC" central resume CP001 &&
	wait_for 10 "scrape m3 $PORT && is m3 evc_cps{state=ACTIVE} 1"
'

test_expect_success 'messages read and sent are counted by topic' '
	scrape m4 $PORT &&
	above m4 "evc_messages_read_total{topic=$(topic cp_register)}" 0 &&
	above m4 "evc_messages_read_total{topic=$(topic auth_request)}" 0 &&
	above m4 "evc_messages_read_total{topic=$(topic telemetry)}" 1 &&
	above m4 "evc_messages_read_total{topic=$(topic health)}" 1 &&
	above m4 "evc_messages_read_total{topic=$(topic control)}" 1 &&
	above m4 "evc_messages_sent_total{topic=$(topic auth_response)}" 1 &&
	above m4 "evc_messages_sent_total{topic=$(topic cp_state)}" 1 &&
	above m4 "evc_messages_sent_total{topic=$(topic cp_commands)}" 0 &&
	is m4 "evc_messages_sent_total{topic=$(topic cp_register)}" 0 &&
	is m4 "evc_messages_rejected_total{topic=$(topic telemetry)}" 0
'

test_expect_success 'a malformed message moves the rejected counter of its topic alone' '
	echo "not json" | kc -P -t "$(topic telemetry)" -k CP001 &&
	wait_for 10 "scrape m5 $PORT && is m5 \"evc_messages_rejected_total{topic=$(topic telemetry)}\" 1" &&
	is m5 "evc_messages_rejected_total{topic=$(topic health)}" 0 &&
	is m5 "evc_messages_rejected_total{topic=$(topic auth_request)}" 0 &&
	grep -q "rejected message on '\''$(topic telemetry)'\''" central.err
'

test_expect_success 'consumer lag: a series per partition of the five topics Central reads, small' '
	wait_for 10 "scrape m6 $PORT && test \$(grep -c ^evc_consumer_lag m6.prom) = 15" &&
	test "$(grep -c "^evc_consumer_lag{group=$group,partition=[0-2],topic=" m6.prom)" = 15 &&
	for t in cp_register auth_request telemetry health control; do
		test "$(grep -c "^evc_consumer_lag{.*,topic=$(topic $t)} " m6.prom)" = 3 || return 1
	done &&
	awk "/^evc_consumer_lag/ && \$2 > 20 { bad = 1 } END { exit bad }" m6.prom
'

test_expect_success 'another path: 404; another method: 405 with Allow; a JSON error each' '
	code=$(curl -s -o body -w "%{http_code}" "http://127.0.0.1:$PORT/") &&
	test "$code" = 404 &&
	"$PROM" -c "import json; assert json.load(open(\"body\"))[\"error\"]" &&
	code=$(curl -s -o body -w "%{http_code}" "http://127.0.0.1:$PORT/metrics/x") &&
	test "$code" = 404 &&
	code=$(curl -s -D head -o body -w "%{http_code}" -d x=1 "http://127.0.0.1:$PORT/metrics") &&
	test "$code" = 405 &&
	grep -qi "^allow: GET" head &&
	"$PROM" -c "import json; assert json.load(open(\"body\"))[\"error\"]" &&
	code=$(curl -s -o body -w "%{http_code}" -X DELETE "http://127.0.0.1:$PORT/metrics") &&
	test "$code" = 405 &&
	scrape m7 $PORT
'

# --- evc ocpp ----------------------------------------------------------------

if PY=$("$TEST_TOP/test/py-venv.sh" ocpp 2>"$TEST_DIR/ocpp-venv.err"); then
	no_charger=
else
	no_charger="no OCPP charger: $(tail -n 1 "$TEST_DIR/ocpp-venv.err")"
fi

# need_charger: in a body, skips it without the OCPP charger.
need_charger()
{
	[ -z "$no_charger" ] && return 0
	_body_skip=$no_charger
	return 1
}

run_charger()
{
	local fifo=$1

	shift
	exec "$PY" "$TEST_TOP/test/ocpp-charger.py" "$@" <"$fifo"
}

# charger NAME CP: a charger connected to the gateway, commands from NAME.in.
charger()
{
	local name=$1 cp=$2

	rm -f "$name.in" && mkfifo "$name.in" &&
	eval "exec {fd_$name}<>\"$name.in\"" &&
	bg "$name" run_charger "$name.in" "ws://127.0.0.1:$GWPORT/ocpp/$cp" &&
	wait_for 15 "grep -qE \"^(connected|refused)\" $name.out" &&
	grep -q "^connected" "$name.out"
}

say()
{
	local name=$1

	shift
	printf "%s\n" "$@" >"$name.in"
}

saw()
{
	wait_for "${3:-15}" "grep -qxF -- \"$2\" $1.out"
}

test_expect_success 'evc ocpp -m: a port of its own, said; nothing on the chargers port' '
	need_charger &&
	bg gw "$EVC" ocpp -m 127.0.0.1:0 &&
	wait_for 20 "grep -q \"for OCPP 1.6J chargers\" gw.err" &&
	GWPORT=$(sed -n "s/.*listening on [^ ]*:\([0-9]*\) for OCPP.*/\1/p" gw.err) &&
	GMPORT=$(mport gw) &&
	test -n "$GWPORT" && test -n "$GMPORT" && test "$GWPORT" != "$GMPORT" &&
	code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$GWPORT/metrics") &&
	test "$code" = 404 &&
	scrape g0 $GMPORT &&
	is g0 evc_ocpp_connections 0 &&
	is g0 evc_ocpp_transactions_in_progress 0
'

test_expect_success 'evc ocpp: an address taken is one line, exit 1' '
	need_charger &&
	{ "$EVC" ocpp -m "127.0.0.1:$GMPORT" 2>taken.err; rc=$?; } &&
	cat taken.err &&
	test "$rc" = 1 &&
	test "$(wc -l <taken.err)" = 1 &&
	grep -qxF "evc ocpp: cannot listen on '\''127.0.0.1:$GMPORT'\'': Address already in use" taken.err
'

test_expect_success 'a charger boots and charges: connections, boots, transactions, messages' '
	need_charger &&
	charger c2 CP002 &&
	say c2 boot &&
	saw c2 "boot Accepted 5" &&
	wait_for 10 "scrape g1 $GMPORT && is g1 evc_ocpp_connections 1" &&
	is g1 "evc_ocpp_boots_total{status=accepted}" 1 &&
	is g1 "evc_ocpp_boots_total{status=rejected}" 0 &&
	say c2 "reading 1000" &&
	bg auth2 "$EVC" auth --wait D2 CP002 &&
	saw c2 "< RemoteStartTransaction D2" &&
	wait_for 10 "grep -q \"^start D2 Accepted tx=\" c2.out" &&
	wait_for 10 "scrape g2 $GMPORT && is g2 evc_ocpp_transactions_in_progress 1" &&
	say c2 "reading 1500" "stop EVDisconnected" &&
	saw c2 "stop ok" &&
	bg_wait auth2 15 &&
	grep -qxF "ticket at CP002: 0.5 kWh, 0.20 EUR at 0.40 EUR/kWh (unplugged)" auth2.out &&
	wait_for 10 "scrape g3 $GMPORT && is g3 evc_ocpp_transactions_in_progress 0" &&
	above g3 "evc_messages_sent_total{topic=$(topic cp_register)}" 0 &&
	above g3 "evc_messages_sent_total{topic=$(topic health)}" 0 &&
	above g3 "evc_messages_sent_total{topic=$(topic telemetry)}" 0 &&
	above g3 "evc_messages_read_total{topic=$(topic auth_response)}" 0 &&
	above g3 "evc_messages_read_total{topic=$(topic cp_register_ack)}" 0 &&
	above g3 evc_ocpp_frames_total 3 &&
	is g3 evc_ocpp_callerrors_total 0 &&
	wait_for 10 "scrape m8 $PORT && is m8 evc_billed_sessions_total 2" &&
	is m8 evc_billed_energy_wh_total "$((wh + 500))"
'

test_expect_success 'a charger Central refuses: a boot rejected, then a CALLERROR' '
	need_charger &&
	charger c9 CP999 &&
	say c9 boot &&
	saw c9 "boot Rejected 2" &&
	say c9 heartbeat &&
	wait_for 10 "grep -q \"^error SecurityError\" c9.out" &&
	scrape g4 $GMPORT &&
	is g4 "evc_ocpp_boots_total{status=rejected}" 1 &&
	is g4 evc_ocpp_callerrors_total 1 &&
	is g4 evc_ocpp_connections 2 &&
	say c9 quit && bg_wait c9 10 &&
	wait_for 10 "scrape g5 $GMPORT && is g5 evc_ocpp_connections 1"
'

# --- evc web -------------------------------------------------------------------

test_expect_success 'evc web: GET /metrics on its own port, CPs as cp-state says, requests, streams' '
	bg web "$EVC" web -l 127.0.0.1:0 &&
	wait_for 30 "grep -q \"listening on\" web.err" &&
	WPORT=$(sed -n "s/.*listening on [^ ]*:\([0-9]*\) .*/\1/p" web.err) &&
	curl -sf -D whead -o /dev/null "http://127.0.0.1:$WPORT/metrics" &&
	grep -qi "^content-type: text/plain; version=0.0.4; charset=utf-8" whead &&
	scrape c9 $PORT &&
	wait_for 10 "scrape w1 $WPORT && is w1 evc_cps{state=ACTIVE} $(awk '\''$1 == "evc_cps{state=ACTIVE}" { print $2 }'\'' c9.prom)" &&
	is w1 evc_web_event_streams 0 &&
	above w1 evc_web_requests_total 0 &&
	above w1 "evc_messages_read_total{topic=$(topic cp_state)}" 0 &&
	bg stream curl -sN "http://127.0.0.1:$WPORT/api/events" &&
	wait_for 10 "grep -q \"^event: hello\" stream.out" &&
	wait_for 10 "scrape w2 $WPORT && is w2 evc_web_event_streams 1" &&
	is w2 evc_web_event_streams_opened_total 1 &&
	curl -s -o /dev/null -X POST "http://127.0.0.1:$WPORT/metrics" &&
	scrape w3 $WPORT &&
	above w3 evc_web_refused_total 0 &&
	{ bg_kill stream || :; } && bg_kill web
'

test_expect_success 'SIGTERM: the gateway and Central stop, and their listeners with them' '
	{ test -n "$no_charger" || bg_kill gw; } &&
	bg_kill central &&
	! ss -Hltn "( sport = :$PORT )" | grep -q .
'
