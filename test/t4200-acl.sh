#!/usr/bin/env bash
# t4200-acl.sh: least privilege over TLS, on a Kafka with SASL users and ACLs: each role's user does its part and no more.
#
# The broker is etc/kafka/server-sasl-ssl.properties made a one-node
# cluster on loopback, with a CA and certificates of the test's own
# (test/kafka.sh tls): every role connects with SASL_SSL and checks the
# broker's certificate and host name; a wrong CA, or a certificate for
# another host, is refused in one line.
#
# librdkafka before 2.6.1 cannot log in with SCRAM to Kafka 4.0 or later
# (Debian 12 has 2.0.2): there, the first tests check that evc says so in
# one line (in plain TCP, where evc can ask Kafka its version, on a
# SASL_PLAINTEXT listener the test adds; over TLS, as what the refusal
# may mean), the SCRAM logins of the roles are skipped with that line as
# the reason, and the least privilege is tested with the users logging in
# with PLAIN, which the shipped file takes for such machines.
. "$(dirname "$0")/lib.sh"

# The users' passwords (the placeholders of the shipped file):
admin_pw=admin-$$-secret
export EVC_CENTRAL_PASSWORD=central-$$ EVC_CP_PASSWORD=cp-$$ \
	EVC_DRIVER_PASSWORD=driver-$$ EVC_OPERATOR_PASSWORD=operator-$$ \
	EVC_OCPP_PASSWORD=ocpp-$$

kafka=$TEST_TOP/test/kafka.sh
kafka_version=$("$kafka" version) || exit 2
kdir=$TEST_DIR/kafka
tls=$TEST_DIR/tls

# The mechanism the roles log in with: PLAIN where SCRAM cannot work.
mech=SCRAM-SHA-512

# sasl USER PASSWORD [MECHANISM]: the librdkafka properties (kcat and
# evc -X) of a login over TLS, trusting the test's CA.
sasl()
{
	echo "-X security.protocol=SASL_SSL -X ssl.ca.location=$tls/ca.pem" \
		"-X sasl.mechanisms=${3:-$mech} -X sasl.username=$1 -X sasl.password=$2"
}

# as ROLE: the -X options of one of acl.sh's users.
as()
{
	local var=EVC_${1^^}_PASSWORD

	sasl "$1" "${!var}"
}

# kc, as lib.sh's test_config uses it, logs in as admin here.
kc()
{
	kcat -b "${EVC_TEST_BROKERS:?no Kafka}" $(sasl admin "$admin_pw") "$@"
}

# A TCP port nothing uses on loopback, other than those given.
free_port()
{
	local p i

	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ " $* " != *" $p "* ]] || continue
		if command -v ss >/dev/null; then
			[ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] || continue
		else
			! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || continue
		fi
		echo "$p"
		return 0
	done
	return 1
}

