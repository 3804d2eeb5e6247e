#!/usr/bin/env bash
# kafka.sh: fetches, starts and stops the Apache Kafka (KRaft) the test bed runs on loopback, in the version asked for.
#
#   test/kafka.sh fetch        copy the broker jars into the cache (once per version)
#   test/kafka.sh start DIR    run one broker+controller node, data and logs in DIR;
#                              DIR/brokers holds its bootstrap address, DIR/kafka.pid its PID
#   test/kafka.sh stop DIR     stop it (SIGTERM, SIGKILL after 10 s)
#   test/kafka.sh version      print the Kafka version in use
#   test/kafka.sh cluster-id   print a new KRaft cluster id (also a directory id)
#   test/kafka.sh jars         print the jar directory (fetched first if need be)
#   test/kafka.sh node N DIR ADDR1 ADDR2 ADDR3
#                              DIR/server.properties for node N of the
#                              three-node cluster of etc/kafka, node I on
#                              ADDRI (the host kafkaI of the shipped files),
#                              its data in DIR/data
#   test/kafka.sh run DIR CLASS [ARG...]
#                              run a Kafka main class (kafka.Kafka, the storage
#                              tool) as the node of DIR, logging to DIR/kafka.log
#   test/kafka.sh tool NAME [ARG...]
#                              run one of Kafka's command-line tools by the
#                              name of its class (AclCommand, ConfigCommand),
#                              wherever this version keeps it
#   test/kafka.sh tls DIR [NAME...]
#                              a throwaway CA and certificates in DIR, for a
#                              TLS listener (see make_tls below)
#
# EVC_KAFKA_VERSION picks the Kafka (default below: the newest 4.x the
# whole suite passes on; 3.9.1 is the last 3.x, and tested too). Each
# version's jars are fetched from Maven Central with mvn and kept apart
# in ~/.cache/evc/kafka-VERSION. Kafka 3 logs through log4j 1, Kafka 4
# through log4j 2: each node gets the configuration of its own, INFO and
# above to DIR/kafka.log, nothing on the terminal.
#
# The single node and the cluster's nodes share the JVM options and the
# logging set-up below; their storage is formatted for a dynamic KRaft
# quorum (controller.quorum.bootstrap.servers), as etc/kafka's files are:
# the single node with --standalone, the cluster with --initial-controllers.
# EVC_KAFKA_JARS overrides the jar directory (then nothing is fetched,
# and EVC_KAFKA_VERSION must name the version of those jars);
# EVC_KAFKA_HEAP the heap (default 512m); EVC_KAFKA_JVM=standard runs the
# JVM as Kafka's own start script does (1 GiB heap, G1, both JIT tiers),
# for benchmarks.

set -u

KAFKA_DEFAULT_VERSION=4.4.0
KAFKA_VERSION=${EVC_KAFKA_VERSION:-$KAFKA_DEFAULT_VERSION}
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}
jars=${EVC_KAFKA_JARS:-$cache/evc/kafka-$KAFKA_VERSION}
start_timeout=${EVC_KAFKA_TIMEOUT:-60}
# Two cores are shared with the tests: a small heap, serial GC and only
# the quick JIT tier keep the broker from crowding them out.
jvm_opts=("-Xmx${EVC_KAFKA_HEAP:-512m}" -Xms128m -XX:+UseSerialGC
	-XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
case ${EVC_KAFKA_JVM:-quick} in
quick) ;;
standard)
	jvm_opts=("-Xmx${EVC_KAFKA_HEAP:-1g}" "-Xms${EVC_KAFKA_HEAP:-1g}"
		-XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-XX:InitiatingHeapOccupancyPercent=35
		-XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true) ;;
*)
	echo "kafka.sh: EVC_KAFKA_JVM must be quick or standard: '$EVC_KAFKA_JVM'" >&2
	exit 2 ;;
esac

say() { echo "kafka.sh: $*" >&2; }

