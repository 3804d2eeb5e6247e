#!/usr/bin/env bash
# t4100-crash.sh: kill -9 Central, an engine, a monitor or a driver at a random moment of a supply, round after round; nothing lost, nothing billed twice.
. "$(dirname "$0")/lib.sh"
. "$TEST_TOP/test/crash.sh"

need_kafka
if ! command -v python3 >/dev/null; then
	test_skip 'crash matrix' 'no python3'
	test_done
fi

rounds=${EVC_CRASH_ROUNDS:-3}
# Roles are started again and again: all from one copy of the binary, so
# that a rebuild in the middle of the run cannot mix two versions.
mkdir bin && cp "$EVC" bin/evc && EVC=$TEST_DIR/bin/evc || exit 1
check=$TEST_TOP/test/crash-check.py
prices="CP001=0.35,CP002=0.40,CP003=0.45,CP004=0.3"

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
  - {id: CP002, location: Madrid, price: 0.40}
  - {id: CP003, location: Valencia, price: 0.45}
  - {id: CP004, location: Murcia, price: 0.3}
EOF

# 1111 kW: 61.72 Wh a tick (200 ms), odd figures that round; 1.5 kWh
# take about 5 s, so a kill 0.3 to 2 s in always falls in the supply.
test_config <<EOF
central:
  catalogue: cps.yaml
cp:
  power_kw: 1111
  default_kwh: 1.5
driver:
  lookback_s: 600
EOF

# A killed Central's consumer group waits for its member to time out
# before a new Central gets the partitions: 6 s, the broker's minimum.
central_opts="-X session.timeout.ms=6000"
ncentral=0

start_central()
{
	ncentral=$((ncentral + 1))
	central=central$ncentral
	bg $central "$EVC" central $central_opts &&
		wait_for 40 "grep -q \"ready:\" $central.err"
}

# A random pause of 0.3 to 2 s.
random_pause()
{
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.3 + (r % 1701) / 1000 }')"
}

# times_state CP STATE: how many times Central published STATE for CP.
times_state()
{
	kc -C -e -q -t "$(topic cp_state)" -f '%s\n' 2>/dev/null |
		grep "\"cp\":\"$1\"" | grep -c "\"state\":\"$2\""
}

# told DRIVER STATE: did Central send DRIVER a notice of its CP in STATE?
told()
{
	kc -C -e -q -t "$(topic auth_response)" -f '%s\n' 2>/dev/null |
		grep -q "\"type\":\"notice\".*\"driver\":\"$1\".*\"state\":\"$2\""
}

# The engine of a CP: its monitor's only child.
engine_of()
{
	pgrep -P "$(bg_pid "$1")"
}

test_expect_success 'Central and four CPs start' '
	start_central &&
	for i in 1 2 3 4; do
		bg cp$i "$EVC" cp CP00$i || return 1
	done &&
	for i in 1 2 3 4; do
		wait_for 20 "test \"\$(state CP00$i)\" = ACTIVE" || return 1
	done
'

# fresh NAME: a copy of evc.yaml, NAME.yaml, whose Central group is new
# (it never committed an offset); prints the group.
fresh()
{
	local group

	group=$(sed -n 's/^  group: //p' evc.yaml)-$1 &&
	sed "s/^  group: .*/  group: $group/" evc.yaml >"$1.yaml" &&
	echo "$group"
}

# committed GROUP: has Central's group GROUP committed an offset yet?
committed()
{
	kc -C -e -q -t __consumer_offsets -f '%K:%k' 2>/dev/null |
		python3 "$check" committed "$1"
}

# answers REQUEST: Central's answers to a request, "granted SESSION" or
# "refused REASON" a line, in order.
answers()
{
	kc -C -J -e -q -t "$(topic auth_response)" >answers.json 2>/dev/null &&
		python3 "$check" answers answers.json "$1"
}

# auth_field NAME KEY: a field (request, session) of evc auth --json's
# NAME.out.
auth_field()
{
	python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1.out" "$2"
}

# kill_central NAME: kill -9, and wait until it is gone.
kill_central()
{
	local pid

	pid=$(bg_pid "$1") && kill -KILL "$pid" &&
		wait_for 5 "! kill -0 $pid 2>/dev/null"
}

