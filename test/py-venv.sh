#!/bin/sh
# py-venv.sh: the test bed's Python tools from PyPI (the OCPP charger's library, the browser driver, the metrics parser), each in a virtual environment made once and cached.
#
# usage: test/py-venv.sh NAME
#
# Prints the path of the environment's python. The first time, creates
# it under the cache (~/.cache/evc/venv-NAME-VERSION) with pip and the
# pinned versions below; then only checks that it imports what it is
# for. When it cannot (no python3, no venv module, no way to PyPI), says
# why on stderr and exits 1: the tests that need it are then skipped.
#
# Each NAME: the module(s) it must import, then every package, pinned
# (what each pulls in too), so that no release can change what the tests
# see. The first pin names the environment.
case ${1:-} in
ocpp)
	# PyPI's OCPP 1.6J library: test/ocpp-charger.py, an independent charger
	imports="ocpp.v16, websockets"
	pins="ocpp==2.1.0 websockets==15.0.1 jsonschema==4.26.0 attrs==26.1.0
jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
typing_extensions==4.16.0"
	;;
selenium)
	# WebDriver for Debian's chromium and chromium-driver: test/console.py
	imports="selenium.webdriver"
	pins="selenium==4.51.0 urllib3==2.8.0 PySocks==1.7.1 trio==0.35.0
trio-websocket==0.12.2 outcome==1.3.0.post0 sniffio==1.3.1
sortedcontainers==2.4.0 attrs==26.1.0 idna==3.21 wsproto==1.3.2 h11==0.16.0
certifi==2026.10.19.post1 typing_extensions==4.16.0 websocket-client==1.9.2"
	;;
prometheus)
	# Prometheus' own text-format parser: test/metrics-parse.py
	imports="prometheus_client.parser"
	pins="prometheus_client==0.26.0"
	;;
*)
	echo "usage: test/py-venv.sh ocpp|selenium|prometheus" >&2
	exit 2
	;;
esac
name=$1
first=${pins%% *}

cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/evc
dir=$cache/venv-$name-${first#*==}

ready()
{
	"$dir/bin/python" -c "import $imports" 2>/dev/null
}

if ready; then
	echo "$dir/bin/python"
	exit 0
fi
command -v python3 >/dev/null 2>&1 || {
	echo "py-venv: no python3" >&2
	exit 1
}
mkdir -p "$cache" || exit 1
# One test file makes it; another one waiting sees it made.
lock=$dir.lock
i=0
while ! mkdir "$lock" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 600 ] && { echo "py-venv: '$lock' is held" >&2; exit 1; }
	sleep 0.5
done
trap 'rm -rf "$lock" "$dir.new"' EXIT
if ! ready; then
	rm -rf "$dir.new"
	# shellcheck disable=SC2086 # the pins are meant to split
	python3 -m venv "$dir.new" >"$lock/log" 2>&1 &&
	"$dir.new/bin/pip" install --disable-pip-version-check -q $pins \
		>>"$lock/log" 2>&1 || {
		echo "py-venv: cannot install $first:" >&2
		tail -n 5 "$lock/log" >&2
		exit 1
	}
	rm -rf "$dir"
	mv "$dir.new" "$dir" || exit 1
fi
ready || { echo "py-venv: '$dir' does not import $imports" >&2; exit 1; }
echo "$dir/bin/python"
