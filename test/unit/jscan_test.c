/* jscan_test.c: unit tests of lib/jscan.c: the same verdict as jansson, noted keys, values, unescaping. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/jscan.h"
#include "test/unit/check.h"


/* A small vocabulary: "live" holds a nested object. */
enum { V, TYPE, LIVE, SEQ, NKEYS };
static const char *const names[NKEYS] = { "v", "type", "live", "seq" };
static struct jkeys keys;

static struct jobj top, nest;
static struct jscan_error e;
static struct jval doc;

/* Scans len bytes, every key of the vocabulary noted at both levels. */
static int scan_len(const char *text, size_t len)
{
	jobj_init(&top, (1u << NKEYS) - 1, LIVE, &nest);
	jobj_init(&nest, (1u << NKEYS) - 1, 0, NULL);
	return jscan(text, len, &keys, &top, &doc, &e);
}

static int scan(const char *text)
{
	return scan_len(text, strlen(text));
}

/* jscan and jansson (JSON_REJECT_DUPLICATES) give the same verdict. */
static void same_verdict(const char *text, bool want, const char *title)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	char line[200];

	snprintf(line, sizeof(line), "%s: %s by both", title,
		 want ? "accepted" : "refused");
	check((scan(text) == 0) == want && (j != NULL) == want, line);
	json_decref(j);
}

