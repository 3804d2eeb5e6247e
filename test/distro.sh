#!/usr/bin/env bash
# distro.sh: builds and tests evc in a Debian 13 (trixie) root made with mmdebstrap: the -Werror build, the unit tests, the suite, the demo.
#
# usage: test/distro.sh [-k] [-r] [FILE...]     (`make distro-check`)
#   FILE  a test file to run there: test/t2000-e2e.sh, or t2000 for short;
#         default every test/t*.sh. The unit tests always run.
#   -k    keep the run's directory: what the run changed in the root, and
#         the suite's own directory (EVC_TEST_KEEP=1)
#   -r    make the root again even if the cached one is current (Debian's
#         updates reach it only so)
#
# As root. The root is made by mmdebstrap (variant minbase) from the
# Debian archive this machine's apt uses, read from its sources with
# their suites renamed (trixie, trixie-updates, trixie-security), with
# every package test/deps.sh installs on a fresh machine, and dpkg-dev,
# lintian, man-db and systemd (make deb, t0310's checks, t0400's and
# t0300's). It is cached in ~/.cache/evc/trixie-root (XDG_CACHE_HOME)
# and made again when that list, the suites or the archive change, or
# with -r; `rm -rf ~/.cache/evc/trixie-root*` forgets it. A run never
# changes it: it works on an overlay that is thrown away at the end.
#
# A run has a mount and a PID namespace of its own (unshare): the
# overlay, with /proc, /sys, /dev and /run, is mounted there, the tree
# is copied in (test/tree.sh), and in a chroot to it test/deps.sh must
# find nothing missing, make must build evc and the unit tests (-Werror
# always), test/run.sh runs the unit tests and the FILEs and
# test/demo.sh the demo. The network namespaces of test/netns.sh (t3000)
# are made inside, where /run is the root's own. Apache Kafka's jars are
# those test/kafka.sh caches on this machine (fetched first if need be),
# bound read-only into the root (EVC_KAFKA_JARS): the same bytes serve
# both releases, so a run downloads nothing, while the root still has
# the JDK and Maven a fresh machine would get. EVC_KAFKA_VERSION and the
# suite's EVC_TEST_* settings are passed in; so is
# EVC_TEST_DEB_INSTALL=1, which lets t0310 install the package there.
#
# The run's mounts and processes end with its namespaces, however it
# ends (finished, failed, SIGINT or SIGTERM); then its directory is
# removed. The suite's "N passed, N failed, N skipped" line is followed
# by "trixie: N passed, N failed, N skipped", the suite's counts and
# those of the steps around it (deps, build, demo); the exit status is
# 0 when nothing failed.

set -u

SUITE=trixie
RELEASE="Debian 13"
VARIANT=minbase
EXTRA_PACKAGES="dpkg-dev lintian man-db systemd"
JARS_IN_ROOT=/var/cache/evc/kafka

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/evc
base=$cache/$SUITE-root

say() { echo "distro: $*" >&2; }

# wait_child PID: waits for a child whatever signals arrive meanwhile
# (their traps run, then the wait goes on); returns its exit status.
wait_child()
{
	local rc

	wait "$1"
	rc=$?
	while kill -0 "$1" 2>/dev/null; do
		wait "$1"
		rc=$?
	done
	return $rc
}

# --- on this machine: the root, cached ---------------------------------------

# The lines of the archive apt uses here, as mmdebstrap takes them, for
# $SUITE: the suites of this release (CODENAME, -updates, -security)
# renamed, main only. deb822 .sources files and one-line .list files.
archive()
{
	local codename files=() f

	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	[ -n "$codename" ] && [ ${#files[@]} -gt 0 ] || return 1
	awk -v host="$codename" -v suite="$SUITE" '
	function emit(uri, su,    to, line) {
		if (su == host) to = suite
		else if (su == host "-updates") to = suite "-updates"
		else if (su == host "-security") to = suite "-security"
		else return
		sub(/\/+$/, "", uri)
		line = "deb " uri " " to " main"
		if (!(line in seen)) { seen[line] = 1; print line }
	}
	function flush(    u, s, i, j, nu, ns) {
		if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
			nu = split(uris, u); ns = split(suites, s)
			for (i = 1; i <= nu; i++)
				for (j = 1; j <= ns; j++)
					emit(u[i], s[j])
		}
		types = uris = suites = enabled = ""
	}
	FNR == 1 { flush(); deb822 = FILENAME ~ /\.sources$/ }
	/^[ \t]*#/ { next }
	!deb822 {
		sub(/\[[^]]*\]/, "")
		if ($1 == "deb") emit($2, $3)
		next
	}
	/^[ \t]*$/ { flush(); next }
	{ v = $0; sub(/^[^:]*:[ \t]*/, "", v) }
	/^Types:/ { types = v }
	/^URIs:/ { uris = v }
	/^Suites:/ { suites = v }
	/^Enabled:/ { enabled = v }
	END { flush() }' "${files[@]}" | grep .
}

