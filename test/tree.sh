#!/usr/bin/env bash
# tree.sh: copies evc's source tree as it stands in the working tree, without what make builds, into a directory.
#
# usage: test/tree.sh DEST
#
# In a git checkout, the files git tracks or would track (.gitignore
# leaves out the build products, test output and fuzzing artefacts), as
# they are on disk, edits not yet committed included. Elsewhere (in a
# copy this script made, say), every file but .git, then `make clean`
# in DEST. DEST is made if need be; what it holds already stays.

set -u

if [ $# != 1 ] || [ -z "$1" ]; then
	echo "usage: test/tree.sh DEST" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" && dest=$(cd "$1" && pwd) || exit 2

# The files of the checkout that exist (a file deleted but not yet
# committed is still listed by git).
listed()
{
	local f

	git -C "$top" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$top/$f" ] || [ -L "$top/$f" ] || continue
			printf '%s\0' "$f"
		done
}

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	listed | tar -C "$top" --null -T - -cf - | tar -C "$dest" -xf - ||
		{ echo "tree: cannot copy $top to $dest" >&2; exit 1; }
else
	tar -C "$top" --exclude=./.git -cf - . | tar -C "$dest" -xf - &&
		make -s -C "$dest" clean ||
		{ echo "tree: cannot copy $top to $dest" >&2; exit 1; }
fi
