#!/usr/bin/env bash
# t1700-tty.sh: the terminal interfaces in tmux: the driver's line editing and history, columns of accented and wide locations on the panel and in evc status.
. "$(dirname "$0")/lib.sh"

need_command tmux python3
need_kafka

# One tmux server of the file's own (under bg, so it is stopped with the
# file), its terminals UTF-8 whatever this machine's locale; what runs in
# them has none (LC_ALL=C), as a daemon may have none.
sock=$TEST_DIR/tmux.sock
tm() { tmux -S "$sock" "$@"; }

# term NAME COMMAND: COMMAND in a new terminal of 100 x 30, in $TEST_DIR.
term()
{
	tm new-session -d -s "$1" -x 100 -y 30 -c "$TEST_DIR" \
		"env LC_ALL=C HOME=$TEST_DIR EDITRC=/dev/null $2"
}

# screen NAME: what terminal NAME shows, one line per row.
screen() { tm capture-pane -p -t "$1"; }
screen_has() { screen "$1" | grep -qxF -- "$2"; }
# The last row that is not empty: where the prompt is.
last_row() { screen "$1" | sed '/^$/d' | tail -n 1; }

type_in() { tm send-keys -t "$1" -l "$2"; }
press() { local t=$1; shift; tm send-keys -t "$t" "$@"; }

# requests DRIVER CP: how many auth_requests DRIVER sent for CP.
requests()
{
	kc -C -t "$(topic auth_request)" -o beginning -e -q -f '%s\n' 2>/dev/null |
		grep -F "\"driver\":\"$1\"" | grep -cF "\"cp\":\"$2\""
}

# cols REGEX FILE: for each line of FILE that starts with a CP id, the
# display column at which REGEX first matches, by Python's Unicode
# tables (an oracle apart from the C library's wcwidth that evc uses).
cols()
{
	python3 - "$1" "$2" <<-'EOF'
	import re, sys, unicodedata

	def width(s):
	    return sum(0 if unicodedata.combining(c) or
	               unicodedata.category(c) in ("Mn", "Me", "Cf") else
	               2 if unicodedata.east_asian_width(c) in "WF" else 1
	               for c in s)

	for line in open(sys.argv[2], encoding="utf-8"):
	    if re.match(r"CP[0-9]", line):
	        m = re.search(sys.argv[1], line)
	        print(width(line[:m.start()]) if m else "none")
	EOF
}

# aligned REGEX FILE N: REGEX is at one column on N rows of CPs.
aligned()
{
	cols "$1" "$2" >"$2.cols" &&
	test "$(wc -l <"$2.cols")" = "$3" &&
	test "$(sort -u "$2.cols" | wc -l)" = 1 &&
	! grep -q none "$2.cols"
}

# A driver that no Central answers, for lines that come while one types.
test_config quiet </dev/null
test_config <<-EOF
central:
  catalogue: cps.yaml
EOF

test_expect_success 'Central serves accented, combining, wide and emoji locations, at a terminal' '
	cat >cps.yaml <<-EOF &&
	cps:
	  - {id: CP001, location: "Calle Mayor 1", price: 0.35}
	  - {id: CP002, location: "Calle de Col\u00f3n 40", price: 0.30}
	  - {id: CP003, location: "Plaza de Colo\u0301n", price: 0.38}
	  - {id: CP004, location: "\u6771\u4eac\u99c5\u516b\u91cd\u6d32\u53e3", price: 0.42}
	  - {id: CP005, location: "\uc11c\uc6b8\uc5ed \uad11\uc7a5 \U0001F50C", price: 0.40}
	  - {id: CP006, location: "\u5317\u4eac\u5e02\u671d\u9633\u533a\u5efa\u56fd\u8def\u516b\u5341\u516b\u53f7\u9662", price: 0.33}
	EOF
	bg tmux env LC_ALL=C.UTF-8 tmux -D -u -f /dev/null -S "$sock" &&
	wait_for 10 "test -S \"$sock\"" &&
	tm set-option -g status off &&
	term central "\"$EVC\" central -c \"$EVC_CONFIG\" 2>central.err; echo \$? >central.rc" &&
	wait_for 20 "screen central | grep -q \"^CP006 \""
'

test_expect_success 'the panel keeps every column in place after accented, combining and wide locations' '
	screen central >panel &&
	grep -qF "Calle de Colón 40" panel &&
	grep -qF "$(printf "Plaza de Colo\314\201n")" panel &&
	grep -qF "東京駅八重洲口" panel &&
	grep -qF "서울역 광장 🔌" panel &&
	aligned "DISCONNECTED" panel 6 &&
	aligned " 0\\.[0-9][0-9] " panel 6
'

test_expect_success 'the panel cuts a location too wide at 24 columns, between two characters' '
	grep "^CP006 " panel >row &&
	grep -qF "北京市朝阳区建国路八十八 " row &&
	! grep -qF "号" row
'