# write_config PORT CPORT OTHER PLAIN: the shipped node 1 of three as a
# cluster of one on loopback (clients on PORT, the quorum on CPORT), with
# this test's passwords, certificates and data directory, and the test
# bed's small settings for a shared machine. Two more listeners, which
# the shipped file has not: OTHER, SASL_SSL with a certificate for
# another host, and PLAIN, SASL_PLAINTEXT, where evc can ask Kafka its
# version when a SCRAM login is refused.
write_config()
{
	local f=$kdir/server.properties

	sed -e "s/kafka1:9093,kafka2:9093,kafka3:9093/127.0.0.1:$2/" \
		-e "s#//:9092#//127.0.0.1:$1#; s#//:9093#//127.0.0.1:$2#" \
		-e "s/kafka1:9092/127.0.0.1:$1/; s/kafka1:9093/127.0.0.1:$2/" \
		-e "s/^\(.*replication.factor\)=3/\1=1/" \
		-e "s/^\(min.insync.replicas\|transaction.state.log.min.isr\)=2/\1=1/" \
		-e "s/ADMIN_PASSWORD/$admin_pw/g" \
		-e "s/KEY_PASSWORD/$(cat "$tls/key-password")/" \
		-e "s/\"CENTRAL_PASSWORD\"/\"$EVC_CENTRAL_PASSWORD\"/" \
		-e "s/\"CP_PASSWORD\"/\"$EVC_CP_PASSWORD\"/" \
		-e "s/\"DRIVER_PASSWORD\"/\"$EVC_DRIVER_PASSWORD\"/" \
		-e "s/\"OPERATOR_PASSWORD\"/\"$EVC_OPERATOR_PASSWORD\"/" \
		-e "s/\"OCPP_PASSWORD\"/\"$EVC_OCPP_PASSWORD\"/" \
		-e "s#/etc/kafka/tls/server.pem#$tls/broker.pem#; s#/etc/kafka/tls/ca.pem#$tls/ca.pem#" \
		-e "s#/var/lib/kafka/data#$kdir/data#" \
		"$TEST_TOP/etc/kafka/server-sasl-ssl.properties" >"$f" &&
	! grep -v '^#' "$f" | grep -q 'kafka[123]:\|_PASSWORD\|/etc/kafka' &&
	{
		echo "offsets.topic.num.partitions=5"
		echo "num.network.threads=2"
		echo "num.io.threads=2"
		echo "log.cleaner.dedupe.buffer.size=16777216"
		echo "listeners=SASL_SSL://127.0.0.1:$1,OTHER://127.0.0.1:$3,PLAIN://127.0.0.1:$4,CONTROLLER://127.0.0.1:$2"
		echo "advertised.listeners=SASL_SSL://127.0.0.1:$1,OTHER://127.0.0.1:$3,PLAIN://127.0.0.1:$4,CONTROLLER://127.0.0.1:$2"
		echo "listener.security.protocol.map=SASL_SSL:SASL_SSL,OTHER:SASL_SSL,PLAIN:SASL_PLAINTEXT,CONTROLLER:SSL"
		echo "listener.name.other.ssl.keystore.location=$tls/other-name.pem"
		sed -n "s/^listener\.name\.sasl_ssl\./listener.name.other./p" "$f"
		sed -n "s/^listener\.name\.sasl_ssl\./listener.name.plain./p" "$f"
	} >>"$f"
}

# kjava CLASS ARGS...: a Kafka main class as the node of $kdir (its
# logging in $kdir/kafka.log), with a heap smaller than the shared one's.
kjava()
{
	EVC_KAFKA_HEAP=384m exec "$kafka" run "$kdir" "$@"
}

# One attempt at a formatted, running broker; its reason in $why when it
# fails.
sasl_launch()
{
	local port cport id

	port=$(free_port) && cport=$(free_port "$port") &&
		other_port=$(free_port "$port" "$cport") &&
		plain_port=$(free_port "$port" "$cport" "$other_port") ||
		{ why="no free port"; return 1; }
	rm -rf "$kdir" && mkdir -p "$kdir" &&
		write_config "$port" "$cport" "$other_port" "$plain_port" ||
		{ why="cannot write $kdir/server.properties"; return 1; }
	id=$("$TEST_TOP/test/kafka.sh" cluster-id)
	if ! (kjava kafka.tools.StorageTool format -t "$id" \
		-c "$kdir/server.properties" --standalone \
		--add-scram "SCRAM-SHA-512=[name=admin,password=$admin_pw]") \
		>"$kdir/format.out" 2>&1; then
		why="kafka-storage format failed: $(tail -n 1 "$kdir/format.out")"
		return 1
	fi
	bg kafka kjava kafka.Kafka "$kdir/server.properties"
	EVC_TEST_BROKERS=127.0.0.1:$port
	wait_for 60 "grep -q 'Kafka Server started' '$kdir/kafka.log' ||
		! _bg_alive $TEST_DIR/.bg/kafka" 2>/dev/null
	grep -q 'Kafka Server started' "$kdir/kafka.log" && return 0
	why="Kafka over TLS did not start: $(grep -m 1 -E 'ERROR|Exception' "$kdir/kafka.log" "$TEST_DIR/kafka.err" 2>/dev/null)"
	bg_kill kafka >/dev/null 2>&1
	return 1
}

