#!/usr/bin/env bash
# t4400-keys.sh: a key per CP: forged, replayed and revoked messages refused and counted, rotation, signed commands.
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')

uuid() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
now() { date +%s%3N; }

# kid FILE: the key id of a key file.
kid() { sed -n 's/^kid=//p' "$1"; }

# mac FILE TOPIC KEY VALUE: the record's MAC under FILE's key, as
# evc-protocol(7) defines it, computed here without evc.
mac()
{
	python3 - "$@" <<'EOF'
import hashlib, hmac, struct, sys
f, topic, key, val = sys.argv[1:5]
k = dict(l.split('=', 1) for l in open(f).read().splitlines() if '=' in l)
t, r = topic.encode(), key.encode()
d = b'evc-seal-v1\0' + struct.pack('>I', len(t)) + t + struct.pack('>I', len(r)) + r + val.encode()
print(hmac.new(bytes.fromhex(k['key']), d, hashlib.sha256).hexdigest())
EOF
}

# put TOPIC KEY JSON [KIDFILE [MACFILE]]: one record on the test's TOPIC,
# with the kid of KIDFILE and a MAC made with MACFILE's key (default
# KIDFILE's); unsigned without KIDFILE.
put()
{
	local t h=()

	t=$(topic "$1")
	[ -z "${4-}" ] ||
		h=(-H "evc-kid=$(kid "$4")" -H "evc-mac=$(mac "${5:-$4}" "$t" "$2" "$3")")
	printf '%s\t%s\n' "$2" "$3" | kc -P -t "$t" -K "$tab" "${h[@]}"
}

msgs()
{
	kc -C -t "$(topic "$1")" -o beginning -e -q -f '%s\n' 2>/dev/null
}

# has TOPIC TEXT...: the messages of TOPIC holding every TEXT (fixed strings).
has()
{
	local t=$1 f=$TEST_DIR/.has p

	shift
	msgs "$t" >"$f"
	for p in "$@"; do
		grep -F -- "$p" "$f" >"$f.1" || return 1
		mv "$f.1" "$f"
	done
	cat "$f"
}

count() { has "$@" | wc -l; }

state()
{
	msgs cp_state | grep -F "\"cp\":\"$1\"" | tail -n 1 |
		sed -n 's/.*"state":"\([A-Z]*\)".*/\1/p'
}

wait_state() { wait_for "${3:-10}" "test \"\$(state $1)\" = $2"; }

reg_json()
{
	printf '{"v":1,"type":"register","id":"%s","ts":%s,"cp":"%s","location":"","engine_ok":%s}' \
		"$(uuid)" "$(now)" "$1" "${2:-true}"
}

beat_json()
{
	printf '{"v":1,"type":"health","id":"%s","ts":%s,"cp":"%s","engine_ok":%s,"seq":1}' \
		"$(uuid)" "$(now)" "$1" "${2:-true}"
}

tele_json()
{
	printf '{"v":1,"type":"telemetry","id":"%s","ts":%s,"cp":"%s","session":"%s","seq":%s,"kw":22,"wh":%s,"cents":0}' \
		"$(uuid)" "$(now)" "$1" "$2" "$3" "$4"
}

fin_json()
{
	printf '{"v":1,"type":"supply_end","id":"%s","ts":%s,"cp":"%s","session":"%s","seq":%s,"wh":%s,"cents":1,"price":9,"started":%s,"ended":%s,"reason":"finished"}' \
		"$(uuid)" "$(now)" "$1" "$2" "$3" "$4" "$(($(now) - 60000))" "$(now)"
}

# sbeats CP FILE: the CP's monitor, its heartbeats signed with FILE's key.
sbeats()
{
	while :; do
		put health "$1" "$(beat_json "$1")" "$2"
		sleep 0.3
	done
}