# The packages of the root, one a line, sorted.
packages()
{
	{ "$top/test/deps.sh" --list && printf '%s\n' $EXTRA_PACKAGES; } |
		sort -u
}

# What the root is made of: when it changes, the root is made again.
recipe()
{
	local lines pkgs

	lines=$(archive) ||
		{ say "no Debian archive for '$SUITE' found in apt's sources"; return 1; }
	pkgs=$(packages) || return 1
	printf 'suite %s\nvariant %s\n%s\n%s\n' "$SUITE" "$VARIANT" "$lines" "$pkgs"
}

# Does anything mount on or under directory $1? (then it is not removed)
mounted_under()
{
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { found = 1 }
		END { exit !found }' /proc/self/mountinfo
}

# Removes directory $1 unless something is mounted in it; never
# crosses into another file system.
remove_dir()
{
	[ -e "$1" ] || return 0
	if mounted_under "$1"; then
		say "not removing $1: something is still mounted there"
		return 1
	fi
	rm -rf --one-file-system "$1"
}

# mmdebstrap as root: installs it first if need be, as test/deps.sh does.
need_mmdebstrap()
{
	command -v mmdebstrap >/dev/null && return 0
	command -v apt-get >/dev/null || { say "mmdebstrap is missing"; return 1; }
	say "installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap \
		>"$cache/mmdebstrap-install.log" 2>&1 ||
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap
	} >>"$cache/mmdebstrap-install.log" 2>&1 ||
	{
		tail -n 20 "$cache/mmdebstrap-install.log" >&2
		say "cannot install mmdebstrap"
		return 1
	}
}

# make_root RECIPE: mmdebstrap into a new directory (in a mount
# namespace of its own, so that nothing it mounts can outlive it), then,
# once no other run uses the old root (the lock on fd 9 taken
# exclusively), in its place. Called without the lock.
make_root()
{
	local new=$base.new.$$ log=$base.log t0=$SECONDS pkgs line srcs=() rc

	need_mmdebstrap || return 1
	pkgs=$(printf '%s\n' "$1" | sed '1,/^variant /d; /^deb /d' | paste -sd, -)
	while IFS= read -r line; do
		srcs+=("$line")
	done < <(printf '%s\n' "$1" | grep '^deb ')
	say "making the $RELEASE root in $base (mmdebstrap, a minute or two)"
	remove_dir "$new" || return 1
	(
		trap - INT QUIT
		exec unshare --mount --propagation private mmdebstrap \
			--variant="$VARIANT" --include="$pkgs" "$SUITE" "$new" \
			"${srcs[@]}"
	) >"$log" 2>&1 &
	wait_child $!
	rc=$?
	if [ $rc != 0 ]; then
		tail -n 30 "$log" >&2
		say "mmdebstrap failed (status $rc); its log: $log"
		remove_dir "$new"
		return 1
	fi
	if ! flock -w 1800 9; then
		say "another run kept the old root busy for 30 minutes"
		remove_dir "$new"
		return 1
	fi
	if current "$1"; then
		remove_dir "$new"
	else
		remove_dir "$base" && mv "$new" "$base" &&
			printf '%s\n' "$1" >"$base.recipe" || return 1
		say "made the root in $((SECONDS - t0)) s ($(du -sh "$base" | cut -f 1))"
	fi
	flock -s 9
}

# Is the cached root made from RECIPE?
current()
{
	[ -d "$base/usr" ] && [ -f "$base.recipe" ] &&
		[ "$(cat "$base.recipe")" = "$1" ]
}

# The root, current, made if need be. The lock on fd 9, held shared
# until the run ends, keeps another run from replacing it meanwhile.
ensure_root()
{
	local r

	r=$(recipe) || return 1
	mkdir -p "$cache" && exec 9>>"$base.lock" || return 1
	flock -w 1800 -s 9 || { say "the cached root stays locked"; return 1; }
	[ "$refresh" = 0 ] && current "$r" && return 0
	flock -u 9
	make_root "$r"
}

# --- on this machine: the run -------------------------------------------------

