#!/usr/bin/env bash
# t0400-manpages.sh: each role's usage (-h) is the SYNOPSIS of its man page, and evc's own is evc(1)'s.
. "$(dirname "$0")/lib.sh"

# The usage block of `evc [ROLE] -h`: the "usage: " line and the lines
# indented under it, one synopsis line each, blanks squeezed.
usage_lines()
{
	"$EVC" "$@" -h | awk '
		/^usage: / { on = 1; sub(/^usage: /, ""); print; next }
		on && /^       [^ ]/ { sub(/^ +/, ""); print; next }
		{ on = 0 }' | tr -s ' \t' '  ' | sed 's/ *$//'
}

# The SYNOPSIS of a man(7) page as text, read from the roff source so
# that no formatter is needed: .nf/.fi blocks line by line, filled text
# and font macros (.B, .I, .BI, .RB, ...) up to each .br. Any other
# request is printed as "UNKNOWN .XX" so that the comparison fails.
synopsis_lines()
{
	awk '
	function unescape(s) {
		gsub(/\\f(\[[^]]*\]|\([A-Za-z0-9][A-Za-z0-9]|.)/, "", s)
		gsub(/\\\(em/, "--", s); gsub(/\\\(en/, "-", s)
		gsub(/\\\(aq/, "\047", s); gsub(/\\\(dq/, "\"", s)
		gsub(/\\[-]/, "-", s); gsub(/\\[&|^]/, "", s)
		gsub(/\\[~ ]/, " ", s); gsub(/\\e/, "\\", s)
		return s
	}
	# Arguments of a macro line: words, or "quoted strings".
	function args(s, a,   n, w) {
		n = 0
		while (s != "") {
			sub(/^[ \t]+/, "", s)
			if (s == "") break
			if (substr(s, 1, 1) == "\"") {
				s = substr(s, 2)
				w = ""
				while (s != "" && !(substr(s, 1, 1) == "\"" && substr(s, 2, 1) != "\"")) {
					if (substr(s, 1, 2) == "\"\"") { w = w "\""; s = substr(s, 3) }
					else { w = w substr(s, 1, 1); s = substr(s, 2) }
				}
				s = substr(s, 2)
			} else {
				match(s, /^[^ \t]+/)
				w = substr(s, 1, RLENGTH)
				s = substr(s, RLENGTH + 1)
			}
			a[++n] = w
		}
		return n
	}
	function add(text, joined) {
		if (nofill) { print unescape(text); return }
		line = line == "" || joined ? line text : line " " text
	}
	function flush() {
		if (line != "") print unescape(line)
		line = ""
	}
	/^\.SH/ { if (in_syn) { flush(); exit } }
	/^\.SH +"?SYNOPSIS"?[ \t]*$/ { in_syn = 1; next }
	!in_syn || /^\.\\"/ || /^\.[ \t]*$/ { next }
	/^\.nf/ { flush(); nofill = 1; next }
	/^\.fi/ { nofill = 0; next }
	/^\.(br|sp|PP|P|LP|IP)([ \t]|$)/ { flush(); next }
	/^\.(B|I|R|SM|SB)([ \t]|$)/ {
		n = args(substr($0, index($0, $1) + length($1)), a)
		t = a[1]; for (i = 2; i <= n; i++) t = t " " a[i]
		add(t); next
	}
	/^\.(BI|IB|BR|RB|IR|RI)([ \t]|$)/ {
		n = args(substr($0, index($0, $1) + length($1)), a)
		t = ""; for (i = 1; i <= n; i++) t = t a[i]
		add(t); next
	}
	/^\./ { print "UNKNOWN " $1; next }
	{
		cont = sub(/\\c$/, "")
		add($0, joined); joined = cont
	}
	END { flush() }' "$1" | tr -s ' \t' '  ' | sed 's/^ //; s/ *$//'
}

# The SYNOPSIS as man(1) renders it, when man is here.
rendered_lines()
{
	LC_ALL=C MANWIDTH=250 man -l "$1" 2>/dev/null | col -bx |
		sed -n '/^SYNOPSIS/,/^[A-Z]/{/^ /p}' | tr -s ' \t' '  ' |
		sed 's/^ //; s/ *$//'
}

roles=$("$EVC" | sed -n '/^roles:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p')

test_expect_success 'evc lists its roles' '
	test -n "$roles"
'

# compare NAME: $NAME.usage against $NAME.synopsis, and a rendering by
# man(1) against the synopsis when man can render it.
compare()
{
	test -s "$1.usage" || { echo "no usage: lines in the -h output"; return 1; }
	test -s "$1.synopsis" || { echo "no SYNOPSIS in $2"; return 1; }
	diff -u "$1.usage" "$1.synopsis" || return 1
	command -v man >/dev/null && command -v col >/dev/null || return 0
	rendered_lines "$2" >"$1.rendered" &&
	diff -u "$1.synopsis" "$1.rendered"
}

test_expect_success 'evc -h is the SYNOPSIS of evc(1)' '
	usage_lines >evc.usage &&
	synopsis_lines "$TEST_TOP/man/evc.1" >evc.synopsis &&
	compare evc "$TEST_TOP/man/evc.1"
'

for role in $roles; do
	test_expect_success "evc $role -h is the SYNOPSIS of evc-$role(1)" '
		page=$TEST_TOP/man/evc-$role.1 &&
		{ test -f "$page" || { echo "no page $page"; false; }; } &&
		usage_lines $role >$role.usage &&
		synopsis_lines "$page" >$role.synopsis &&
		compare $role "$page"
	'
done

test_expect_success 'every role page in man/ belongs to a role evc knows' '
	for page in "$TEST_TOP"/man/evc-*.1; do
		r=${page##*/evc-} r=${r%.1}
		case " $(echo $roles) " in
		*" $r "*) ;;
		*) echo "man/evc-$r.1: evc has no role $r"; return 1 ;;
		esac
	done
'

test_expect_success 'the SYNOPSIS reader handles font macros, quotes and escapes' '
	cat >t.1 <<-\EOF &&
	.TH T 1
	.SH NAME
	t \- a test page
	.SH SYNOPSIS
	.B evc
	.I ROLE
	.RI [ ARGS ...]
	.br
	.BI evc- ROLE
	.RB [ \-h | \-\-help ]
	.B "two words"
	.br
	.nf
	evc x [\-v] \fB\-c\fP \fIFILE\fR
	.fi
	.SH DESCRIPTION
	Nothing.
	EOF
	cat >expect <<-\EOF &&
	evc ROLE [ARGS...]
	evc-ROLE [-h|--help] two words
	evc x [-v] -c FILE
	EOF
	synopsis_lines t.1 >out &&
	diff -u expect out
'

test_expect_success 'an unknown request in a SYNOPSIS is reported, not dropped' '
	printf ".TH T 1\n.SH SYNOPSIS\n.SY evc\n.OP \\\\-v\n.YS\n.SH DESCRIPTION\n" >u.1 &&
	synopsis_lines u.1 >out &&
	grep -qx "UNKNOWN .SY" out
'
