/* textwidth_test.c: unit tests of lib/textwidth.c: columns of accented, combining, CJK, emoji and broken UTF-8. */
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/textwidth.h"
#include "test/unit/check.h"

#define FFFD "\xef\xbf\xbd"

/* The display width of each string, as a terminal draws it. */
static void test_width(void)
{
	static const struct {
		const char *s;
		int w;
		const char *what;
	} t[] = {
		{ "", 0, "nothing" },
		{ "Calle Mayor 1", 13, "ASCII" },
		{ "Calle de Col\xc3\xb3n", 14, "a precomposed accent (U+00F3)" },
		{ "Calle de Colo\xcc\x81n", 14, "a combining acute accent (U+0301)" },
		{ "Gran V\xc3\xad" "a 19, Bilbao", 19, "Spanish with an accented i" },
		{ "\xe6\x9d\xb1\xe4\xba\xac\xe9\xa7\x85", 6, "CJK: Tokyo station, three wide characters" },
		{ "\xea\xb0\x95\xeb\x82\xa8", 4, "Hangul syllables" },
		{ "\xef\xbc\xa1\xef\xbc\xa2", 4, "fullwidth Latin" },
		{ "\xf0\x9f\x98\x80 ok", 5, "an emoji (U+1F600) is two columns" },
		{ "\xf0\xa0\x80\x80", 2, "a CJK ideograph past the BMP (U+20000)" },
		{ "a\xe2\x80\x8b" "b", 2, "a zero-width space" },
		{ "a\xff" "b", 3, "a byte that is not UTF-8: one replacement" },
		{ "\xe4\xb8", 1, "a sequence cut short: one replacement" },
		{ "\xc0\xaf", 2, "an overlong form: two replacements" },
		{ "\xed\xa0\x80", 3, "a surrogate: three replacements" },
		{ "\xf4\x90\x80\x80", 4, "past U+10FFFF: four replacements" },
		{ "a\tb\x1b[31m", 8, "control characters: one replacement each" },
		{ "\xc2\x9b" "1", 2, "a C1 control (U+009B)" },
		{ "\xcd\xb8", 1, "an unassigned code point (U+0378)" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int w = text_width(t[i].s);

		check(w == t[i].w, "width of %s is %d (got %d)", t[i].what,
		      t[i].w, w);
	}
}

/* What text_cell() writes, and the columns it says it wrote. */
static void cell_is(const char *s, int cols, bool pad, const char *want,
		    const char *what)
{
	char buf[64];
	int w = text_cell(buf, sizeof(buf), s, cols, pad);

	check(!strcmp(buf, want) && w == text_width(want),
	      "%s: '%s' (got '%s', %d columns)", what, want, buf, w);
}

static void test_cell(void)
{
	cell_is("CP001", 8, true, "CP001   ", "ASCII is padded to the column");
	cell_is("Calle de Col\xc3\xb3n", 16, true, "Calle de Col\xc3\xb3n  ",
		"an accented letter counts one column, not two bytes");
	cell_is("Calle de Col\xc3\xb3n 40", 13, true, "Calle de Col\xc3\xb3",
		"a cut never splits a character");
	cell_is("Calle de Colo\xcc\x81n", 13, false, "Calle de Colo\xcc\x81",
		"a combining mark stays with its letter at the cut");
	cell_is("\xe6\x9d\xb1\xe4\xba\xac\xe9\xa7\x85", 5, true,
		"\xe6\x9d\xb1\xe4\xba\xac ",
		"a wide character that would cross the edge is left out, a space instead");
	cell_is("\xe6\x9d\xb1\xe4\xba\xac\xe9\xa7\x85", 5, false,
		"\xe6\x9d\xb1\xe4\xba\xac",
		"without padding, the cut is one column short");
	cell_is("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 3, true,
		"\xf0\x9f\x98\x80 ", "emoji are cut like wide characters");
	cell_is("Elche\xff", 8, true, "Elche" FFFD "  ",
		"a byte that is not UTF-8 shows as U+FFFD, one column");
	cell_is("\x1b[2J", 6, true, FFFD "[2J  ",
		"an escape cannot reach the terminal");
	cell_is("", 3, true, "   ", "nothing is three spaces");
	cell_is("abc", 0, true, "", "zero columns is nothing");
	cell_is("abc", -4, true, "", "fewer than zero columns is nothing");
}

/* A small buffer is never overrun, and the string is always terminated. */
static void test_small_buffer(void)
{
	char buf[8];
	int w;

	memset(buf, 'x', sizeof(buf));
	w = text_cell(buf, 4, "\xe6\x9d\xb1\xe4\xba\xac", 4, true);
	check(!strcmp(buf, "\xe6\x9d\xb1") && w == 2 && buf[4] == 'x',
	      "a buffer of 4 bytes takes one CJK character and its end");
	w = text_cell(buf, 1, "abc", 3, true);
	check(buf[0] == '\0' && w == 0, "a buffer of one byte is the empty string");
	memset(buf, 'x', sizeof(buf));
	w = text_cell(buf, 0, "abc", 3, true);
	check(w == 0 && buf[0] == 'x', "a buffer of no bytes is left alone");
}

/*
 * The point of it all: the same column, whatever the script, so rows of
 * a table line up on a terminal.
 */
static void test_columns(void)
{
	static const char *const loc[] = {
		"Calle Mayor 1", "Calle de Col\xc3\xb3n 40",
		"Calle de Colo\xcc\x81n 40", "\xe6\x9d\xb1\xe4\xba\xac\xe9\xa7\x85",
		"\xed\x95\x9c\xea\xb8\x80 \xf0\x9f\x98\x80", "bad \xff\xfe bytes",
		"\xe5\x8c\x97\xe4\xba\xac\xe5\xb8\x82\xe6\x9c\x9d\xe9\x98\xb3\xe5\x8c\xba\xe5\xbb\xba\xe5\x9b\xbd\xe8\xb7\xaf",
	};
	char buf[128];
	bool all = true;

	for (int cols = 0; cols <= 24; cols++)
		for (size_t i = 0; i < sizeof(loc) / sizeof(loc[0]); i++) {
			text_cell(buf, sizeof(buf), loc[i], cols, true);
			all &= text_width(buf) == cols;
		}
	check(all, "padded cells of every script are exactly as wide as asked, 0 to 24 columns");
}

/* The user's locale does not change a width. */
static void test_locale(void)
{
	setlocale(LC_ALL, "C");
	check(text_width("\xe6\x9d\xb1\xe4\xba\xac") == 4,
	      "in the C locale, CJK is still two columns a character");
	setlocale(LC_ALL, "C.UTF-8");
	check(text_width("Colo\xcc\x81n") == 5,
	      "in C.UTF-8, the same widths");
	setlocale(LC_ALL, "C");
}

int main(void)
{
	test_width();
	test_cell();
	test_small_buffer();
	test_columns();
	test_locale();
	return check_done();
}
