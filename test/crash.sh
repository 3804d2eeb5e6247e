# crash.sh: what the crash tests share (t4100, t4110): a CP's last state, a charge's ticket, the invariants of a scenario.
#
# Sourced after lib.sh. report() reads $check (crash-check.py), $rounds
# and $prices (CP=EUR/kWh,...) of the sourcing script.

# supplying CP DRIVER: has the engine of CP (its monitor's background
# name) started the session of DRIVER?
supplying()
{
	grep -q "session started for '$2'" "$1.err"
}

# state CP: the last state Central published for CP.
state()
{
	kc -C -e -q -t "$(topic cp_state)" -f '%s\n' 2>/dev/null |
		grep "\"cp\":\"$1\"" | tail -n 1 |
		sed -n 's/.*"state":"\([A-Z]*\)".*/\1/p'
}

# ticket_reason NAME: the reason of the ticket in evc auth --json's NAME.out.
ticket_reason()
{
	python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["ticket"]
print(t["reason"] if t else "none")' "$1.out"
}

# report NAME PREFIX REASONS: checks the scenario's invariants on the
# whole of the telemetry and auth-response topics, and keeps its report
# line for the end.
report()
{
	local rc

	kc -C -J -e -q -t "$(topic telemetry)" >tele.json 2>/dev/null &&
	kc -C -J -e -q -t "$(topic auth_response)" >resp.json 2>/dev/null &&
	python3 "$check" "$1" "$rounds" "$2" "$3" tele.json resp.json \
		"$prices" >report.$1
	rc=$?
	cat report.$1
	return $rc
}
