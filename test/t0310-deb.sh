#!/usr/bin/env bash
# t0310-deb.sh: make deb: the package's files, conffiles and dependencies, lintian; installed in a throwaway root, a charge with it.
. "$(dirname "$0")/lib.sh"

top=$TEST_TOP
roles=$(sed -n 's/^ROLES *= *//p' "$top/Makefile")
version=$(sed -n 's/^VERSION = *//p' "$top/Makefile")
x=$TEST_DIR/x

if ! command -v dpkg-shlibdeps >/dev/null || ! command -v dpkg-deb >/dev/null; then
	_skip_all="make deb needs dpkg-dev (apt-get install dpkg-dev)"
fi

test_expect_success 'make deb builds evc_VERSION_ARCH.deb' '
	make -s -C "$top" deb DEBDIR="$TEST_DIR" >make.out 2>&1 ||
		{ cat make.out; return 1; }
	deb=$TEST_DIR/evc_${version}_$(dpkg --print-architecture).deb &&
	test -f "$deb" &&
	dpkg-deb -x "$deb" "$x" &&
	dpkg-deb -c "$deb" | awk "{ print \$6 }" | sed "s|^\./|/|" >files
'

# The units' directory of the package: /lib before Debian 13, /usr/lib after.
units=$(sed -n 's|^\(.*/systemd/system\)/evc-central\.service$|\1|p' \
	"$TEST_DIR/files" 2>/dev/null)

test_expect_success 'the binary, stripped, and a link to it per role' '
	test -x "$x/usr/bin/evc" && test ! -L "$x/usr/bin/evc" &&
	! objdump -h "$x/usr/bin/evc" | grep -q "\.debug_" &&
	for r in $roles; do
		test "$(readlink "$x/usr/bin/evc-$r")" = evc ||
			{ echo "no link evc-$r"; return 1; }
	done
'

test_expect_success 'man pages, compressed: evc(1), one per role, evc.yaml(5), evc-protocol(7)' '
	m=$x/usr/share/man &&
	for p in man1/evc.1 man5/evc.yaml.5 man7/evc-protocol.7 \
		$(printf "man1/evc-%s.1 " $roles); do
		gzip -t "$m/$p.gz" || { echo "no $p.gz"; return 1; }
	done
'

test_expect_success 'units where the release keeps them, naming /usr/bin/evc-ROLE' '
	case $units in
	/lib/systemd/system | /usr/lib/systemd/system) ;;
	*) echo "units in '\''$units'\''"; return 1 ;;
	esac &&
	for u in evc-central.service evc-cp@.service evc-driver@.service \
		evc-ocpp.service evc-web.service; do
		grep -qx "ExecStart=/usr/bin/evc-[a-z]*\( .*\)\{0,1\}" "$x$units/$u" ||
			{ echo "$u: ExecStart"; return 1; }
	done
'

test_expect_success 'bash completion for evc and each evc-ROLE' '
	c=$x/usr/share/bash-completion/completions &&
	test -f "$c/evc" &&
	for r in $roles; do
		test "$(readlink "$c/evc-$r")" = evc || { echo "no evc-$r"; return 1; }
	done
'

test_expect_success 'the example configuration is the conffiles, and nothing else' '
	dpkg-deb -I "$deb" conffiles >conffiles &&
	printf "/etc/evc/cps.yaml.example\n/etc/evc/evc.yaml.example\n" >expect &&
	diff -u expect conffiles &&
	test -d "$x/etc/evc/drivers" && test ! -e "$x/etc/evc/evc.yaml"
'

test_expect_success 'documentation: DEPLOY.md, the copyright, a changelog' '
	d=$x/usr/share/doc/evc &&
	cmp "$top/etc/DEPLOY.md" "$d/DEPLOY.md" &&
	grep -qx "License: Expat" "$d/copyright" &&
	gzip -t "$d/changelog.gz" &&
	test -x "$x/usr/share/evc/kafka/acl.sh"
'

# The package of a shared library, as dpkg knows it.
lib_package()
{
	dpkg -S "*/$1" 2>/dev/null | sed -n "s/^\([^:,]*\).*/\1/p" | sort -u
}

