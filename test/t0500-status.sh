#!/usr/bin/env bash
# t0500-status.sh: evc status: the table, its ages and footer, --json, CP filters, --watch, and a real Central.
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')
esc=$(printf '\033')

uuid() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
now() { date +%s%3N; }

# put_state CP TS SINCE STATE LOCATION PRICE [DRIVER SESSION SEQ KW WH CENTS]:
# one cp_state as Central publishes it, on the test's cp-state topic.
put_state()
{
	local ids= live='{"seq":0,"kw":0,"wh":0,"cents":0}'

	if [ $# -gt 6 ]; then
		ids=",\"driver\":\"$7\",\"session\":\"$8\""
		live="{\"seq\":$9,\"kw\":${10},\"wh\":${11},\"cents\":${12}}"
	fi
	printf '%s\t{"v":1,"type":"cp_state","id":"%s","ts":%s,"cp":"%s"%s,"state":"%s","location":"%s","price":%s,"live":%s,"since":%s}\n' \
		"$1" "$(uuid)" "$2" "$1" "$ids" "$4" "$5" "$6" "$live" "$3" |
		kc -P -t "$(topic cp_state)" -K "$tab"
}

# clock MS: the local time of day of MS, as the footer writes it.
clock() { date -d "@$(($1 / 1000))" +%H:%M:%S; }

test_expect_success 'usage text is the SYNOPSIS of evc-status(1)' '
	"$EVC" status -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-status.1" |
		grep "^evc status" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'a bad CP id is a usage error naming it' '
	test_expect_code 2 "$EVC" status -b 127.0.0.1:1 "CP/1" >out 2>err &&
	test ! -s out &&
	grep -qxF "evc status: bad CP id: '\''CP/1'\''" err
'

test_expect_success 'an unknown option is a usage error naming it' '
	test_expect_code 2 "$EVC" status --colour >out 2>err &&
	test ! -s out &&
	grep -qF -- "--colour" err
'

test_expect_success 'an unreachable Kafka: exit 3 in a few seconds, naming it' '
	start=$(_now_ms) &&
	test_expect_code 3 "$EVC" status -b 127.0.0.1:1 >out 2>err &&
	test $(($(_now_ms) - start)) -lt 9000 &&
	test ! -s out &&
	grep -qF "evc status: cannot reach Kafka at '\''127.0.0.1:1'\''" err
'

need_kafka
test_config </dev/null

test_expect_success 'a missing cp-state topic: exit 1, with the hint' '
	sed "s/cp-state-$_topic_suffix/cp-state-none-$_topic_suffix/" "$EVC_CONFIG" >none.yaml &&
	test_expect_code 1 "$EVC" status -c none.yaml >out 2>err &&
	test ! -s out &&
	grep -qF "run '\''evc topics create'\''" err
'

test_expect_success 'an empty topic: no CP has reported yet, exit 0' '
	"$EVC" status >out 2>err &&
	echo "no CP has reported yet" >expect &&
	diff -u expect out &&
	"$EVC" status --json >out &&
	echo "{\"cps\":[],\"updated\":null}" >expect &&
	diff -u expect out
'

T0=$(now)
S=5e55105e55105e55105e55105e55105e

test_expect_success 'Central'\''s states are read (and garbage skipped)' '
	put_state CP003 $((T0 - 7200000)) $((T0 - 7300000)) STOPPED Elda 0.4 &&
	put_state CP001 $((T0 - 300000)) $((T0 - 312000)) ACTIVE "Calle Mayor 1, Alicante" 0.35 &&
	put_state CP002 $((T0 - 125000)) $((T0 - 185000)) SUPPLYING Elche 0.3 D-42 $S 3 22 1834 55 &&
	put_state CP004 $((T0 - 600000)) $((T0 - 600000)) BROKEN "Óscar Esplá 3" 0.355 &&
	printf "CP005\tnot json\n" | kc -P -t "$(topic cp_state)" -K "$tab" &&
	wait_for 10 "\"\$EVC\" status >out 2>err && grep -q \"^4 CPs\" out" &&
	grep -q "warning: rejected message on .cp-state-.* bad json" err
'

test_expect_success 'the table: one row per CP, sorted, with state, ages, price and session' '
	"$EVC" status >out 2>/dev/null &&
	test $(wc -l <out) = 6 &&
	grep -qxE "CP +STATE +FOR +LOCATION +EUR/KWH +UPDATED +DETAIL" out &&
	test "$(sed 1d out | head -n 4 | cut -d " " -f 1 | tr "\n" " ")" = "CP001 CP002 CP003 CP004 " &&
	grep -qxE "CP001  ACTIVE +5m[12][0-9]s +Calle Mayor 1, Alicante +0\.35  5m[01][0-9]s ago" out &&
	grep -qxE "CP002  SUPPLYING +3m[01][0-9]s +Elche +0\.30  2m[01][0-9]s ago +D-42 22\.0 kW 1\.834 kWh 0\.55 EUR session 5e55105e" out &&
	grep -qxE "CP003  STOPPED +2h01m +Elda +0\.40  2h00m ago +Out of Order" out &&
	grep -qxE "CP004  BROKEN +10m[01][0-9]s +Óscar Esplá 3 +0\.355  10m[01][0-9]s ago" out
'

test_expect_success 'the columns line up, counting characters rather than bytes' '
	"$EVC" status >out 2>/dev/null &&
	head -n 5 out | sed -E "s/  UPDATED.*//; s/  [0-9][0-9a-z]* ago.*//" >cols &&
	while IFS= read -r line; do
		printf "%s" "$line" | iconv -f UTF-8 -t UTF-32LE | wc -c
	done <cols | sort -u >widths &&
	test $(wc -l <widths) = 1
'

test_expect_success 'the footer: CPs, available ones, time and age of the newest state' '
	"$EVC" status >out 2>/dev/null &&
	footer=$(tail -n 1 out) &&
	grep -qxE "4 CPs, 1 available; state as of $(clock $((T0 - 125000))), 2m[01][0-9]s ago" <<<"$footer"
'

test_expect_success 'no colours when stdout is not a terminal' '
	"$EVC" status >out 2>/dev/null &&
	! grep -q "$esc" out
'

if command -v script >/dev/null 2>&1; then
	test_expect_success 'on a terminal, states in colour (red BROKEN, orange STOPPED)' '
		TERM=xterm script -qec "\"$EVC\" status CP003 CP004" /dev/null >tty.out 2>&1 </dev/null &&
		grep -qF "${esc}[31mBROKEN${esc}[0m" tty.out &&
		grep -qF "${esc}[33mSTOPPED${esc}[0m" tty.out &&
		TERM=xterm NO_COLOR=1 script -qec "\"$EVC\" status CP003 CP004" /dev/null >tty.out 2>&1 </dev/null &&
		grep -q "BROKEN" tty.out &&
		! grep -q "$esc" tty.out
	'
else
	test_skip 'on a terminal, states in colour' 'no script(1)'
fi

test_expect_success '--json: one object, every CP and the newest update' '
	"$EVC" status --json >out 2>/dev/null &&
	test $(wc -l <out) = 1 &&
	grep -qE "^\{\"cps\":\[\{\"cp\":\"CP001\",.*\],\"updated\":$((T0 - 125000))\}\$" out &&
	grep -qF "{\"cp\":\"CP002\",\"state\":\"SUPPLYING\",\"location\":\"Elche\",\"price\":0.3,\"since\":$((T0 - 185000)),\"updated\":$((T0 - 125000)),\"driver\":\"D-42\",\"session\":\"$S\",\"live\":{\"seq\":3,\"kw\":22.0,\"wh\":1834,\"kwh\":1.834,\"cents\":55,\"eur\":0.55}}" out &&
	grep -qF "{\"cp\":\"CP003\",\"state\":\"STOPPED\",\"location\":\"Elda\",\"price\":0.4,\"since\":$((T0 - 7300000)),\"updated\":$((T0 - 7200000)),\"driver\":null,\"session\":null,\"live\":null}" out &&
	test $(grep -o "\"cp\":" out | wc -l) = 4
'

test_expect_success 'CP ids as arguments: only those, in order' '
	"$EVC" status CP004 CP002 >out 2>err &&
	! grep -v "rejected message" err &&
	test $(wc -l <out) = 4 &&
	test "$(sed -n "2p;3p" out | cut -d " " -f 1 | tr "\n" " ")" = "CP002 CP004 " &&
	grep -qE "^2 CPs, 0 available; state as of " out &&
	"$EVC" status --json CP003 >out &&
	test $(grep -o "\"cp\":" out | wc -l) = 1 &&
	grep -qF "\"cp\":\"CP003\"" out
'

test_expect_success 'a CP with no state: reported, the others shown, exit 1' '
	test_expect_code 1 "$EVC" status CP002 CP404 >out 2>err &&
	grep -q "^CP002  SUPPLYING" out &&
	grep -qxF "evc status: no state for CP '\''CP404'\''" err
'

test_expect_success 'the last state of a CP is the one shown' '
	t=$(now) &&
	put_state CP001 $t $t BROKEN "Calle Mayor 1, Alicante" 0.35 &&
	wait_for 10 "\"\$EVC\" status CP001 2>/dev/null | grep -q \"^CP001  BROKEN\"" &&
	"$EVC" status >out 2>/dev/null &&
	grep -qE "^4 CPs, 0 available; state as of $(clock $t), [0-9]s ago\$" out
'

test_expect_success '--watch, not on a terminal: the table, then a line per change; SIGINT: exit 0' '
	bg w "$EVC" status --watch CP001 CP002 &&
	wait_for 10 "grep -q \"^2 CPs\" w.out" &&
	t=$(now) &&
	put_state CP003 $t $t ACTIVE Elda 0.4 &&
	put_state CP001 $t $t ACTIVE "Calle Mayor 1, Alicante" 0.35 &&
	put_state CP002 $t $((T0 - 185000)) SUPPLYING Elche 0.3 D-42 $S 4 22 2156 65 &&
	wait_for 10 "grep -qxE \"[0-9]{2}:[0-9]{2}:[0-9]{2} CP001 ACTIVE 0\\.35 EUR/kWh\" w.out" &&
	wait_for 10 "grep -qxE \"[0-9]{2}:[0-9]{2}:[0-9]{2} CP002 SUPPLYING 0\\.30 EUR/kWh D-42 22\\.0 kW 2\\.156 kWh 0\\.65 EUR session 5e55105e\" w.out" &&
	grep -qF "$(clock $t) CP001 ACTIVE" w.out &&
	sleep 0.5 &&
	! grep -q "CP003" w.out &&
	bg_kill w INT
'

test_expect_success '--watch --json: one object per CP, then one per change; SIGTERM: exit 0' '
	bg wj "$EVC" status --watch --json &&
	wait_for 10 "test \$(wc -l <wj.out) = 4" &&
	t=$(now) &&
	put_state CP004 $t $t ACTIVE "Óscar Esplá 3" 0.355 &&
	wait_for 10 "test \$(wc -l <wj.out) = 5" &&
	tail -n 1 wj.out | grep -qF "{\"cp\":\"CP004\",\"state\":\"ACTIVE\",\"location\":\"Óscar Esplá 3\",\"price\":0.355,\"since\":$t,\"updated\":$t,\"driver\":null,\"session\":null,\"live\":null}" &&
	bg_kill wj TERM
'

# --- with a real Central and CP -------------------------------------------

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
EOF

test_config live <<EOF
central:
  catalogue: cps.yaml
  group: central-$TEST_NAME-$$
EOF

test_expect_success 'with a real Central: every catalogue CP DISCONNECTED at first' '
	bg central "$EVC" central &&
	wait_for 30 "grep -q \"ready: \" central.err" &&
	wait_for 10 "\"\$EVC\" status >out 2>err && grep -q \"^2 CPs, 0 available\" out" &&
	grep -qE "^CP001  DISCONNECTED +[0-9]+s +Alicante +0\.35  [0-9]+s ago\$" out &&
	grep -qE "^CP002  DISCONNECTED +[0-9]+s +Madrid +0\.40  [0-9]+s ago\$" out
'

test_expect_success 'a CP registers: status shows it ACTIVE' '
	bg cp1 "$EVC" cp CP001 &&
	wait_for 20 "\"\$EVC\" status CP001 >out 2>err && grep -q \"^CP001  ACTIVE\" out" &&
	grep -qE "^CP001  ACTIVE +[0-9]+s +Alicante +0\.35  [0-9]+s ago\$" out &&
	"$EVC" status --json CP001 | grep -qF "\"cp\":\"CP001\",\"state\":\"ACTIVE\""
'

test_expect_success 'Central down: status still answers, with the time of the last state' '
	bg_kill central &&
	"$EVC" status >out 2>err &&
	grep -q "^CP001  ACTIVE" out &&
	grep -qE "^2 CPs, 1 available; state as of [0-9:]{8}, [0-9]+s ago\$" out
'

test_done
