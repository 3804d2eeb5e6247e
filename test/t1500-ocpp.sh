#!/usr/bin/env bash
# t1500-ocpp.sh: evc ocpp, the OCPP 1.6J gateway, with PyPI's ocpp library as the charger and a real Central: boots, health, sessions, tickets, bad input.
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')

test_expect_success 'evc ocpp -h prints the usage; the man page SYNOPSIS says the same' '
	"$EVC" ocpp -h >out &&
	head -n 1 out | grep -q "^usage: evc ocpp " &&
	sed -n "/^usage:/,/^\$/p" out | sed "/^\$/d; s/^usage: //; s/^ *//" >usage &&
	sed -n "/^\.SH SYNOPSIS/,/^\.SH/p" "$TEST_TOP/man/evc-ocpp.1" |
		sed "/^\./d; s/\\\\-/-/g" >synopsis &&
	diff usage synopsis
'

test_expect_success 'usage and configuration errors exit 2' '
	test_expect_code 2 "$EVC" ocpp extra 2>err &&
	grep -qxF "evc ocpp: too many arguments: '\''extra'\''" err &&
	test_expect_code 2 "$EVC" ocpp -n -l nowhere 2>err &&
	grep -qF "bad --listen (ADDR:PORT): '\''nowhere'\''" err &&
	printf "ocpp:\n  listen: 127.0.0.1:99999\n" >bad.yaml &&
	test_expect_code 2 "$EVC" ocpp -n -c bad.yaml 2>err &&
	grep -qF "bad.yaml:2: expected ADDR:PORT for '\''listen'\''" err &&
	printf "ocpp:\n  passwords:\n    CP001: secret\n" >bad.yaml &&
	test_expect_code 2 "$EVC" ocpp -n -c bad.yaml 2>err &&
	grep -qF "bad.yaml:3: expected a crypt(3) hash" err &&
	printf "ocpp:\n  tls:\n    cert: a.pem\n" >bad.yaml &&
	test_expect_code 2 "$EVC" ocpp -n -c bad.yaml 2>err &&
	grep -qF "needs both '\''cert'\'' and '\''key'\''" err
'

# The charger: the ocpp library in the test bed's own environment.
if ! PY=$("$TEST_TOP/test/py-venv.sh" ocpp 2>"$TEST_DIR/venv.err"); then
	_skip_all="no OCPP charger: $(tail -n 1 "$TEST_DIR/venv.err")"
fi
CHARGER=$TEST_TOP/test/ocpp-charger.py
RAW=$TEST_TOP/test/ocpp-raw.py

need_kafka

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35, power_kw: 3600}
  - {id: CP002, location: Madrid, price: 0.40, power_kw: 3600}
  - {id: CP003, location: Elche, price: 0.30, power_kw: 3600}
  - {id: CP004, location: Elda, price: 0.25, power_kw: 3600}
  - {id: CP005, location: Alcoy, price: 0.50, power_kw: 3600}
  - {id: CPSIM, location: Denia, price: 0.45}
EOF

# Central's health timeout is long enough for a gateway restarted at once.
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
  start_timeout_s: 3
  ping_s: 1
  offline_s: 30
EOF

# gateway NAME [ARGS...]: starts a gateway; its port in $PORT (and PORT_NAME).
gateway()
{
	local name=$1

	shift
	bg "$name" "$EVC" ocpp "$@" &&
	wait_for 20 "grep -q \"listening on\" $name.err" &&
	PORT=$(sed -n "s/.*listening on [^ ]*:\([0-9]*\) .*/\1/p" $name.err) &&
	eval "PORT_$name=\$PORT"
}

# run_charger FIFO ARGS...: the charger, its commands from FIFO.
run_charger()
{
	local fifo=$1

	shift
	exec "$PY" "$CHARGER" "$@" <"$fifo"
}

# charger NAME CP [OPTIONS...]: a charger connected to the gateway at
# $PORT, reading commands from NAME.in (say NAME ...), writing NAME.out.
charger()
{
	local name=$1 cp=$2

	shift 2
	rm -f "$name.in" && mkfifo "$name.in" &&
	eval "exec {fd_$name}<>\"$name.in\"" &&
	bg "$name" run_charger "$name.in" "$@" \
		"${SCHEME:-ws}://127.0.0.1:$PORT/ocpp/$cp" &&
	wait_for 15 "grep -qE \"^(connected|refused)\" $name.out" &&
	grep -q "^connected" "$name.out"
}

