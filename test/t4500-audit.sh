#!/usr/bin/env bash
# t4500-audit.sh: the audit trail: an operator's session (evc cps, evc central stop and resume, the panel's keys, a standby Central taking over) leaves one record per action, evc audit shows them (--json, --since, --follow), skips malformed records, and no secret reaches the topic.
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')
user=$(id -un)
host=$(hostname)
secret=Secr3t-t4500-$$

# The panel is driven in a terminal of tmux, as t1700 does.
sock=$TEST_DIR/tmux.sock
tm() { tmux -S "$sock" "$@"; }
screen() { tm capture-pane -p -t "$1"; }
type_in() { tm send-keys -t "$1" -l "$2"; }

# trail [ARGS...]: evc audit's lines without their time.
trail() { "$EVC" audit "$@" | cut -d" " -f2-; }

# records: the raw values of the test's audit topic.
records() { kc -C -t "$(topic audit)" -o beginning -e -q -f '%k=%s\n' 2>/dev/null; }

# count KIND: how many records KIND wrote so far.
count() { "$EVC" audit -j | grep -c "\"kind\":\"$1\""; }

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
EOF

# --- without Kafka ---------------------------------------------------------

test_expect_success 'usage text is the SYNOPSIS of evc-audit(1)' '
	"$EVC" audit -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-audit.1" |
		grep "^evc audit" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'a --since that is no time: exit 2, the flag named, before Kafka' '
	for t in yesterday 30 30x -5m 2026-13-01 2026-12-07T25:00 ""; do
		test_expect_code 2 "$EVC" audit -b 127.0.0.1:9 --since "$t" \
			>out 2>err &&
		test ! -s out &&
		grep -qxF "evc audit: --since: not a time (ISO 8601, or a span such as 30m, 2d): '\''$t'\''" err ||
			{ echo "for: $t"; cat err; return 1; }
	done
'

test_expect_success 'an operand: exit 2' '
	test_expect_code 2 "$EVC" audit -b 127.0.0.1:9 now 2>err &&
	grep -qxF "evc audit: unexpected argument: '\''now'\''" err
'

test_expect_success 'Kafka that cannot be reached: exit 3' '
	test_expect_code 3 "$EVC" audit -b 127.0.0.1:9 2>err &&
	grep -qF "cannot reach Kafka" err
'

# --- an operator's session ---------------------------------------------------

need_kafka
need_command tmux python3
test_config <<EOF
central:
  catalogue: cps.yaml
EOF

test_expect_success 'an empty trail: nothing, exit 0' '
	"$EVC" audit >out 2>err &&
	test ! -s out && test ! -s err
'

test_expect_success 'a topic missing: exit 1, and what to do' '
	sed "s/^\(    audit: \).*/\1no-such-topic-$$/" "$EVC_CONFIG" >gone.yaml &&
	test_expect_code 1 "$EVC" audit -c gone.yaml 2>err &&
	grep -qF "'\''no-such-topic-$$'\''" err &&
	grep -qF "evc topics create" err
'

test_expect_success 'Central serves at a terminal, a second one stands by' '
	bg tmux env LC_ALL=C.UTF-8 tmux -D -u -f /dev/null -S "$sock" &&
	wait_for 10 "test -S \"$sock\"" &&
	tm set-option -g status off &&
	tm new-session -d -s central -x 100 -y 30 -c "$TEST_DIR" \
		"\"$EVC\" central -c \"$EVC_CONFIG\" 2>central.err; echo \$? >central.rc" &&
	wait_for 30 "screen central | grep -q \"^CP002 \"" &&
	bg standby "$EVC" central &&
	wait_for 30 "grep -q \"standing by: another Central holds the lease\" standby.err"
'

test_expect_success 'evc cps add, add again, rm of a CP that is not there, rm' '
	"$EVC" cps add CP003 -l "Gate 3" -p 0.30 \
		-X sasl.username=auditor -X "sasl.password=$secret" &&
	"$EVC" cps add CP003 -l "Gate 4" -p 0.32 -k 22 &&
	test_expect_code 1 "$EVC" cps rm CP009 2>err &&
	grep -qxF "evc cps: no CP in the catalogue: '\''CP009'\''" err &&
	"$EVC" cps rm CP003
'

test_expect_success 'evc central stop one CP, resume all' '
	"$EVC" central stop CP001 &&
	"$EVC" central resume all
'

test_expect_success 'the panel: stop and resume CP002, stop a CP that is not there' '
	type_in central s && type_in central CP002 && tm send-keys -t central Enter &&
	wait_for 10 "test \$(count panel) = 1" &&
	type_in central r && type_in central CP002 && tm send-keys -t central Enter &&
	wait_for 10 "test \$(count panel) = 2" &&
	type_in central s && type_in central NOPE && tm send-keys -t central Enter &&
	wait_for 10 "test \$(count panel) = 3"
'

test_expect_success 'Central quits at the panel: the standby takes over' '
	# --since takes whole seconds: the time is one apart from both sides.
	sleep 1.1 &&
	date +%Y-%m-%dT%H:%M:%S%z >before &&
	sleep 1.1 &&
	type_in central q &&
	wait_for 10 "test -s central.rc" &&
	test "$(cat central.rc)" = 0 &&
	wait_for 40 "grep -q \"taking over: the lease\" standby.err" &&
	wait_for 10 "test \$(count central) = 1"
