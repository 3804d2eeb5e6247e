#!/usr/bin/env bash
# t0200-broker.sh: evc broker: its address and runtime file, the topics it serves, clean stop, a whole charge on it.
. "$(dirname "$0")/lib.sh"

# Nothing here needs the real Kafka of the test bed: evc broker is the
# Kafka. No broker is configured anywhere, so that the runtime file is
# what the other roles find (a machine's /etc/evc/evc.yaml is not read).
printf "topics:\n  partitions: 3\n" >plain.yaml
export EVC_CONFIG=$TEST_DIR/plain.yaml

topics="cp-register cp-register-ack auth-request auth-response cp-commands
telemetry health control cp-state central-lease cp-catalogue audit"

# start_broker NAME [ARGS...]: evc broker with a runtime directory of its
# own ($TEST_DIR/NAME.run, exported as XDG_RUNTIME_DIR); its address
# goes in $addr once it prints it.
start_broker()
{
	local name=$1

	shift
	mkdir -p "$TEST_DIR/$name.run" && chmod 700 "$TEST_DIR/$name.run" &&
		export XDG_RUNTIME_DIR=$TEST_DIR/$name.run &&
		bg "$name" "$EVC" broker "$@" &&
		wait_for 10 "test -s $name.out" &&
		addr=$(head -n 1 "$name.out")
}

# broker_file NAME: the runtime file of broker NAME.
broker_file()
{
	echo "$TEST_DIR/$1.run/evc/broker"
}

# partitions TOPIC: its partition count, as kcat sees it at $addr (the
# whole list: a request for one topic could make the mock create it).
partitions()
{
	kcat -b "$addr" -L -m 5 2>/dev/null |
		awk -v t="\"$1\"" '$1 == "topic" && $2 == t { print $4 }'
}

# fetch_waits: the fetch.wait.max.ms of every Kafka handle of an evc
# driver (-v -X debug=conf dumps each handle's configuration).
fetch_waits()
{
	"$EVC" driver -v -X debug=conf "$@" D9 </dev/null 2>&1 |
		sed -n "s/.*CONF: .* fetch.wait.max.ms = \([0-9]*\)\$/\1/p" | sort -u
}

test_expect_success 'usage text is the SYNOPSIS of evc-broker(1)' '
	"$EVC" broker -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-broker.1" |
		grep "^evc broker" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'a bad -p is a usage error (2) naming it, and nothing starts' '
	mkdir -p -m 700 badp.run &&
	for p in 0 -1 abc 3x 1001 ""; do
		XDG_RUNTIME_DIR=$TEST_DIR/badp.run test_expect_code 2 \
			"$EVC" broker -p "$p" >out 2>err || return 1
		test ! -s out &&
		grep -qF "evc broker: bad value for '\''--partitions'\'': '\''$p'\''" err ||
			{ cat err; return 1; }
	done &&
	test ! -e badp.run/evc/broker
'

test_expect_success 'an argument is a usage error (2)' '
	test_expect_code 2 "$EVC" broker extra >out 2>err &&
	test ! -s out &&
	grep -qF "'\''extra'\''" err
'

test_expect_success 'a bad config file: exit 2 with FILE:LINE' '
	printf "topics:\n  partitions: many\n" >bad.yaml &&
	test_expect_code 2 "$EVC" broker -c bad.yaml >out 2>err &&
	test ! -s out &&
	grep -q "^evc broker: bad.yaml:2: " err
'

test_expect_success 'an unusable runtime directory: exit 1 naming it' '
	: >not-a-dir &&
	XDG_RUNTIME_DIR=$TEST_DIR/not-a-dir test_expect_code 1 \
		"$EVC" broker >out 2>err &&
	test ! -s out &&
	grep -qF "not-a-dir/evc" err
'