sasl_start()
{
	local try

	why=
	command -v java >/dev/null || { why="java not found"; return 1; }
	command -v kcat >/dev/null || { why="kcat not found"; return 1; }
	"$kafka" jars >"$TEST_DIR/fetch.out" 2>&1 ||
		{ why="no Kafka $kafka_version jars: $(tail -n 1 "$TEST_DIR/fetch.out")"; return 1; }
	"$kafka" tls "$tls" 2>"$TEST_DIR/tls.out" ||
		{ why="no certificates: $(tail -n 1 "$TEST_DIR/tls.out")"; return 1; }
	for try in 1 2; do
		sasl_launch && return 0
		grep -q 'Address already in use' "$kdir/kafka.log" 2>/dev/null || break
	done
	return 1
}

# Does admin's SCRAM login work? When this librdkafka cannot log in with
# SCRAM to this Kafka, $scram_why holds what evc says about it.
scram_check()
{
	scram_why=
	printf 'kafka:\n  brokers: ["%s"]\n' "$EVC_TEST_BROKERS" >login.yaml
	"$EVC" topics list -c login.yaml $(sasl admin "$admin_pw") \
		>/dev/null 2>scram.err
	scram_why=$(sed -n 's/^evc topics: \(.*cannot log in with SCRAM.*\)/\1/p' scram.err)
	[ -z "$scram_why" ] || mech=PLAIN
	wait_for 60 "kc -L -m 2 2>/dev/null | grep -q '1 brokers'" 2>/dev/null && return 0
	why="admin cannot log in ($mech): $(tail -n 1 scram.err)"
	return 1
}

if sasl_start && scram_check; then
	export EVC_TEST_BROKERS
else
	unset EVC_TEST_BROKERS
	export EVC_TEST_KAFKA_WHY=$why
fi
need_kafka

if [ -z "${scram_why:-}" ]; then
	test_skip 'a librdkafka too old for SCRAM on this Kafka: one line, exit 3' \
		"evc logs in with SCRAM to Kafka $kafka_version here"
	test_skip 'the same over TLS: one line saying what it may mean, exit 3' \
		"evc logs in with SCRAM to Kafka $kafka_version here"
else
	test_expect_success 'a librdkafka too old for SCRAM on this Kafka: one line, exit 3' '
		test_expect_code 3 "$EVC" status -c login.yaml \
			-b "127.0.0.1:$plain_port" \
			$(sasl operator "$EVC_OPERATOR_PASSWORD" SCRAM-SHA-512) \
			-X security.protocol=SASL_PLAINTEXT \
		>old.out 2>old.err &&
		cat old.err &&
		test "$(wc -l <old.err)" = 1 &&
		grep -qE "^evc status: librdkafka [0-9.]+ cannot log in with SCRAM to Kafka 4.0 or later, which answers at '\''127.0.0.1:$plain_port'\'': use librdkafka 2.6.1 or later \(Debian 13\), or SASL PLAIN over TLS\$" old.err
	'
	test_expect_success 'the same over TLS: one line saying what it may mean, exit 3' '
		test_expect_code 3 "$EVC" status -c login.yaml \
			$(sasl operator "$EVC_OPERATOR_PASSWORD" SCRAM-SHA-512) \
		>old.out 2>old.err &&
		cat old.err &&
		test "$(wc -l <old.err)" = 1 &&
		grep -qE "^evc status: cannot log in to Kafka at '\''$EVC_TEST_BROKERS'\'': .* \(if Kafka is 4.0 or later: librdkafka [0-9.]+ cannot log in with SCRAM to it; use librdkafka 2.6.1 or later \(Debian 13\), or SASL PLAIN over TLS\)\$" old.err
	'
fi
if [ -n "${scram_why:-}" ]; then
	test_skip 'the roles log in with SCRAM' "$scram_why (they log in with PLAIN below)"
