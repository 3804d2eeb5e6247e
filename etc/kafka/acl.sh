#!/usr/bin/env bash
# acl.sh: creates evc's Kafka users (SCRAM-SHA-512) and the ACLs that let each role do only its own part.
#
#   acl.sh [-g GROUP] [-s SUFFIX] BOOTSTRAP ADMIN_PROPERTIES
#
# BOOTSTRAP is host:port of a SASL listener (etc/kafka/server-sasl.properties,
# or over TLS server-sasl-ssl.properties);
# ADMIN_PROPERTIES is a Kafka client file logging in as a super user:
#   security.protocol=SASL_PLAINTEXT     (over TLS: SASL_SSL, and
#                                         ssl.truststore.type=PEM,
#                                         ssl.truststore.location=CA.pem)
#   sasl.mechanism=SCRAM-SHA-512
#   sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="...";
# The users' passwords come from the environment, never the command line
# (other users see it in ps): EVC_CENTRAL_PASSWORD, EVC_CP_PASSWORD,
# EVC_DRIVER_PASSWORD, EVC_OPERATOR_PASSWORD, EVC_OCPP_PASSWORD. A user whose variable is
# unset keeps its password (run again to change ACLs only).
# -g names Central's consumer group (central.group, default evc-central);
# -s SUFFIX is appended to every topic name (topics.names in evc.yaml).
# Adding an ACL twice is harmless: the script can be run again.
#
# The Kafka tools are $KAFKA_HOME/bin/kafka-acls.sh and kafka-configs.sh
# (KAFKA_HOME defaults to /opt/kafka); KAFKA_ACLS and KAFKA_CONFIGS replace
# them with other commands, e.g. "java -cp 'JARS/*' kafka.admin.AclCommand".

set -u

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
acls_cmd=${KAFKA_ACLS:-$KAFKA_HOME/bin/kafka-acls.sh}
configs_cmd=${KAFKA_CONFIGS:-$KAFKA_HOME/bin/kafka-configs.sh}
group=evc-central
suffix=

# Consumers that follow partitions without joining a group (CPs, drivers,
# evc auth, evc status, Central reading cp-state) still carry this
# group.id for librdkafka; they never join or commit with it.
unjoined=evc-unjoined

say() { echo "acl.sh: $*" >&2; }

usage()
{
	echo "usage: acl.sh [-g GROUP] [-s SUFFIX] BOOTSTRAP ADMIN_PROPERTIES" >&2
	exit 2
}

# run COMMAND ARGS...: COMMAND is shell words (quotes kept, so a
# 'JARS/*' class path reaches java unexpanded), ARGS are passed as they are.
run()
{
	local cmd=$1

	shift
	eval "$cmd" '"$@"'
}

# t NAME...: the topic names, with the suffix.
t()
{
	local n

	for n in "$@"; do
		printf -- '--topic\n%s%s\n' "$n" "$suffix"
	done
}

# acl USER... -- ARGS...: allows the users ARGS (operations, resources).
acl()
{
	local who=()

	while [ "$1" != -- ]; do
		who+=(--allow-principal "User:$1")
		shift
	done
	shift
	run "$acls_cmd" --bootstrap-server "$bootstrap" \
		--command-config "$admin" --add "${who[@]}" "$@" >/dev/null ||
		{ say "kafka-acls failed for ${who[*]}: $*"; exit 1; }
}

# user NAME VAR: sets NAME's SCRAM-SHA-512 password from $VAR, if set.
user()
{
	local pw=${!2:-}

	if [ -z "$pw" ]; then
		say "$2 unset: password of '$1' left as it is"
		return 0
	fi
	case $pw in
	*[],=[]*) say "$2: the password may not hold , = [ or ]"; exit 2 ;;
	esac
	run "$configs_cmd" --bootstrap-server "$bootstrap" \
		--command-config "$admin" --alter --entity-type users \
		--entity-name "$1" \
		--add-config "SCRAM-SHA-512=[iterations=8192,password=$pw]" \
		>/dev/null || { say "kafka-configs failed for user '$1'"; exit 1; }
}

while getopts g:s: opt; do
	case $opt in
	g) group=$OPTARG ;;
	s) suffix=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 2 ] || usage
bootstrap=$1 admin=$2
[ -r "$admin" ] || { say "cannot read '$admin'"; exit 2; }

user central EVC_CENTRAL_PASSWORD
user cp EVC_CP_PASSWORD
user driver EVC_DRIVER_PASSWORD
user operator EVC_OPERATOR_PASSWORD
user ocpp EVC_OCPP_PASSWORD

# Writing (or reading) a topic implies describing it (metadata, offsets),
# and since Kafka 3 writing one implies the idempotent producer's
# IdempotentWrite: these lists are all a role needs.
# Central writes a probe of its own to every health partition: it reads
# a CP's silence only where its probes come back. It follows the
# catalogue, and seeds it at its first start if nothing did before.
mapfile -t w < <(t cp-register-ack cp-commands auth-response cp-state control \
	health cp-catalogue audit)
acl central -- --operation Write "${w[@]}"
mapfile -t r < <(t cp-register auth-request telemetry health control cp-state \
	central-lease cp-catalogue)
acl central -- --operation Read "${r[@]}"
# The lease group decides which of several Centrals serves (the others
# stand by); the main group reads the topics.
acl central -- --operation Read --group "$group" --group "$group-lease"

# A group-less consumer still asks Kafka where its group's coordinator is
# (FindCoordinator), which needs Describe; it never joins, reads or
# commits with that group, so nothing more.
acl central cp driver operator ocpp -- --operation Describe --group "$unjoined"

mapfile -t w < <(t cp-register telemetry health)
acl cp -- --operation Write "${w[@]}"
mapfile -t r < <(t cp-commands cp-register-ack)
acl cp -- --operation Read "${r[@]}"

mapfile -t w < <(t auth-request)
acl driver -- --operation Write "${w[@]}"
mapfile -t r < <(t auth-response cp-state)
acl driver -- --operation Read "${r[@]}"

# The OCPP gateway plays each charger as a CP (register, telemetry,
# health; commands and acks) and asks Central for the idTags typed at a
# charger as a driver does (auth-request, auth-response). It follows
# every partition without a group.
mapfile -t w < <(t cp-register telemetry health auth-request)
acl ocpp -- --operation Write "${w[@]}"
mapfile -t r < <(t cp-commands cp-register-ack auth-response)
acl ocpp -- --operation Read "${r[@]}"

# The operator stops and resumes CPs (control), changes the catalogue
# (evc cps), each action leaving a record in the audit trail, reads
# every CP's state (evc status) and the trail (evc audit), and watches
# the topics and Central's backlog (evc topics list, describe, lag);
# creating topics and users stays with admin.
mapfile -t w < <(t control cp-catalogue audit)
acl operator -- --operation Write "${w[@]}"
mapfile -t r < <(t cp-state cp-catalogue audit)
acl operator -- --operation Read "${r[@]}"
mapfile -t d < <(t cp-register cp-register-ack auth-request auth-response \
	cp-commands telemetry health control cp-state central-lease cp-catalogue \
	audit)
acl operator -- --operation Describe "${d[@]}"
acl operator -- --operation Describe --group "$group" --group "$group-lease"