# say NAME COMMAND...: commands for a charger.
say()
{
	local name=$1

	shift
	printf "%s\n" "$@" >"$name.in"
}

# saw NAME LINE [TIMEOUT]: waits for the charger (or raw client) to print LINE.
saw()
{
	wait_for "${3:-15}" "grep -qxF -- \"$2\" $1.out"
}

# state CP: the CP's state as evc status prints it.
state()
{
	"$EVC" status "$1" 2>/dev/null | awk -v cp="$1" '$1 == cp { print $2 }'
}

# msgs TOPIC: the messages of the test's TOPIC, one per line.
msgs()
{
	local t n

	t=$(topic "$1") &&
	n=$(kc -Q -t "$t:0:-1" -t "$t:1:-1" -t "$t:2:-1" 2>/dev/null |
		awk '/offset/ { n += $NF } END { print n + 0 }') &&
	test "$n" -gt 0 &&
	kc -C -t "$t" -o beginning -c "$n" -e -q -f '%s\n' 2>/dev/null
}

field()
{
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# ends CP DRIVER: the supply_ends of CP for DRIVER, in order.
ends()
{
	msgs telemetry | grep -F '"type":"supply_end"' | grep -F "\"cp\":\"$1\"" |
		grep -F "\"driver\":\"$2\""
}

# raw CP [OPTIONS...] <COMMANDS: a raw client's session, in raw.out.
raw()
{
	local cp=$1

	shift
	"$PY" "$RAW" "$@" "${SCHEME:-ws}://127.0.0.1:$PORT/ocpp/$cp" \
		>raw.out 2>raw.err
	return 0	# what it printed says how it went
}

test_expect_success 'Central and a gateway start; the gateway listens on loopback only' '
	bg central "$EVC" central &&
	wait_for 20 "grep -q \"ready:\" central.err" &&
	gateway gw &&
	grep -q "on loopback: chargers without a password are accepted" gw.err &&
	ss -Hltn "( sport = :$PORT )" | grep -q "127.0.0.1:$PORT"
'

test_expect_success 'a charger boots: Accepted once Central registers it, ACTIVE' '
	charger c1 CP001 &&
	say c1 boot &&
	saw c1 "boot Accepted 5" &&
	grep -q "CP001: accepted by Central" gw.err &&
	wait_for 10 "test \"\$(state CP001)\" = ACTIVE" &&
	msgs cp_register | grep -F "\"cp\":\"CP001\"" | head -n 1 >reg &&
	grep -qF "\"engine_ok\":true" reg
'

test_expect_success 'Heartbeat is answered with the time; health keeps the CP ACTIVE' '
	say c1 heartbeat &&
	saw c1 "heartbeat ok" &&
	sleep 4 &&
	test "$(state CP001)" = ACTIVE &&
	msgs health | grep -F "\"cp\":\"CP001\"" | tail -n 1 | grep -qF "\"engine_ok\":true"
'

test_expect_success 'a Faulted connector makes the CP BROKEN, Available ACTIVE again' '
	say c1 "status 1 Faulted" &&
	saw c1 "status ok" &&
	wait_for 10 "test \"\$(state CP001)\" = BROKEN" &&
	say c1 "status 1 Available" &&
	wait_for 10 "test \"\$(state CP001)\" = ACTIVE"
'

test_expect_success 'a charger Central does not know gets Rejected, then SecurityError' '
	charger c9 CP999 &&
	say c9 boot &&
	saw c9 "boot Rejected 2" &&
	grep -q "CP999: refused by Central" gw.err &&
	say c9 heartbeat &&
	wait_for 10 "grep -q \"^error SecurityError\" c9.out" &&
	say c9 quit && bg_wait c9 10
'

test_expect_success 'a charger that goes away is DISCONNECTED' '
	charger c2 CP002 &&
	say c2 boot &&
	saw c2 "boot Accepted 5" &&
	wait_for 10 "test \"\$(state CP002)\" = ACTIVE" &&
	say c2 quit &&
	bg_wait c2 10 &&
	wait_for 15 "test \"\$(state CP002)\" = DISCONNECTED"
'

test_expect_success 'a charger gone silent (no pong) is closed and DISCONNECTED' '
	charger c2 CP002 &&
	say c2 boot &&
	saw c2 "boot Accepted 5" &&
	wait_for 10 "test \"\$(state CP002)\" = ACTIVE" &&
	kill -STOP "$(bg_pid c2)" &&
	wait_for 15 "test \"\$(state CP002)\" = DISCONNECTED" &&
	kill -CONT "$(bg_pid c2)" &&
	{ bg_kill c2 || :; }
'

test_expect_success 'a second connection for a CP closes the first' '
	charger c3 CP003 &&
	say c3 boot &&
	saw c3 "boot Accepted 5" &&
	charger c3b CP003 &&
	saw c3 "closed 1001" &&
	grep -q "CP003: a new connection replaces the open one" gw.err &&
	say c3b boot &&
	saw c3b "boot Accepted 5" &&
	say c3b quit && bg_wait c3b 10 && { bg_kill c3 || :; }
'

test_expect_success 'ids and subprotocols are checked before the upgrade' '
	echo quit | raw "bad%20id" &&
	grep -qxF "refused 404" raw.out &&
	echo quit | raw .probe &&
	grep -qxF "refused 404" raw.out &&
	echo quit | raw CP004 --protocol ocpp2.0.1 &&
	grep -qxF "refused 400" raw.out &&
	echo quit | raw CP004 --protocol none &&
	grep -qxF "connected none" raw.out &&
	grep -qxF "closed 1002" raw.out &&
	grep -q "closed '\''CP004'\'': no subprotocol offered" gw.err &&
	echo quit | raw CP004 --protocol ocpp2.0.1 --protocol ocpp1.6 &&
	grep -qxF "connected ocpp1.6" raw.out
'

test_expect_success 'Pending while Central does not answer, Accepted once it does' '
	bg_kill central &&
	charger c4 CP004 &&
	say c4 boot &&
	saw c4 "boot Pending 2" 10 &&
	bg central "$EVC" central &&
	wait_for 30 "grep -q \"CP004 registered\" central.err" &&
	say c4 boot &&
	saw c4 "boot Accepted 5" &&
	wait_for 15 "test \"\$(state CP004)\" = ACTIVE"
'

# --- sessions --------------------------------------------------------------

# check_ticket OUT KWH EUR PRICE REASON: the ticket line of evc auth --wait.
check_ticket()
{
	grep -qxF "ticket at $1: $2 kWh, $3 EUR at $4 EUR/kWh ($5)" "$6"
}

test_expect_success 'remote start: evc auth --wait, RemoteStart, meter values, ticket of the meter difference' '
	say c1 "reading 1000000" &&
	bg auth "$EVC" auth --wait D1 CP001 &&
	saw c1 "< RemoteStartTransaction D1" &&
	wait_for 10 "grep -q \"^start D1 Accepted tx=\" c1.out" &&
	wait_for 10 "grep -q \"^charging started at CP001\" auth.out" &&
	say c1 "meter 1000400 11000" &&
	saw c1 "meter ok" &&
	wait_for 10 "grep -qF \"charging at CP001: 11.0 kW, 0.4 kWh\" auth.out" &&
	say c1 "meterk 1001.234 7.4" &&
	wait_for 10 "grep -qF \"charging at CP001: 7.4 kW, 1.234 kWh\" auth.out" &&
	say c1 "reading 1001834" "stop EVDisconnected" &&
	saw c1 "stop ok" &&
	bg_wait auth 15 &&
	check_ticket CP001 1.834 0.64 0.35 unplugged auth.out &&
	ends CP001 D1 | tail -n 1 >end &&
	test "$(field wh <end)" = 1834 &&
	test "$(field reason <end)" = unplugged &&
	wait_for 10 "test \"\$(state CP001)\" = ACTIVE"
'

test_expect_success 'a start the charger rejects ends with nothing billed' '
	charger c5 CP005 --reject &&
	say c5 boot &&
	saw c5 "boot Accepted 5" &&
	wait_for 10 "test \"\$(state CP005)\" = ACTIVE" &&
	"$EVC" auth --wait D5 CP005 >auth5.out 2>auth5.err &&
	grep -q "< RemoteStartTransaction D5" c5.out &&
	check_ticket CP005 0.0 0.00 0.50 cancelled auth5.out &&
	grep -q "CP005: the charger did not take '\''D5'\''" gw.err
'

test_expect_success 'no StartTransaction in time: the session ends, nothing billed' '
	say c5 quit && bg_wait c5 10 &&
	charger c5 CP005 --no-auto &&
	say c5 boot &&
	saw c5 "boot Accepted 5" &&
	wait_for 10 "test \"\$(state CP005)\" = ACTIVE" &&
	"$EVC" auth --wait D6 CP005 >auth6.out 2>auth6.err &&
	grep -q "^charging started at CP005" auth6.out &&
	check_ticket CP005 0.0 0.00 0.50 cancelled auth6.out &&
	grep -q "CP005: no StartTransaction for '\''D6'\'' in 3 s" gw.err
'

# --- local starts, and Central's decisions as the charger sees them ---------

test_expect_success 'local start: Authorize, StartTransaction, a ticket for the driver' '
	say c1 "authorize D2" &&
	saw c1 "authorize D2 Accepted" &&
	say c1 "reading 5000" "start D2" &&
	saw c1 "start D2 Accepted tx=2" &&
	wait_for 10 "test \"\$(state CP001)\" = SUPPLYING" &&
	say c1 "meter 5600 11000" &&
	saw c1 "meter ok" &&
	say c1 "authorize D8" &&
	saw c1 "authorize D8 Blocked" &&
	say c1 "stop Local" &&
	saw c1 "stop ok" &&
	wait_for 10 "ends CP001 D2 | grep -q ." &&
	test "$(ends CP001 D2 | field wh)" = 600 &&
	"$EVC" driver D2 >out 2>err &&
	grep -qxF "last session at CP001: ticket 0.6 kWh, 0.21 EUR at 0.35 EUR/kWh (cancelled)" out
'

test_expect_success 'Central refuses: out of order and broken are Blocked' '
	"$EVC" central stop CP001 &&
	saw c1 "< ChangeAvailability 0 Inoperative" &&
	wait_for 10 "test \"\$(state CP001)\" = STOPPED" &&
	say c1 "authorize D3" &&
	saw c1 "authorize D3 Blocked" &&
	"$EVC" central resume CP001 &&
	saw c1 "< ChangeAvailability 0 Operative" &&
	wait_for 10 "test \"\$(state CP001)\" = ACTIVE" &&
	say c1 "status 1 Faulted" &&
	wait_for 10 "test \"\$(state CP001)\" = BROKEN" &&
	say c1 "authorize D3" &&
	saw c1 "authorize D3 Blocked" &&
	say c1 "status 1 Available" &&
	wait_for 10 "test \"\$(state CP001)\" = ACTIVE"
'

test_expect_success 'a driver charging elsewhere is ConcurrentTx; a bad idTag Invalid' '
	bg cpsim "$EVC" cp CPSIM &&
	wait_for 20 "test \"\$(state CPSIM)\" = ACTIVE" &&
	bg sim "$EVC" auth --wait --seconds 60 D7 CPSIM &&
	wait_for 10 "grep -q \"^charging started at CPSIM\" sim.out" &&
	say c1 "authorize D7" &&
	saw c1 "authorize D7 ConcurrentTx" &&
	say c1 "authorize bad~tag" &&
	saw c1 "authorize bad~tag Invalid" &&
	"$EVC" cp CPSIM unplug &&
	bg_wait sim 10
'

test_expect_success 'an OCPP charger and an evc cp CP charge at once, each billed its own' '
	bg sim "$EVC" auth --wait --seconds 2 D7 CPSIM &&
	bg auth "$EVC" auth --wait D8 CP001 &&
	saw c1 "< RemoteStartTransaction D8" &&
	wait_for 10 "grep -q \"^start D8 Accepted\" c1.out" &&
	wait_for 10 "test \"\$(state CPSIM)\" = SUPPLYING" &&
	test "$(state CP001)" = SUPPLYING &&
	say c1 "meter 5900 22000" "stop EVDisconnected" &&
	bg_wait auth 15 &&
	check_ticket CP001 0.3 0.11 0.35 unplugged auth.out &&
	bg_wait sim 15 &&
	grep -q "^ticket at CPSIM: 2.0 kWh, 0.90 EUR at 0.45 EUR/kWh (finished)" sim.out
'

# --- Central's commands, the driver's stop ---------------------------------------

test_expect_success 'Central stops a charging CP: Inoperative, RemoteStop, ticket (stopped)' '
	say c1 "reading 10000" &&
	bg auth "$EVC" auth --wait D3 CP001 &&
	wait_for 10 "grep -q \"^start D3 Accepted\" c1.out" &&
	say c1 "meter 10250 11000" &&
	wait_for 10 "grep -qF \"0.25 kWh\" auth.out" &&
	"$EVC" central stop CP001 &&
	wait_for 10 "grep -q \"^< RemoteStopTransaction\" c1.out" &&
	test_expect_code 1 bg_wait auth 15 &&
	check_ticket CP001 0.25 0.09 0.35 stopped auth.out &&
	wait_for 10 "test \"\$(state CP001)\" = STOPPED" &&
	"$EVC" central resume CP001 &&
	wait_for 10 "test \"\$(state CP001)\" = ACTIVE"
'

# drive ID: a driver reading its commands from the fifo "in" (fd 9).
drive()
{
	exec "$EVC" driver "$@" <"$TEST_DIR/in" 9>&-
}

test_expect_success 'a driver stops its charge: RemoteStopTransaction, ticket (cancelled)' '
	mkfifo in &&
	exec 9<>in &&
	bg d4 drive D4 &&
	echo "charge CP001" >&9 &&
	wait_for 10 "grep -q \"^start D4 Accepted\" c1.out" &&
	say c1 "meter 10400 11000" &&
	wait_for 10 "grep -qF \"0.15 kWh\" d4.out" &&
	echo stop >&9 &&
	wait_for 10 "grep -q \"^ticket at CP001: 0.15 kWh, 0.05 EUR at 0.35 EUR/kWh (cancelled)\" d4.out" &&
	echo quit >&9 &&
	bg_wait d4 10 &&
	exec 9>&-
'

# --- offline, and restarts ---------------------------------------------------------

test_expect_success 'a charger offline mid-charge: its queued values bill the exact energy' '
	say c1 "reading 20000" &&
	bg auth "$EVC" auth --wait D5 CP001 &&
	wait_for 10 "grep -q \"^start D5 Accepted\" c1.out" &&
	say c1 "meter 20200 11000" &&
	wait_for 10 "grep -qF \"0.2 kWh\" auth.out" &&
	say c1 offline &&
	saw c1 offline &&
	say c1 "meter 20300 11000" "meter 20500 11000" "stop EVDisconnected" &&
	sleep 7 &&
	test "$(state CP001)" = SUPPLYING &&
	say c1 online &&
	saw c1 "sent StopTransaction" &&
	bg_wait auth 15 &&
	check_ticket CP001 0.5 0.18 0.35 unplugged auth.out
'

test_expect_success 'the gateway killed mid-charge and restarted loses nothing' '
	say c1 "reading 30000" &&
	bg auth "$EVC" auth --wait D6 CP001 &&
	wait_for 10 "grep -q \"^start D6 Accepted\" c1.out" &&
	say c1 "meter 30100 11000" &&
	wait_for 10 "grep -qF \"0.1 kWh\" auth.out" &&
	port=$PORT_gw &&
	{ bg_kill gw KILL || :; } &&
	mv gw.err gw-killed.err &&
	gateway gw -l 127.0.0.1:$port &&
	grep -q "CP001: took back session .* for '\''D6'\''" gw.err &&
	say c1 online &&
	saw c1 connected &&
	say c1 "meter 30700 11000" "stop EVDisconnected" &&
	saw c1 "stop ok" &&
	bg_wait auth 15 &&
	check_ticket CP001 0.7 0.25 0.35 unplugged auth.out &&
	test "$(ends CP001 D6 | wc -l)" = 1
'

test_expect_success 'Central silent: an Authorize is Invalid after ocpp.central_wait_ms' '
	bg_kill central &&
	say c1 "authorize D9" &&
	saw c1 "authorize D9 Invalid" 10 &&
	bg central "$EVC" central &&
	wait_for 30 "grep -q \"ready:\" central.err"
'

# --- several gateways -----------------------------------------------------------

test_expect_success 'two gateways: a command reaches the one that holds the charger' '
	say c5 quit && bg_wait c5 10 &&
	gateway gw2 &&
	test "$PORT_gw2" != "$PORT_gw" &&
	charger c5 CP005 &&
	say c5 boot &&
	saw c5 "boot Accepted 5" &&
	wait_for 10 "test \"\$(state CP005)\" = ACTIVE" &&
	say c5 "reading 700" &&
	bg auth5 "$EVC" auth --wait D9 CP005 &&
	saw c5 "< RemoteStartTransaction D9" &&
	wait_for 10 "grep -q \"^start D9 Accepted tx=1\" c5.out" &&
	say c5 "meter 1900 7000" "stop EVDisconnected" &&
	bg_wait auth5 15 &&
	check_ticket CP005 1.2 0.60 0.50 unplugged auth5.out &&
	! grep -q CP005 gw.err &&
	"$EVC" central stop CP001 &&
	saw c1 "< ChangeAvailability 0 Inoperative" &&
	"$EVC" central resume CP001 &&
	saw c1 "< ChangeAvailability 0 Operative" &&
	! grep -q CP001 gw2.err
'

# --- security profiles 1 and 2 --------------------------------------------------

test_expect_success 'profile 1: a hashed password; wrong or missing gets 401, logged' '
	hash=$(openssl passwd -6 -salt evctest "s3cret-password-1") &&
	cp evc.yaml sec.yaml &&
	printf "  passwords:\n    CP003: \"%s\"\n" "$hash" >>sec.yaml &&
	"$EVC" ocpp -n -c sec.yaml &&
	gateway sec -c sec.yaml &&
	echo quit | raw CP003 --password wrong-password &&
	grep -qxF "refused 401" raw.out &&
	echo quit | raw CP003 &&
	grep -qxF "refused 401" raw.out &&
	grep -q "refused '\''CP003'\'' from 127.0.0.1: bad or missing password" sec.err &&
	charger c6 CP003 --password s3cret-password-1 &&
	say c6 boot &&
	saw c6 "boot Accepted 5" &&
	echo quit | raw CP004 &&
	grep -qxF "connected ocpp1.6" raw.out &&
	say c6 quit && bg_wait c6 10 && bg_kill sec
'

test_expect_success 'off loopback, a charger without a password is refused' '
	gateway open -c sec.yaml -l "*:0" &&
	grep -q "chargers without a password in ocpp.passwords are refused" open.err &&
	echo quit | raw CP004 &&
	grep -qxF "refused 401" raw.out &&
	echo quit | raw CP003 --password s3cret-password-1 &&
	grep -qxF "connected ocpp1.6" raw.out &&
	bg_kill open
'

test_expect_success 'profile 2: the same over TLS, with a certificate made here' '
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout key.pem -out cert.pem 2>openssl.err &&
	cp sec.yaml tls.yaml &&
	printf "  tls:\n    cert: cert.pem\n    key: key.pem\n" >>tls.yaml &&
	gateway tls -c tls.yaml &&
	grep -q "(wss, TLS)" tls.err &&
	SCHEME=wss charger c7 CP003 --password s3cret-password-1 --cafile cert.pem &&
	say c7 boot &&
	saw c7 "boot Accepted 5" &&
	echo quit | SCHEME=wss raw CP003 --password nope --cafile cert.pem &&
	grep -qxF "refused 401" raw.out &&
	echo quit | raw CP003 --password s3cret-password-1 &&
	grep -qx "refused .*" raw.out &&
	say c7 quit && bg_wait c7 10 && bg_kill tls
'

# --- bad input --------------------------------------------------------------------

test_expect_success 'frames that break OCPP-J or 1.6 get their CALLERROR' '
	PORT=$PORT_gw &&
	raw CP002 <<-\EOF &&
	text hello
	text [1,2,3]
	text [2,"a1","Launch",{}]
	text [2,"a2","Reset",{"type":"Hard"}]
	text [2,"a3","BootNotification",{"chargePointVendor":"V"}]
	text [2,"a4","BootNotification",{"chargePointVendor":"V","chargePointModel":"M","colour":"red"}]
	text [2,"a5","StatusNotification",{"connectorId":"1","errorCode":"NoError","status":"Available"}]
	text [2,"a6","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}]
	text [2,"a7","MeterValues",{"connectorId":1,"meterValue":[]}]
	text [2,"a8","Heartbeat",{}]
	wait 1
	quit
	EOF
	grep -q "^< \[4,\"-1\",\"FormationViolation\",\"bad json" raw.out &&
	grep -qxF "< [4,\"-1\",\"ProtocolError\",\"bad message type\",{}]" raw.out &&
	grep -qxF "< [4,\"a1\",\"NotImplemented\",\"unknown action '\''Launch'\''\",{}]" raw.out &&
	grep -qxF "< [4,\"a2\",\"NotSupported\",\"action '\''Reset'\'' is not taken here\",{}]" raw.out &&
	grep -qxF "< [4,\"a3\",\"ProtocolError\",\"missing field '\''chargePointModel'\''\",{}]" raw.out &&
	grep -qxF "< [4,\"a4\",\"FormationViolation\",\"unknown field '\''colour'\''\",{}]" raw.out &&
	grep -qxF "< [4,\"a5\",\"TypeConstraintViolation\",\"'\''connectorId'\'' must be an integer\",{}]" raw.out &&
	grep -qxF "< [4,\"a6\",\"PropertyConstraintViolation\",\"bad value for '\''status'\''\",{}]" raw.out &&
	grep -qxF "< [4,\"a7\",\"OccurenceConstraintViolation\",\"'\''meterValue'\'' needs at least 1 element\",{}]" raw.out &&
	grep -q "^< \[3,\"a8\",{\"currentTime\":" raw.out &&
	grep -q "CP002: refused a frame: NotImplemented" gw.err
'

# A flood is closed with 1008, or reset (1006) when the charger is still
# sending as the gateway closes: what it sent is not read any more.
test_expect_success 'a binary frame, a frame too big, a flood: the connection is closed' '
	printf "binary\nwait 1\nquit\n" | raw CP002 &&
	grep -qxF "closed 1003" raw.out &&
	printf "big 70000\nwait 1\nquit\n" | raw CP002 &&
	grep -qxF "closed 1009" raw.out &&
	printf "flood 400 [2,\"f\",\"Heartbeat\",{}]\nwait 2\nquit\n" | raw CP002 &&
	grep -qxE "closed (1008|1006)" raw.out &&
	test "$(grep -c "^< \[3,\"f\"" raw.out)" -le 200
'

test_expect_success 'a connection that never completes its handshake is closed' '
	start=$(_now_ms) &&
	exec 3<>/dev/tcp/127.0.0.1/$PORT_gw &&
	printf "GET /ocpp/CP002 HTTP/1.1\r\n" >&3 &&
	timeout 15 cat <&3 >/dev/null;
	exec 3>&- &&
	elapsed=$(($(_now_ms) - start)) &&
	echo "closed after $elapsed ms" &&
	test $elapsed -lt 12000
'

test_expect_success 'and the chargers on the gateway go on' '
	say c1 heartbeat &&
	wait_for 10 "test \$(grep -c \"^heartbeat ok\" c1.out) -ge 2" &&
	test "$(state CP001)" = ACTIVE
'

test_expect_success 'an address already taken: exit 1, in a line naming it' '
	test_expect_code 1 "$EVC" ocpp -l "127.0.0.1:$PORT_gw" 2>taken.err &&
	cat taken.err &&
	grep -qxF "evc ocpp: cannot listen on '\''127.0.0.1:$PORT_gw'\'' (see the line above)" taken.err &&
	! grep -q "stats:\|journal" taken.err
'

test_expect_success 'SIGTERM: the gateway stops, says what it counted, exits 0' '
	bg_kill gw2 &&
	bg_kill gw &&
	grep -q "stats: frames [0-9]*, refused [1-9][0-9]*, floods 1," gw.err
'