# Test file FILE, or tNNNN for short, as a path from the top of the tree.
test_file()
{
	local f=${1#./} m

	case $f in
	test/t[0-9]*.sh) [ -f "$top/$f" ] && { echo "$f"; return 0; } ;;
	esac
	f=${f##*/}
	m=$(cd "$top" && ls test/"${f%.sh}"*.sh 2>/dev/null)
	if [ -n "$m" ] && [ "$(echo "$m" | wc -l)" = 1 ]; then
		echo "$m"
		return 0
	fi
	say "no test file '$1' (test/tNNNN-NAME.sh)"
	return 1
}

# The jars of the Kafka the suite runs on, from this machine's cache.
kafka_jars()
{
	if [ -n "${EVC_KAFKA_JARS:-}" ]; then
		echo "$EVC_KAFKA_JARS"
		return 0
	fi
	"$top/test/kafka.sh" jars
}

usage()
{
	echo "usage: test/distro.sh [-k] [-r] [FILE...]"
	echo "  FILE  a test file (test/t2000-e2e.sh or t2000); default all"
	echo "  -k    keep the run's directory"
	echo "  -r    make the $RELEASE root again"
}

# The last line, when the run could not even start.
no_run()
{
	echo "not ok - $RELEASE root: $1"
	echo "$SUITE: 0 passed, 1 failed, 0 skipped"
	exit 1
}

host_main()
{
	local keep=0 opt files=() f work jars= pid rc

	refresh=0
	while getopts hkr opt; do
		case $opt in
		h) usage; exit 0 ;;
		k) keep=1 ;;
		r) refresh=1 ;;
		*) usage >&2; exit 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	for f in "$@"; do
		f=$(test_file "$f") || exit 2
		files+=("$f")
	done
	[ "$(id -u)" = 0 ] || no_run "needs root (mounts, chroot, network namespaces)"
	for f in unshare chroot flock mount; do
		command -v $f >/dev/null || no_run "needs $f (util-linux)"
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
		no_run "needs overlayfs in the kernel"
	ensure_root || no_run "cannot make the root (see above)"
	jars=$(kafka_jars 2>"$base.jars.log") ||
		say "no Kafka jars here: the root's own Maven fetches them ($(tail -n 1 "$base.jars.log"))"

	work=$(mktemp -d "${TMPDIR:-/tmp}/evc-distro.XXXXXX") || exit 2
	mkdir "$work/upper" "$work/ovl" "$work/root" || exit 2
	export DISTRO_WORK=$work DISTRO_LOWER=$base DISTRO_JARS=$jars DISTRO_KEEP=$keep
	# Ctrl-C reaches every process of the run from the terminal; a
	# SIGTERM for this script alone is passed on.
	trap : INT
	trap 'kill -s TERM "$(ns_init "$pid")" 2>/dev/null' TERM
	(
		trap - INT QUIT
		exec unshare --mount --pid --fork --mount-proc --kill-child \
			--propagation private "$top/test/distro.sh" --in-ns "${files[@]}"
	) &
	pid=$!
	wait_child "$pid"
	rc=$?
	if [ "$keep" = 1 ]; then
		say "kept $work (upper: what the run changed in the root)"
	else
		remove_dir "$work"
	fi
	exit $rc
}

# The PID of the first process in the namespaces of unshare $1.
ns_init()
{
	cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{ print $1 }'
}

# --- in the namespaces: the mounts, then the chroot ----------------------------

# The root's /dev: the usual nodes of this machine's, its own pseudo
# terminals and shared memory.
mount_dev()
{
	local d=$1/dev n

	mount -t tmpfs -o mode=755,nosuid,noexec tmpfs "$d" || return 1
	for n in null zero full random urandom tty; do
		touch "$d/$n" && mount --bind "/dev/$n" "$d/$n" || return 1
	done
	mkdir -p "$d/pts" "$d/shm" &&
	mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$d/pts" &&
	ln -s pts/ptmx "$d/ptmx" &&
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/shm" &&
	ln -s /proc/self/fd "$d/fd" &&
	ln -s /proc/self/fd/0 "$d/stdin" &&
	ln -s /proc/self/fd/1 "$d/stdout" &&
	ln -s /proc/self/fd/2 "$d/stderr"
}

