#!/usr/bin/env bash
# t1400-fleet.sh: evc fleet: usage, 50 simulated CPs registered with a real Central, a charge at one of them.
. "$(dirname "$0")/lib.sh"

test_expect_success 'usage text is the SYNOPSIS of evc-fleet(1)' '
	"$EVC" fleet -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-fleet.1" |
		grep "^evc fleet" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'a missing or bad N, a bad prefix: usage errors (2)' '
	test_expect_code 2 "$EVC" fleet -b 127.0.0.1:1 2>err &&
	grep -q "missing N" err &&
	test_expect_code 2 "$EVC" fleet -b 127.0.0.1:1 0 &&
	test_expect_code 2 "$EVC" fleet -b 127.0.0.1:1 5x &&
	test_expect_code 2 "$EVC" fleet -b 127.0.0.1:1 -p "F/" 5 2>err &&
	grep -qF "evc fleet: bad CP ids" err &&
	test_expect_code 2 "$EVC" fleet -b 127.0.0.1:1 5 6
'

need_kafka

# 3600 kW: 200 Wh a tick (200 ms), so that a 1 kWh charge takes a second.
test_config <<EOF
central:
  allow_unknown: true
  default_price: 0.30
cp:
  power_kw: 3600
  default_kwh: 1
EOF

# The CPs of prefix $1 that evc status shows ACTIVE.
active()
{
	"$EVC" status 2>/dev/null | grep -c "^ *$1[0-9]* .*ACTIVE"
}

test_expect_success 'a fleet of 50 CPs registers with Central: all ACTIVE' '
	bg central "$EVC" central &&
	wait_for 20 "grep -q \"ready:\" central.err" &&
	bg fleet "$EVC" fleet -p FL 50 &&
	wait_for 30 "grep -q \"all 50 CPs answered\" fleet.err" &&
	wait_for 20 "test \"\$(active FL)\" = 50"
'

test_expect_success 'the CPs keep sending heartbeats: still ACTIVE later' '
	sleep 2 &&
	wait_for 10 "test \"\$(active FL)\" = 50"
'

test_expect_success 'evc auth --wait at one fleet CP gets a correct ticket' '
	"$EVC" auth --wait --json D1 FL00017 >out 2>err &&
	grep -qF "\"wh\":1000" out &&
	grep -qF "\"cents\":30" out &&
	grep -qF "\"reason\":\"finished\"" out
'

test_expect_success 'a second CP charges while the first is idle again' '
	"$EVC" auth --wait --json D2 FL00050 >out 2>err &&
	grep -qF "\"reason\":\"finished\"" out &&
	"$EVC" auth --wait --json D3 FL00017 >out 2>err &&
	grep -qF "\"wh\":1000" out
'

test_expect_success 'stopped by Central: the supply ends (stopped); resumed: it charges again' '
	bg a "$EVC" auth --wait --json --kwh 100 D4 FL00003 &&
	wait_for 20 "grep -q \"FL00003 SUPPLYING\" central.err" &&
	"$EVC" central stop FL00003 &&
	test_expect_code 1 bg_wait a 20 &&
	grep -qF "\"reason\":\"stopped\"" a.out &&
	"$EVC" central resume FL00003 &&
	wait_for 20 "test \"\$(active FL)\" = 50" &&
	"$EVC" auth --wait --json D5 FL00003 >out 2>err &&
	grep -qF "\"reason\":\"finished\"" out
'

test_expect_success 'SIGTERM: the fleet exits 0' '
	bg_kill fleet
'
