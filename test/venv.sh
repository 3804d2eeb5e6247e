#!/bin/sh
# venv.sh: a Python virtual environment of the test bed, with pinned PyPI packages, made once and cached.
#
# usage: venv.sh NAME IMPORTS PIN...
#
# Prints the path of the environment's python. The first time, creates
# it under the cache (~/.cache/evc/venv-NAME) with pip and the pins
# given (name==version, what they pull in pinned too, so that a release
# cannot change what the tests see); then only checks that python can
# import IMPORTS (a comma-separated list, as Python's import takes it).
# When it cannot (no python3, no venv module, no way to PyPI), says why
# on stderr and exits 1: the tests that need it are then skipped.
# (test/ocpp-venv.sh makes the OCPP charger's the same way.)

[ $# -ge 3 ] || { echo "usage: venv.sh NAME IMPORTS PIN..." >&2; exit 2; }
name=$1 imports=$2
shift 2

cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/evc
dir=$cache/venv-$name

ready()
{
	"$dir/bin/python" -c "import $imports" 2>/dev/null
}

if ready; then
	echo "$dir/bin/python"
	exit 0
fi
command -v python3 >/dev/null 2>&1 || {
	echo "venv: no python3" >&2
	exit 1
}
mkdir -p "$cache" || exit 1
# One test file makes it; another one waiting sees it made.
lock=$dir.lock
i=0
while ! mkdir "$lock" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 600 ] && { echo "venv: '$lock' is held" >&2; exit 1; }
	sleep 0.5
done
trap 'rm -rf "$lock" "$dir.new"' EXIT
if ! ready; then
	rm -rf "$dir.new"
	python3 -m venv "$dir.new" >"$lock/log" 2>&1 &&
	"$dir.new/bin/pip" install --disable-pip-version-check -q "$@" \
		>>"$lock/log" 2>&1 || {
		echo "venv: cannot install $*:" >&2
		tail -n 5 "$lock/log" >&2
		exit 1
	}
	rm -rf "$dir"
	mv "$dir.new" "$dir" || exit 1
fi
ready || { echo "venv: '$dir' does not import $imports" >&2; exit 1; }
echo "$dir/bin/python"
