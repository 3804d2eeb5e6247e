#!/usr/bin/env bash
# t0300-install.sh: make install lays out the binary, links, man pages, units, completion, Kafka files and config.
. "$(dirname "$0")/lib.sh"

top=$TEST_TOP
k=$top/etc/kafka
roles=$(sed -n 's/^ROLES *= *//p' "$top/Makefile")
dest=$TEST_DIR/dest
bin=$dest/usr/local/bin
units=$dest/lib/systemd/system
share=$dest/usr/local/share

# `-o all`: install what is built, never compile (test/run.sh builds nothing).
install_to()
{
	make -s -C "$top" -o all install "$@" >install.out 2>&1 ||
		{ cat install.out; return 1; }
}

if ! command -v make >/dev/null; then
	_skip_all="make is not installed"
elif [ ! -x "$top/evc" ]; then
	_skip_all="no evc built at the top of the tree (run make)"
fi

test_expect_success 'make install DESTDIR=... succeeds without building' '
	install_to DESTDIR="$dest"
'

test_expect_success 'the binary, and a link to it per role of the Makefile' '
	test -x "$bin/evc" && test ! -L "$bin/evc" &&
	cmp "$top/evc" "$bin/evc" &&
	for r in $roles; do
		test "$(readlink "$bin/evc-$r")" = evc ||
			{ echo "no link evc-$r -> evc"; return 1; }
	done
'

test_expect_success 'the Makefile installs a link for every role evc lists' '
	"$bin/evc" | sed -n "/^roles:/,/^\$/s/^  \([a-z][a-z]*\) .*/\1/p" >listed &&
	for r in $(cat listed); do
		test -L "$bin/evc-$r" || { echo "role $r has no link"; return 1; }
	done
'

test_expect_success 'an installed link runs its role' '
	"$bin/evc-topics" -h >out &&
	"$EVC" topics -h >expect &&
	cmp expect out
'

test_expect_success 'man pages: evc(1), one per role, evc.yaml(5), evc-protocol(7)' '
	man=$share/man &&
	test -f "$man/man1/evc.1" &&
	for r in $roles; do
		test -f "$man/man1/evc-$r.1" || { echo "no evc-$r.1"; return 1; }
	done &&
	test -f "$man/man5/evc.yaml.5" &&
	test -f "$man/man7/evc-protocol.7"
'

test_expect_success 'example configuration in /etc/evc, a directory for driver files' '
	test -f "$dest/etc/evc/evc.yaml.example" &&
	test -f "$dest/etc/evc/cps.yaml.example" &&
	test -d "$dest/etc/evc/drivers" &&
	test ! -e "$dest/etc/evc/evc.yaml"
'

test_expect_success 'units in /lib/systemd/system, naming the installed binary' '
	for u in evc-central.service evc-cp@.service evc-driver@.service \
		evc-ocpp.service evc-web.service; do
		test -f "$units/$u" || { echo "no unit $u"; return 1; }
		! grep -n "@[A-Z]*@" "$units/$u" || return 1
		grep -qx "ExecStart=/usr/local/bin/evc-[a-z]*\( .*\)\{0,1\}" \
			"$units/$u" || { echo "$u: ExecStart"; return 1; }
		grep -qx "Environment=EVC_CONFIG=/etc/evc/evc.yaml" "$units/$u" ||
			{ echo "$u: EVC_CONFIG"; return 1; }
	done &&
	grep -qx "ExecStart=/usr/local/bin/evc-cp %i" "$units/evc-cp@.service"
'

test_expect_success 'units are hardened and restart on failure' '
	for u in "$units"/evc-*.service; do
		for line in DynamicUser=yes ProtectSystem=strict ProtectHome=yes \
			NoNewPrivileges=yes PrivateTmp=yes Restart=on-failure \
			"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"; do
			grep -qx "$line" "$u" || { echo "${u##*/}: no $line"; return 1; }
		done
	done &&
	grep -qx "StateDirectory=evc/cp-%i" "$units/evc-cp@.service" &&
	grep -qx "StateDirectory=evc/ocpp" "$units/evc-ocpp.service"
'

test_expect_success 'bash completion for evc and each evc-ROLE' '
	c=$share/bash-completion/completions &&
	test -f "$c/evc" &&
	for r in $roles; do
		test "$(readlink "$c/evc-$r")" = evc || { echo "no evc-$r"; return 1; }
	done
'

test_expect_success 'Kafka configurations, unit, notes and acl.sh (executable) in share/evc/kafka' '
	for f in server-1.properties server-2.properties server-3.properties \
		server-single.properties server-sasl.properties \
		server-sasl-ssl.properties acl.sh kafka.service README; do
		test -f "$share/evc/kafka/$f" || { echo "no $f"; return 1; }
	done &&
	test -f "$share/doc/evc/DEPLOY.md" &&
	test -x "$share/evc/kafka/acl.sh"
'

test_expect_success 'make install PREFIX=/usr puts /usr/bin in the units' '
	install_to DESTDIR="$TEST_DIR/usr" PREFIX=/usr &&
	test -x "$TEST_DIR/usr/usr/bin/evc" &&
	grep -qx "ExecStart=/usr/bin/evc-central" \
		"$TEST_DIR/usr/lib/systemd/system/evc-central.service"
'

# --- systemd-analyze ---------------------------------------------------------

# Installed with no DESTDIR into a tree of the test's own, the units name
# a binary that exists, which systemd-analyze verify requires.
root=$TEST_DIR/root
verify()
{
	MANPATH=$root/share/man systemd-analyze verify "$@" >verify.out 2>&1
	local rc=$?

	cat verify.out
	[ $rc = 0 ] && [ ! -s verify.out ]
}

