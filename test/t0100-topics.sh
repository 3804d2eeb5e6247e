#!/usr/bin/env bash
# t0100-topics.sh: evc topics: create (partitions, replication, compaction, idempotence), list, describe, errors.
. "$(dirname "$0")/lib.sh"

keys="cp_register cp_register_ack auth_request auth_response cp_commands
telemetry health control cp_state central_lease cp_catalogue audit"

# name NAME KEY: the topic KEY of config NAME (cp_state -> cp-state-t0100-PID-NAME).
name()
{
	printf '%s-t0100-%s-%s\n' "${2//_/-}" "$$" "$1"
}

# names NAME: the twelve topics of config NAME, in evc's order.
names()
{
	local k

	for k in $keys; do
		name "$1" "$k"
	done
}

# config NAME PARTITIONS REPLICATION [KEY=TOPIC...]: writes NAME.yaml for
# the test's Kafka, with topic names of its own (or the ones given).
config()
{
	local cfg=$1 partitions=$2 replication=$3 b k t

	shift 3
	{
		echo "kafka:"
		echo "  brokers:"
		for b in ${EVC_TEST_BROKERS//,/ }; do
			echo "    - \"$b\""
		done
		echo "topics:"
		echo "  partitions: $partitions"
		echo "  replication: $replication"
		echo "  names:"
		for k in $keys; do
			t=$(name "$cfg" "$k")
			for kv in "$@"; do
				[ "${kv%%=*}" = "$k" ] && t=${kv#*=}
			done
			echo "    $k: $t"
		done
	} >"$cfg.yaml"
}

# kcat_partitions TOPIC: the partition count kcat sees, once every
# partition has a leader (a new topic may have none for a moment).
kcat_partitions()
{
	kc -L -m 5 -t "$1" 2>/dev/null | awk -v t="\"$1\"" '
	$1 == "topic" && $2 == t { n = $4 }
	$1 == "partition" && $4 !~ /^[0-9]+,$/ { bad = 1 }
	END { if (n != "" && !bad) print n }'
}

# created NAME PARTITIONS: every topic of NAME has PARTITIONS partitions.
# parts TOPIC N: the partitions TOPIC is made with: N, or 1 for the lease
# and the audit trail.
parts()
{
	case $1 in
	central-lease* | audit*) echo 1 ;;
	*) echo "$2" ;;
	esac
}

created()
{
	local t

	for t in $(names "$1"); do
		test "$(kcat_partitions "$t")" = "$(parts "$t" "$2")" || return 1
	done
}