# ask CP DRIVER: an auth_request; its id in $req.
ask()
{
	req=$(uuid)
	put auth_request "$1" "{\"v\":1,\"type\":\"auth_request\",\"id\":\"$req\",\"ts\":$(now),\"cp\":\"$1\",\"driver\":\"$2\",\"target_wh\":100000,\"target_s\":0,\"timeout_ms\":0,\"cancel\":false}"
}

granted()
{
	wait_for 10 "has auth_response '\"request\":\"$1\"' '\"authorized\":true' >answer" &&
		sess=$(sed -n 's/.*"session":"\([0-9a-f]*\)".*/\1/p' answer | head -n 1) &&
		test ${#sess} = 32
}

# signed_records TOPIC KEY: the records keyed KEY on TOPIC, "KEY<tab>HEADERS<tab>VALUE".
signed_records()
{
	kc -C -t "$(topic "$1")" -o beginning -e -q -f '%k\t%h\t%s\n' 2>/dev/null |
		awk -F '\t' -v k="$2" '$1 == k'
}

# verifies FILE TOPIC LINE: LINE of signed_records carries FILE's kid and a MAC that FILE's key makes.
verifies()
{
	local key hdrs val want

	key=$(printf '%s' "$3" | cut -f 1)
	hdrs=$(printf '%s' "$3" | cut -f 2)
	val=$(printf '%s' "$3" | cut -f 3-)
	want=$(mac "$1" "$(topic "$2")" "$key" "$val")
	case ",$hdrs," in
	*",evc-kid=$(kid "$1"),"*) ;;
	*) echo "not the kid of $1: $hdrs" >&2; return 1 ;;
	esac
	case ",$hdrs," in
	*",evc-mac=$want,"*) return 0 ;;
	esac
	echo "not the MAC of $1 ($want): $hdrs" >&2
	return 1
}

start_central()
{
	bg "$1" "$EVC" central &&
		wait_for 30 "grep -q \"ready: \" $1.err"
}

# --- without Kafka -------------------------------------------------------

need_command python3 kcat

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
  - {id: CP003, location: Valencia, price: 0.30}
  - {id: CP004, location: Elche, price: 0.25}
EOF

test_expect_success 'a key file readable by group or others is refused: exit 2' '
	printf "kid=CP001.1\nkey=%064d\n" 0 >loose.key &&
	chmod 640 loose.key &&
	test_expect_code 2 "$EVC" cp -n -k loose.key CP001 2>err &&
	grep -qF "key file readable by group or others (chmod 600 it): '\''loose.key'\''" err
'

test_expect_success 'a key of another CP, or a malformed one, is refused: exit 2' '
	chmod 600 loose.key &&
	test_expect_code 2 "$EVC" cp -n -k loose.key CP002 2>err &&
	grep -qF "key '\''CP001.1'\'' of '\''loose.key'\'' is not one of CP '\''CP002'\''" err &&
	printf "kid=CP001.1\nkey=12\n" >short.key && chmod 600 short.key &&
	test_expect_code 2 "$EVC" cp -n -k short.key CP001 2>err &&
	grep -qF "bad key file: '\''short.key'\'': line 2" err && ! grep -q "key=12" err &&
	"$EVC" cp -n -k loose.key CP001
'

test_expect_success 'ocpp.key_dir: a charger key others may read stops the gateway: exit 2' '
	mkdir -p gwkeys && cp loose.key gwkeys/CP001.key && chmod 644 gwkeys/CP001.key &&
	printf "ocpp:\n  key_dir: gwkeys\n" >gw.yaml &&
	test_expect_code 2 "$EVC" ocpp -n -c gw.yaml 2>err &&
	grep -qF "key file readable by group or others (chmod 600 it): '\''gwkeys/CP001.key'\''" err &&
	chmod 600 gwkeys/CP001.key && "$EVC" ocpp -n -c gw.yaml &&
	cp gwkeys/CP001.key gwkeys/CP002.key &&
	test_expect_code 2 "$EVC" ocpp -n -c gw.yaml 2>err &&
	grep -qF "is not one of CP '\''CP002'\''" err