if command -v systemd-analyze >/dev/null; then
	test_expect_success 'install into a private root for systemd-analyze' '
		install_to PREFIX="$root" SYSCONFDIR="$root/etc" \
			UNITDIR="$root/units" &&
		grep -qx "ExecStart=$root/bin/evc-central" \
			"$root/units/evc-central.service"
	'

	for u in evc-central.service evc-cp@.service evc-driver@.service \
		evc-ocpp.service evc-web.service; do
		test_expect_success "systemd-analyze verify accepts $u" '
			verify "$root/units/$u"
		'
	done

	test_expect_success 'systemd-analyze verify accepts an instance, evc-cp@CP003' '
		cp "$root/units/evc-cp@.service" "evc-cp@CP003.service" &&
		verify "$TEST_DIR/evc-cp@CP003.service"
	'

	test_expect_success 'systemd-analyze verify accepts kafka.service' '
		sed "s|^ExecStart=/opt/kafka/bin/kafka-server-start.sh |ExecStart=/bin/true |" \
			"$root/share/evc/kafka/kafka.service" >kafka.service &&
		! cmp -s kafka.service "$root/share/evc/kafka/kafka.service" &&
		verify "$TEST_DIR/kafka.service"
	'
else
	test_skip 'systemd-analyze verify accepts the units' \
		'systemd-analyze is not installed'
fi

# --- completion --------------------------------------------------------------

# complete WORDS...: what the installed completion offers for the last word.
complete_words()
{
	PATH=$bin:$PATH EVC_CONFIG=$top/etc/evc.yaml bash -c '
		. "$0"
		COMP_WORDS=("$@") COMP_CWORD=$(($# - 1))
		COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
		_evc
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
	' "$share/bash-completion/completions/evc" "$@"
}

test_expect_success 'completion: roles after evc' '
	test "$(complete_words evc "")" = "$(echo $(printf "%s\n" $roles | sort)) "
'

test_expect_success 'completion: options of a role, from its -h' '
	test "$(complete_words evc topics --)" = "--brokers --config --help --verbose " &&
	test "$(complete_words evc-cp --c)" = "--check --config "
'

test_expect_success 'completion: actions and CP ids of the catalogue' '
	test "$(complete_words evc topics -b x "")" = "create describe list " &&
	test "$(complete_words evc central stop CP00)" = \
		"CP001 CP002 CP003 CP004 CP005 CP006 CP007 CP008 " &&
	test "$(complete_words evc cp -v CP001 "")" = "fault recover status unplug " &&
	test "$(complete_words evc cps "")" = "add list rm " &&
	test "$(complete_words evc cps rm CP00)" = \
		"CP001 CP002 CP003 CP004 CP005 CP006 CP007 CP008 " &&
	test "$(complete_words evc-cps add CP009 --p)" = "--power --price "
'

test_expect_success 'completion: a file after -c' '
	mkdir -p d && : >d/my.yaml &&
	test "$(complete_words evc central -c d/my)" = "d/my.yaml "
'

# --- the Kafka configurations ------------------------------------------------

# prop FILE KEY: the value of KEY in a Java properties FILE.
prop()
{
	sed -n "s/^$2=//p" "$1"
}

test_expect_success 'three KRaft nodes: ids 1-3, broker and controller, own host name' '
	for n in 1 2 3; do
		f=$k/server-$n.properties
		test "$(prop $f node.id)" = $n &&
		test "$(prop $f process.roles)" = broker,controller &&
		test "$(prop $f listeners)" = "PLAINTEXT://:9092,CONTROLLER://:9093" &&
		test "$(prop $f advertised.listeners)" = \
			"PLAINTEXT://kafka$n:9092,CONTROLLER://kafka$n:9093" &&
		test "$(prop $f controller.quorum.bootstrap.servers)" = \
			"kafka1:9093,kafka2:9093,kafka3:9093" &&
		test -z "$(prop $f controller.quorum.voters)" &&
		test "$(prop $f default.replication.factor)" = 3 &&
		test "$(prop $f min.insync.replicas)" = 2 &&
		test "$(prop $f offsets.topic.replication.factor)" = 3 &&
		! grep -q zookeeper "$f" || { echo "server-$n.properties"; return 1; }
	done
'

test_expect_success 'the three nodes differ only in node.id and advertised host' '
	for n in 2 3; do
		diff <(grep -v "^#" $k/server-1.properties | grep -vE "^(node.id|advertised.listeners)=") \
			<(grep -v "^#" $k/server-$n.properties | grep -vE "^(node.id|advertised.listeners)=") ||
			return 1
	done
'

test_expect_success 'no example names an address of a LAN: hosts kafka1..3 only' '
	! grep -nE "192\.168\.|10\.[0-9]+\.[0-9]+\.[0-9]+" $k/*.properties \
		"$TEST_TOP/etc/evc.yaml"
'

test_expect_success 'single node: one voter, one copy' '
	f=$k/server-single.properties &&
	test "$(prop $f node.id)" = 1 &&
	test "$(prop $f process.roles)" = broker,controller &&
	test "$(prop $f controller.quorum.bootstrap.servers)" = 127.0.0.1:9093 &&
	test "$(prop $f default.replication.factor)" = 1 &&
	test "$(prop $f min.insync.replicas)" = 1
'

test_expect_success 'every line of the Kafka files is a comment or key=value' '
	! grep -nvE "^(#.*|[a-z][a-z0-9._-]*=[^ ].*|)\$" $k/*.properties
'