mount_root()
{
	local r=$DISTRO_WORK/root

	mount -t overlay overlay -o "lowerdir=$DISTRO_LOWER,upperdir=$DISTRO_WORK/upper,workdir=$DISTRO_WORK/ovl" "$r" &&
	mount -t proc -o nosuid,nodev,noexec proc "$r/proc" &&
	mount -t sysfs -o nosuid,nodev,noexec sysfs "$r/sys" &&
	mount_dev "$r" &&
	mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$r/run" || return 1
	[ -n "$DISTRO_JARS" ] || return 0
	mkdir -p "$r$JARS_IN_ROOT" &&
	mount --bind "$DISTRO_JARS" "$r$JARS_IN_ROOT" &&
	mount -o remount,bind,ro "$r$JARS_IN_ROOT"
}

# The environment of the chroot: nothing of this machine's but the
# settings of the suite.
root_env()
{
	local v

	echo PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	echo HOME=/root LANG=C.UTF-8 TERM=dumb
	for v in CI EVC_KAFKA_VERSION EVC_TEST_TIMEOUT EVC_TEST_REQUIRE_KAFKA \
		EVC_TEST_REQUIRE_NETNS EVC_TEST_VERBOSE; do
		[ -n "${!v:-}" ] && echo "$v=${!v}"
	done
	[ -n "$DISTRO_JARS" ] && echo "EVC_KAFKA_JARS=$JARS_IN_ROOT"
	[ "$DISTRO_KEEP" = 1 ] && echo EVC_TEST_KEEP=1
	echo EVC_TEST_DEB_INSTALL=1
}

ns_main()
{
	local r=$DISTRO_WORK/root pid env=()

	mount_root || { say "cannot mount the root"; exit 1; }
	cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null
	"$top/test/tree.sh" "$r/root/evc" || exit 1
	mapfile -t env < <(root_env)
	trap 'kill -s INT "$pid" 2>/dev/null' INT
	trap 'kill -s TERM "$pid" 2>/dev/null' TERM
	(
		trap - INT QUIT
		exec chroot "$r" /usr/bin/env -i "${env[@]}" \
			/bin/bash /root/evc/test/distro.sh --in-root "$@" </dev/null
	) &
	pid=$!
	wait_child "$pid"
}

# --- in the chroot: the steps and the suite ----------------------------------

passed=0 failed=0 skipped=0

# step TITLE LOG CMD...: one step around the suite, counted with it; its
# log is shown when it fails.
step()
{
	local title=$1 log=$2

	shift 2
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1))
		echo "ok - $title"
		return 0
	fi
	failed=$((failed + 1))
	echo "not ok - $title"
	tail -n 40 "$log" | sed 's/^/    /'
	return 1
}

# test/deps.sh is quiet: the root has all it would install.
deps_quiet()
{
	test/deps.sh && [ ! -s "$1" ]
}

root_main()
{
	local files=("$@") logs pid totals p f s stop=

	cd /root/evc || exit 2
	logs=$(mktemp -d /tmp/evc-distro.XXXXXX) || exit 2
	echo "# $RELEASE ($(cat /etc/debian_version)), $(gcc --version | head -n 1)," \
		"librdkafka $(pkg-config --modversion rdkafka)," \
		"libcyaml $(pkg-config --modversion libcyaml)," \
		"jansson $(pkg-config --modversion jansson)"
	[ ${#files[@]} -gt 0 ] || files=(test/t[0-9]*.sh)
	step "test/deps.sh finds nothing missing" "$logs/deps" \
		deps_quiet "$logs/deps"
	if step "make: evc and the unit tests build with -Werror" "$logs/make" \
		make -j"$(nproc)" all units; then
		totals=$logs/totals
		trap 'stop=INT; kill -s INT "$pid" 2>/dev/null' INT
		trap 'stop=TERM; kill -s TERM "$pid" 2>/dev/null' TERM
		(
			trap - INT QUIT
			EVC_TEST_TOTALS=$totals exec test/run.sh test/unit/*_test "${files[@]}"
		) &
		pid=$!
		wait_child "$pid"
		if read -r p f s <"$totals" 2>/dev/null; then
			passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
		else
			echo "not ok - test/run.sh ended without totals"
			failed=$((failed + 1))
		fi
		[ -n "$stop" ] ||
			step "make demo: the demo goes as expected" "$logs/demo" test/demo.sh
		trap - INT TERM
	fi
	echo "$SUITE: $passed passed, $failed failed, $skipped skipped"
	case $stop in
	INT) exit 130 ;;
	TERM) exit 143 ;;
	esac
	[ "$failed" = 0 ]
}

case ${1:-} in
--in-ns)
	shift
	ns_main "$@"
	;;
--in-root)
	shift
	root_main "$@"
	;;
*)
	host_main "$@"
	;;
esac