'

test_expect_success 'evc cps key, rotate and revoke check their words' '
	test_expect_code 2 "$EVC" cps key 2>err &&
	test_expect_code 2 "$EVC" cps revoke CP001 -o x.key 2>err &&
	grep -qF -- "--output does not go with '\''revoke'\''" err &&
	test_expect_code 2 "$EVC" cps key CP001 -w 10 2>err &&
	test_expect_code 2 "$EVC" cps rotate CP001 -w 0 2>err &&
	grep -qF "overlap not from 1 to 604800 seconds" err
'

# --- against Kafka -------------------------------------------------------

need_kafka

test_config <<EOF
central:
  catalogue: cps.yaml
  require_keys: true
EOF

test_expect_success 'evc cps key writes a key file of mode 600, or prints it' '
	"$EVC" cps key CP001 -o cp1.key >out 2>err &&
	test ! -s out && test "$(stat -c %a cp1.key)" = 600 &&
	grep -qxE "kid=CP001\.[0-9]+" cp1.key && grep -qxE "key=[0-9a-f]{64}" cp1.key &&
	grep -qF "CP001: key '\''$(kid cp1.key)'\'' issued" err &&
	! grep -q "$(sed -n "s/^key=//p" cp1.key)" err &&
	"$EVC" cps key CP002 >cp2.key && chmod 600 cp2.key &&
	grep -qxE "kid=CP002\.[0-9]+" cp2.key && grep -qxE "key=[0-9a-f]{64}" cp2.key
'

test_expect_success 'Central reads the keys at its start and says which CPs have none' '
	start_central central &&
	grep -qF "keys: 2 CPs have no key and are refused until issued one (evc cps key): CP003 CP004" central.err
'

test_expect_success 'signed by its key, CP001 registers; the ack is signed with that key' '
	bg beats1 sbeats CP001 cp1.key &&
	put cp_register CP001 "$(reg_json CP001)" cp1.key &&
	wait_state CP001 ACTIVE &&
	wait_for 10 "signed_records cp_register_ack CP001 | grep -q accepted" &&
	verifies cp1.key cp_register_ack "$(signed_records cp_register_ack CP001 | tail -n 1)"
'

test_expect_success 'a session at CP001 takes its signed telemetry' '
	ask CP001 DRIVER1 && granted $req &&
	verifies cp1.key cp_commands "$(signed_records cp_commands CP001 | grep "\"cmd\":\"start\"" | tail -n 1)" &&
	put telemetry CP001 "$(tele_json CP001 $sess 0 0)" cp1.key &&
	tele1=$(tele_json CP001 $sess 1 10) &&
	put telemetry CP001 "$tele1" cp1.key &&
	wait_for 10 "has auth_response \"\\\"session\\\":\\\"$sess\\\"\" \"\\\"wh\\\":10,\" >/dev/null"
'

test_expect_success 'forged telemetry, supply_end, register and health for CP001 change nothing' '
	put telemetry CP001 "$(tele_json CP001 $sess 2 500000)" &&
	put telemetry CP001 "$(tele_json CP001 $sess 2 600000)" cp2.key &&
	put telemetry CP001 "$(tele_json CP001 $sess 2 700000)" cp1.key cp2.key &&
	put telemetry CP001 "$(fin_json CP001 $sess 3 999000)" cp2.key &&
	put cp_register CP001 "$(reg_json CP001 false)" &&
	put health CP001 "$(beat_json CP001 false)" cp2.key &&
	put telemetry CP001 "$(tele_json CP001 $sess 2 20)" cp1.key &&
	wait_for 10 "has auth_response \"\\\"session\\\":\\\"$sess\\\"\" \"\\\"wh\\\":20,\" >/dev/null" &&
	sleep 1 &&
	! has auth_response "\"session\":\"$sess\"" "\"type\":\"ticket\"" &&
	! has auth_response "\"session\":\"$sess\"" "0000," &&
	test "$(state CP001)" = SUPPLYING &&
	grep -qE "refused (telemetry|supply_end|register|health) for .CP001. \(kid .*\): (unsigned|bad MAC|not a key of that CP); [0-9]+ refused so far" central.err
