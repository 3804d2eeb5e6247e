#!/usr/bin/env bash
# t2000-e2e.sh: the whole network: a real Central, two CPs and drivers; tickets add up.
. "$(dirname "$0")/lib.sh"

need_kafka

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
EOF

# 3600 kW: 200 Wh a tick (200 ms), so that a few kWh take a second or two.
test_config <<EOF
central:
  catalogue: cps.yaml
cp:
  power_kw: 3600
  default_kwh: 1
EOF

# drive ID [ARGS...]: a driver reading its commands from the fifo "in",
# which the test writes through fd 9.
drive()
{
	exec "$EVC" driver "$@" <"$TEST_DIR/in" 9>&-
}

# The supply_end a CP sent for the session of a driver: its wh.
supply_end_wh()
{
	kc -C -q -e -t "$(topic telemetry)" -f '%s\n' 2>/dev/null |
		grep "\"type\":\"supply_end\"" | grep "\"cp\":\"$1\"" |
		grep "\"driver\":\"$2\"" |
		sed -n 's/.*"wh":\([0-9]*\).*/\1/p' | tail -n 1
}

# check_ticket LINE: the EUR of a ticket line are its kWh at its price.
check_ticket()
{
	echo "$1" | awk '{
		for (i = 1; i < NF; i++) {
			if ($(i + 1) == "kWh,") kwh = $i
			if ($(i + 1) == "EUR" && $(i + 2) == "at") eur = $i
			if ($(i + 1) == "EUR/kWh") price = $i
		}
		wh = int(kwh * 1000 + 0.5)
		cents = int(wh * price / 10 + 0.5)
		if (sprintf("%.2f", cents / 100) != eur) {
			print "ticket says " eur " EUR for " kwh " kWh at " price
			exit 1
		}
	}'
}

test_expect_success 'Central and two CPs start and register' '
	mkfifo in &&
	bg central "$EVC" central &&
	wait_for 20 "grep -q \"ready:\" central.err" &&
	bg cp1 "$EVC" cp CP001 &&
	bg cp2 "$EVC" cp CP002 &&
	wait_for 20 "grep -q \"CP001 ACTIVE\" central.err" &&
	wait_for 20 "grep -q \"CP002 ACTIVE\" central.err"
'

test_expect_success 'list shows both CPs available' '
	wait_for 10 "echo list | \"\$EVC\" driver D0 >out 2>err && grep -qx \"2 CPs, 2 available\" out" &&
	grep -q "^CP001 .*ACTIVE .*0.35 EUR/kWh  Alicante\$" out &&
	grep -q "^CP002 .*ACTIVE .*0.40 EUR/kWh  Madrid\$" out
'

test_expect_success 'driver --file is served at both CPs; tickets add up' '
	printf "CP001 1.5\nCP002 2\n" >route &&
	bg d "$EVC" driver -f route D1 &&
	bg_wait d 40 &&
	grep -q "^charging at CP001: 3600.0 kW" d.out &&
	line1=$(grep "^service 1/2 at CP001: served, " d.out) &&
	line2=$(grep "^service 2/2 at CP002: served, " d.out) &&
	test "$line1" = "service 1/2 at CP001: served, 1.5 kWh, 0.53 EUR at 0.35 EUR/kWh (finished)" &&
	test "$line2" = "service 2/2 at CP002: served, 2.0 kWh, 0.80 EUR at 0.40 EUR/kWh (finished)" &&
	check_ticket "$line1" &&
	check_ticket "$line2" &&
	test "$(supply_end_wh CP001 D1)" = 1500 &&
	test "$(supply_end_wh CP002 D1)" = 2000 &&
	test "$(tail -n 1 d.out)" = "2 served, 0 denied, 0 failed"
'

test_expect_success 'a busy CP is refused, an unknown one too' '
	bg long "$EVC" auth --wait --seconds 30 D2 CP001 &&
	wait_for 10 "grep -q \"^charging started at CP001\" long.out" &&
	test_expect_code 1 "$EVC" auth D3 CP001 2>err &&
	grep -qxF "evc auth: denied: CP001 is busy" err &&
	test_expect_code 1 "$EVC" auth D3 CP999 2>err &&
	grep -qxF "evc auth: denied: CP999 is not known to Central" err &&
	test_expect_code 1 "$EVC" auth D2 CP002 2>err &&
	grep -qxF "evc auth: denied: D2 is already charging elsewhere" err
'

test_expect_success 'a driver that stops its charge gets a cancelled ticket' '
	test_expect_code 1 bg_kill long &&
	exec 9<>in &&
	bg d2 drive D2 &&
	wait_for 10 "grep -q \"^session in progress at CP001\" d2.out" &&
	echo stop >&9 &&
	wait_for 10 "grep -q \"^ticket at CP001: .* (cancelled)\$\" d2.out" &&
	check_ticket "$(grep "^ticket at CP001" d2.out)" &&
	echo quit >&9 &&
	bg_wait d2 5 &&
	exec 9>&-
'

test_expect_success 'a driver killed while charging finds its ticket when back' '
	exec 9<>in &&
	bg d3 drive D4 &&
	echo "charge CP002 3" >&9 &&
	wait_for 10 "grep -q \"^charging started at CP002\" d3.out" &&
	bg_kill d3 KILL;
	exec 9>&- &&
	wait_for 15 "test -n \"\$(supply_end_wh CP002 D4)\"" &&
	"$EVC" driver D4 >out 2>err &&
	echo "last session at CP002: ticket 3.0 kWh, 1.20 EUR at 0.40 EUR/kWh (finished)" >expect &&
	diff -u expect out
'

# Not a measure of speed (make bench has that): a refusal is answered
# at once, not found by waiting out the 10 s timeout, on a busy machine too.
test_expect_success 'evc auth is answered, not timed out, against a running Central' '
	start=$(_now_ms) &&
	test_expect_code 1 "$EVC" auth D5 CP999 2>err &&
	elapsed=$(($(_now_ms) - start)) &&
	echo "evc auth answered in $elapsed ms" &&
	test $elapsed -lt 8000 &&
	grep -qxF "evc auth: denied: CP999 is not known to Central" err
'
