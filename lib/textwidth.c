/* textwidth.c: UTF-8 text in terminal columns: its display width, cut and padded to a column. */
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#include "textwidth.h"

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

/*
 * C.UTF-8 for this thread only while a string is measured: a global
 * setlocale() would change what the rest of the program (and
 * librdkafka's threads) take for a character. Debian always has it (it
 * comes with libc-bin).
 */
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static locale_t utf8;

static void utf8_open(void)
{
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* The locale to give back to leave(), or 0 when none was taken. */
static locale_t enter(void)
{
	pthread_once(&utf8_once, utf8_open);
	return utf8 ? uselocale(utf8) : (locale_t)0;
}

static void leave(locale_t old)
{
	if (old)
		uselocale(old);
}

/*
 * The code point at s, strictly decoded (RFC 3629: no overlong form,
 * surrogate or value past U+10FFFF), *n its length. Bytes that are not
 * UTF-8 give -1, *n being the longest start of a sequence that could
 * have been valid (at least one byte): one U+FFFD each, as Unicode
 * recommends, so a sequence cut short is one replacement, not several.
 */
long text_decode(const char *str, size_t *n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0], need, lo = 0x80, hi = 0xbf;
	long cp;

	*n = 1;
	if (c < 0x80)
		return c;
	if (c < 0xc2 || c > 0xf4)
		return -1;
	need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
	if (c == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (c == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;	/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;	/* past U+10FFFF */
	cp = c & (0x3fu >> need);
	for (unsigned k = 1; k <= need; k++) {
		if (s[k] < lo || s[k] > hi) {
			*n = k;
			return -1;
		}
		cp = cp << 6 | (s[k] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*n = need + 1;
	return cp;
}

/*
 * The next code point of *s as it is shown: its bytes (U+FFFD's for one
 * that cannot be shown) in *b and *n, and its columns; *s moves past it.
 */
static int next(const char **s, const char **b, size_t *n)
{
	size_t len;
	long cp = text_decode(*s, &len);
	int w;

	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		w = -1;		/* not UTF-8, or a control character */
	else if (cp < 0x7f || !utf8)
		w = 1;
	else
		w = wcwidth((wchar_t)cp);
	*b = w < 0 ? replacement : *s;
	*n = w < 0 ? sizeof(replacement) - 1 : len;
	*s += len;
	return w < 0 ? 1 : w;
}

int text_width(const char *s)
{
	locale_t old = enter();
	const char *b;
	size_t n;
	int w = 0;

	while (*s)
		w += next(&s, &b, &n);
	leave(old);
	return w;
}

int text_cell(char *buf, size_t len, const char *s, int cols, bool pad)
{
	locale_t old;
	const char *b;
	size_t o = 0, n;
	int used = 0, w;

	if (!len)
		return 0;
	old = enter();
	while (*s) {
		w = next(&s, &b, &n);
		if (used + w > cols || o + n >= len)
			break;
		memcpy(buf + o, b, n);
		o += n;
		used += w;
	}
	leave(old);
	for (; pad && used < cols && o + 1 < len; used++)
		buf[o++] = ' ';
	buf[o] = '\0';
	return used;
}