'

test_expect_success 'signed messages read again change nothing either' '
	put telemetry CP001 "$tele1" cp1.key &&
	put cp_register CP001 "$(signed_records cp_register CP001 | head -n 1 | cut -f 3-)" cp1.key &&
	sleep 3 &&
	test "$(count auth_response "\"session\":\"$sess\"" "\"seq\":1,")" = 1 &&
	! has auth_response "\"session\":\"$sess\"" "\"type\":\"ticket\"" &&
	test "$(state CP001)" = SUPPLYING
'

test_expect_success 'revoked mid-charge: REVOKED, the ticket holds the verified energy alone' '
	"$EVC" cps revoke CP001 2>err &&
	wait_for 10 "has auth_response \"\\\"session\\\":\\\"$sess\\\"\" \"\\\"type\\\":\\\"ticket\\\"\" >ticket" &&
	grep -qF "\"wh\":20," ticket && grep -qF "\"reason\":\"stopped\"" ticket &&
	wait_state CP001 REVOKED &&
	"$EVC" status CP001 | grep -q REVOKED &&
	verifies cp1.key cp_commands "$(signed_records cp_commands CP001 | grep "\"cmd\":\"end\"" | tail -n 1)" &&
	put telemetry CP001 "$(tele_json CP001 $sess 3 30)" cp1.key &&
	bg_kill beats1 >/dev/null 2>&1;
	sleep 1 && test "$(state CP001)" = REVOKED
'

test_expect_success 'a CP without a key is refused; a key issued while Central runs serves it' '
	put cp_register CP003 "$(reg_json CP003)" &&
	sleep 1 && test "$(state CP003)" = DISCONNECTED &&
	"$EVC" cps key CP003 -o cp3.key &&
	wait_for 10 "grep -qF \"keys: CP003 has key\" central.err" &&
	bg cp3 "$EVC" cp -k cp3.key CP003 &&
	wait_state CP003 ACTIVE 15
'

test_expect_success 'rotation: a charge on the old key, then on the new one, nothing refused' '
	"$EVC" cps rotate CP003 -o cp3new.key -w 12 &&
	rotated=$(now) &&
	wait_for 10 "grep -qF \"keys: CP003 has key '\''$(kid cp3new.key)'\''; the one before is good until\" central.err" &&
	"$EVC" auth -w -s 2 -t 20 DRIVER3 CP003 >auth1 2>&1 &&
	grep -q "^ticket at CP003: .*(finished)" auth1 &&
	bg_kill cp3 && bg cp3new "$EVC" cp -k cp3new.key CP003 &&
	wait_for 15 "grep -q \"registered as .CP003.\" cp3new.err" &&
	"$EVC" auth -w -s 1 -t 20 DRIVER3 CP003 >auth2 2>&1 &&
	grep -q "^ticket at CP003: .*(finished)" auth2 &&
	! grep -qF "for '\''CP003'\''" central.err
'

test_expect_success 'past the overlap, the old key is refused' '
	wait_for 20 "test \$(now) -gt \$((rotated + 12500))" &&
	put health CP003 "$(beat_json CP003 false)" cp3.key &&
	wait_for 12 "grep -qF \"refused health for '\''CP003'\'' (kid '\''$(kid cp3.key)'\''): not a key of that CP\" central.err" &&
	test "$(state CP003)" = ACTIVE
'