test_expect_success 'evc broker prints its address and writes it to the runtime file' '
	start_broker b1 &&
	echo "$addr" | grep -qxE "127\.0\.0\.1:[0-9]+" &&
	test "$(wc -l <b1.out)" = 1 &&
	wait_for 5 "test -s $(broker_file b1)" &&
	echo "$addr" >expect &&
	cmp expect "$(broker_file b1)" &&
	test "$(stat -c %a b1.run/evc)" = 700 &&
	grep -qF "serving 10 topics of 3 partitions, Central'\''s lease and the audit trail at '\''$addr'\''" b1.err
'

test_expect_success 'kcat lists the twelve topics there, 3 partitions each, the lease and audit 1' '
	kcat -b "$addr" -L -m 5 >meta &&
	test "$(grep -c "^  topic " meta)" = 12 &&
	for t in $topics; do
		n=3 && test $t != central-lease && test $t != audit || n=1
		grep -qE "  topic \"$t\" with $n partitions?:" meta ||
			{ echo "no $t with $n partitions"; return 1; }
	done
'

test_expect_success 'evc topics list finds it through the runtime file' '
	"$EVC" topics list >out 2>err &&
	test ! -s err &&
	for t in $topics; do
		n=3 && test $t != central-lease && test $t != audit || n=1
		echo "$t partitions $n replicas 1"
	done >expect &&
	diff -u expect out
'

test_expect_success 'evc topics create finds every topic there: exit 0' '
	"$EVC" topics create >out 2>err &&
	test "$(grep -c "^exists " out)" = 12
'

test_expect_success 'with EVC_BROKERS set, the runtime file is not used' '
	EVC_BROKERS=127.0.0.1:1 test_expect_code 3 "$EVC" topics list >out 2>err &&
	grep -qF "cannot reach Kafka at '\''127.0.0.1:1'\''" err
'

test_expect_success 'with -b or kafka.brokers, the runtime file is not used' '
	"$EVC" central -n -v -b 127.0.0.1:1 2>err &&
	grep -qF "brokers '\''127.0.0.1:1'\'' from --brokers" err &&
	printf "kafka:\n  brokers: [\"127.0.0.1:2\"]\n" >far.yaml &&
	"$EVC" central -n -v -c far.yaml 2>err &&
	grep -qF "brokers '\''127.0.0.1:2'\''" err &&
	! grep -qF "$addr" err
'

test_expect_success 'the address and where it came from show with -v' '
	"$EVC" central -n -v 2>err &&
	grep -qF "brokers '\''$addr'\'' from evc broker" err
'

test_expect_success 'another runtime directory does not see it' '
	mkdir -p -m 700 other.run &&
	XDG_RUNTIME_DIR=$TEST_DIR/other.run "$EVC" central -n -v 2>err &&
	grep -qF "brokers '\''localhost:9092'\'' from default" err
'

test_expect_success 'its address from the file lowers fetch.wait.max.ms to 5 ms' '
	echo "from the file: $(fetch_waits | tr "\n" " ")" &&
	echo "with -b: $(fetch_waits -b "$addr" | tr "\n" " ")" &&
	test "$(fetch_waits)" = 5 &&
	test "$(fetch_waits -b "$addr")" != 5
'

test_expect_success 'SIGTERM stops it: exit 0 and the runtime file is gone' '
	test -e "$(broker_file b1)" &&
	bg_kill b1 TERM &&
	test ! -e "$(broker_file b1)" &&
	grep -q "stopping" b1.err
'

test_expect_success 'SIGINT stops it the same way' '
	start_broker b2 &&
	bg_kill b2 INT &&
	test ! -e "$(broker_file b2)"
'

test_expect_success 'a broker leaves the file of a newer broker in place' '
	start_broker b3 &&
	first=$addr &&
	bg b4 "$EVC" broker &&
	wait_for 10 "test -s b4.out" &&
	second=$(head -n 1 b4.out) &&
	test "$first" != "$second" &&
	wait_for 5 "grep -qxF \"$second\" \"$(broker_file b3)\"" &&
	bg_kill b3 &&
	grep -qxF "$second" "$(broker_file b3)" &&
	bg_kill b4 &&
	test ! -e "$(broker_file b3)"