# What kcat -L says of config NAME's topics, in the form of evc topics
# describe, sorted.
kcat_describe()
{
	kc -L -m 5 2>/dev/null | awk -v suf="-t0100-$$-$1" '
	$1 == "topic" {
		t = $2; gsub(/"/, "", t)
		mine = substr(t, length(t) - length(suf) + 1) == suf
		next
	}
	mine && $1 == "partition" {
		p = $2; l = $4; r = $6; i = $8
		sub(/,$/, "", p); sub(/,$/, "", l); sub(/,$/, "", r)
		print t " partition " p " leader " l " replicas " r " isr " i
	}' | sort
}

# --- without Kafka -------------------------------------------------------

test_expect_success 'usage text is the SYNOPSIS of evc-topics(1)' '
	"$EVC" topics -h >out &&
	sed -n "/^usage:/,/^\$/p" out | sed "s/^usage: //; s/^ *//; /^\$/d" >usage &&
	sed -n "/^\\.SH SYNOPSIS/,/^\\.SH/p" "$TEST_TOP/man/evc-topics.1" |
		grep "^evc topics" >synopsis &&
	cmp usage synopsis
'

test_expect_success 'an unknown action is a usage error (2) naming it' '
	test_expect_code 2 "$EVC" topics -b 127.0.0.1:1 frobnicate >out 2>err &&
	test ! -s out &&
	grep -qxF "evc topics: unknown action: '\''frobnicate'\''" err
'

test_expect_success 'no action, or two, is a usage error (2)' '
	test_expect_code 2 "$EVC" topics -b 127.0.0.1:1 >out 2>err &&
	test ! -s out &&
	grep -qF "expected one action: create, list or describe" err &&
	test_expect_code 2 "$EVC" topics -b 127.0.0.1:1 list create 2>err &&
	grep -qF "expected one action" err
'

test_expect_success 'an unreachable Kafka: exit 3 naming it (create)' '
	test_expect_code 3 "$EVC" topics -b 127.0.0.1:1 create >out 2>err &&
	test ! -s out &&
	grep -qF "evc topics: cannot reach Kafka at '\''127.0.0.1:1'\''" err
'

test_expect_success 'an unreachable Kafka: exit 3 naming it (list)' '
	test_expect_code 3 "$EVC" topics -b 127.0.0.1:1 list >out 2>err &&
	test ! -s out &&
	grep -qF "evc topics: cannot reach Kafka at '\''127.0.0.1:1'\''" err
'

test_expect_success 'broker names that resolve nowhere: exit 3, said in one line' '
	test_expect_code 3 "$EVC" topics -b k1.invalid:9092,k2.invalid:9092 list \
		>out 2>err &&
	test ! -s out &&
	cat err &&
	test "$(wc -l <err)" = 1 &&
	grep -qxF "evc topics: cannot reach Kafka at '\''k1.invalid:9092,k2.invalid:9092'\'': no broker name resolves (name the Kafka machines in /etc/hosts or DNS, or change --brokers)" err
'

if getent hosts kafka1 kafka2 kafka3 >/dev/null 2>&1; then
	test_skip 'the example evc.yaml where kafka1..3 mean nothing: one line, exit 3' \
		"kafka1, kafka2 or kafka3 resolves on this machine"
else
	test_expect_success 'the example evc.yaml where kafka1..3 mean nothing: one line, exit 3' '
		test_expect_code 3 "$EVC" topics -c "$TEST_TOP/etc/evc.yaml" list \
			>out 2>err &&
		test ! -s out &&
		cat err &&
		test "$(wc -l <err)" = 1 &&
		grep -qxF "evc topics: cannot reach Kafka at '\''kafka1:9092,kafka2:9092,kafka3:9092'\'': no broker name resolves (name the Kafka machines in /etc/hosts or DNS, or change kafka.brokers in '\''$TEST_TOP/etc/evc.yaml'\'')" err
	'
fi

test_expect_success 'an unknown -X property is a usage error (2) naming it' '
	test_expect_code 2 "$EVC" topics -b 127.0.0.1:1 -X no.such.property=1 list >out 2>err &&
	test ! -s out &&
	grep -qF "no.such.property" err &&
	! grep -q "cannot reach" err
'

test_expect_success '-X without NAME=VALUE is a usage error (2)' '
	test_expect_code 2 "$EVC" topics -b 127.0.0.1:1 -X bogus list >out 2>err &&
	test ! -s out &&
	grep -qF "'\''bogus'\''" err
'

test_expect_success 'a bad config file: exit 2 with FILE:LINE' '
	printf "topics:\n  partitions: 3\n  colour: blue\n" >bad.yaml &&
	test_expect_code 2 "$EVC" topics -c bad.yaml list >out 2>err &&
	test ! -s out &&
	grep -q "^evc topics: bad.yaml:3: " err &&
	grep -qF "colour" err
'

test_expect_success 'a bad partition count in the config: exit 2 with FILE:LINE' '
	printf "topics:\n  partitions: three\n" >bad.yaml &&
	test_expect_code 2 "$EVC" topics -c bad.yaml create >out 2>err &&
	test ! -s out &&
	grep -q "^evc topics: bad.yaml:2: " err
'

test_expect_success 'a missing config file: exit 2 naming it' '
	test_expect_code 2 "$EVC" topics -c nosuch.yaml list >out 2>err &&
	test ! -s out &&
	grep -qF "nosuch.yaml" err
'

# --- against Kafka -------------------------------------------------------

need_kafka

test_expect_success 'create makes the twelve topics, 3 partitions each, the lease and audit 1' '
	config three 3 1 &&
	"$EVC" topics -c three.yaml create >out 2>err &&
	test ! -s err &&
	for t in $(names three); do
		case $(parts $t 3) in
		1) echo "created $t (1 partition, replication 1)" ;;
		*) echo "created $t (3 partitions, replication 1)" ;;
		esac
	done >expect &&
	diff -u expect out &&
	wait_for 15 "created three 3"
