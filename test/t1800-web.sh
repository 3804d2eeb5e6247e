#!/usr/bin/env bash
# t1800-web.sh: evc web: every endpoint and status code of its API against Kafka, the token, the catalogue end to end (a CP added over HTTP charges, a removed one is refused, a new price shows on the next ticket), stop and resume reaching Central, the event stream, bad input kept from Kafka, TLS.
. "$(dirname "$0")/lib.sh"

unset EVC_WEB_TOKEN
TOKEN=operator-token-0123456789
RTOKEN=reader-token-0123456789

need_command curl

# records TOPIC: every record of the test's TOPIC, one per line.
records()
{
	kc -C -t "$(topic "$1")" -o beginning -e -q -Z -f '%k=%s\n' 2>/dev/null
}

# web NAME [ARGS...]: evc web in the background; $NAME_url is its address.
web()
{
	local name=$1 port

	shift
	bg "$name" "$EVC" web -l 127.0.0.1:0 "$@" &&
		wait_for 40 "grep -q \"listening on\" $name.err" &&
		port=$(sed -n "s/.*listening on [^ ]*:\([0-9]*\) .*/\1/p" "$name.err") &&
		eval "${name}_url=http://127.0.0.1:$port"
}

# api METHOD PATH [CURL ARGS...]: the status in $code, the body in body,
# the head in head, from the web started first.
api()
{
	local m=$1 p=$2

	shift 2
	code=$(curl -s --path-as-is -D head -o body -w '%{http_code}' -X "$m" \
		--max-time 20 "$@" "$URL$p")
}

auth() { printf 'Authorization: Bearer %s' "${1:-$TOKEN}"; }

# is_error CODE: the answer was CODE with a JSON error body.
is_error()
{
	test "$code" = "$1" &&
	grep -qi "^content-type: application/json" head &&
	python3 -c 'import json,sys; d=json.load(open("body")); sys.exit(not (set(d) == {"error","subject"}))' ||
		{ echo "got $code:"; cat head body; return 1; }
}

# field CP KEY: KEY of CP as GET /api/cps/CP says.
field()
{
	curl -s "$URL/api/cps/$1" |
		python3 -c "import json,sys; print(json.load(sys.stdin).get('$2'))"
}

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
EOF

# --- without Kafka -----------------------------------------------------------

test_expect_success 'usage text is the SYNOPSIS of evc-web(1)' '
	"$EVC" web -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-web.1" |
		grep "^evc web" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'bad flags and configuration: exit 2, naming them' '
	printf "web:\n  listen: 127.0.0.1:8080\n" >ok.yaml &&
	"$EVC" web -n -c ok.yaml &&
	test_expect_code 2 "$EVC" web -n -c ok.yaml -l nowhere 2>err &&
	grep -qxF "evc web: bad --listen (ADDR:PORT): '\''nowhere'\''" err &&
	printf "web:\n  token: short\n" >bad.yaml &&
	test_expect_code 2 "$EVC" web -n -c bad.yaml 2>err &&
	grep -q "bad.yaml:2: expected 16 to 256 printable characters" err &&
	printf "web:\n  tls:\n    cert: nope.pem\n    key: nope.key\n" >tls.yaml &&
	test_expect_code 2 "$EVC" web -n -c tls.yaml 2>err &&
	grep -q "cannot read web.tls.cert" err &&
	EVC_WEB_TOKEN="a b" test_expect_code 2 "$EVC" web -n -c ok.yaml 2>err &&
	grep -q "EVC_WEB_TOKEN is not" err &&
	test_expect_code 2 "$EVC" web -c ok.yaml stray 2>err
'

test_expect_success 'Kafka unreachable: exit 3' '
	test_expect_code 3 "$EVC" web -c ok.yaml -b 127.0.0.1:9 2>err &&
	grep -qF "cannot reach Kafka at '\''127.0.0.1:9'\''" err
'

# --- against Kafka -----------------------------------------------------------

need_kafka
# 3600 kW: 200 Wh a tick (200 ms), so that a kWh takes a second.
test_config <<-EOF
	central:
	  catalogue: cps.yaml
	cp:
	  power_kw: 3600
	  default_kwh: 1
	web:
	  token: $TOKEN