test_expect_success 'Depends: the package of every library evc links, no build tool' '
	dpkg-deb -f "$deb" Depends >depends &&
	for so in $(objdump -p "$x/usr/bin/evc" | awk "\$1 == \"NEEDED\" { print \$2 }"); do
		p=$(lib_package "$so") && test -n "$p" ||
			{ echo "no package has $so"; return 1; }
		for q in $p; do
			grep -q "\(^\|, \)$q\( \|,\|\$\)" depends && continue 2
		done
		echo "$so ($p) is not in Depends: $(cat depends)"
		return 1
	done &&
	! grep -E "(-dev|gcc|make|dpkg-dev|build-essential)( |,|\$)" depends
'

test_expect_success 'Depends: the package of the libuv plugin libwebsockets loads' '
	p=$(lib_package "libwebsockets-evlib_uv.so") && test -n "$p" &&
	grep -q "\(^\|, \)$p\( \|,\|\$\)" depends ||
		{ echo "no ${p:-evlib_uv package} in Depends: $(cat depends)"; return 1; }
'

if command -v lintian >/dev/null; then
	test_expect_success 'lintian finds no error in the package' '
		lintian --fail-on error "$deb" >lintian.out 2>&1 ||
			{ cat lintian.out; return 1; }
	'
else
	test_skip 'lintian finds no error in the package' \
		'lintian is not installed (apt-get install lintian)'
fi

# --- installed ------------------------------------------------------------------

# Installing changes the machine: only where asked to, such as the
# throwaway Debian 13 root of test/distro.sh.
if [ -n "$_skip_all" ]; then
	:
elif [ "${EVC_TEST_DEB_INSTALL:-0}" != 1 ]; then
	_skip_all="installs into this system: only with EVC_TEST_DEB_INSTALL=1 (test/distro.sh sets it in its throwaway root)"
elif [ "$(id -u)" != 0 ]; then
	_skip_all="installing the package needs root"
elif dpkg -s evc >/dev/null 2>&1; then
	_skip_all="a package evc is installed here already"
fi

test_expect_success 'apt install ./evc_VERSION_ARCH.deb installs it' '
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >apt.out 2>&1 ||
		{ cat apt.out; return 1; }
	test "$(dpkg-query -W -f="\${Status}" evc)" = "install ok installed"
'

test_expect_success 'the installed evc and its links run' '
	/usr/bin/evc >roles &&
	for r in $roles; do
		grep -q "^  $r " roles || { echo "evc lists no $r"; return 1; }
	done &&
	/usr/bin/evc-topics -h >out &&
	"$EVC" topics -h >expect &&
	cmp expect out
'

if command -v man >/dev/null; then
	test_expect_success 'man finds the installed pages' '
		test "$(man -w evc)" = /usr/share/man/man1/evc.1.gz &&
		test "$(man -w 5 evc.yaml)" = /usr/share/man/man5/evc.yaml.5.gz &&
		man evc-cp 2>/dev/null | grep -q "evc cp"
	'
fi

if command -v systemd-analyze >/dev/null; then
	test_expect_success 'systemd-analyze verify accepts the installed units' '
		systemd-analyze verify "$units/evc-central.service" \
			"$units/evc-cp@.service" "$units/evc-ocpp.service" \
			"$units/evc-web.service" \
			>verify.out 2>&1 &&
		test ! -s verify.out || { cat verify.out; return 1; }
	'
fi

cat >cps.yaml <<EOF
cps:
  - {id: CP001, location: Alicante, price: 0.35}
EOF

test_expect_success 'a charge with the installed evc: Central, a CP, evc auth --wait' '
	need_kafka || return 1
	EVC=/usr/bin/evc &&
	test_config <<-EOF &&
	central:
	  catalogue: cps.yaml
	cp:
	  power_kw: 3600
	EOF
	bg central /usr/bin/evc-central &&
	wait_for 20 "grep -q \"ready:\" central.err" &&
	bg cp1 /usr/bin/evc-cp CP001 &&
	wait_for 20 "grep -q \"CP001 ACTIVE\" central.err" &&
	/usr/bin/evc auth --wait --kwh 1 D1 CP001 >out 2>err &&
	grep -qxF "ticket at CP001: 1.0 kWh, 0.35 EUR at 0.35 EUR/kWh (finished)" out
'

test_expect_success 'apt purge removes it, the example configuration too' '
	bg_kill cp1; bg_kill central
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q evc >apt.out 2>&1 ||
		{ cat apt.out; return 1; }
	test ! -e /usr/bin/evc && test ! -e /usr/bin/evc-cp &&
	test ! -e /etc/evc/evc.yaml.example &&
	! dpkg -s evc >/dev/null 2>&1
'
