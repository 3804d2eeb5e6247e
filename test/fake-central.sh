# fake-central.sh: Central's side of the authorisation flow, played by hand with kcat, for the driver tests.
#
# Sourced by a test after lib.sh and test_config. A test waits for the
# request of its driver, then answers it step by step:
#
#   bg a "$EVC" auth D1 CP001 &&
#   await_request D1 &&             # sets REQ, REQ_KEY, REQ_ID, REQ_CP...
#   grant 0.35 &&                   # sets SESSION
#   progress 0 0 0 && ticket 3200 112 finished
#
# Messages go to the test's auth-response topic keyed by the driver, as
# Central sends them, so they land on the partition the driver follows.

# uuid: 32 random lowercase hex digits, like evc's message ids.
uuid()
{
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# topics_ready: waits (15 s) until every partition of the topics the
# driver uses has a leader that answers: topics just created by
# test_config take a moment, and "Not leader for partition" meanwhile.
topics_ready()
{
	local args=() t p

	for t in auth_request auth_response cp_state; do
		for p in 0 1 2; do
			args+=(-t "$(topic $t):$p:1")
		done
	done
	wait_for 15 'out=$(kc -Q "${args[@]}" 2>&1) && ! grep -qi error <<<"$out"'
}

# json_field NAME JSON: a top-level string, number or boolean of JSON.
json_field()
{
	printf '%s\n' "$2" | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# requests DRIVER: "KEY JSON" for each auth_request of DRIVER so far,
# oldest first (kcat gives them partition by partition).
requests()
{
	kc -C -q -e -t "$(topic auth_request)" -f '%k %s\n' 2>/dev/null |
		grep -F "\"driver\":\"$1\"" |
		sed 's/^\(.*"ts":\([0-9]*\).*\)$/\2 \1/' | sort -n | cut -d ' ' -f 2-
}

# await_request DRIVER [N]: waits (10 s) for the Nth request of DRIVER
# (default 1) and sets REQ (the JSON), REQ_KEY (its Kafka key), REQ_ID,
# REQ_CP and REQ_DRIVER, the request the next answer refers to.
await_request()
{
	local n=${2:-1} line

	wait_for 10 "test \"\$(requests $1 | wc -l)\" -ge $n" || return 1
	line=$(requests "$1" | sed -n "${n}p")
	REQ_KEY=${line%% *}
	REQ=${line#* }
	REQ_ID=$(json_field id "$REQ")
	REQ_CP=$(json_field cp "$REQ")
	REQ_DRIVER=$1
}

# send KEY JSON...: writes messages to auth-response with the key KEY.
send()
{
	local key=$1

	shift
	printf "$key|%s\n" "$@" |
		kc -P -K '|' -X partitioner=consistent -t "$(topic auth_response)"
}

# The envelope of a message to the driver of the request: type, then
# the session when one is given.
_head()
{
	printf '"v":1,"type":"%s","id":"%s","ts":%s,"cp":"%s","driver":"%s"' \
		"$1" "$(uuid)" "$(_now_ms)" "$REQ_CP" "$REQ_DRIVER"
	[ -z "${2:-}" ] || printf ',"session":"%s"' "$2"
}

# grant [PRICE]: authorises the request (price default 0.35); sets SESSION.
grant()
{
	SESSION=$(uuid)
	send "$REQ_DRIVER" "{$(_head auth_response "$SESSION"),\"request\":\"$REQ_ID\",\"authorized\":true,\"reason\":\"none\",\"price\":${1:-0.35}}"
}

# deny REASON: refuses the request.
deny()
{
	send "$REQ_DRIVER" "{$(_head auth_response),\"request\":\"$REQ_ID\",\"authorized\":false,\"reason\":\"$1\",\"price\":0}"
}

# progress SEQ WH CENTS: live figures of SESSION (22 kW).
progress()
{
	send "$REQ_DRIVER" "{$(_head progress "$SESSION"),\"seq\":$1,\"kw\":22,\"wh\":$2,\"cents\":$3}"
}

# ticket WH CENTS REASON [PRICE]: the end of SESSION.
ticket()
{
	local now

	now=$(_now_ms)
	send "$REQ_DRIVER" "{$(_head ticket "$SESSION"),\"seq\":99,\"wh\":$1,\"cents\":$2,\"price\":${4:-0.35},\"started\":$((now - 5000)),\"ended\":$now,\"reason\":\"$3\"}"
}

# notice STATE TEXT: news of SESSION.
notice()
{
	send "$REQ_DRIVER" "{$(_head notice "$SESSION"),\"state\":\"$1\",\"text\":\"$2\"}"
}