EOF

test_expect_success 'Central, CP001 and evc web start; web reads what Kafka holds' '
	bg central "$EVC" central &&
	wait_for 40 "grep -q \"ready: \" central.err" &&
	bg cp1 "$EVC" cp CP001 &&
	wait_for 20 "grep -q \"CP001 ACTIVE\" central.err" &&
	web web &&
	URL=$web_url &&
	grep -q "writes need the token" web.err
'

test_expect_success 'GET / and /api/openapi.json: the page and the OpenAPI document' '
	api GET / && test "$code" = 200 &&
	grep -qi "^content-type: text/html" head && grep -q "<html" body &&
	api GET /api/openapi.json && test "$code" = 200 &&
	python3 -c "import json; d=json.load(open(\"body\")); assert d[\"openapi\"].startswith(\"3.0\"); assert \"/api/cps/{id}\" in d[\"paths\"]"
'

test_expect_success 'GET /api/cps: every CP by id, every state counted' '
	wait_for 10 "test \"\$(field CP001 state)\" = ACTIVE" &&
	api GET /api/cps && test "$code" = 200 &&
	python3 - <<-\PY
	import json
	d = json.load(open("body"))
	assert d["total"] == 2, d
	assert d["counts"] == {"DISCONNECTED": 1, "ACTIVE": 1, "SUPPLYING": 0, "STOPPED": 0, "BROKEN": 0, "REVOKED": 0}, d
	assert [c["id"] for c in d["cps"]] == ["CP001", "CP002"], d
	c = d["cps"][0]
	assert c["color"] == "green" and c["location"] == "Alicante" and c["price"] == 0.35, c
	assert c["driver"] is None and c["kw"] is None and c["registered"] is True, c
	assert d["cps"][1]["state"] == "DISCONNECTED" and d["cps"][1]["color"] == "grey"
	PY
'

test_expect_success 'filters: state, q, offset and limit; bad ones 400' '
	api GET "/api/cps?state=ACTIVE" && test "$code" = 200 &&
	grep -q "\"total\":1" body && grep -q CP001 body && ! grep -q CP002 body &&
	api GET "/api/cps?q=MADR" && grep -q "\"total\":1" body && grep -q CP002 body &&
	api GET "/api/cps?offset=1&limit=1" && grep -q "\"total\":2" body &&
	grep -q CP002 body && ! grep -q "\"id\":\"CP001\"" body &&
	api GET "/api/cps?state=HAPPY" && is_error 400 &&
	api GET "/api/cps?limit=x" && is_error 400 &&
	api GET "/api/cps?colour=red" && is_error 400
'

test_expect_success 'GET /api/cps/ID: 200, 404 unknown, 400 not a CP id' '
	api GET /api/cps/CP001 && test "$code" = 200 && grep -q "\"id\":\"CP001\"" body &&
	api GET /api/cps/CP999 && is_error 404 &&
	api GET /api/cps/.probe && is_error 400
'

test_expect_success 'writes without the token or with a wrong one: 401 with a challenge' '
	api POST /api/cps/CP001/stop && is_error 401 &&
	grep -qi "^www-authenticate: Bearer" head &&
	api POST /api/cps/CP001/stop -H "$(auth wrong-token-0123456789)" && is_error 401 &&
	api POST /api/stop-all -H "Authorization: Basic b3A6b3A=" && is_error 401 &&
	api PUT /api/cps/CP777 -d "{\"location\":\"x\",\"price\":1}" && is_error 401 &&
	api DELETE /api/cps/CP002 && is_error 401 &&
	! records control | grep -q "\"cmd\":\"stop\""
'

