#!/usr/bin/env bash
# t0000-basics.sh: the multicall binary itself: role list, version, dispatch, usage and bad flags.
. "$(dirname "$0")/lib.sh"

roles="central cp driver auth topics broker status fleet ocpp cps web audit"

test_expect_success 'evc alone lists every role and exits 0' '
	"$EVC" >out 2>err &&
	test ! -s err &&
	for r in $roles; do
		grep -qE "^  $r +[a-z]" out || { echo "missing role: $r"; return 1; }
	done
'

test_expect_success 'evc --help and evc -h list the roles too' '
	"$EVC" >expect &&
	"$EVC" --help >out-help &&
	"$EVC" -h >out-h &&
	cmp expect out-help &&
	cmp expect out-h
'

test_expect_success 'evc --version prints evc X.Y.Z, the Makefile version' '
	"$EVC" --version >out 2>err &&
	test ! -s err &&
	grep -qxE "evc [0-9]+\.[0-9]+\.[0-9]+" out &&
	version=$(sed -n "s/^VERSION *= *//p" "$TEST_TOP/Makefile") &&
	test "$(cat out)" = "evc $version"
'

test_expect_success 'an unknown role is a usage error (2) naming it' '
	test_expect_code 2 "$EVC" nope >out 2>err &&
	test ! -s out &&
	grep -qxF "evc: unknown command '\''nope'\''" err
'

test_expect_success 'an unknown option before any role is a usage error' '
	test_expect_code 2 "$EVC" --no-such-flag >out 2>err &&
	test ! -s out &&
	grep -qF -- "--no-such-flag" err
'

test_expect_success 'the link evc-topics behaves as evc topics' '
	ln -s "$EVC" evc-topics &&
	"$EVC" topics -h >expect &&
	./evc-topics -h >out &&
	cmp expect out
'

test_expect_success 'a link named after the role (topics) runs it too' '
	ln -s "$EVC" topics &&
	"$EVC" topics -h >expect &&
	./topics -h >out &&
	cmp expect out
'

test_expect_success 'the links built beside evc point to it' '
	dir=$(dirname "$EVC") &&
	for r in $roles; do
		test -x "$dir/evc-$r" || { echo "no link $dir/evc-$r"; return 1; }
		"$EVC" $r -h >expect &&
		"$dir/evc-$r" -h >out &&
		cmp expect out || return 1
	done
'

for role in $roles; do
	test_expect_success "evc $role -h prints its usage and exits 0" '
		"$EVC" $role -h >out 2>err &&
		test ! -s err &&
		head -n 1 out | grep -qE "^usage: evc $role( |\$)"
	'

	test_expect_success "evc-$role --help prints the same usage" '
		ln -sf "$EVC" evc-$role &&
		"$EVC" $role -h >expect &&
		./evc-$role --help >out &&
		cmp expect out
	'

	test_expect_success "evc $role with a bad long option exits 2 naming it" '
		test_expect_code 2 "$EVC" $role --no-such-flag >out 2>err &&
		test ! -s out &&
		grep -qF -- "--no-such-flag" err &&
		grep -q "^evc $role: " err
	'

	test_expect_success "evc $role with a bad short option exits 2 naming it" '
		test_expect_code 2 "$EVC" $role -Q >out 2>err &&
		test ! -s out &&
		grep -qF -- "-Q" err
	'
done
