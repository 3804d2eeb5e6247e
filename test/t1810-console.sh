#!/usr/bin/env bash
# t1810-console.sh: evc web's console in a real browser (chromium through WebDriver) with a real Central, CPs and Kafka: states and colours, a live supply, stop and resume with the token, filters.
#
# EVC_SCREENSHOT=FILE.png keeps a picture of the console with CPs in
# every state, one of them supplying.
. "$(dirname "$0")/lib.sh"

need_command chromium chromedriver
if [ -z "$_skip_all" ] &&
	! PY=$("$TEST_TOP/test/py-venv.sh" selenium 2>"$TEST_DIR/venv.err"); then
	_skip_all="no selenium: $(tail -n 1 "$TEST_DIR/venv.err")"
fi
need_kafka

TOKEN=t1810-operator-token-$$

# Two fast chargers, where the supplies happen, and four slower ones.
cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante Puerto, price: 0.35, power_kw: 150}
  - {id: CP002, location: Madrid Atocha, price: 0.40, power_kw: 150}
  - {id: CP003, location: Elche Centro, price: 0.30, power_kw: 22}
  - {id: CP004, location: Elda Estación, price: 0.25, power_kw: 22}
  - {id: CP005, location: Alcoy Norte, price: 0.50, power_kw: 22}
  - {id: CP006, location: Denia Marina, price: 0.45, power_kw: 22}
EOF

# Health every second, as by default: a browser starting on a busy
# machine must not make an engine miss its monitor's check.
test_config <<EOF
central:
  catalogue: cps.yaml
  health_timeout_ms: 5000
cp:
  health_ms: 1000
  power_kw: 150
  state_dir: $TEST_DIR/state
web:
  listen: 127.0.0.1:0
  token: $TOKEN
EOF

# The last state Central published for CP $1 in cp-state, read with
# kcat (given up after 10 s: a busy broker can keep it waiting).
state()
{
	timeout 10 kcat -b "$EVC_TEST_BROKERS" -C -t "$(topic cp_state)" \
		-o beginning -e -q -f '%s\n' 2>/dev/null |
		grep -F "\"cp\":\"$1\"" | tail -n 1 |
		sed -n 's/.*"state":"\([A-Z]*\)".*/\1/p'
}

run_browser()
{
	exec "$PY" "$TEST_TOP/test/console.py" "$TEST_DIR/profile" <browser.in
}

# ask COMMAND [TIMEOUT]: one command to the browser (test/console.py);
# what it answered in the file answer.
ask()
{
	local n

	n=$(wc -l <browser.out)
	printf '%s\n' "$1" >browser.in
	case $1 in
	list | errors) wait_for "${2:-20}" "tail -n +$((n + 1)) browser.out | grep -qx end" ;;
	*) wait_for "${2:-20}" "test \$(wc -l <browser.out) -gt $n" ;;
	esac || return 1
	tail -n +$((n + 1)) browser.out >answer
	cat answer
}

test_expect_success 'Central, five CPs of the six in the catalogue, and evc web start' '
	bg central "$EVC" central &&
	wait_for 20 "grep -q \"ready:\" central.err" &&
	for cp in CP001 CP002 CP003 CP004 CP006; do
		bg "$cp" "$EVC" cp "$cp" || return 1
	done &&
	wait_for 30 "test \"\$(state CP006)\" = ACTIVE && test \"\$(state CP001)\" = ACTIVE" &&
	bg web "$EVC" web &&
	wait_for 20 "grep -q \"listening on\" web.err" &&
	PORT=$(sed -n "s/.*listening on [^ ]*:\([0-9]*\)[ ,;)].*/\1/p; s/.*listening on [^ ]*:\([0-9]*\)\$/\1/p" web.err | head -n 1) &&
	test -n "$PORT" &&
	URL=http://127.0.0.1:$PORT/
'

test_expect_success 'a CP breaks and Central stops another: BROKEN and STOPPED in cp-state' '
	"$EVC" cp CP003 fault &&
	"$EVC" central stop CP004 &&
	wait_for 15 "test \"\$(state CP003)\" = BROKEN" &&
	wait_for 15 "test \"\$(state CP004)\" = STOPPED" &&
	wait_for 15 "test \"\$(state CP002)\" = ACTIVE" &&
	wait_for 15 "test \"\$(state CP005)\" = DISCONNECTED"
'

