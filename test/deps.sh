#!/bin/sh
# deps.sh: checks for what evc and its test bed need; installs it on Debian as root.
#
# Quiet when everything is there. As root, installs the missing Debian
# packages (one apt-get update, then apt-get install); otherwise prints the
# command to run and exits 2. The package names are those of Debian 12
# and 13 alike.
#
# usage: test/deps.sh [--list]
#   --list  print every package it would install on a machine that has
#           none of them, one a line, and change nothing (test/distro.sh
#           makes its Debian 13 root with them)

missing=
everything=0

# has COMMAND: is it on PATH? (never, for --list)
has()
{
	[ "$everything" = 0 ] && command -v "$1" >/dev/null 2>&1
}

# want PACKAGE: adds a Debian package to the list once.
want()
{
	case " $missing " in
	*" $1 "*) ;;
	*) missing="${missing:+$missing }$1" ;;
	esac
}

# The major version of the java on PATH (8 for "1.8.0_x"), or 0.
java_major()
{
	v=$(java -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)
	case $v in
	1.*) v=${v#1.} ;;
	esac
	v=${v%%[!0-9]*}
	echo "${v:-0}"
}

check()
{
	missing=
	if has pkg-config; then
		pkg-config --exists rdkafka || want librdkafka-dev
		pkg-config --exists jansson || want libjansson-dev
		pkg-config --exists libcyaml || want libcyaml-dev
		pkg-config --exists yaml-0.1 || want libyaml-dev
		pkg-config --exists libwebsockets || want libwebsockets-dev
		pkg-config --exists libuv || want libuv1-dev
		pkg-config --exists libcrypt || want libcrypt-dev
		pkg-config --exists libedit || want libedit-dev
		pkg-config --exists libcrypto || want libssl-dev
	else
		want pkg-config
		want librdkafka-dev
		want libjansson-dev
		want libcyaml-dev
		want libyaml-dev
		want libwebsockets-dev
		want libuv1-dev
		want libcrypt-dev
		want libedit-dev
		want libssl-dev
	fi
	has kcat || want kcat
	has openssl || want openssl	# t4200's CA and certificates
	if ! has java || [ "$(java_major)" -lt 17 ]; then
		want default-jdk-headless
	fi
	has mvn || want maven
	has cc || want gcc
	has make || want make
	has tmux || want tmux
	has ss || want iproute2
	has curl || want curl
	has ps || want procps
	has python3 || want python3
	has curl || want curl
	has openssl || want openssl
	# the OCPP charger, the metrics parser and the browser driver of the
	# tests live in venvs (test/py-venv.sh), which Debian's python3 makes
	# only with ensurepip, in python3-venv
	{ [ "$everything" = 0 ] && python3 -c "import ensurepip" 2>/dev/null; } ||
		want python3-venv
	# the browser of t1810 (evc web's console), driven by WebDriver
	has chromium || want chromium
	has chromedriver || want chromium-driver
}

case ${1:-} in
--list)
	everything=1
	check
	printf '%s\n' $missing
	exit 0
	;;
'')
	;;
*)
	echo "usage: test/deps.sh [--list]" >&2
	exit 2
	;;
esac

check
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages: $missing" >&2
	echo "deps: install them (as root, on Debian 12 or 13):" >&2
	echo "    apt-get install -y --no-install-recommends $missing" >&2
	exit 2
fi

echo "deps: installing: $missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # the list is meant to split into words
apt-get update -q >&2 &&
	apt-get install -y -q --no-install-recommends $missing >&2 || {
	echo "deps: apt-get failed: $missing" >&2
	exit 2
}

check
if [ -n "$missing" ]; then
	echo "deps: still missing after installation: $missing" >&2
	exit 2
fi
exit 0