test_expect_success 'the event stream: hello, then a CP stopped over HTTP, then resumed' '
	bg sse curl -sN "$URL/api/events" &&
	wait_for 10 "grep -q \"^event: hello\" sse.out" &&
	grep -q "^data: {\"counts\":{.*\"ACTIVE\":1.*},\"total\":2}" sse.out &&
	api POST /api/cps/CP001/stop -H "$(auth)" && test "$code" = 202 &&
	grep -qx "{\"ok\":true,\"sent\":1}" body &&
	wait_for 10 "grep -q \"^data: {\\\"id\\\":\\\"CP001\\\",\\\"state\\\":\\\"STOPPED\\\",\\\"color\\\":\\\"orange\\\"\" sse.out" &&
	wait_for 5 "grep -q \"^event: counts\" sse.out" &&
	test "$(field CP001 state)" = STOPPED &&
	api POST /api/cps/CP001/resume -H "$(auth)" && test "$code" = 202 &&
	wait_for 10 "test \"\$(field CP001 state)\" = ACTIVE" &&
	wait_for 10 "grep \"CP001\" sse.out | tail -n 1 | grep -q \"\\\"state\\\":\\\"ACTIVE\\\"\""
'

test_expect_success 'stop-all and resume-all reach Central' '
	api POST /api/stop-all -H "$(auth)" && test "$code" = 202 &&
	wait_for 10 "test \"\$(field CP001 state)\" = STOPPED" &&
	api POST /api/resume-all -H "$(auth)" && test "$code" = 202 &&
	wait_for 10 "test \"\$(field CP001 state)\" = ACTIVE" &&
	test "$(records control | grep -c "\"all\":true")" = 2 &&
	api POST /api/cps/CP999/stop -H "$(auth)" && is_error 404
'

test_expect_success 'a CP added over HTTP (201) registers and charges; its session and ticket are served' '
	api PUT /api/cps/CP100 -H "$(auth)" -H "Content-Type: application/json" \
		-d "{\"location\":\"Elche\",\"price\":0.5,\"power_kw\":3600}" &&
	test "$code" = 201 && grep -qx "{\"ok\":true}" body &&
	wait_for 10 "grep -q \"CP100 added to the catalogue\" central.err" &&
	wait_for 10 "test \"\$(field CP100 registered)\" = True" &&
	bg cp100 "$EVC" cp CP100 &&
	wait_for 20 "test \"\$(field CP100 state)\" = ACTIVE" &&
	bg a "$EVC" auth --wait --kwh 3 D1 CP100 &&
	wait_for 10 "test \"\$(field CP100 state)\" = SUPPLYING" &&
	api GET /api/sessions && test "$code" = 200 &&
	grep -q "{\"cp\":\"CP100\",\"driver\":\"D1\",\"session\":\"[0-9a-f]*\",\"kw\":" body &&
	test "$(field CP100 driver)" = D1 &&
	bg_wait a 20 &&
	grep -qxF "ticket at CP100: 3.0 kWh, 1.50 EUR at 0.50 EUR/kWh (finished)" a.out &&
	wait_for 10 "curl -s $URL/api/tickets | grep -q \"\\\"cp\\\":\\\"CP100\\\",\\\"driver\\\":\\\"D1\\\"\"" &&
	api GET /api/tickets &&
	grep -q "\"kwh\":3.000,\"eur\":1.50,\"price\":0.5," body &&
	grep -q "^event: ticket" sse.out
'

test_expect_success 'a new price over HTTP (200) shows on the next ticket' '
	api PUT /api/cps/CP100 -H "$(auth)" -d "{\"location\":\"Elche\",\"price\":0.7}" &&
	test "$code" = 200 &&
	wait_for 10 "grep -q \"CP100 price 0.70 EUR/kWh, was 0.50\" central.err" &&
	"$EVC" auth --wait --kwh 1 D2 CP100 >out 2>err &&
	grep -qxF "ticket at CP100: 1.0 kWh, 0.70 EUR at 0.70 EUR/kWh (finished)" out &&
	wait_for 10 "curl -s $URL/api/tickets | grep -q \"\\\"driver\\\":\\\"D2\\\"\"" &&
	api GET /api/tickets &&
	python3 -c "import json; t=json.load(open(\"body\"))[\"tickets\"]; assert t[0][\"driver\"] == \"D2\" and t[0][\"price\"] == 0.7 and t[1][\"driver\"] == \"D1\", t"
'