# kill_when TIMEOUT_S CONDITION NAME: kill -9 Central NAME as soon as
# CONDITION holds (checked every 10 ms: Central commits every second).
kill_when()
{
	local i

	for ((i = 0; i < $1 * 100; i++)); do
		eval "$2" && { kill_central "$3"; return; }
		sleep 0.01
	done
	echo "kill_when: timed out after $1s: $2" >&2
	return 1
}

# Central's group starts at the beginning of its partitions when it has
# no committed offset: a Central killed before its first commit (a second
# after it starts) reads again, once restarted, the supply it missed. Each round has
# a group of its own, and the supply ends while Central is down; a round
# in which the group did commit before the kill is run again.
test_expect_success "Central killed before its first offset commit, $rounds rounds: the supply is billed" '
	bg_kill $central &&
	n=0 early=0 &&
	while test $early -lt $rounds && test $n -lt $((rounds + 3)); do
		n=$((n + 1)) &&
		echo "--- round $n" &&
		group=$(fresh fresh$n) &&
		bg f$n "$EVC" central -c fresh$n.yaml $central_opts &&
		wait_for 40 "grep -q \"ready:\" f$n.err" &&
		wait_for 10 "grep -q \"CP002 ACTIVE\" f$n.err" &&
		bg a$n "$EVC" auth --wait --json -t 40 A$n CP002 &&
		kill_when 10 "supplying cp2 A$n" f$n &&
		if committed $group; then
			echo "round $n: the group committed before the kill: again"
		else
			early=$((early + 1))
		fi &&
		wait_for 15 "grep -q \"supply ended for .A$n.\" cp2.err" &&
		bg f$n-again "$EVC" central -c fresh$n.yaml $central_opts &&
		wait_for 40 "grep -q \"ready:\" f$n-again.err" &&
		bg_wait a$n 40 &&
		cat a$n.out &&
		test "$(ticket_reason a$n)" = finished &&
		bg_kill f$n-again || {
			# No second Central left behind for the tests below.
			bg_kill f$n; bg_kill f$n-again
			report fresh A finished; return 1
		}
	done &&
	test $early = $rounds &&
	report fresh A finished
'

# A request granted just before Central is killed, before its offset is
# committed, is read again by the next Central: cp-state told it that
# request was granted, so it gives no second answer, or the same one
# again (when it reads the request before the supply's end): never a
# contradicting one. The supply ends while Central is down, so that the
# CP is free again when the request is read. A round whose grant was
# committed before the kill is run again.
test_expect_success "Central killed after a grant, before its commit, $rounds rounds: the request is not granted again" '
	start_central &&
	n=0 reread=0 &&
	while test $reread -lt $rounds && test $n -lt $((rounds + 3)); do
		n=$((n + 1)) &&
		echo "--- round $n" &&
		wait_for 10 "test \"\$(state CP003)\" = ACTIVE" &&
		bg b$n "$EVC" auth --wait --json -t 40 B$n CP003 &&
		kill_when 10 "supplying cp3 B$n" $central &&
		wait_for 15 "grep -q \"supply ended for .B$n.\" cp3.err" &&
		start_central &&
		bg_wait b$n 40 &&
		cat b$n.out &&
		test "$(ticket_reason b$n)" = finished &&
		req=$(auth_field b$n request) &&
		{ wait_for 5 "test \$(answers $req | wc -l) -gt 1 ||
			grep -q \"request ${req:0:8} was answered before\" $central.err"; :; } &&
		answers $req >answers.b$n &&
		cat answers.b$n &&
		test "$(head -n 1 answers.b$n)" = "granted $(auth_field b$n session)" &&
		if test $(wc -l <answers.b$n) -gt 1 ||
		   grep -q "request ${req:0:8} was answered before" $central.err; then
			reread=$((reread + 1)) &&
			! sed 1d answers.b$n | grep -vxF "$(head -n 1 answers.b$n)"
		else
			echo "round $n: the grant was committed before the kill: again"
		fi || { report restart B finished; return 1; }
	done &&
	test $reread = $rounds &&
	report restart B finished
