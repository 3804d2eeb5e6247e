#!/usr/bin/env bash
# t1600-cps.sh: the catalogue as a topic: evc cps add, rm and list, its seed, bad input kept from Kafka, and Central following it (a CP added charges, one removed is refused, a new price shows on the next ticket).
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')
elche=$(printf 'Elche, Pla\303\247a de Baix')	# UTF-8

uuid() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
now() { date +%s%3N; }

# records TOPIC: every record of the test's TOPIC as KEY=VALUE (NULL for
# a record without a value), one per line.
records()
{
	kc -C -t "$(topic "$1")" -o beginning -e -q -Z -f '%k=%s\n' 2>/dev/null
}

# put_raw KEY VALUE: one record on the test's cp-catalogue, as it is.
put_raw()
{
	printf '%s\t%s\n' "$1" "$2" | kc -P -t "$(topic cp_catalogue)" -K "$tab"
}

# The last state Central published for CP on cp-state ("NULL": erased).
last_state()
{
	records cp_state | grep "^$1=" | tail -n 1 |
		sed -e 's/.*"state":"\([A-Z]*\)".*/\1/' -e 's/^.*=NULL$/NULL/'
}

# central NAME [ARGS...]: a Central in the background, serving.
central()
{
	local name=$1

	shift
	bg "$name" "$EVC" central "$@" &&
		wait_for 40 "grep -q \"ready: \" $name.err"
}

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
EOF

# --- without Kafka -----------------------------------------------------------

test_expect_success 'usage text is the SYNOPSIS of evc-cps(1)' '
	"$EVC" cps -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-cps.1" |
		grep "^evc cps" >synopsis &&
	cmp usage synopsis
'