test_expect_success 'a CP removed over HTTP (200) is refused; removed again: 404' '
	api DELETE /api/cps/CP100 -H "$(auth)" && test "$code" = 200 &&
	grep -qx "{\"ok\":true}" body &&
	wait_for 10 "grep -q \"CP100 forgotten: off the catalogue\" central.err" &&
	test_expect_code 1 "$EVC" auth D3 CP100 2>err &&
	grep -qxF "evc auth: denied: CP100 is not known to Central" err &&
	wait_for 10 "curl -s -o /dev/null -w %{http_code} $URL/api/cps/CP100 | grep -qx 404" &&
	api DELETE /api/cps/CP100 -H "$(auth)" && is_error 404
'

test_expect_success 'the audit trail: one record per write asked, refused ones too, no token on it' '
	"$EVC" audit --json >trail 2>err &&
	python3 - "$TOKEN" <<-\EOF
	import json, sys
	recs = [json.loads(l) for l in open("trail")]
	web = [r for r in recs if r["actor"]["kind"] == "console"]
	seen = [(r["action"], r["subject"], r["result"], r["actor"]["name"]) for r in web]
	def has(*want):
	    assert tuple(want) in seen, (want, seen)
	has("stop", "CP001", "refused", "anonymous")
	has("stop-all", "", "refused", "anonymous")
	has("cp-add", "CP777", "refused", "anonymous")
	has("stop", "CP001", "ok", "token")
	has("resume-all", "", "ok", "token")
	has("stop", "CP999", "failed", "token")
	has("cp-add", "CP100", "ok", "token")
	has("cp-change", "CP100", "ok", "token")
	has("cp-remove", "CP100", "ok", "token")
	has("cp-remove", "CP100", "failed", "token")
	assert all(r["actor"]["host"] == "127.0.0.1" for r in web), web
	add = [r for r in web if r["action"] == "cp-add" and r["result"] == "ok"][0]
	assert add["detail"].startswith("location \x27Elche\x27, 0.50 EUR/kWh"), add
	assert not any(sys.argv[1] in json.dumps(r) for r in recs)
	EOF
'

test_expect_success 'bad input: each its 4xx, nothing reaches Kafka' '
	records cp_catalogue >cat.before && records control >ctl.before &&
	H="$(auth)" &&
	api PUT /api/cps/CP200 -H "$H" -d "{\"location\":" && is_error 400 &&
	grep -q "malformed JSON" body &&
	api PUT /api/cps/CP200 -H "$H" -d "{\"location\":\"x\",\"price\":1,\"owner\":\"me\"}" &&
	is_error 400 && grep -q "unknown field" body &&
	api PUT /api/cps/CP200 -H "$H" -d "{\"location\":\"x\",\"price\":\"1\"}" && is_error 400 &&
	api PUT /api/cps/CP200 -H "$H" -d "{\"location\":\"x\",\"price\":-0.35}" && is_error 400 &&
	grep -q "price not from 0 to 1000" body &&
	api PUT /api/cps/CP200 -H "$H" -d "{\"location\":\"x\",\"price\":1e300}" && is_error 400 &&
	api PUT /api/cps/CP200 -H "$H" -d "{\"price\":1}" && is_error 400 &&
	api PUT /api/cps/C%20P -H "$H" -d "{\"location\":\"x\",\"price\":1}" && is_error 400 &&
	api PUT /api/cps/.probe -H "$H" -d "{\"location\":\"x\",\"price\":1}" && is_error 400 &&
	head -c 100000 /dev/zero | tr "\\0" a >big &&
	api PUT /api/cps/CP200 -H "$H" --data-binary @big && is_error 413 &&
	grep -qi "^connection: close" head &&
	api PUT /api/cps/CP200 -H "$H" -H "Transfer-Encoding: chunked" \
		-d "{\"location\":\"x\",\"price\":1}" && is_error 411 &&
	api POST /api/cps -H "$H" && is_error 405 && grep -qi "^allow: GET" head &&
	api PATCH /api/cps/CP001 -H "$H" && is_error 405 &&
	grep -qi "^allow: GET, PUT, DELETE" head &&
	api GET /api/stop-all && is_error 405 && grep -qi "^allow: POST" head &&
	api GET /api/../../etc/passwd && is_error 404 &&
	api GET /api/cps/CP001/../../../etc/passwd && is_error 404 &&
	api POST /api/cps/CP001%2Fhalt -H "$H" && is_error 404 &&
	api GET "/api/sessions?x=1" && is_error 400 &&
	api GET "/api/cps/$(printf "%01500d" 0)" && is_error 414 &&
	api GET /nothing/here && is_error 404 &&
	sleep 1 &&
	records cp_catalogue >cat.after && records control >ctl.after &&
	cmp cat.before cat.after && cmp ctl.before ctl.after