# Central publishes the catalogue's CPs in cp-state as it starts: evc
# status may come before them.
test_expect_success 'evc status keeps its columns in place after the same locations' '
	wait_for 10 "\"\$EVC\" status -c \"\$EVC_CONFIG\" >status.out 2>status.err &&
		test \$(grep -c \"^CP00[1-6] \" status.out) = 6" &&
	grep -qF "北京市朝阳区建国路八十八号院" status.out &&
	aligned " 0\\.[0-9][0-9] " status.out 6 &&
	aligned "[0-9]+s ago" status.out 6
'

test_expect_success 'driver prompt: a command typed at a terminal reaches Central' '
	term t1 "\"$EVC\" driver -c \"$EVC_CONFIG\" T1; echo \$? >t1.rc" &&
	wait_for 15 "screen_has t1 \"evc T1>\"" &&
	type_in t1 "charge CP002" && press t1 Enter &&
	wait_for 10 "screen_has t1 \"denied: CP002 is not connected\"" &&
	test "$(requests T1 CP002)" = 1
'

test_expect_success 'driver prompt: the Up arrow recalls the last command, Enter sends it again' '
	press t1 Up &&
	wait_for 5 "test \"\$(last_row t1)\" = \"evc T1> charge CP002\"" &&
	press t1 Enter &&
	wait_for 10 "test \"\$(requests T1 CP002)\" = 2" &&
	wait_for 5 "test \$(screen t1 | grep -cxF \"denied: CP002 is not connected\") = 2"
'

test_expect_success 'driver prompt: emacs keys edit the line (Backspace, ^A)' '
	type_in t1 "harge CP0X" && press t1 BSpace && type_in t1 "04" &&
	press t1 C-a && type_in t1 "c" &&
	wait_for 5 "test \"\$(last_row t1)\" = \"evc T1> charge CP004\"" &&
	press t1 Enter &&
	wait_for 10 "test \"\$(requests T1 CP004)\" = 1"
'

test_expect_success 'driver prompt: quit keeps the history in $XDG_STATE_HOME/evc/driver_history' '
	type_in t1 quit && press t1 Enter &&
	wait_for 10 "test -s t1.rc" &&
	test "$(cat t1.rc)" = 0 &&
	grep -qxF "charge\\040CP004" .state/evc/driver_history &&
	grep -qxF "charge\\040CP002" .state/evc/driver_history
'

test_expect_success 'driver prompt: the next run recalls it; ^D leaves the terminal as it was' '
	term t2 "stty -g >t2.before; \"$EVC\" driver -c \"$EVC_CONFIG\" T1; echo \$? >t2.rc; stty -g >t2.after" &&
	wait_for 15 "screen_has t2 \"evc T1>\"" &&
	press t2 Up Up &&
	wait_for 5 "test \"\$(last_row t2)\" = \"evc T1> charge CP004\"" &&
	press t2 Enter &&
	wait_for 10 "test \"\$(requests T1 CP004)\" = 2" &&
	wait_for 5 "test \"\$(last_row t2)\" = \"evc T1>\"" &&
	press t2 C-d &&
	wait_for 10 "test -s t2.after" &&
	test "$(cat t2.rc)" = 0 &&
	cmp t2.before t2.after
'

test_expect_success 'driver prompt: a line that comes while one types goes above what is typed' '
	term q1 "\"$EVC\" driver -c \"$TEST_DIR/quiet.yaml\" -t 2 Q1; echo \$? >q1.rc" &&
	wait_for 15 "screen_has q1 \"evc Q1>\"" &&
	type_in q1 "charge CP001" && press q1 Enter &&
	wait_for 5 "screen_has q1 \"asking Central to charge at CP001\"" &&
	type_in q1 "sta" &&
	wait_for 10 "screen_has q1 \"evc driver: no answer from Central for CP001 within 2 s\"" &&
	test "$(last_row q1)" = "evc Q1> sta" &&
	test "$(screen q1 | grep -c "evc Q1>")" = 2 &&
	type_in q1 "tus" && press q1 Enter &&
	wait_for 5 "screen_has q1 \"no session\"" &&
	screen q1 >q1.screen &&
	! grep "evc Q1> .*evc driver" q1.screen &&
	type_in q1 quit && press q1 Enter &&
	wait_for 10 "test -s q1.rc" &&
	test "$(cat q1.rc)" = 0
'

test_expect_success 'TERM=dumb: the prompt of a plain terminal, no history file' '
	term d1 "env TERM=dumb XDG_STATE_HOME=$TEST_DIR/dumb \"$EVC\" driver -c \"$EVC_CONFIG\" D1; echo \$? >d1.rc" &&
	wait_for 15 "screen_has d1 \"evc D1>\"" &&
	type_in d1 status && press d1 Enter &&
	wait_for 5 "screen_has d1 \"no session\"" &&
	type_in d1 quit && press d1 Enter &&
	wait_for 10 "test -s d1.rc" &&
	test "$(cat d1.rc)" = 0 &&
	test ! -e dumb/evc/driver_history
'

test_expect_success 'piped commands: no line editing and no history file, as before' '
	echo status | XDG_STATE_HOME=$TEST_DIR/pipe "$EVC" driver -c "$EVC_CONFIG" P1 >out 2>err &&
	echo "no session" >expect &&
	cmp expect out &&
	test ! -e pipe/evc/driver_history
'

test_expect_success 'Central quits on q and gives the terminal back' '
	type_in central q &&
	wait_for 10 "test -s central.rc" &&
	test "$(cat central.rc)" = 0 &&
	bg_kill tmux
'