'

# Replays, by hand: the auth_request of a round as it was sent (no new
# answer: an earlier Central granted it, cp-state says so, and it is
# older than the running Central), the same with a fresh ts, and that of
# a charge this Central granted and served, as sent and again with a
# fresh ts (refused as bad_request: its id was granted before). None
# opens a session; the report counts the refusals.
test_expect_success 'a granted request replayed is refused, and counted' '
	wait_for 10 "test \"\$(state CP003)\" = ACTIVE" &&
	"$EVC" auth --wait --json -t 20 --kwh 0.2 Bz CP003 >bz.out &&
	test "$(ticket_reason bz)" = finished &&
	old=$(auth_field b$n request) && mine=$(auth_field bz request) &&
	kc -C -e -q -t "$(topic auth_request)" -f "%k\t%s\n" >requests &&
	grep -F "\"id\":\"$old\"" requests >replay &&
	grep -F "\"id\":\"$mine\"" requests >>replay &&
	test $(wc -l <replay) = 2 &&
	tail -n 1 replay | sed "s/\"ts\":[0-9]*/\"ts\":$(date +%s%3N)/" >>replay &&
	cat replay &&
	answers $old >before.old && answers $mine >before.mine &&
	kc -P -t "$(topic auth_request)" -X partitioner=consistent \
		-K "$(printf "\t")" -l replay &&
	wait_for 10 "test \$(answers $mine | wc -l) -gt \$((\$(wc -l <before.mine) + 1))" &&
	sleep 1 &&
	answers $old >answers.old && answers $mine >answers.mine &&
	cat answers.old answers.mine &&
	{ cat before.mine && echo "refused bad_request" &&
	  echo "refused bad_request"; } >expect.mine &&
	test "$(head -n 1 expect.mine)" = "granted $(auth_field bz session)" &&
	diff before.old answers.old && diff expect.mine answers.mine &&
	report restart B finished &&
	grep -q "refused [0-9]* (.*bad_request 2" report.restart
'

# cp-state carries the requests granted at a CP lately: a request granted
# by an earlier Central, since killed, sent again with the same id but a
# fresh ts, is refused too; it opens no second session.
test_expect_success 'a request granted by an earlier Central, sent again with a fresh ts: refused' '
	grep -F "\"id\":\"$old\"" requests |
		sed "s/\"ts\":[0-9]*/\"ts\":$(date +%s%3N)/" >replay.old &&
	kc -P -t "$(topic auth_request)" -X partitioner=consistent \
		-K "$(printf "\t")" -l replay.old &&
	wait_for 10 "test \$(answers $old | wc -l) -gt \$(wc -l <before.old)" &&
	answers $old >answers.old &&
	{ cat before.old && echo "refused bad_request"; } >expect.old &&
	diff expect.old answers.old &&
	report restart B finished &&
	grep -q "refused [0-9]* (.*bad_request 3" report.restart
'

# So every round below starts with committed offsets on CP001's
# partitions: a charge there, and the time of an automatic commit; and
# Central is killed at a random moment of a 13 s supply, but only once
# the grant is committed (5.5 s in).
test_expect_success 'a first charge at CP001, its offsets committed' '
	"$EVC" auth --wait -t 20 W0 CP001 >w0.out &&
	grep -q "(finished)" w0.out &&
	sleep 6
'

test_expect_success "Central killed mid-supply, $rounds rounds: CPs finish, no grant while down, tickets once" '
	for r in $(seq "$rounds"); do
		echo "--- round $r" &&
		bg c$r "$EVC" auth --wait --json -t 40 --kwh 4 C$r CP001 &&
		wait_for 10 "supplying cp1 C$r" &&
		sleep 5.5 && random_pause &&
		kill -KILL "$(bg_pid $central)" &&
		wait_for 5 "! kill -0 $(bg_pid $central) 2>/dev/null" &&
		{ test_expect_code 3 "$EVC" auth -t 1.5 Cx$r CP002 2>down.err;
		  rc=$?; cat down.err; test $rc = 0; } &&
		grep -qxF "evc auth: no answer from Central within 1.5 s" down.err &&
		start_central &&
		bg_wait c$r 40 &&
		cat c$r.out &&
		test "$(ticket_reason c$r)" = finished &&
		wait_for 10 "test \"\$(state CP001)\" = ACTIVE" || return 1
	done &&
	report central C finished
