#!/usr/bin/env bash
# t0110-topics-lag.sh: evc topics lag: Central's group, its committed offsets, and the lag while it is stopped.
. "$(dirname "$0")/lib.sh"

tab=$(printf '\t')

uuid() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
now() { date +%s%3N; }

# beats N CP: N heartbeats of CP on the test's health topic.
beats()
{
	local i

	for ((i = 1; i <= $1; i++)); do
		printf '%s\t{"v":1,"type":"health","id":"%s","ts":%s,"cp":"%s","engine_ok":true,"seq":%d}\n' \
			"$2" "$(uuid)" "$(now)" "$2" "$i"
	done | kc -P -t "$(topic health)" -K "$tab"
}

# lag_of GROUP TOPIC: the lag of GROUP summed over the rows of TOPIC
# ("-" counts as nothing); fails when GROUP has no row for TOPIC.
lag_of()
{
	"$EVC" topics lag "$1" 2>/dev/null |
		awk -v g="$1" -v t="$2" '
		$1 == g && $2 == t { rows++; if ($6 != "-") sum += $6 }
		END { if (!rows) exit 1; print sum + 0 }'
}

# summary GROUP: the summary line of GROUP.
summary()
{
	"$EVC" topics lag "$1" 2>/dev/null | grep "^group $1: "
}

test_expect_success 'lag takes group names; other actions take no more words' '
	test_expect_code 2 "$EVC" topics -b 127.0.0.1:1 list extra >out 2>err &&
	test ! -s out &&
	grep -qF "expected one action" err
'

test_expect_success 'lag with an unreachable Kafka: exit 3 naming it' '
	test_expect_code 3 "$EVC" topics -b 127.0.0.1:1 lag >out 2>err &&
	test ! -s out &&
	grep -qF "evc topics: cannot reach Kafka at '\''127.0.0.1:1'\''" err
'

need_kafka

group=central-$TEST_NAME-$$
cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
EOF
test_config <<EOF
central:
  catalogue: cps.yaml
  group: $group
EOF

test_expect_success 'a group that does not exist: exit 1 naming it' '
	test_expect_code 1 "$EVC" topics lag no-such-group-$$ >out 2>err &&
	grep -qxF "evc topics: no such consumer group: '\''no-such-group-$$'\''" err
'

test_expect_success 'a running Central: its group is Stable, with one member holding the partitions' '
	bg central "$EVC" central &&
	wait_for 30 "grep -q \"ready: \" central.err" &&
	wait_for 20 "summary $group | grep -q \": Stable, 1 member, \"" &&
	"$EVC" topics lag $group >out 2>err &&
	head -n 1 out | grep -qE "^GROUP +TOPIC +PARTITION +COMMITTED +END +LAG +CONSUMER\$" &&
	grep -qE "^$group +$(topic health) +[0-2] +.* evc central\$" out &&
	test $(grep -c "^$group " out) = 15
'

test_expect_success 'what Central reads is committed: lag 0' '
	beats 1 CP001 &&
	wait_for 20 "test \"\$(lag_of $group $(topic health))\" = 0"
'

test_expect_success 'Central stopped: the group is Empty, no member holds a partition' '
	bg_kill central &&
	summary $group >sum &&
	grep -qE "^group $group: Empty, 0 members, [0-9]+ partitions?, lag 0" sum &&
	"$EVC" topics lag $group >out &&
	! grep -E "^$group " out | grep -qv " -\$" &&
	test "$(lag_of $group $(topic health))" = 0
'

test_expect_success 'messages sent while Central is stopped are its lag' '
	beats 5 CP001 &&
	wait_for 10 "test \"\$(lag_of $group $(topic health))\" = 5" &&
	summary $group | grep -qE ", lag 5\$"
'

test_expect_success 'the group appears in the list of every group' '
	"$EVC" topics lag >out &&
	grep -q "^group $group: Empty, " out &&
	grep -qE "^$group +$(topic health) " out
'

test_expect_success 'Central back: it reads them, and the lag is 0 again' '
	bg central2 "$EVC" central &&
	wait_for 30 "grep -q \"ready: \" central2.err" &&
	wait_for 20 "test \"\$(lag_of $group $(topic health))\" = 0" &&
	bg_kill central2 &&
	test "$(lag_of $group $(topic health))" = 0
'

test_done