'

test_expect_success '-p 5 gives every topic 5 partitions' '
	start_broker b5 -p 5 &&
	for t in $topics; do
		n=5 && test $t != central-lease && test $t != audit || n=1
		test "$(partitions $t)" = $n || { echo "$t: $(partitions $t)"; return 1; }
	done &&
	"$EVC" topics list >out &&
	test "$(grep -c " partitions 5 replicas 1\$" out)" = 10 &&
	bg_kill b5
'

test_expect_success 'topic names and partitions come from the config' '
	printf "topics:\n  partitions: 2\n  names:\n    cp_state: state-of-cps\n" >named.yaml &&
	start_broker b6 -c named.yaml &&
	test "$(partitions state-of-cps)" = 2 &&
	test "$(partitions telemetry)" = 2 &&
	test -z "$(partitions cp-state)" &&
	bg_kill b6
'

# --- a whole charge on evc broker ----------------------------------------

# 3600 kW: 200 Wh a tick (200 ms), so 1 kWh takes a second.
cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
EOF
cat >flow.yaml <<EOF
central:
  catalogue: cps.yaml
  health_timeout_ms: 1500
cp:
  tick_ms: 200
  health_ms: 200
  power_kw: 3600
driver:
  wait_ms: 500
EOF

test_expect_success 'a Central and a CP run on evc broker, found through the file' '
	export EVC_CONFIG=$TEST_DIR/flow.yaml &&
	start_broker flow &&
	bg central "$EVC" central &&
	wait_for 20 "grep -q \"ready:\" central.err" &&
	grep -qF "Kafka at '\''$addr'\''" central.err &&
	bg cp1 "$EVC" cp CP001 &&
	wait_for 20 "grep -q \"CP001 ACTIVE\" central.err"
'

test_expect_success 'evc auth --wait: authorised, live figures, a ticket' '
	"$EVC" auth --wait --kwh 1 D1 CP001 >out 2>err &&
	grep -q "^authorised: D1 at CP001, session [0-9a-f]*, price 0.35 EUR/kWh\$" out &&
	grep -q "^charging at CP001: 3600.0 kW, " out &&
	grep -qxF "ticket at CP001: 1.0 kWh, 0.35 EUR at 0.35 EUR/kWh (finished)" out &&
	wait_for 10 "grep -q \"CP001 ticket 1.0 kWh 0.35 EUR (finished), D1\" central.err"
'

test_expect_success 'evc auth is refused a CP that is not running, and an unknown one' '
	test_expect_code 1 "$EVC" auth D2 CP002 2>err &&
	grep -q "^evc auth: denied: CP002 " err &&
	test_expect_code 1 "$EVC" auth D2 CP999 2>err &&
	grep -qxF "evc auth: denied: CP999 is not known to Central" err
'

test_expect_success 'evc driver --file is served there' '
	printf "CP001 0.4\nCP001 0.6\n" >route &&
	"$EVC" driver -q -f route D3 >out 2>err &&
	cat >expect <<-EOF &&
	service 1/2 at CP001: served, 0.4 kWh, 0.14 EUR at 0.35 EUR/kWh (finished)
	service 2/2 at CP001: served, 0.6 kWh, 0.21 EUR at 0.35 EUR/kWh (finished)
	2 served, 0 denied, 0 failed
	EOF
	diff -u expect out
'

test_expect_success 'evc driver list reads the CP states there' '
	echo list | "$EVC" driver D4 >out 2>err &&
	grep -q "^CP001 .*ACTIVE .*0.35 EUR/kWh  Alicante\$" out &&
	grep -qx "2 CPs, 1 available" out
'

test_expect_success 'everything stops cleanly, the broker last' '
	bg_kill cp1 &&
	bg_kill central &&
	bg_kill flow &&
	test ! -e "$(broker_file flow)"
'