'

test_expect_success 'evc audit: one line per action, who, from where, what, the result' '
	group=$(sed -n "s/^  group: //p" "$EVC_CONFIG")-lease &&
	cat >expect <<-EOF &&
	cli:$user[auditor] $host cp-add CP003 ok; location '\''Gate 3'\'', 0.30 EUR/kWh
	cli:$user $host cp-change CP003 ok; location '\''Gate 4'\'', 0.32 EUR/kWh, 22.0 kW
	cli:$user $host cp-remove CP009 failed: no such CP in the catalogue
	cli:$user $host cp-remove CP003 ok
	cli:$user $host stop CP001 ok
	cli:$user $host resume-all - ok
	panel:$user $host stop CP002 ok
	panel:$user $host resume CP002 ok
	panel:$user $host stop NOPE failed: no such CP
	central:$user $host takeover - ok; lease of group '\''$group'\'' taken after N s standing by
	EOF
	"$EVC" audit >out 2>err &&
	test ! -s err &&
	cut -d" " -f2- out | sed "s/ taken after [0-9]* s / taken after N s /" >got &&
	diff -u expect got &&
	grep -cE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2} " out >n &&
	test "$(cat n)" = 10
'

test_expect_success '--json: one object per line, as stored, that parses' '
	"$EVC" audit --json >json &&
	test "$(wc -l <json)" = 10 &&
	records | sed "s/^[^=]*=//" >stored &&
	diff -u stored json &&
	python3 -c "
import json, sys
rows = [json.loads(l) for l in open(\"json\")]
want = [(\"cli\", \"cp-add\", \"CP003\", \"ok\"), (\"cli\", \"cp-change\", \"CP003\", \"ok\"),
        (\"cli\", \"cp-remove\", \"CP009\", \"failed\"), (\"cli\", \"cp-remove\", \"CP003\", \"ok\"),
        (\"cli\", \"stop\", \"CP001\", \"ok\"), (\"cli\", \"resume-all\", \"\", \"ok\"),
        (\"panel\", \"stop\", \"CP002\", \"ok\"), (\"panel\", \"resume\", \"CP002\", \"ok\"),
        (\"panel\", \"stop\", \"NOPE\", \"failed\"), (\"central\", \"takeover\", \"\", \"ok\")]
got = [(r[\"actor\"][\"kind\"], r[\"action\"], r[\"subject\"], r[\"result\"]) for r in rows]
assert got == want, got
assert all(r[\"v\"] == 1 and r[\"type\"] == \"audit\" and r[\"actor\"][\"host\"] for r in rows)
assert rows[0][\"actor\"][\"principal\"] == \"auditor\"
assert [r[\"ts\"] for r in rows] == sorted(r[\"ts\"] for r in rows)
"
'

test_expect_success 'each record is keyed by its subject' '
	records | cut -d= -f1 >keys &&
	printf "%s\n" CP003 CP003 CP009 CP003 CP001 "" CP002 CP002 NOPE "" >expect &&
	diff -u expect keys
'

test_expect_success 'no secret reaches the topic: not the SASL password' '
	records >raw &&
	test "$(wc -l <raw)" = 10 &&
	! grep -qF "$secret" raw &&
	! grep -qi "password" raw &&
	grep -qF "\"principal\":\"auditor\"" raw
'

test_expect_success '--since: ISO 8601 and spans back from now' '
	"$EVC" audit --since "$(cat before)" >out &&
	test "$(wc -l <out)" = 1 &&
	grep -q " takeover - ok" out &&
	test "$(trail --since 1h | wc -l)" = 10 &&
	test "$(trail --since 0s | wc -l)" = 0 &&
	test "$(trail --since 2099-01-01T00:00Z | wc -l)" = 0 &&
	test "$(trail --since 2000-01-01 | wc -l)" = 10
'

test_expect_success 'malformed records are counted, said and skipped' '
	{
		printf "CP001\t%s\n" "not json"
		printf "CP001\t%s\n" "{\"v\":1,\"type\":\"audit\"}"
		printf "CP001\t%s\n" "$(sed -n 1p json | sed s/cp-add/cp-burn/)"
		# a good record under the wrong key
		printf "CP777\t%s\n" "$(sed -n 1p json)"
	} | kc -P -t "$(topic audit)" -K "$tab" &&
	"$EVC" audit >out 2>err &&
	test "$(wc -l <out)" = 10 &&
	grep -qxF "evc audit: warning: skipped 4 malformed records of '\''$(topic audit)'\''" err &&
	grep -qF "rejected record on '\''$(topic audit)'\'' [0] at offset 10: not JSON" err &&
	grep -qF "at offset 11: missing field '\''ts'\''" err &&
	grep -qF "at offset 12: bad action '\''cp-burn'\''" err &&
	grep -qF "at offset 13: key is not the subject" err
'

test_expect_success '--follow: a new action shows at once; SIGTERM ends it, exit 0' '
	bg follow "$EVC" audit --follow &&
	wait_for 20 "test \$(grep -c . follow.out) = 10" &&
	"$EVC" cps add CP004 -l "Gate 5" -p 0.25 &&
	wait_for 10 "grep -q \" cp-add CP004 ok\" follow.out" &&
	bg_kill follow &&
	test "$(wc -l <follow.out)" = 11
'