test_expect_success 'a short supply at CP002 ends with a ticket' '
	"$EVC" auth --wait --json -s 4 D-17 CP002 >out 2>err &&
	grep -qF "\"reason\":\"finished\"" out
'

test_expect_success 'the browser opens the console, served by evc web itself' '
	rm -f browser.in && mkfifo browser.in &&
	exec {fd_browser}<>browser.in &&
	bg browser run_browser &&
	wait_for 30 "grep -qx ready browser.out" &&
	ask "open $URL" 30 && grep -qx opened answer
'

test_expect_success 'it lists every CP, each with the state Central published' '
	wait_for 10 "ask list >/dev/null && test \$(grep -c \"^row \" answer) = 6" &&
	for cp in CP001 CP002 CP003 CP004 CP005 CP006; do
		grep -qx "row $cp $(state $cp)" answer || return 1
	done &&
	grep -qx "row CP003 BROKEN" answer &&
	grep -qx "row CP004 STOPPED" answer &&
	grep -qx "row CP005 DISCONNECTED" answer &&
	ask "count BROKEN" && grep -qx "count BROKEN 1" answer &&
	ask "count" && grep -qx "count all 6" answer
'

test_expect_success 'a CP that starts supplying shows it, with its kW and driver, within 2 s, without a reload' '
	bg charge "$EVC" auth --wait --json --kwh 500 D-42 CP001 &&
	wait_for 15 "test \"\$(state CP001)\" = SUPPLYING" &&
	ask "wait CP001 SUPPLYING 2" &&
	grep -qE "^state CP001 SUPPLYING [0-9.]+ D-42\$" answer &&
	ask same && grep -qx "same page" answer
'

test_expect_success 'the colours are the panel'"'"'s, each with the state'"'"'s name' '
	ask "style CP001" && grep -qx "style CP001 SUPPLYING green" answer &&
	ask "style CP003" && grep -qx "style CP003 BROKEN red" answer &&
	ask "style CP004" && grep -qx "style CP004 STOPPED orange" answer &&
	ask "style CP005" && grep -qx "style CP005 DISCONNECTED grey" answer &&
	ask "style CP006" && grep -qx "style CP006 ACTIVE green" answer
'

if [ -n "${EVC_SCREENSHOT:-}" ]; then
	test_expect_success 'a screenshot of the console: EVC_SCREENSHOT' '
		ask "wait CP001 SUPPLYING 5" &&
		sleep 3 &&
		ask "shot $EVC_SCREENSHOT" &&
		test -s "$EVC_SCREENSHOT"
	'
fi

test_expect_success 'Stop asks for the token, then CP006 is STOPPED in the page and in cp-state' '
	ask "stop CP006" &&
	grep -qx "asked for the token; cancelled" answer &&
	sleep 1 && test "$(state CP006)" = ACTIVE &&
	ask "token $TOKEN" &&
	ask "stop CP006" &&
	grep -qx "asked for the token" answer &&
	grep -qx "pressed stop CP006" answer &&
	wait_for 15 "test \"\$(state CP006)\" = STOPPED" &&
	ask "wait CP006 STOPPED 5" && grep -qx "state CP006 STOPPED" answer
'

test_expect_success 'Resume, with the token kept: CP006 is ACTIVE again' '
	ask "resume CP006" &&
	! grep -q "asked for the token" answer &&
	wait_for 15 "test \"\$(state CP006)\" = ACTIVE" &&
	ask "wait CP006 ACTIVE 5" && grep -qx "state CP006 ACTIVE" answer
'

test_expect_success 'the filter finds CPs by location and by id; a count shows one state' '
	ask "filter elche" && grep -qx "shown CP003" answer &&
	ask "filter cp00" &&
	grep -qx "shown CP001 CP002 CP003 CP004 CP005 CP006" answer &&
	ask "filter" &&
	ask "show STOPPED" && grep -qx "shown CP004" answer &&
	ask "show SUPPLYING" && grep -qx "shown CP001" answer &&
	ask "show" &&
	grep -qx "shown CP001 CP002 CP003 CP004 CP005 CP006" answer
'

test_expect_success 'the page logged no error' '
	ask errors && test "$(cat answer)" = end
'

test_expect_success 'the browser quits; evc web and the others stop on SIGTERM' '
	printf "quit\n" >browser.in &&
	bg_wait browser 15 &&
	bg_kill web &&
	{ bg_kill charge || :; } &&
	for cp in CP001 CP002 CP003 CP004 CP006; do
		bg_kill "$cp" || return 1
	done &&
	bg_kill central
'