'

test_expect_success 'a client that sends half a request is let go within 15 s' '
	python3 - "$URL" <<-\PY &&
	import socket, sys, time
	host, port = sys.argv[1].split("//")[1].split(":")
	s = socket.create_connection((host, int(port)))
	s.sendall(b"GET /api/cps HTTP/1.1\r\nHost: x\r\n")
	s.settimeout(15)
	t = time.time()
	assert s.recv(100) == b"", "answered"
	assert time.time() - t < 15
	PY
	curl -sf -o /dev/null "$URL/api/cps"
'

test_expect_success 'without a token: writes open on loopback only (403 elsewhere)' '
	grep -v "token:" evc.yaml >notoken.yaml &&
	EVC_CONFIG=$TEST_DIR/notoken.yaml web open &&
	grep -q "writes open: no token, on loopback" open.err &&
	code=$(curl -s -o /dev/null -w %{http_code} -X POST "$open_url/api/cps/CP999/stop") &&
	test "$code" = 404 &&
	bg wide "$EVC" web -c notoken.yaml -l 0.0.0.0:0 &&
	wait_for 40 "grep -q \"listening on\" wide.err" &&
	grep -q "writes refused: no token" wide.err &&
	port=$(sed -n "s/.*listening on [^ ]*:\([0-9]*\) .*/\1/p" wide.err) &&
	code=$(curl -s -o /dev/null -w %{http_code} -X POST "http://127.0.0.1:$port/api/cps/CP001/stop") &&
	test "$code" = 403 &&
	code=$(curl -s -o /dev/null -w %{http_code} "http://127.0.0.1:$port/api/cps") &&
	test "$code" = 200 &&
	bg_kill open && bg_kill wide
'

test_expect_success 'web.read_token: reads need it, and $EVC_WEB_TOKEN beats web.token' '
	sed "s/^  token: .*/  token: $TOKEN\n  read_token: $RTOKEN/" evc.yaml >read.yaml &&
	EVC_CONFIG=$TEST_DIR/read.yaml EVC_WEB_TOKEN=env-token-0123456789 web reader &&
	code=$(curl -s -o /dev/null -w %{http_code} "$reader_url/api/cps") &&
	test "$code" = 401 &&
	code=$(curl -s -o /dev/null -w %{http_code} -H "$(auth $RTOKEN)" "$reader_url/api/cps") &&
	test "$code" = 200 &&
	code=$(curl -s -o /dev/null -w %{http_code} -X POST -H "$(auth)" "$reader_url/api/cps/CP999/stop") &&
	test "$code" = 401 &&
	code=$(curl -s -o /dev/null -w %{http_code} -X POST -H "$(auth env-token-0123456789)" "$reader_url/api/cps/CP999/stop") &&
	test "$code" = 404 &&
	bg_kill reader
'

if command -v openssl >/dev/null 2>&1; then
test_expect_success 'web.tls: HTTPS' '
	openssl req -x509 -newkey rsa:2048 -nodes -keyout web.key -out web.pem \
		-days 1 -subj /CN=localhost >/dev/null 2>&1 &&
	sed "s/^web:\$/web:\n  tls:\n    cert: web.pem\n    key: web.key/" evc.yaml >tls.yaml &&
	grep -q "cert: web.pem" tls.yaml &&
	EVC_CONFIG=$TEST_DIR/tls.yaml web secure &&
	grep -q "(https)" secure.err &&
	url=$(echo "$secure_url" | sed s/^http:/https:/) &&
	curl -sk "$url/api/cps/CP001" | grep -q "\"id\":\"CP001\"" &&
	bg_kill secure
'
else
	test_skip 'web.tls: HTTPS' 'no openssl'
fi

test_expect_success 'SIGTERM stops evc web cleanly (exit 0) and ends its streams' '
	bg_kill web &&
	bg_wait sse 10;
	! curl -s -o /dev/null "$URL/api/cps"
'

test_done