'

# Central closes a session alone when the CP turns DISCONNECTED (or stays
# BROKEN without a supply_end), with the figures it has read. It judges
# so only once it has read the CP's health and telemetry partitions to
# their end: the ticket has the energy of the last telemetry, or of the
# supply_end when one came.
test_expect_success "engine killed mid-supply, $rounds rounds: BROKEN, energy kept, one ticket" '
	for r in $(seq "$rounds"); do
		echo "--- round $r" &&
		bg e$r "$EVC" auth --wait --json -t 20 E$r CP002 &&
		wait_for 10 "supplying cp2 E$r" &&
		random_pause &&
		eng=$(engine_of cp2) && test -n "$eng" &&
		kill -KILL $eng &&
		{ bg_wait e$r 20; rc=$?; cat e$r.out; test $rc = 1; } &&
		test "$(ticket_reason e$r)" = broken &&
		wait_for 10 "told E$r BROKEN" &&
		wait_for 10 "test \$(times_state CP002 BROKEN) -ge $r" &&
		wait_for 10 "test \"\$(state CP002)\" = ACTIVE" &&
		new=$(engine_of cp2) && test -n "$new" && test "$new" != "$eng" ||
			return 1
	done &&
	report engine E broken
'

test_expect_success "monitor killed mid-supply, $rounds rounds: DISCONNECTED, ticket says so" '
	mon=cp3 &&
	for r in $(seq "$rounds"); do
		echo "--- round $r" &&
		bg m$r "$EVC" auth --wait --json -t 20 M$r CP003 &&
		wait_for 10 "supplying $mon M$r" &&
		random_pause &&
		eng=$(engine_of $mon) && test -n "$eng" &&
		kill -KILL "$(bg_pid $mon)" &&
		wait_for 5 "! kill -0 $eng 2>/dev/null" &&
		{ bg_wait m$r 20; rc=$?; cat m$r.out; test $rc = 1; } &&
		test "$(ticket_reason m$r)" = disconnected &&
		wait_for 10 "test \"\$(state CP003)\" = DISCONNECTED" &&
		mon=cp3-$r &&
		bg $mon "$EVC" cp CP003 &&
		wait_for 20 "test \"\$(state CP003)\" = ACTIVE" || return 1
	done &&
	report monitor M disconnected
'

# drive DRIVER: a driver reading its commands from the fifo "in", which
# the test holds open on fd 9: it stays until told to quit.
drive()
{
	exec "$EVC" driver "$1" <"$TEST_DIR/in" 9>&-
}

test_expect_success "driver killed mid-supply, $rounds rounds: the supply goes on, the restarted driver shows its ticket" '
	mkfifo in &&
	for r in $(seq "$rounds"); do
		echo "--- round $r" &&
		echo "charge CP004" >cmds$r &&
		bg d$r sh -c "exec \"\$EVC\" driver D$r <cmds$r" &&
		wait_for 10 "supplying cp4 D$r" &&
		random_pause &&
		kill -KILL "$(bg_pid d$r)" &&
		{ bg_wait d$r 5; test $? = 137; } &&
		exec 9<>in &&
		bg d$r-again drive D$r &&
		wait_for 20 "grep -q \"^ticket at CP004: \" d$r-again.out" &&
		echo quit >&9 &&
		bg_wait d$r-again 5 &&
		exec 9>&- &&
		cat d$r-again.out &&
		grep -q "^ticket at CP004: .* EUR at 0.30 EUR/kWh (finished)\$" d$r-again.out &&
		wait_for 10 "test \"\$(state CP004)\" = ACTIVE" || return 1
	done &&
	report driver D finished
'

test_expect_success 'Central and the CPs stop cleanly' '
	bg_kill $central &&
	for i in 1 2 4; do
		bg_kill cp$i || return 1
	done &&
	bg_kill $mon &&
	sed "s/^/# /" report.* >&7
'