fi

# Topics made by admin, whose login is in evc.yaml (kafka.properties);
# each role below logs in with -X, which comes after the file.
test_config <<EOF
kafka:
  properties:
    security.protocol: SASL_SSL
    ssl.ca.location: $tls/ca.pem
    sasl.mechanisms: $mech
    sasl.username: admin
    sasl.password: $admin_pw
central:
  allow_unknown: true
EOF
suffix=$(topic cp_register) && suffix=${suffix#cp-register}
group=evc-central${suffix}

# acl.sh logs in as admin with a Kafka client file.
cat >admin.properties <<EOF
security.protocol=SASL_SSL
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
EOF
# The same network without any login in the file: for -X alone.
grep -v 'sasl\.\|ssl\.\|security\.protocol' evc.yaml >plain.yaml

test_expect_success 'acl.sh creates the users and their ACLs' '
	KAFKA_ACLS="\"$kafka\" tool AclCommand" \
	KAFKA_CONFIGS="\"$kafka\" tool ConfigCommand" \
		"$TEST_TOP/etc/kafka/acl.sh" -g "$group" -s "$suffix" \
		"$EVC_TEST_BROKERS" admin.properties
'

test_expect_success 'admin logs in with -X as well as with evc.yaml' '
	"$EVC" topics create -c plain.yaml $(sasl admin "$admin_pw") >create.out &&
	"$EVC" topics list -c plain.yaml $(sasl admin "$admin_pw") >list.out &&
	test "$(grep -c "partitions 3" list.out)" = 11
'

# TLS: what evc trusts, and the name it checks.
test_expect_success 'a wrong CA: one line, exit 3' '
	test_expect_code 3 "$EVC" topics list -c plain.yaml \
		$(sasl operator "$EVC_OPERATOR_PASSWORD") \
		-X ssl.ca.location="$tls/other-ca.pem" >ca.out 2>ca.err &&
	cat ca.err &&
	test "$(wc -l <ca.err)" = 1 &&
	grep -qx "evc topics: cannot connect to Kafka at '\''$EVC_TEST_BROKERS'\'' over TLS: its certificate is not signed by the CA of ssl.ca.location '\''$tls/other-ca.pem'\''" ca.err &&
	test ! -s ca.out
'

test_expect_success 'evc auth with a wrong CA: one line, exit 3' '
	test_expect_code 3 "$EVC" auth -k 0.01 -t 5 $(as driver) \
		-X ssl.ca.location="$tls/other-ca.pem" DRIVER001 CP001 \
		>auth-ca.out 2>auth-ca.err &&
	cat auth-ca.err &&
	test "$(wc -l <auth-ca.err)" = 1 &&
	grep -qx "evc auth: cannot connect to Kafka at '\''$EVC_TEST_BROKERS'\'' over TLS: its certificate is not signed by the CA of ssl.ca.location '\''$tls/other-ca.pem'\''" auth-ca.err
'

test_expect_success 'a certificate for another host: one line, exit 3' '
	test_expect_code 3 "$EVC" topics list -c plain.yaml \
		-b "127.0.0.1:$other_port" $(sasl operator "$EVC_OPERATOR_PASSWORD") \
		>name.out 2>name.err &&
	cat name.err &&
	test "$(wc -l <name.err)" = 1 &&
	grep -qx "evc topics: cannot connect to Kafka at '\''127.0.0.1:$other_port'\'' over TLS: its certificate is for another host: its subjectAltName does not hold '\''127.0.0.1'\''" name.err
'

test_expect_success 'the same certificate passes once the host name is not checked' '
	"$EVC" topics list -c plain.yaml -b "127.0.0.1:$other_port" \
		$(sasl operator "$EVC_OPERATOR_PASSWORD") \
		-X ssl.endpoint.identification.algorithm=none >none.out &&
	test "$(grep -c "partitions 3" none.out)" = 11
'

test_expect_success 'a charge: Central, a CP and a driver, each as its own user' '
	bg central "$EVC" central $(as central) &&
	bg cp "$EVC" cp $(as cp) CP001 &&
	wait_for 30 "grep -q ready central.err" &&
	wait_for 30 "grep -q \"registered as\" cp.err" &&
	"$EVC" auth --wait -k 0.01 -t 20 $(as driver) DRIVER001 CP001 >auth.out &&
	grep "^ticket at CP001: .*(finished)" auth.out &&
	! grep -i "not allowed\|authori[sz]ation failed" central.err cp.err
'

test_expect_success 'the operator reads every CP state and stops a CP' '
	"$EVC" status $(as operator) CP001 >status.out &&
	grep "^CP001 " status.out &&
	"$EVC" central stop CP001 $(as operator) &&
	wait_for 10 "grep -q \"CP001 STOPPED\" central.err" &&
	"$EVC" central resume CP001 $(as operator)
'

test_expect_success 'the operator changes the catalogue, and Central follows it' '
	"$EVC" cps $(as operator) add CP003 -l Elda -p 0.3 &&
	"$EVC" cps $(as operator) list >cps.out &&
	grep "^CP003 " cps.out &&
	wait_for 10 "grep -q \"CP003 added to the catalogue\" central.err" &&
	"$EVC" cps $(as operator) rm CP003 &&
	wait_for 10 "grep -q \"CP003 forgotten\" central.err"
'

test_expect_success 'the operator actions are in the audit trail, which the operator reads' '
	"$EVC" audit $(as operator) | cut -d" " -f2- >audit.out &&
	cat audit.out &&
	grep -qxF "cli:$(id -un)[operator] $(hostname) stop CP001 ok" audit.out &&
	grep -qxF "cli:$(id -un)[operator] $(hostname) cp-remove CP003 ok" audit.out &&
	kc -C -t "$(topic audit)" -o beginning -e -q >audit.raw &&
	test "$(wc -l <audit.raw)" -ge 4 &&
	! grep -qF -e "$EVC_OPERATOR_PASSWORD" -e "$EVC_CENTRAL_PASSWORD" \
		-e "$admin_pw" audit.raw
'

test_expect_success 'a driver may not read the audit trail, a CP may not write it' '
	test_expect_code 1 "$EVC" audit $(as driver) 2>audit.err &&
	grep "not allowed by Kafka to read topic '\''$(topic audit)'\''" audit.err &&
	! echo "{}" | kcat -b "$EVC_TEST_BROKERS" $(as cp) -P -k CP001 \
		-t "$(topic audit)" 2>kcat.err &&
	grep "Topic authorization failed" kcat.err
'

test_expect_success 'a CP user cannot change the catalogue, and evc says so' '
	test_expect_code 1 "$EVC" cps $(as cp) add CP004 -l x -p 1 2>cps.err &&
	cat cps.err &&
	grep "not allowed by Kafka to read topic '\''$(topic cp_catalogue)'\''" cps.err
'

test_expect_success 'a CP may write telemetry but not cp-commands' '
	echo probe | kcat -b "$EVC_TEST_BROKERS" $(as cp) -P -k CP999 \
		-t "$(topic telemetry)" &&
	! echo "{}" | kcat -b "$EVC_TEST_BROKERS" $(as cp) -P -k CP001 \
		-t "$(topic cp_commands)" 2>kcat.err &&
	grep "Topic authorization failed" kcat.err
'

test_expect_success 'the operator issues a key and Central takes it; a CP user can neither issue nor read keys' '
	"$EVC" cps $(as operator) key CP005 -o cp5.key &&
	wait_for 10 "grep -q \"keys: CP005 has key\" central.err" &&
	test_expect_code 1 "$EVC" cps $(as cp) key CP006 -o cp6.key 2>keys.err &&
	grep "not allowed by Kafka to write topic '\''$(topic cp_keys)'\''" keys.err &&
	test ! -e cp6.key &&
	! timeout 20 kcat -b "$EVC_TEST_BROKERS" $(as cp) -C -e \
		-o beginning -t "$(topic cp_keys)" >kcat.out 2>kcat.err &&
	grep "Topic authorization failed" kcat.err &&
	test ! -s kcat.out
'

test_expect_success 'a driver cannot read cp-commands' '
	! timeout 20 kcat -b "$EVC_TEST_BROKERS" $(as driver) -C -e \
		-o beginning -t "$(topic cp_commands)" >kcat.out 2>kcat.err &&
	grep "Topic authorization failed" kcat.err &&
	test ! -s kcat.out
'

test_expect_success 'a CP user cannot stop CPs, and evc says so in one line' '
	test_expect_code 3 "$EVC" central stop CP001 $(as cp) 2>stop.err &&
	cat stop.err &&
	test "$(wc -l <stop.err)" = 1 &&
	grep "not allowed by Kafka to write topic '\''$(topic control)'\''" stop.err
'

# The OCPP gateway as its own user: a charger boots (cp-register and its
# ack) and has an idTag authorised (auth-request and auth-response).
if PY=$("$TEST_TOP/test/py-venv.sh" ocpp 2>"$TEST_DIR/venv.err"); then
	test_expect_success 'the OCPP gateway, as the ocpp user, boots a charger and authorises' '
		bg gw "$EVC" ocpp -l 127.0.0.1:0 $(as ocpp) &&
		wait_for 20 "grep -q \"listening on\" gw.err" &&
		port=$(sed -n "s/.*listening on [^ ]*:\([0-9]*\) .*/\1/p" gw.err) &&
		printf "boot\nsleep 2\nauthorize DRIVER002\nquit\n" |
			timeout 60 "$PY" "$TEST_TOP/test/ocpp-charger.py" \
			"ws://127.0.0.1:$port/ocpp/CP002" >charger.out 2>charger.err &&
		cat charger.out &&
		grep -q "^boot Accepted " charger.out &&
		grep -q "^authorize DRIVER002 Accepted" charger.out &&
		bg_kill gw &&
		! grep -i "not allowed\|authori[sz]ation failed" gw.err
	'
	test_expect_success 'the ocpp user may not write cp-commands' '
		! echo "{}" | kcat -b "$EVC_TEST_BROKERS" $(as ocpp) -P -k CP001 \
			-t "$(topic cp_commands)" 2>kcat.err &&
		grep "Topic authorization failed" kcat.err
	'
else
	test_skip 'the OCPP gateway, as the ocpp user, boots a charger and authorises' \
		"no OCPP charger: $(tail -n 1 "$TEST_DIR/venv.err")"
fi

test_expect_success 'Central run with a CP login never gets ready' '
	bg fake "$EVC" central $(as cp) &&
	sleep 5 &&
	bg_kill fake;
	cat fake.err &&
	! grep -q ready fake.err &&
	grep -q "not allowed by Kafka" fake.err
'
test_expect_success 'Central run with a CP login exits 1, saying why in one line' '
	test_expect_code 1 timeout 60 "$EVC" central $(as cp) 2>fake1.err &&
	cat fake1.err &&
	test "$(wc -l <fake1.err)" = 1 &&
	grep -q "^evc central: .*not allowed by Kafka" fake1.err
'

test_expect_success 'Central run with the operator login exits 1 in one line too' '
	test_expect_code 1 timeout 60 "$EVC" central $(as operator) 2>fake2.err &&
	cat fake2.err &&
	test "$(wc -l <fake2.err)" = 1 &&
	grep -q "^evc central: .*not allowed by Kafka" fake2.err
'

test_expect_success 'a wrong password: exit 3 and an authentication failure' '
	test_expect_code 3 "$EVC" auth -k 0.01 -t 5 \
		$(sasl driver wrong) DRIVER001 CP001 2>bad.err &&
	cat bad.err &&
	grep -Ei "invalid credentials|invalid username or password" bad.err
'

test_expect_success 'a wrong password is said in one line' '
	test "$(wc -l <bad.err)" = 1 &&
	grep "cannot log in to Kafka at" bad.err
'