static void test_verdicts(void)
{
	static const struct {
		const char *text, *title;
		bool ok;
	} cases[] = {
		{ "{}", "an empty object", true },
		{ " [1, 2.5, \"x\", true, false, null, {}] \n", "an array of every kind", true },
		{ "\"text\"", "a string alone", false },
		{ "{\"a\":1,}", "a trailing comma in an object", false },
		{ "[1,]", "a trailing comma in an array", false },
		{ "{\"a\" 1}", "a key without a colon", false },
		{ "{\"a\":01}", "a leading zero", false },
		{ "{\"a\":1.}", "a point without digits", false },
		{ "{\"a\":1e}", "an exponent without digits", false },
		{ "{\"a\":-}", "a minus alone", false },
		{ "{\"a\":tru}", "a word cut short", false },
		{ "{\"a\":\"\\u0000\"}", "an escaped NUL", false },
		{ "{\"a\":\"\\ud800\"}", "a lone high surrogate", false },
		{ "{\"a\":\"\\udc00\"}", "a lone low surrogate", false },
		{ "{\"a\":\"\\ud83d\\ude00\"}", "a surrogate pair", true },
		{ "{\"a\":\"\\q\"}", "an unknown escape", false },
		{ "{\"a\":\"\x01\"}", "a raw control character", false },
		{ "{\"a\":\"\xc0\xaf\"}", "an overlong UTF-8 form", false },
		{ "{\"a\":\"\xed\xa0\x80\"}", "a surrogate in UTF-8", false },
		{ "{\"a\":\"\xf4\x90\x80\x80\"}", "a code point past U+10FFFF", false },
		{ "{\"a\":\"\xc3\xa9\"}", "two-byte UTF-8", true },
		{ "{\"a\":1,\"a\":2}", "a duplicate key", false },
		{ "{\"v\":1,\"v\":2}", "a duplicate key of the vocabulary", false },
		{ "{\"x\":{\"b\":1,\"b\":2}}", "a duplicate key one level down", false },
		{ "{\"a\":1,\"\\u0061\":2}", "a duplicate key spelt with an escape", false },
		{ "[{\"a\":1},{\"a\":1}]", "the same key in two objects", true },
		{ "{\"a\":9223372036854775807}", "the largest int64_t", true },
		{ "{\"a\":9223372036854775808}", "an integer past int64_t", false },
		{ "{\"a\":-9223372036854775808}", "the smallest int64_t", true },
		{ "{\"a\":-9223372036854775809}", "an integer below int64_t", false },
		{ "{\"a\":1e309}", "a real that overflows", false },
		{ "{\"a\":1e-400}", "a real that underflows", true },
		{ "{} x", "something after the document", false },
		{ "", "nothing at all", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		same_verdict(cases[i].text, cases[i].ok, cases[i].title);
}

/* Arrays nested n deep: [[[...]]]. */
static char *nested(int n)
{
	char *s = malloc(2 * (size_t)n + 1);

	memset(s, '[', (size_t)n);
	memset(s + n, ']', (size_t)n);
	s[2 * n] = '\0';
	return s;
}

static void test_depth(void)
{
	char *deep = nested(JSCAN_MAX_DEPTH);
	char *deeper = nested(JSCAN_MAX_DEPTH + 1);

	same_verdict(deep, true, "arrays nested to the greatest depth");
	same_verdict(deeper, false, "arrays nested one level deeper");
	free(deep);
	free(deeper);
}

static void test_noted_keys(void)
{
	const char *text = "{\"type\":\"x\",\"zz\":1,\"v\":3,"
			   "\"live\":{\"seq\":7,\"q\":0}}";
	const char *other = "{\"v\":1,\"type\":2}";
	char buf[8];
	size_t len;

	check(scan(text) == 0 && doc.type == J_OBJECT,
	      "an object with noted keys is accepted");
	check(top.nkeys == 4 && top.mask == (1u << V | 1u << TYPE | 1u << LIVE),
	      "every key is counted, those of the vocabulary noted");
	check(top.slot[TYPE].rank == 0 && top.slot[V].rank == 2 &&
	      top.slot[LIVE].rank == 3, "noted keys keep their rank");
	check(top.has_other && top.other.rank == 1 &&
	      !strncmp(jval_str(&top.other, buf, sizeof(buf), &len), "zz", 2) &&
	      len == 2,
	      "the first other key is kept, with its rank");
	check(top.slot[V].type == J_INT && top.slot[V].i == 3,
	      "an integer is read");
	check(nest.nkeys == 2 && nest.mask == 1u << SEQ &&
	      nest.slot[SEQ].i == 7,
	      "the object under the nesting key is noted");
	check(scan("{\"\\u0076\":5}") == 0 && top.mask == 1u << V &&
	      top.slot[V].i == 5, "a key spelt with an escape is found");
	jobj_init(&top, 1u << V, LIVE, NULL);
	check(jscan(other, strlen(other), &keys, &top, &doc, &e) == 0 &&
	      top.mask == 1u << V && top.has_other && top.nkeys == 2,
	      "keys outside the allowed ones count as other keys");
}

static void test_values(void)
{
	double minus_zero = -0.0;

	check(scan("{\"v\":0.35}") == 0 && top.slot[V].type == J_REAL &&
	      top.slot[V].d == strtod("0.35", NULL),
	      "a short real is the double strtod gives");
	check(scan("{\"v\":1.5e3}") == 0 && top.slot[V].d == 1500.0,
	      "a real with an exponent is read");
	check(scan("{\"v\":0.1234567890123456789}") == 0 &&
	      top.slot[V].d == strtod("0.1234567890123456789", NULL),
	      "a long real is read by strtod");
	check(scan("{\"v\":-0.0}") == 0 && signbit(top.slot[V].d) &&
	      !memcmp(&top.slot[V].d, &minus_zero, sizeof(minus_zero)),
	      "minus zero keeps its sign");
	check(scan("{\"v\":true,\"type\":null}") == 0 &&
	      top.slot[V].type == J_TRUE && top.slot[TYPE].type == J_NULL,
	      "literals are typed");
	check(scan("{\"v\":[1,{\"v\":2}]}") == 0 &&
	      top.slot[V].type == J_ARRAY && top.nkeys == 1,
	      "what an array holds is not noted");
}

static void test_strings(void)
{
	const char *text = "{\"v\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t"
			   "\\u00e9\\ud83d\\ude00\"}";
	const char want[] = "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80";
	size_t len, len_want = sizeof(want) - 1;
	char buf[64], cut[6];

	check(scan(text) == 0 && top.slot[V].type == J_STRING &&
	      top.slot[V].esc, "a string with every escape is accepted");
	check(jval_unescape(&top.slot[V], buf, sizeof(buf)) == len_want &&
	      !strcmp(buf, want), "every escape is unescaped");
	check(jval_unescape(&top.slot[V], cut, sizeof(cut)) == len_want &&
	      !strcmp(cut, "a\"b\\c"),
	      "a string cut short keeps its whole length");
	check(scan("{\"v\":\"plain\"}") == 0 && !top.slot[V].esc &&
	      jval_str(&top.slot[V], buf, sizeof(buf), &len) ==
	      (const char *)top.slot[V].p && len == 5,
	      "a string without escapes is read in place");
}

static void test_errors(void)
{
	static const char nul[] = "{\"v\":1\0}";
	json_error_t je;
	json_t *j = json_loadb(nul, sizeof(nul) - 1, JSON_REJECT_DUPLICATES,
			       &je);

	check(scan("{\"a\":tru}") == -1 && e.at == 5 &&
	      !strcmp(e.why, "invalid token"), "a bad word: where and why");
	check(scan("{\"v\":1,\"v\":2}") == -1 &&
	      !strcmp(e.why, "duplicate object key near '\"v\"'"),
	      "a duplicate key is named as jansson named it");
	check(scan_len(nul, sizeof(nul) - 1) == -1 && j,
	      "a raw NUL after a number is refused, where jansson let it pass");
	check(scan("{\"v\":1} ]") == -1 && e.at == 8 &&
	      !strcmp(e.why, "end of file expected"),
	      "what follows the document is named");
	json_decref(j);
}

/* Enough other keys to grow the stack they are kept on. */
static void test_many_keys(void)
{
	char *text = malloc(16 * 1000 + 16), *p = text;

	*p++ = '{';
	for (int i = 0; i < 1000; i++)
		p += sprintf(p, "%s\"k%d\":%d", i ? "," : "", i, i);
	strcpy(p, "}");
	check(scan(text) == 0 && top.nkeys == 1000 && top.mask == 0,
	      "a thousand other keys are accepted");
	strcpy(p, ",\"k999\":0}");
	check(scan(text) == -1 && !strcmp(e.why, "duplicate object key"),
	      "a repeat among a thousand other keys is found");
	free(text);
}

static void (*const tests[])(void) = {
	test_verdicts, test_depth, test_noted_keys, test_values, test_strings,
	test_errors, test_many_keys,
};

int main(void)
{
	jkeys_init(&keys, names, NKEYS);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		tests[i]();
	return check_done();
}