test_expect_success 'a forged stop for CP003 is ignored by its engine, and counted' '
	put cp_commands CP003 "{\"v\":1,\"type\":\"command\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"CP003\",\"cmd\":\"stop\",\"target_wh\":0,\"target_s\":0,\"price\":0}" &&
	put cp_commands CP003 "{\"v\":1,\"type\":\"command\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"CP003\",\"cmd\":\"stop\",\"target_wh\":0,\"target_s\":0,\"price\":0}" cp2.key &&
	wait_for 10 "grep -qF \"ignored command stop: not signed with this CP'\''s key (2 so far)\" cp3new.err" &&
	"$EVC" cp CP003 status | grep -qv state=stopped &&
	"$EVC" central stop CP003 && wait_state CP003 STOPPED &&
	wait_for 10 "\"$EVC\" cp CP003 status | grep -q state=stopped" &&
	"$EVC" central resume CP003 && wait_state CP003 ACTIVE
'

test_expect_success 'evc fleet -k signs for each of its CPs, and a charge there is served' '
	mkdir -p fleetkeys &&
	for cp in FLK00001 FLK00002; do
		"$EVC" cps add $cp -l Fleet -p 0.2 &&
		"$EVC" cps key $cp -o fleetkeys/$cp.key || return 1
	done &&
	wait_for 10 "grep -qF \"keys: FLK00002 has key\" central.err" &&
	bg fleet "$EVC" fleet -k fleetkeys -p FLK 2 &&
	wait_state FLK00001 ACTIVE 15 && wait_state FLK00002 ACTIVE 15 &&
	"$EVC" auth -w -s 1 -t 20 DRIVERF FLK00001 >authf 2>&1 &&
	grep -q "^ticket at FLK00001: .*(finished)" authf &&
	! grep -qF "for '\''FLK" central.err &&
	bg_kill fleet
'

test_expect_success 'the trail holds the keys issued and revoked, and the refused messages, never a key' '
	"$EVC" audit --json >trail 2>err &&
	python3 - cp1.key cp2.key cp3.key cp3new.key <<-\EOF
	import json, sys
	recs = [json.loads(l) for l in open("trail")]
	acts = [(r["action"], r["subject"], r["result"]) for r in recs]
	assert ("key-issue", "CP001", "ok") in acts, acts
	assert ("key-issue", "CP002", "ok") in acts, acts
	assert any(a[0] == "key-revoke" and a[2] == "ok" for a in acts), acts
	assert any(a[0] == "key-rotate" and a[2] == "ok" for a in acts), acts
	bad = [r for r in recs if r["action"] == "bad-mac"]
	assert any(r["subject"] == "CP001" and r["actor"]["kind"] == "cp" and
	           r["result"] == "refused" for r in bad), bad
	issue = [r for r in recs if r["action"] == "key-issue" and r["subject"] == "CP001"][0]
	assert issue["detail"].startswith("key id \x27CP001."), issue
	text = open("trail").read()
	for f in sys.argv[1:]:
	    key = [l[4:].strip() for l in open(f) if l.startswith("key=")][0]
	    assert key not in text, f
	EOF
'

test_expect_success 'Central counts each refusal by reason, and no key reaches its log' '
	bg_kill central &&
	grep -E "stats: .* refused [0-9]+: unsigned [0-9]+, bad_mac [0-9]+, unknown_kid [0-9]+, revoked [0-9]+\$" central.err >stats &&
	grep -qE "unsigned 3, bad_mac 1, " stats &&
	n=$(sed -n "s/.*unknown_kid \([0-9]*\).*/\1/p" stats) && test "$n" -ge 4 &&
	n=$(sed -n "s/.*revoked \([0-9]*\)\$/\1/p" stats) && test "$n" -ge 1 &&
	for f in cp1.key cp2.key cp3.key cp3new.key fleetkeys/*.key; do
		! grep -qF "$(sed -n "s/^key=//p" $f)" central.err cp3.err cp3new.err || return 1
	done &&
	bg_kill cp3new
'

test_done