# bad ARGS... -- MESSAGE: exit 2 with that message, before Kafka is
# asked: the broker named cannot be reached (that would be exit 3).
bad()
{
	local want

	want=${!#}
	set -- "${@:1:$(($# - 2))}"
	test_expect_code 2 "$EVC" cps -b 127.0.0.1:9 "$@" >out 2>err &&
	test ! -s out &&
	grep -qxF "evc cps: $want" err ||
		{ echo "for: $*"; cat err; return 1; }
}

test_expect_success 'ids that are not CP ids: exit 2, before Kafka' '
	bad add "C P" -l x -p 1 -- "not a CP id: '\''C P'\''" &&
	bad add .probe -l x -p 1 -- "not a CP id: '\''.probe'\''" &&
	bad add abcdefghijklmnopqrstuvwxyz0123456 -l x -p 1 -- \
		"not a CP id: '\''abcdefghijklmnopqrstuvwxyz0123456'\''" &&
	bad rm "CP/1" -- "not a CP id: '\''CP/1'\''" &&
	bad rm "" -- "not a CP id: '\'''\''" &&
	bad rm "$(printf "CP\033[2J")" -- "not a CP id: '\''CP\\x1b[2J'\''"
'

test_expect_success 'prices negative, absurd or not numbers: exit 2, before Kafka' '
	for p in -0.35 1000.01 1e3 0x10 inf nan "" 0,35 " 1" 0.1234567 +1 .5; do
		bad add CP001 -l x -p "$p" -- \
			"price not from 0 to 1000 EUR/kWh with at most 6 decimals: '\''$p'\''" ||
			return 1
	done
'

test_expect_success 'bad powers and locations: exit 2, before Kafka' '
	bad add CP001 -l x -p 1 -k 0 -- \
		"power not above 0 and at most 100000 kW with at most 3 decimals: '\''0'\''" &&
	bad add CP001 -l x -p 1 --power 100001 -- \
		"power not above 0 and at most 100000 kW with at most 3 decimals: '\''100001'\''" &&
	bad add CP001 -l "$(printf "a\033[2Jb")" -p 1 -- \
		"location not printable UTF-8: '\''a\\x1b[2Jb'\''" &&
	bad add CP001 -l "$(printf "Col\363n")" -p 1 -- \
		"location not printable UTF-8: '\''Col\\xf3n'\''" &&
	long=$(printf "%0129d" 0) &&
	bad add CP001 -l "$long" -p 1 -- \
		"location longer than 128 bytes: '\''$(printf "%040d" 0)...'\''"
'

test_expect_success 'missing and stray options, bad actions: exit 2, before Kafka' '
	bad add CP001 -p 1 -- "add needs --location and --price: '\''CP001'\''" &&
	bad add CP001 -l x -- "add needs --location and --price: '\''CP001'\''" &&
	bad rm CP001 -p 1 -- "--price does not go with '\''rm'\''" &&
	bad list -l x -- "--location does not go with '\''list'\''" &&
	bad add CP001 -j -l x -p 1 -- "--json does not go with '\''add'\''" &&
	bad list CP001 -- "list takes no CP: '\''CP001'\''" &&
	bad rm -- "expected one CP after '\''rm'\''" &&
	bad add CP001 CP002 -l x -p 1 -- "expected one CP after '\''add'\''" &&
	bad frob -- "unknown action: '\''frob'\''" &&
	bad -- "expected an action: add, rm, list, key, rotate or revoke"
'

test_expect_success 'good input without Kafka: exit 3 naming the address' '
	test_expect_code 3 "$EVC" cps -b 127.0.0.1:9 add CP001 -l x -p 0.35 2>err &&
	grep -qF "cannot reach Kafka at '\''127.0.0.1:9'\''" err &&
	test_expect_code 3 "$EVC" cps -b 127.0.0.1:9 list 2>err
'

test_expect_success 'a catalogue file with an absurd price: topics create exits 2, before Kafka' '
	cat >absurd.yaml <<-EOF &&
	cps:
	  - {id: CP001, location: Alicante, price: 0.35}
	  - {id: CP002, location: Madrid, price: 1500}
	EOF
	printf "central:\n  catalogue: absurd.yaml\n" >absurd-conf.yaml &&
	test_expect_code 2 "$EVC" topics -c absurd-conf.yaml -b 127.0.0.1:9 create 2>err &&
	grep -qxF "evc topics: absurd.yaml: price not from 0 to 1000 EUR/kWh: '\''CP002'\''" err &&
	test_expect_code 2 "$EVC" central -n -c absurd-conf.yaml 2>err &&
	grep -qF "price not from 0 to 1000 EUR/kWh: '\''CP002'\''" err
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
EOF

test_expect_success 'topics create seeded the catalogue topic from the file, keyed by CP' '
	grep -qxF "seeded $(topic cp_catalogue) with 2 CPs from '\''$TEST_DIR/cps.yaml'\''" \
		.log/topics-create-evc &&
	records cp_catalogue >recs &&
	test "$(wc -l <recs)" = 2 &&
	grep -q "^CP001={\"v\":1,\"type\":\"cp_entry\",.*\"cp\":\"CP001\",\"location\":\"Alicante\",\"price\":0.35,\"power_kw\":0}\$" recs &&
	grep -q "^CP002={.*\"price\":0.4," recs
'

test_expect_success 'a second create keeps the topic: it is the catalogue now' '
	"$EVC" topics create >out 2>err &&
	grep -qxF "kept $(topic cp_catalogue): it holds the catalogue ('\''$TEST_DIR/cps.yaml'\'' seeds only an empty one)" out &&
	test "$(records cp_catalogue | wc -l)" = 2
'

test_expect_success 'cps list: the catalogue, by id; --json too' '
	"$EVC" cps list >out 2>err &&
	cat >expect <<-EOF &&
	CP     LOCATION   EUR/KWH  KW
	CP001  Alicante      0.35  -
	CP002  Madrid        0.40  -
	EOF
	diff -u expect out &&
	"$EVC" cps list --json >out &&
	grep -q "^{\"cps\":\[{\"cp\":\"CP001\",\"location\":\"Alicante\",\"price\":0.35,\"power_kw\":null,\"updated\":[0-9]*},{\"cp\":\"CP002\"" out
'

test_expect_success 'bad input against Kafka: nothing reaches the topic' '
	test_expect_code 2 "$EVC" cps add CP001 -l x -p -1 2>err &&
	test_expect_code 2 "$EVC" cps add "C P" -l x -p 1 2>err &&
	test_expect_code 1 "$EVC" cps rm CP777 2>err &&
	grep -qxF "evc cps: no CP in the catalogue: '\''CP777'\''" err &&
	test "$(records cp_catalogue | wc -l)" = 2
'

test_expect_success 'Central says it follows the topic, the file only its seed' '
	central central &&
	grep -qF "catalogue: 2 CPs, following topic '\''$(topic cp_catalogue)'\'' (the file '\''$TEST_DIR/cps.yaml'\'' only seeds an empty topic)" central.err &&
	bg cp1 "$EVC" cp CP001 &&
	bg cp2 "$EVC" cp CP002 &&
	wait_for 20 "grep -q \"CP001 ACTIVE\" central.err" &&
	wait_for 20 "grep -q \"CP002 ACTIVE\" central.err"
'

test_expect_success 'a CP not in the catalogue is refused' '
	test_expect_code 1 "$EVC" cp CP009 >cp9.out 2>cp9.err &&
	wait_for 5 "grep -q \"CP009 refused: not in the catalogue\" central.err"
'

test_expect_success 'a CP added while Central runs registers at once and charges' '
	"$EVC" cps add CP009 --location "$elche" --price 0.5 --power 3600 >out 2>err &&
	test ! -s out && test ! -s err &&
	wait_for 10 "grep -qF \"CP009 added to the catalogue ($elche, 0.50 EUR/kWh)\" central.err" &&
	wait_for 10 "test \"\$(last_state CP009)\" = DISCONNECTED" &&
	bg cp9 "$EVC" cp CP009 &&
	wait_for 20 "grep -q \"CP009 ACTIVE\" central.err" &&
	"$EVC" auth --wait --kwh 1 D1 CP009 >out 2>err &&
	grep -q "^authorised: D1 at CP009, session [0-9a-f]*, price 0.50 EUR/kWh\$" out &&
	grep -qxF "ticket at CP009: 1.0 kWh, 0.50 EUR at 0.50 EUR/kWh (finished)" out
'

test_expect_success 'evc status, the driver list and cps list show it' '
	"$EVC" status CP009 >out 2>err &&
	grep -q "^CP009 .*ACTIVE .*Elche.* 0.50 " out &&
	echo list | "$EVC" driver D0 >out 2>err &&
	grep -q "^CP009 .*ACTIVE .*0.50 EUR/kWh  Elche" out &&
	grep -qx "3 CPs, 3 available" out &&
	"$EVC" cps list >out &&
	grep -q "^CP009  $elche *0.50  3600.0\$" out
'

test_expect_success 'a new price: the session in progress keeps its own, the next ticket shows it' '
	bg a "$EVC" auth --wait --kwh 5 D2 CP001 &&
	wait_for 10 "grep -q \"^charging at CP001\" a.out" &&
	"$EVC" cps add CP001 -l Alicante -p 0.7 &&
	wait_for 10 "grep -q \"CP001 price 0.70 EUR/kWh, was 0.35: for the sessions from now on\" central.err" &&
	bg_wait a 20 &&
	grep -qxF "ticket at CP001: 5.0 kWh, 1.75 EUR at 0.35 EUR/kWh (finished)" a.out &&
	"$EVC" auth --wait --kwh 1 D3 CP001 >out 2>err &&
	grep -q "price 0.70 EUR/kWh\$" out &&
	grep -qxF "ticket at CP001: 1.0 kWh, 0.70 EUR at 0.70 EUR/kWh (finished)" out &&
	"$EVC" cps list | grep -q "^CP001  .* 0.70  -\$"
'

test_expect_success 'a CP removed while idle is refused, and leaves cp-state' '
	"$EVC" cps rm CP002 >out 2>err &&
	test ! -s out && test ! -s err &&
	wait_for 10 "grep -q \"CP002 forgotten: off the catalogue\" central.err" &&
	wait_for 10 "test \"\$(last_state CP002)\" = NULL" &&
	test_expect_code 1 "$EVC" auth D4 CP002 2>err &&
	grep -qxF "evc auth: denied: CP002 is not known to Central" err &&
	test_expect_code 1 "$EVC" status CP002 2>err &&
	! "$EVC" cps list | grep -q CP002 &&
	echo list | "$EVC" driver D0 >out 2>err &&
	! grep -q CP002 out &&
	test_expect_code 1 "$EVC" cps rm CP002 2>err &&
	grep -qxF "evc cps: no CP in the catalogue: '\''CP002'\''" err
'

test_expect_success 'its engine, started again, is refused' '
	bg_kill cp2;
	test_expect_code 1 "$EVC" cp CP002 >out 2>err &&
	wait_for 10 "grep -q \"CP002 refused: removed from the catalogue\" central.err"
'

test_expect_success 'a CP removed while it supplies: the session ends billed at its price, then it is refused' '
	bg b "$EVC" auth --wait --kwh 4 D5 CP009 &&
	wait_for 10 "grep -q \"^charging at CP009\" b.out" &&
	"$EVC" cps rm CP009 &&
	wait_for 10 "grep -q \"CP009 removed from the catalogue: session [0-9a-f]* of D5 goes on to its end\" central.err" &&
	test_expect_code 1 "$EVC" auth D6 CP009 2>err &&
	grep -qxF "evc auth: denied: CP009 is not known to Central" err &&
	bg_wait b 20 &&
	grep -qxF "ticket at CP009: 4.0 kWh, 2.00 EUR at 0.50 EUR/kWh (finished)" b.out &&
	wait_for 10 "grep -q \"CP009 forgotten: off the catalogue\" central.err" &&
	wait_for 10 "test \"\$(last_state CP009)\" = NULL"
'

test_expect_success 'bad records on the topic are rejected and change nothing' '
	put_raw CP003 "{\"v\":1,\"type\":\"cp_entry\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"CP003\",\"location\":\"x\",\"price\":-1,\"power_kw\":0}" &&
	put_raw CP004 "{\"v\":1,\"type\":\"cp_entry\",\"id\":\"$(uuid)\",\"ts\":$(now),\"cp\":\"CP005\",\"location\":\"x\",\"price\":1,\"power_kw\":0}" &&
	put_raw CP006 "garbage" &&
	printf ".probe\t\n" | kc -P -t "$(topic cp_catalogue)" -K "$tab" -Z &&
	wait_for 10 "test \$(grep -c \"rejected message on .$(topic cp_catalogue).\" central.err) -ge 4" &&
	grep -q "key is not the cp" central.err &&
	grep -q "removal of a key that is no CP id" central.err &&
	test_expect_code 1 "$EVC" auth D7 CP003 2>err &&
	test_expect_code 1 "$EVC" auth D7 CP005 2>err &&
	grep -qxF "evc auth: denied: CP005 is not known to Central" err
'

test_expect_success 'a standby Central follows the catalogue: it knows a CP added before it took over' '
	bg standby "$EVC" central &&
	wait_for 20 "grep -q \"standing by: another Central holds the lease\" standby.err" &&
	"$EVC" cps add CP010 -l Elda -p 0.3 &&
	wait_for 10 "grep -q \"CP010 added to the catalogue\" central.err" &&
	bg_kill central &&
	wait_for 30 "grep -q \"ready: \" standby.err" &&
	grep -qF "catalogue: 2 CPs, following topic" standby.err &&
	bg cp10 "$EVC" cp CP010 &&
	wait_for 20 "grep -q \"CP010 ACTIVE\" standby.err" &&
	"$EVC" auth --wait --kwh 1 D8 CP010 >out 2>err &&
	grep -qxF "ticket at CP010: 1.0 kWh, 0.30 EUR at 0.30 EUR/kWh (finished)" out
'

test_expect_success 'after the takeover, removed CPs stay refused and new prices stay' '
	test_expect_code 1 "$EVC" auth D9 CP002 2>err &&
	grep -qxF "evc auth: denied: CP002 is not known to Central" err &&
	test_expect_code 1 "$EVC" auth D9 CP009 2>err &&
	"$EVC" auth --wait --kwh 1 D9 CP001 >out 2>err &&
	grep -qxF "ticket at CP001: 1.0 kWh, 0.70 EUR at 0.70 EUR/kWh (finished)" out &&
	bg_kill standby
'

# --- the seed at Central's first start, and at evc cps's first write --------

test_config first <<-EOF
	cp:
	  power_kw: 3600
	  default_kwh: 1
EOF

# with_catalogue NAME: NAME.yaml with central.catalogue set, as a file
# whose topics were created before it named one.
with_catalogue()
{
	sed "s|^central:\$|central:\n  catalogue: $TEST_DIR/cps.yaml|" "$1.yaml" >"$1-cat.yaml" &&
		grep -q "catalogue:" "$1-cat.yaml"
}

test_expect_success 'Central seeds a catalogue topic that never held a record' '
	test "$(records cp_catalogue | wc -l)" = 0 &&
	with_catalogue first &&
	export EVC_CONFIG=$TEST_DIR/first-cat.yaml &&
	"$EVC" cps list >out &&
	grep -qxF "no CP in the catalogue yet ('\''$TEST_DIR/cps.yaml'\'' seeds it at '\''evc topics create'\'' or Central'\''s first start)" out &&
	central c1 &&
	grep -qF "evc central: catalogue: topic '\''$(topic cp_catalogue)'\'' held nothing: seeded with 2 CPs from '\''$TEST_DIR/cps.yaml'\''" c1.err &&
	grep -qF "catalogue: 2 CPs, following topic" c1.err &&
	test "$(records cp_catalogue | wc -l)" = 2 &&
	bg_kill c1 &&
	central c2 &&
	grep -qF "(the file '\''$TEST_DIR/cps.yaml'\'' only seeds an empty topic)" c2.err &&
	! grep -q "seeded" c2.err &&
	test "$(records cp_catalogue | wc -l)" = 2 &&
	bg_kill c2
'

test_config second <<-EOF
	cp:
	  power_kw: 3600
EOF

test_expect_success 'the first evc cps add seeds the topic from the file first' '
	with_catalogue second &&
	export EVC_CONFIG=$TEST_DIR/second-cat.yaml &&
	"$EVC" cps add CP003 -l Valencia -p 0.3 >out 2>err &&
	grep -qF "evc cps: seeded '\''$(topic cp_catalogue)'\'' with 2 CPs from '\''$TEST_DIR/cps.yaml'\'' first" err &&
	"$EVC" cps list | awk "NR > 1 { print \$1 }" >ids &&
	printf "CP001\nCP002\nCP003\n" >expect &&
	diff -u expect ids
'

test_config third <<-EOF
	cp:
	  power_kw: 3600
EOF

test_expect_success 'a seed file not on this machine: topics create seeds nothing, evc cps writes nothing' '
	sed "s|^central:\$|central:\n  catalogue: $TEST_DIR/elsewhere.yaml|" third.yaml >far.yaml &&
	"$EVC" topics -c far.yaml create >out 2>err &&
	grep -qxF "not seeded $(topic cp_catalogue): no '\''$TEST_DIR/elsewhere.yaml'\'' here (the first Central seeds it)" out &&
	test_expect_code 1 "$EVC" cps -c far.yaml add CP001 -l x -p 1 2>err &&
	grep -qxF "evc cps: the catalogue topic was never seeded, and its seed is not here (run evc topics create, or start Central, where it is): '\''$TEST_DIR/elsewhere.yaml'\''" err &&
	test "$(records cp_catalogue | wc -l)" = 0
'

test_expect_success 'a missing catalogue topic: evc cps exits 1 and says so' '
	sed "s/^\(    cp_catalogue: \).*/\1no-such-topic-$$/" second.yaml >gone.yaml &&
	test_expect_code 1 "$EVC" cps -c gone.yaml add CP001 -l x -p 1 2>err &&
	grep -qF "no-such-topic-$$" err &&
	test_expect_code 1 "$EVC" cps -c gone.yaml list 2>err
'

test_expect_success 'without its catalogue topic, Central serves the file alone and says so' '
	sed -e "s/^\(    cp_catalogue: \).*/\1no-such-topic-$$/" \
		-e "s/^\(  group: \).*/\1evc-central-t1600-$$-nocat/" evc.yaml >nocat.yaml &&
	central c3 -c nocat.yaml &&
	grep -qF "cannot read '\''no-such-topic-$$'\'': the catalogue is that of '\''cps.yaml'\'' alone, without the topic'\''s changes" c3.err &&
	grep -q "ready: 2 CPs" c3.err &&
	bg_kill c3
'
