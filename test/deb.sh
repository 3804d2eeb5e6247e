#!/usr/bin/env bash
# deb.sh: builds evc_VERSION_ARCH.deb for the Debian release it runs on, from a staging tree made by make install.
#
# usage: test/deb.sh [-o DIR]     (`make deb`)
#   -o DIR  where the package goes (default: the top of the tree)
#
# The tree is copied (test/tree.sh) and built there with Debian's
# hardening flags (dpkg-buildflags), so the working tree's own build is
# left alone. `make install DESTDIR=... PREFIX=/usr` lays out the files;
# the binary is stripped, the manual pages and the changelog compressed,
# the example configuration in /etc/evc declared as conffiles, and the
# run-time dependencies computed by dpkg-shlibdeps from the libraries
# the binary links. Units go where the release keeps them:
# /lib/systemd/system on Debian 12, /usr/lib/systemd/system after.
#
# Needs dpkg-dev. Maintainer: DEBFULLNAME and DEBEMAIL, as Debian's
# tools read them. SOURCE_DATE_EPOCH, else the last commit's time,
# dates the changelog and every file, so that two builds of one tree
# give the same package.

set -u

top=$(cd "$(dirname "$0")/.." && pwd)

usage()
{
	echo "usage: test/deb.sh [-o DIR]"
}

out=$top
while getopts ho: opt; do
	case $opt in
	h) usage; exit 0 ;;
	o) out=$OPTARG ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 0 ] || { usage >&2; exit 2; }

die()
{
	echo "deb: $*" >&2
	exit 1
}

for t in dpkg-deb dpkg-shlibdeps dpkg-buildflags make; do
	command -v "$t" >/dev/null ||
		{ echo "deb: needs $t (apt-get install dpkg-dev make)" >&2; exit 2; }
done
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2

version=$(sed -n 's/^VERSION = *//p' "$top/Makefile")
[ -n "$version" ] || die "no VERSION in $top/Makefile"
arch=$(dpkg --print-architecture) || exit 1
deb=$out/evc_${version}_$arch.deb
maint="${DEBFULLNAME:-The evc developers} <${DEBEMAIL:-evc@example.org}>"
: "${SOURCE_DATE_EPOCH:=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

# Debian 12 and before keep units in /lib, later releases in /usr/lib.
release=$(. /etc/os-release 2>/dev/null && echo "${VERSION_ID:-}")
unitdir=/usr/lib/systemd/system
case $release in
[1-9] | 1[0-2]) unitdir=/lib/systemd/system ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evc-deb.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The staging tree where dpkg-shlibdeps looks for a package's files.
src=$tmp/src pkg=$tmp/pkg stage=$tmp/pkg/debian/evc
doc=$stage/usr/share/doc/evc

# --- build and install ----------------------------------------------------

build()
{
	local cflags ldflags

	export DEB_BUILD_MAINT_OPTIONS=hardening=+all
	cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
	ldflags=$(dpkg-buildflags --get LDFLAGS)
	"$top/test/tree.sh" "$src" &&
	make -s -C "$src" -j"$(nproc)" all CFLAGS="$cflags" LDFLAGS="$ldflags" &&
	make -s -C "$src" install DESTDIR="$stage" PREFIX=/usr UNITDIR="$unitdir"
}

# What Debian's packaging tools would do to the installed files.
tidy()
{
	strip --strip-unneeded --remove-section=.comment \
		--remove-section=.note "$stage/usr/bin/evc" &&
	find "$stage/usr/share/man" -type f -name '*.[1-9]' \
		-exec gzip -9n {} + &&
	copyright >"$doc/copyright" &&
	changelog | gzip -9n >"$doc/changelog.gz" &&
	chmod 644 "$doc/copyright"
}

# --- the package's own files ------------------------------------------------

copyright()
{
	cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: evc
Source: the evc source tree

Files: *
Copyright: $(sed -n 's/^Copyright (c) //p' "$top/LICENSE" | head -n 1)
License: Expat

License: Expat
EOF
	# The licence's text after its copyright line, as a field's lines.
	sed -e '1,/^Copyright/d' "$top/LICENSE" | sed -e '/./,$!d' \
		-e 's/^$/./' -e 's/^/ /'
}

changelog()
{
	cat <<EOF
evc ($version) unstable; urgency=medium

  * Built from the evc source tree for Debian $release.

 -- $maint  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
}

# The dependencies of the binary, from the libraries it links
# (dpkg-shlibdeps wants a debian/control beside it, and the package's
# DEBIAN directory above the binary).
depends()
{
	mkdir -p "$stage/DEBIAN" &&
	printf 'Source: evc\n\nPackage: evc\nArchitecture: any\n' \
		>"$pkg/debian/control" &&
	(cd "$pkg" && dpkg-shlibdeps -O debian/evc/usr/bin/evc) |
		sed -n 's/^shlibs:Depends=//p'
}

# libwebsockets loads its libuv event loop as a plugin, which
# dpkg-shlibdeps cannot see: the package that holds it here.
plugins()
{
	local so pkgname

	so=$(find /usr/lib -name 'libwebsockets-evlib_uv.so*' 2>/dev/null | head -n 1)
	[ -n "$so" ] || { echo "deb: no libwebsockets-evlib_uv.so: is libwebsockets-evlib-uv installed?" >&2; return 1; }
	pkgname=$(dpkg -S "$so" 2>/dev/null | head -n 1 | cut -d: -f1)
	[ -n "$pkgname" ] || { echo "deb: no package holds '$so'" >&2; return 1; }
	echo "$pkgname"
}

control()
{
	cat <<EOF
Package: evc
Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f 1)
Depends: $1
Section: net
Priority: optional
Description: electric-vehicle charging network over Apache Kafka
 evc runs a network of charging points: a Central that keeps the
 catalogue of charging points and authorises drivers, charging points
 that register, take commands and stream telemetry, and drivers that
 ask to charge and receive a ticket. The parts talk to each other only
 through Kafka topics, so they can live on different machines.
 .
 One program, evc, with one role per sub-command (central, cp, driver,
 auth, topics, status, fleet, broker, cps, ocpp: a gateway that makes
 OCPP 1.6J chargers charging points of the network, web: an HTTP API
 and console), also run as evc-ROLE; manual pages, systemd units for
 Central, charging points, drivers, the OCPP gateway and the web
 server, bash completion, and example configurations in /etc/evc.
EOF
}

# systemd reads the units again when they are installed, changed or
# removed; in a chroot or a container without systemd, nothing to do.
maintscript()
{
	cat <<EOF
#!/bin/sh
# $1 of evc: systemd reads its units again.
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
EOF
}

meta()
{
	local deps

	deps=$(depends) && [ -n "$deps" ] ||
		{ echo "deb: dpkg-shlibdeps found no dependencies" >&2; return 1; }
	deps="$deps, $(plugins)" || return 1
	control "$deps" >"$stage/DEBIAN/control" &&
	(cd "$stage" && find etc -type f | sort | sed 's|^|/|') \
		>"$stage/DEBIAN/conffiles" &&
	(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o \
		-type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
		>"$stage/DEBIAN/md5sums" &&
	maintscript postinst >"$stage/DEBIAN/postinst" &&
	maintscript postrm >"$stage/DEBIAN/postrm" &&
	chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm" &&
	chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" \
		"$stage/DEBIAN/md5sums"
}

build || die "the build failed"
tidy || die "cannot lay out the package's files"
meta || die "cannot write the package's control files"
find "$stage" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null ||
	die "dpkg-deb failed"
echo "$deb"