'

test_expect_success 'create with partitions 5 from another config makes 5' '
	config five 5 1 &&
	"$EVC" topics -c five.yaml create >out 2>err &&
	test ! -s err &&
	test "$(grep -c "^created .* (5 partitions, replication 1)\$" out)" = 10 &&
	grep -qxF "created $(name five central_lease) (1 partition, replication 1)" out &&
	grep -qxF "created $(name five audit) (1 partition, replication 1)" out &&
	wait_for 15 "created five 5"
'

if ! command -v java >/dev/null; then
	test_skip 'cp-state and cp-catalogue are compacted, audit kept for ever, the other topics neither' \
		"no java to run Kafka's ConfigCommand (kcat cannot read topic configs)"
elif "$TEST_TOP/test/kafka.sh" jars >/dev/null 2>"$TEST_DIR/.log/jars"; then
	test_expect_success 'cp-state and cp-catalogue are compacted, audit kept for ever, the other topics neither' '
		"$TEST_TOP/test/kafka.sh" tool ConfigCommand \
			--bootstrap-server "$EVC_TEST_BROKERS" \
			--entity-type topics --describe >configs 2>configs.err &&
		awk -v suf="-t0100-$$-three" "
		/^Dynamic configs for topic / {
			t = \$5
			mine = substr(t, length(t) - length(suf) + 1) == suf
			if (mine) print t, \"-\"
			next
		}
		mine && /cleanup.policy=/ {
			p = \$1; sub(/.*=/, \"\", p); print t, p
		}
		mine && /retention.ms=/ {
			p = \$1; sub(/.*=/, \"\", p); print t, \"retention\", p
		}" configs | sort >got &&
		for t in $(names three); do
			echo "$t -"
		done >expect.unsorted &&
		echo "$(name three cp_state) compact" >>expect.unsorted &&
		echo "$(name three cp_catalogue) compact" >>expect.unsorted &&
		echo "$(name three audit) retention -1" >>expect.unsorted &&
		sort expect.unsorted >expect &&
		diff -u expect got
	'
else
	test_skip 'cp-state and cp-catalogue are compacted, audit kept for ever, the other topics neither' \
		"no Kafka jars to run ConfigCommand (kcat cannot read topic configs): $(tail -n 1 "$TEST_DIR/.log/jars")"
fi

test_expect_success 'a second create reports every topic as exists and exits 0' '
	"$EVC" topics -c three.yaml create >out 2>err &&
	test ! -s err &&
	for t in $(names three); do
		echo "exists $t"
	done >expect &&
	diff -u expect out
'

test_expect_success 'create with some topics there makes the others, exit 0' '
	config some 3 1 "cp_state=$(name three cp_state)" &&
	"$EVC" topics -c some.yaml create >out 2>err &&
	test ! -s err &&
	grep -qxF "exists $(name three cp_state)" out &&
	test "$(grep -c "^created .* (3 partitions, replication 1)\$" out)" = 9 &&
	test "$(wc -l <out)" = 12
'

test_expect_success 'list: one line per topic, partitions and replicas, in order' '
	"$EVC" topics -c three.yaml list >out 2>err &&
	test ! -s err &&
	for t in $(names three); do
		echo "$t partitions $(parts $t 3) replicas 1"
	done >expect &&
	diff -u expect out &&
	"$EVC" topics -c five.yaml list >out &&
	test "$(grep -c " partitions 5 replicas 1\$" out)" = 10
'

test_expect_success 'describe: every partition with leader, replicas, isr, as kcat sees them' '
	"$EVC" topics -c three.yaml describe >out 2>err &&
	test ! -s err &&
	test "$(wc -l <out)" = 32 &&
	for t in $(names three); do
		for p in $(seq 0 $(($(parts $t 3) - 1))); do
			grep -qE "^$t partition $p leader [0-9]+ replicas [0-9]+ isr [0-9]+\$" out ||
				{ echo "no line for $t partition $p"; return 1; }
		done
	done &&
	sort out >got &&
	kcat_describe three >expect &&
	diff -u expect got
'

test_expect_success 'describe keeps evc order of topics' '
	"$EVC" topics -c three.yaml describe | awk "{ print \$1 }" | uniq >got &&
	names three >expect &&
	diff -u expect got
'

test_expect_success 'a missing topic: list exits 1 and says missing' '
	set -- &&
	for k in $keys; do
		set -- "$@" "$k=$(name three $k)"
	done &&
	config gap 3 1 "$@" "control=control-t0100-$$-none" &&
	test_expect_code 1 "$EVC" topics -c gap.yaml list >out 2>err &&
	grep -qxF "control-t0100-$$-none missing" out &&
	test "$(grep -c " partitions 3 replicas 1\$" out)" = 9 &&
	grep -qxF "evc topics: 1 topics missing: run '\''evc topics create'\''" err
'

test_expect_success 'a missing topic: describe exits 1 and says missing' '
	test_expect_code 1 "$EVC" topics -c gap.yaml describe >out 2>err &&
	grep -qxF "control-t0100-$$-none missing" out &&
	test "$(grep -c " partition " out)" = 29 &&
	grep -qF "1 topics missing" err
'

test_expect_success 'replication above the broker count: exit 1, a clear message, nothing made' '
	config wide 3 3 &&
	test_expect_code 1 "$EVC" topics -c wide.yaml create >out 2>err &&
	grep -qF "evc topics: cannot create topic '\''$(name wide cp_register)'\'': " err &&
	grep -qi "replication factor" err &&
	test "$(grep -c "^evc topics: cannot create topic " err)" = 12 &&
	test_expect_code 1 "$EVC" topics -c wide.yaml list >out &&
	test "$(grep -c " missing\$" out)" = 12
'

test_expect_success '-b overrides the brokers of the config file' '
	sed "s/^    - \".*\"\$/    - \"127.0.0.1:1\"/" three.yaml >far.yaml &&
	! grep -qF "$EVC_TEST_BROKERS" far.yaml &&
	"$EVC" topics -c far.yaml -b "$EVC_TEST_BROKERS" list >out &&
	test "$(wc -l <out)" = 12
'

test_expect_success 'EVC_BROKERS overrides the config file too, -b overrides it' '
	EVC_BROKERS=$EVC_TEST_BROKERS "$EVC" topics -c far.yaml list >out &&
	test "$(wc -l <out)" = 12 &&
	EVC_BROKERS=$EVC_TEST_BROKERS test_expect_code 3 \
		"$EVC" topics -c three.yaml -b 127.0.0.1:1 list 2>err &&
	grep -qF "'\''127.0.0.1:1'\''" err
'

test_expect_success 'EVC_CONFIG names the config when -c does not' '
	EVC_CONFIG=three.yaml "$EVC" topics list >out &&
	grep -qxF "$(name three cp_state) partitions 3 replicas 1" out
'

test_expect_success '-X passes a property to librdkafka' '
	"$EVC" topics -c three.yaml -X client.id=t0100-probe -X socket.timeout.ms=5000 list >out &&
	test "$(wc -l <out)" = 12
'
