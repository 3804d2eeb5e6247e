#!/bin/sh
# ocpp-venv.sh: the test bed's independent OCPP charger: a Python virtual environment with PyPI's ocpp, made once and cached.
#
# Prints the path of the environment's python. The first time, creates
# it under the cache (~/.cache/evc/venv-ocpp-VERSION) with pip and the
# pinned versions below; then only checks it. When it cannot (no
# python3, no venv module, no way to PyPI), says why on stderr and
# exits 1: the tests that need the charger are then skipped.

# The ocpp library and what it pulls in, pinned: a release of any of
# them cannot change what the tests see.
pins="ocpp==2.1.0 websockets==15.0.1 jsonschema==4.26.0 attrs==26.1.0
jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
typing_extensions==4.16.0"

cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/evc
dir=${EVC_OCPP_VENV:-$cache/venv-ocpp-2.1.0}

ready()
{
	"$dir/bin/python" -c 'import ocpp.v16, websockets' 2>/dev/null
}

if ready; then
	echo "$dir/bin/python"
	exit 0
fi
command -v python3 >/dev/null 2>&1 || {
	echo "ocpp-venv: no python3" >&2
	exit 1
}
mkdir -p "$cache" || exit 1
# One test file makes it; another one waiting sees it made.
lock=$dir.lock
i=0
while ! mkdir "$lock" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 600 ] && { echo "ocpp-venv: '$lock' is held" >&2; exit 1; }
	sleep 0.5
done
trap 'rm -rf "$lock" "$dir.new"' EXIT
if ! ready; then
	rm -rf "$dir.new"
	# shellcheck disable=SC2086 # the pins are meant to split
	python3 -m venv "$dir.new" >"$lock/log" 2>&1 &&
	"$dir.new/bin/pip" install --disable-pip-version-check -q $pins \
		>>"$lock/log" 2>&1 || {
		echo "ocpp-venv: cannot install the ocpp library:" >&2
		tail -n 5 "$lock/log" >&2
		exit 1
	}
	rm -rf "$dir"
	mv "$dir.new" "$dir" || exit 1
fi
ready || { echo "ocpp-venv: '$dir' does not import ocpp" >&2; exit 1; }
echo "$dir/bin/python"