if ! [[ $KAFKA_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	say "EVC_KAFKA_VERSION must be a release such as 3.9.1 or 4.4.0: '$KAFKA_VERSION'"
	exit 2
fi
kafka_major=${KAFKA_VERSION%%.*}

fetched() { [ -f "$jars/.complete" ]; }

# Copies the jars of test/kafka/pom.xml into a fresh directory, then
# renames it into place, so an interrupted fetch never looks complete.
fetch()
{
	local tmp mvn_args

	fetched && return 0
	command -v mvn >/dev/null || { say "mvn not found (run test/deps.sh)"; return 1; }
	mkdir -p "$(dirname "$jars")" || return 1
	tmp=$(mktemp -d "$jars.tmp.XXXXXX") || return 1
	mvn_args=(-q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies
		"-Dkafka.version=$KAFKA_VERSION" "-DoutputDirectory=$tmp")
	[ "$kafka_major" -ge 4 ] && mvn_args+=(-Plog4j2)
	# Offline first: a warm ~/.m2 needs no network at all.
	if ! mvn -o "${mvn_args[@]}" >/dev/null 2>&1; then
		say "fetching Kafka $KAFKA_VERSION jars with mvn into $jars"
		if ! mvn "${mvn_args[@]}" >"$tmp.log" 2>&1; then
			cat "$tmp.log" >&2
			say "mvn could not fetch the Kafka jars"
			rm -rf "$tmp" "$tmp.log"
			return 1
		fi
		rm -f "$tmp.log"
	fi
	if ! ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
		say "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
		rm -rf "$tmp"
		return 1
	fi
	touch "$tmp/.complete"
	rm -rf "$jars" && mv "$tmp" "$jars"
}

# Is TCP port $1 free on loopback (nothing listening or connected on it)?
port_free()
{
	if command -v ss >/dev/null; then
		[ -z "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# Prints a free port below the usual ephemeral range, other than $1.
free_port()
{
	local p i

	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[ "$p" != "${1:-}" ] && port_free "$p" && { echo "$p"; return 0; }
	done
	say "no free port found"
	return 1
}

# A KRaft cluster id: 16 random bytes in URL-safe base64. One that began
# with '-' would read as an option to the storage tool, hence the 'A'.
cluster_id()
{
	head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c 1-22 |
		sed 's/^-/A/'
}

write_config()
{
	local dir=$1 port=$2 cport=$3

	cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=16777216
EOF
	write_log4j "$dir"
}

# The logging of the node in $1: INFO and above to $1/kafka.log, in
# log4j 1's terms for Kafka 3, in log4j 2's for Kafka 4.
write_log4j()
{
	if [ "$kafka_major" -lt 4 ]; then
		cat >"$1/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$1/kafka.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
		return
	fi
	cat >"$1/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="error">
  <Appenders>
    <File name="file" fileName="$1/kafka.log">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="state.change.logger" level="warn"/>
    <Root level="info">
      <AppenderRef ref="file"/>
    </Root>
  </Loggers>
</Configuration>
EOF
}

# The JVM option that names the logging configuration of the node in $1.
log_opt()
{
	if [ "$kafka_major" -lt 4 ]; then
		echo "-Dlog4j.configuration=file:$1/log4j.properties"
	else
		echo "-Dlog4j2.configurationFile=$1/log4j2.xml"
	fi
}

# node N DIR ADDR1 ADDR2 ADDR3: the shipped etc/kafka/server-N.properties
# with each host of the cluster, kafkaI, replaced by ADDRI, and the data
# in DIR/data.
node_config()
{
	local d=$2 src=$here/../etc/kafka/server-$1.properties i s=

	shift 2
	if [ ! -f "$src" ]; then
		say "no $src"
		return 1
	fi
	for i in 1 2 3; do
		grep -q "kafka$i:" "$src" ||
			{ say "$src names no host kafka$i"; return 1; }
		s="${s}s/\\<kafka$i:/${!i}:/g;"
	done
	mkdir -p "$d" &&
	{
		sed -e "$s" -e '/^log\.dirs=/d; /^metadata\.log\.dir=/d' "$src" &&
		echo "# the test's own data directory" &&
		echo "log.dirs=$d/data"
	} >"$d/server.properties" &&
	write_log4j "$d"
}

# Runs a Kafka main class with the broker's JVM options and the logging
# of the node in $dir.
kjava()
{
	exec java "${jvm_opts[@]}" "$(log_opt "$dir")" -cp "$jars/*" "$@"
}

# The main class of Kafka's tool $1 in this version: Kafka 3 keeps most
# in kafka.admin, Kafka 4 in org.apache.kafka.tools. A jar's index holds
# its class names in plain text.
tool_class()
{
	local c

	for c in "org.apache.kafka.tools.$1" "kafka.admin.$1" "kafka.tools.$1"; do
		if grep -qaF "${c//.//}.class" "$jars"/kafka-tools-*.jar \
			"$jars"/kafka_2.13-*.jar 2>/dev/null; then
			echo "$c"
			return 0
		fi
	done
	say "no tool '$1' in the jars of Kafka $KAFKA_VERSION ($jars)"
	return 1
}

# Runs a tool with a small heap; its log (warnings, errors) on stderr.
tool()
{
	local c

	c=$(tool_class "$1") || return 1
	shift
	exec java -Xmx256m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Djava.awt.headless=true -cp "$jars/*" "$c" "$@"
}

# Is the process $1 alive (a zombie counts as gone)?
alive()
{
	local state

	kill -0 "$1" 2>/dev/null || return 1
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "$state" != Z ]
}

# Is $1 the broker started for $dir (so a recycled PID is never killed)?
ours()
{
	[ -r "/proc/$1/cmdline" ] || { alive "$1"; return; }
	tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$dir/server.properties"
}

fail_start()
{
	say "$1"
	if [ -s "$dir/kafka.log" ]; then
		say "last lines of $dir/kafka.log:"
		tail -n 30 "$dir/kafka.log" >&2
	fi
	if [ -s "$dir/kafka.out" ]; then
		say "last lines of $dir/kafka.out:"
		tail -n 30 "$dir/kafka.out" >&2
	fi
	stop
	return 1
}

# One attempt: fresh config, storage formatted, broker launched and
# answering metadata requests. Returns 2 when the ports were taken
# meanwhile, so the caller can try others.
launch()
{
	local port cport pid deadline

	port=$(free_port) && cport=$(free_port "$port") || return 1
	rm -rf "$dir/data" "$dir/kafka.log" "$dir/kafka.out"
	write_config "$dir" "$port" "$cport"
	if ! (kjava kafka.tools.StorageTool format -t "$(cluster_id)" \
		-c "$dir/server.properties" --standalone) >"$dir/format.out" 2>&1; then
		cat "$dir/format.out" >&2
		fail_start "cannot format the storage in $dir/data"
		return 1
	fi
	(cd "$dir" && kjava kafka.Kafka "$dir/server.properties") \
		>"$dir/kafka.out" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/kafka.pid"
	echo "127.0.0.1:$port" >"$dir/brokers"
	deadline=$((SECONDS + start_timeout))
	while ((SECONDS < deadline)); do
		if ! alive "$pid"; then
			grep -q 'Address already in use' "$dir/kafka.log" \
				"$dir/kafka.out" 2>/dev/null && return 2
			fail_start "Kafka exited while starting"
			return 1
		fi
		kcat -b "127.0.0.1:$port" -L -m 2 2>/dev/null |
			grep -q '1 brokers' && return 0
		sleep 0.5
	done
	fail_start "Kafka did not answer on 127.0.0.1:$port within ${start_timeout}s"
	return 1
}

start()
{
	local try rc

	command -v java >/dev/null || { say "java not found (run test/deps.sh)"; return 1; }
	command -v kcat >/dev/null || { say "kcat not found (run test/deps.sh)"; return 1; }
	mkdir -p "$dir" || return 1
	if [ -s "$dir/kafka.pid" ] && ours "$(cat "$dir/kafka.pid")"; then
		say "already running in $dir (PID $(cat "$dir/kafka.pid"))"
		return 1
	fi
	if [ -z "${EVC_KAFKA_JARS:-}" ]; then
		fetch || return 1
	fi
	for try in 1 2 3; do
		launch
		rc=$?
		[ $rc = 2 ] || return $rc
		say "port taken while starting, trying others ($try)"
		stop
	done
	fail_start "could not bind free ports"
}

stop()
{
	local pid i

	[ -s "$dir/kafka.pid" ] || return 0
	pid=$(cat "$dir/kafka.pid")
	if ! ours "$pid"; then
		rm -f "$dir/kafka.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		say "Kafka (PID $pid) still running after 10s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
	fi
	rm -f "$dir/kafka.pid"
}

# make_tls DIR [NAME...]: a throwaway CA and what a TLS listener on
# loopback needs, made with openssl in DIR:
#   ca.pem          the CA's certificate: the truststore of Kafka (PEM)
#                   and the ssl.ca.location of evc and kcat
#   broker.pem      Kafka's keystore (PEM): the broker's private key
#                   (PKCS#8, encrypted with the password in key-password),
#                   its certificate, subject CN=kafka1, for the NAMEs
#                   (default localhost and 127.0.0.1; an address goes in
#                   as an IP name), then the CA's
#   other-name.pem  the same for the name kafka.invalid alone, signed by
#                   the same CA: a certificate for another host
#   other-ca.pem    the certificate of a CA that signed none of these
# The keys are elliptic-curve (P-256): made at once, where RSA keys
# cost seconds on a busy machine.
make_tls()
{
	local d=$1 n san= ok=

	shift
	[ $# -gt 0 ] || set -- localhost 127.0.0.1
	command -v openssl >/dev/null || { say "openssl not found"; return 1; }
	for n; do
		if [[ $n =~ ^[0-9.]+$|: ]]; then
			san="$san${san:+,}IP:$n"
		else
			san="$san${san:+,}DNS:$n"
		fi
	done
	mkdir -p "$d" && cd "$d" || return 1
	umask 077
	head -c 12 /dev/urandom | base64 | tr -d '+/=' >key-password
	cat >openssl.cnf <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[broker]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
[other]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:kafka.invalid
EOF
	tls_ca ca "evc test CA" && tls_ca other-ca "another CA" &&
	tls_cert broker kafka1 && tls_cert other-name kafka.invalid && ok=1
	rm -f ./*.csr ./*.srl
	[ -n "$ok" ] || { say "openssl could not make the certificates in $d"; return 1; }
}

# tls_ca NAME CN: NAME.key and the self-signed NAME.pem, for 30 days.
tls_ca()
{
	openssl req -x509 -config openssl.cnf -extensions ca -days 30 \
		-newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
		-keyout "$1.key" -subj "/CN=$2" -out "$1.pem" 2>>openssl.err
}

# tls_cert NAME CN: NAME.pem, a keystore: key (encrypted), certificate
# signed by ca.pem with the extensions of section NAME (broker or other),
# then ca.pem.
tls_cert()
{
	local sec=${1%-name}

	openssl req -new -config openssl.cnf -newkey ec \
		-pkeyopt ec_paramgen_curve:P-256 -noenc -keyout "$1.key" \
		-subj "/CN=$2" -out "$1.csr" 2>>openssl.err &&
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -days 30 -extfile openssl.cnf \
		-extensions "$sec" -out "$1.crt" 2>>openssl.err &&
	openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in "$1.key" \
		-passout file:key-password \
		-out "$1.enc" 2>>openssl.err &&
	cat "$1.enc" "$1.crt" ca.pem >"$1.pem" &&
	rm -f "$1.key" "$1.enc"
}

usage()
{
	echo "usage: test/kafka.sh fetch | start DIR | stop DIR | version | cluster-id | jars" >&2
	echo "       test/kafka.sh node N DIR ADDR1 ADDR2 ADDR3 | run DIR CLASS [ARG...]" >&2
	echo "       test/kafka.sh tool NAME [ARG...] | tls DIR [NAME...]" >&2
	exit 2
}

# The jars, fetched first unless EVC_KAFKA_JARS names them.
need_jars()
{
	if [ -z "${EVC_KAFKA_JARS:-}" ]; then
		fetch || exit 1
	fi
	ls "$jars"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 ||
		{ say "no kafka_2.13-$KAFKA_VERSION.jar in '$jars'"; exit 1; }
}

case ${1:-} in
fetch)
	[ $# = 1 ] || usage
	fetch
	;;
version)
	[ $# = 1 ] || usage
	echo "$KAFKA_VERSION"
	;;
cluster-id)
	[ $# = 1 ] || usage
	cluster_id
	;;
jars)
	[ $# = 1 ] || usage
	need_jars
	echo "$jars"
	;;
tool)
	[ $# -ge 2 ] || usage
	shift
	need_jars
	tool "$@"
	;;
node)
	[ $# = 6 ] || usage
	shift
	node_config "$@"
	;;
run)
	[ $# -ge 3 ] || usage
	dir=$2
	shift 2
	[ -f "$dir/log4j.properties" ] || [ -f "$dir/log4j2.xml" ] ||
		write_log4j "$dir"
	kjava "$@"
	;;
tls)
	[ $# -ge 2 ] || usage
	shift
	make_tls "$@"
	;;
start | stop)
	[ $# = 2 ] || usage
	mkdir -p "$2" && dir=$(cd "$2" && pwd) || exit 1
	"$1"
	;;
*)
	usage
	;;
esac
