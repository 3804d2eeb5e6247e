/* jscan.c: a strict JSON scanner: checks a document in one pass and notes where the values of chosen keys lie, building no tree. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "xalloc.h"

/* Keys outside the vocabulary, unescaped, to find duplicates among them. */
struct keyref {
	size_t off, len;
};

struct keyset {
	struct keyref *key;
	size_t n, cap;
	char *bytes;
	size_t used, size;
};

struct scan {
	const unsigned char *start, *p, *end;
	unsigned depth;
	const struct jkeys *keys;
	struct jscan_error *e;	/* the first syntax error */
	struct keyset dups;
};

__attribute__((format(printf, 3, 4)))
static int jerr(struct scan *s, const unsigned char *at, const char *fmt, ...)
{
	va_list ap;

	s->e->at = (size_t)(at - s->start);
	va_start(ap, fmt);
	vsnprintf(s->e->why, sizeof(s->e->why), fmt, ap);
	va_end(ap);
	return -1;
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
				 *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static bool is_digit(unsigned c)
{
	return c - '0' < 10;
}

static int hex_digit(unsigned c)
{
	if (c - '0' < 10)
		return (int)(c - '0');
	c |= 0x20;
	return c - 'a' < 6 ? (int)(c - 'a' + 10) : -1;
}

/* The four hex digits at p (n bytes left), or -1. */
static long hex4(const unsigned char *p, size_t n)
{
	long v = 0;

	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hex_digit(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* The length of the UTF-8 sequence at p (n bytes left), 0 when invalid. */
static unsigned utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], need, cp;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < need)
		return 0;
	cp = c & (0x7f >> need);
	for (unsigned k = 1; k < need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/* One escape at *pp (on the backslash): checks it and steps over it. */
static int scan_escape(struct scan *s, const unsigned char **pp)
{
	const unsigned char *p = *pp;
	size_t left = (size_t)(s->end - p);
	long u, u2;

	if (left < 2)
		return jerr(s, p, "premature end of input");
	if (p[1] != 'u') {
		if (!strchr("\"\\/bfnrt", p[1]) || !p[1])
			return jerr(s, p, "invalid escape");
		*pp = p + 2;
		return 0;
	}
	if ((u = hex4(p + 2, left - 2)) < 0)
		return jerr(s, p, "invalid escape");
	if (u == 0)
		return jerr(s, p, "\\u0000 is not allowed (a NUL byte)");
	if (u >= 0xdc00 && u <= 0xdfff)
		return jerr(s, p, "invalid Unicode '\\u%04lX'", u);
	if (u >= 0xd800 && u <= 0xdbff) {
		if (left < 12 || p[6] != '\\' || p[7] != 'u')
			return jerr(s, p, "invalid Unicode '\\u%04lX'", u);
		if ((u2 = hex4(p + 8, left - 8)) < 0)
			return jerr(s, p + 6, "invalid escape");
		if (u2 < 0xdc00 || u2 > 0xdfff)
			return jerr(s, p, "invalid Unicode '\\u%04lX\\u%04lX'", u, u2);
		p += 6;
	}
	*pp = p + 6;
	return 0;
}

/* String bytes that need no closer look: printable ASCII but '"' and '\\'. */
#define PLAIN16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const bool plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* '"' */
	[0x30] = PLAIN16,
	[0x40] = PLAIN16,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,	/* '\\' */
	[0x60] = PLAIN16,
	[0x70] = PLAIN16,
};
#undef PLAIN16

#define BYTES(b) (UINT64_C(0x0101010101010101) * (b))

/*
 * Skips 8 bytes at a time while none of them is a quote, a backslash, a
 * control character or part of a multibyte character: ids and numbers
 * in strings are plain ASCII, and a byte at a time cost a branch each.
 */
static const unsigned char *skip_plain8(const unsigned char *p,
					const unsigned char *end)
{
	while (end - p >= 8) {
		uint64_t w, q, b, hit;

		memcpy(&w, p, 8);
		q = w ^ BYTES('"');
		b = w ^ BYTES('\\');
		/*
		 * The high bit of a byte is set in hit where q or b has a
		 * zero byte, w a byte below 0x20, or w a byte above 0x7f
		 * (exact for the first such byte; any later one just ends
		 * the fast path early).
		 */
		hit = ((q - BYTES(1)) & ~q) | ((b - BYTES(1)) & ~b) |
		      ((w - BYTES(0x20)) & ~w) | w;
		if (hit & BYTES(0x80))
			break;
		p += 8;
	}
	return p;
}

/* A string at s->p (on the quote): checked, not copied. */
static int scan_string(struct scan *s, struct jval *v)
{
	const unsigned char *p = s->p + 1, *end = s->end;

	v->type = J_STRING;
	v->p = p;
	v->esc = false;
	for (;;) {
		unsigned c, k;

		p = skip_plain8(p, end);
		while (p < end && plain[*p])
			p++;
		if (p == end)
			return jerr(s, p, "premature end of input");
		c = *p;
		if (c == '"')
			break;
		if (c == '\\') {
			v->esc = true;
			if (scan_escape(s, &p))
				return -1;
			continue;
		}
		if (c < 0x20)
			return c == '\n' ? jerr(s, p, "unexpected newline") :
			       jerr(s, p, "control character 0x%x", c);
		if (!(k = utf8_len(p, (size_t)(end - p))))
			return jerr(s, p, "unable to decode byte 0x%x", c);
		p += k;
	}
	v->len = (unsigned)(p - v->p);
	s->p = p + 1;
	return 0;
}

/* Writes code point u as UTF-8 at buf + o, within cap; returns its size. */
static size_t put_utf8(char *buf, size_t o, size_t cap, unsigned long u)
{
	unsigned char b[4];
	size_t n;

	if (u < 0x80) {
		b[0] = (unsigned char)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (unsigned char)(0xc0 | u >> 6);
		b[1] = (unsigned char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		b[0] = (unsigned char)(0xe0 | u >> 12);
		b[1] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | u >> 18);
		b[1] = (unsigned char)(0x80 | (u >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (u & 0x3f));
		n = 4;
	}
	for (size_t i = 0; i < n; i++)
		if (o + i < cap)
			buf[o + i] = (char)b[i];
	return n;
}

size_t jval_unescape(const struct jval *v, char *buf, size_t cap)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const unsigned char *p = v->p, *end = v->p + v->len;
	size_t o = 0;

	while (p < end) {
		unsigned long u;

		if (*p != '\\') {
			if (o < cap)
				buf[o] = (char)*p;
			o++, p++;
			continue;
		}
		if (p[1] != 'u') {
			if (o < cap)
				buf[o] = to[strchr(from, p[1]) - from];
			o++, p += 2;
			continue;
		}
		u = (unsigned long)hex4(p + 2, 4);
		p += 6;
		if (u >= 0xd800 && u <= 0xdbff) {
			u = 0x10000 + ((u - 0xd800) << 10) +
			    ((unsigned long)hex4(p + 2, 4) - 0xdc00);
			p += 6;
		}
		o += put_utf8(buf, o, cap, u);
	}
	buf[o < cap ? o : cap - 1] = '\0';
	return o;
}

/* The C locale, for strtod_l: a decimal point whatever the process's locale. */
static locale_t c_locale(void)
{
	static locale_t c;

	if (!c)
		c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	return c;
}

/*
 * Reals strtod must read: long, or far from 1; overflow is refused. A
 * copy longer than the stack buffer is at most the document's length,
 * which the callers bound (msg_decode at MSG_MAX_BYTES): xmalloc, which
 * ends the process rather than fail, is safe to use here.
 */
static int scan_real_slow(struct scan *s, struct jval *v,
			  const unsigned char *p, const unsigned char *end)
{
	size_t n = (size_t)(end - p);
	char small[64], *copy = n < sizeof(small) ? small : xmalloc(n + 1);
	locale_t c = c_locale();

	memcpy(copy, p, n);
	copy[n] = '\0';
	errno = 0;
	v->d = c ? strtod_l(copy, NULL, c) : strtod(copy, NULL);
	if (copy != small)
		free(copy);
	if ((v->d == HUGE_VAL || v->d == -HUGE_VAL) && errno == ERANGE)
		return jerr(s, p, "real number overflow");
	v->type = J_REAL;
	return 0;
}

static const double pow10s[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * A real in [p, end), already checked against the grammar. Up to 2^53
 * in significant digits and 10^22 in scale, one exact operation gives
 * the nearest double (as strtod would); longer ones go to strtod, in
 * the C locale whatever the process's, as jansson made sure too.
 */
static int scan_real(struct scan *s, struct jval *v, const unsigned char *p,
		     const unsigned char *end)
{
	const unsigned char *q = p + (*p == '-');
	bool exact = true, point = false, xneg = false;
	uint64_t w = 0;
	long e = 0, x = 0;

	for (; q < end && (is_digit(*q) || *q == '.'); q++) {
		if (*q == '.') {
			point = true;
			continue;
		}
		if (w >= (UINT64_C(1) << 53) / 10) {
			exact = false;
			break;
		}
		w = w * 10 + (unsigned)(*q - '0');
		e -= point;
	}
	if (exact && q < end) {
		xneg = q[1] == '-';
		for (q += 1 + (q[1] == '-' || q[1] == '+'); q < end; q++)
			if (x < 100000)
				x = x * 10 + (*q - '0');
	}
	e += xneg ? -x : x;
	if (exact && w <= UINT64_C(1) << 53 && e >= -22 && e <= 22) {
		v->d = e < 0 ? (double)w / pow10s[-e] : (double)w * pow10s[e];
		v->d = *p == '-' ? -v->d : v->d;
		v->type = J_REAL;
		return 0;
	}
	return scan_real_slow(s, v, p, end);
}

/* An integer in [p, end): within int64_t, as strtoll would take it. */
static int scan_int(struct scan *s, struct jval *v, const unsigned char *p,
		    const unsigned char *end)
{
	bool neg = *p == '-';
	uint64_t u = 0, max = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;

	for (const unsigned char *q = p + neg; q < end; q++) {
		unsigned d = (unsigned)(*q - '0');

		if (u > (max - d) / 10)
			return jerr(s, p, neg ? "too big negative integer" :
				    "too big integer");
		u = u * 10 + d;
	}
	v->type = J_INT;
	v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else. */
static int scan_number(struct scan *s, struct jval *v)
{
	const unsigned char *p = s->p, *q = p, *end = s->end;
	bool real = false;

	q += *q == '-';
	if (q == end || !is_digit(*q))
		return jerr(s, p, "invalid token");
	if (*q == '0' && ++q < end && is_digit(*q))
		return jerr(s, p, "invalid token");
	while (q < end && is_digit(*q))
		q++;
	if (q < end && *q == '.') {
		if (++q == end || !is_digit(*q))
			return jerr(s, p, "invalid token");
		while (q < end && is_digit(*q))
			q++;
		real = true;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q += q + 1 < end && (q[1] == '+' || q[1] == '-');
		if (++q == end || !is_digit(*q))
			return jerr(s, p, "invalid token");
		while (q < end && is_digit(*q))
			q++;
		real = true;
	}
	s->p = q;
	return real ? scan_real(s, v, p, q) : scan_int(s, v, p, q);
}

/* true, false or null: a run of letters that must be one of them. */
static int scan_word(struct scan *s, struct jval *v)
{
	const unsigned char *p = s->p, *q = p;
	size_t n;

	while (q < s->end && (unsigned)((*q | 0x20) - 'a') < 26)
		q++;
	n = (size_t)(q - p);
	if (n == 4 && !memcmp(p, "true", 4))
		v->type = J_TRUE;
	else if (n == 5 && !memcmp(p, "false", 5))
		v->type = J_FALSE;
	else if (n == 4 && !memcmp(p, "null", 4))
		v->type = J_NULL;
	else
		return jerr(s, p, "invalid token");
	s->p = q;
	return 0;
}

static unsigned key_slot(const char *s, size_t len)
{
	return ((unsigned char)s[0] * 7u + (unsigned char)s[len - 1] * 3u +
		(unsigned)len) % JKEYS_HASH;
}

void jkeys_init(struct jkeys *k, const char *const *names, unsigned count)
{
	memset(k, 0, sizeof(*k));
	k->names = names;
	k->count = count < JSCAN_KEYS_MAX ? count : JSCAN_KEYS_MAX;
	for (unsigned i = 0; i < k->count; i++) {
		unsigned h;

		k->lens[i] = (unsigned char)strnlen(names[i],
						    JSCAN_KEY_LEN_MAX);
		h = key_slot(names[i], k->lens[i]);
		while (k->hash[h])
			h = (h + 1) % JKEYS_HASH;
		k->hash[h] = (unsigned char)(i + 1);
	}
}

/* Keys are a few bytes long: compared in line, not by a call to memcmp. */
static bool same_key(const char *name, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && name[i] == s[i])
		i++;
	return i == len;
}

/* The index of the key of s (len > 0 bytes) in the vocabulary, or -1. */
static int key_lookup(const struct jkeys *ks, const char *s, size_t len)
{
	for (unsigned h = key_slot(s, len); ks->hash[h];
	     h = (h + 1) % JKEYS_HASH) {
		int k = ks->hash[h] - 1;

		if (ks->lens[k] == len && same_key(ks->names[k], s, len))
			return k;
	}
	return -1;
}

static int key_of(const struct jkeys *ks, const struct jval *v)
{
	char buf[JSCAN_KEY_LEN_MAX + 1];
	size_t len;

	if (!v->esc)
		return v->len ? key_lookup(ks, (const char *)v->p, v->len) : -1;
	len = jval_unescape(v, buf, sizeof(buf));
	return len && len < sizeof(buf) ? key_lookup(ks, buf, len) : -1;
}

/*
 * Keys outside the vocabulary are kept, unescaped, on a stack: an object
 * pushes its own, and when it closes they are sorted to find a repeat,
 * then popped. Only messages refused anyway have any (an unknown field),
 * so the memory is taken from the heap and given back at the end. The
 * stack never holds more keys, or bytes, than the document has, and the
 * callers bound documents (msg_decode at MSG_MAX_BYTES): running out of
 * memory here would be the machine's trouble, not a bad input's, so
 * xrealloc ends the process rather than a refusal blaming the input.
 */
static void keyset_push(struct scan *s, const struct jval *v)
{
	struct keyset *k = &s->dups;
	size_t need = v->len + 1;	/* escapes only shorten */

	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->key = xreallocarray(k->key, k->cap, sizeof(*k->key));
	}
	if (k->used + need > k->size) {
		k->size = (k->used + need) * 2;
		k->bytes = xrealloc(k->bytes, k->size);
	}
	k->key[k->n].off = k->used;
	k->key[k->n].len = jval_unescape(v, k->bytes + k->used, need);
	k->used += k->key[k->n++].len;
}

static int key_cmp(const void *a, const void *b, void *bytes)
{
	const struct keyref *x = a, *y = b;
	int c = memcmp((char *)bytes + x->off, (char *)bytes + y->off,
		       x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Closes an object whose other keys begin at base: is one there twice? */
static int keyset_pop(struct scan *s, const struct keyref *base,
		      const unsigned char *at)
{
	struct keyset *k = &s->dups;
	bool dup = false;

	if (k->n - base->off > 1) {
		qsort_r(k->key + base->off, k->n - base->off, sizeof(*k->key),
			key_cmp, k->bytes);
		for (size_t i = base->off + 1; i < k->n && !dup; i++)
			dup = !key_cmp(&k->key[i - 1], &k->key[i], k->bytes);
	}
	k->n = base->off;
	k->used = base->len;
	return dup ? jerr(s, at, "duplicate object key") : 0;
}

static int scan_value(struct scan *s, struct jval *v, struct jobj *into);

/* As jansson said it: where the key ends, and the key if it is short. */
static int dup_key(struct scan *s, const struct jval *key)
{
	const unsigned char *end = key->p + key->len + 1;

	if (key->len + 2 <= 20)
		return jerr(s, end, "duplicate object key near '\"%.*s\"'",
			    (int)key->len, (const char *)key->p);
	return jerr(s, end, "duplicate object key");
}

/* Where a key goes: its slot in o, or the stack of other keys. */
static struct jval *take_key(struct scan *s, struct jobj *o,
			     struct jval *key, struct jval *scratch)
{
	int k = o ? key_of(s->keys, key) : -1;

	if (k >= 0 && (o->allowed >> k & 1)) {
		if (o->mask >> k & 1) {
			dup_key(s, key);
			return NULL;
		}
		o->mask |= UINT32_C(1) << k;
		return &o->slot[k];
	}
	if (o && !o->has_other) {
		o->other = *key;
		o->has_other = true;
	}
	keyset_push(s, key);
	return scratch;
}

/* Where the value v of a key of o goes if it is an object. */
static struct jobj *nest_of(const struct jobj *o, const struct jval *v)
{
	return o && v == o->nest_at ? o->nest : NULL;
}

/*
 * After a member of an object or an element of an array: 1 on a comma
 * (another one follows), 0 on the closing byte, stepped over, else -1.
 * Inline: it runs after every value, and as a call it cost the decoder
 * 2% more instructions.
 */
static inline int scan_next(struct scan *s, unsigned char close)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		skip_ws(s);
		return 1;
	}
	if (s->p == s->end || *s->p != close)
		return jerr(s, s->p, "'%c' expected", close);
	s->p++;
	return 0;
}

/* The member of object o at s->p, its rank-th: "key": value. */
static int scan_member(struct scan *s, struct jobj *o, unsigned rank)
{
	struct jval key, scratch, *v;

	if (s->p == s->end || *s->p != '"')
		return jerr(s, s->p, "string or '}' expected");
	if (scan_string(s, &key))
		return -1;
	skip_ws(s);
	if (s->p == s->end || *s->p != ':')
		return jerr(s, s->p, "':' expected");
	s->p++;
	skip_ws(s);
	key.rank = rank;
	if (!(v = take_key(s, o, &key, &scratch)))
		return -1;
	v->rank = rank;
	return scan_value(s, v, nest_of(o, v));
}

/*
 * An object at s->p, its keys noted in o (NULL: an object whose keys
 * no one asked for, only checked). The stack of other keys is
 * {count, bytes} at its start, kept in a keyref.
 */
static int scan_object(struct scan *s, struct jobj *o)
{
	struct keyref base = { s->dups.n, s->dups.used };
	unsigned n = 0;
	int more;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
	} else {
		do {
			if (scan_member(s, o, n++))
				return -1;
		} while ((more = scan_next(s, '}')) > 0);
		if (more < 0)
			return -1;
	}
	if (o)
		o->nkeys = n;
	return keyset_pop(s, &base, s->p - 1);
}

static int scan_array(struct scan *s)
{
	struct jval v;
	int more;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	do {
		if (scan_value(s, &v, NULL))
			return -1;
	} while ((more = scan_next(s, ']')) > 0);
	return more;
}

/* Any value at s->p; an object goes into `into` when there is one. */
static int scan_value(struct scan *s, struct jval *v, struct jobj *into)
{
	int rc;

	if (++s->depth > JSCAN_MAX_DEPTH)
		return jerr(s, s->p, "maximum parsing depth reached");
	if (s->p == s->end)
		return jerr(s, s->p, "premature end of input");
	switch (*s->p) {
	case '"':
		rc = scan_string(s, v);
		break;
	case '{':
		v->type = J_OBJECT;
		rc = scan_object(s, into);
		break;
	case '[':
		v->type = J_ARRAY;
		rc = scan_array(s);
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		rc = scan_number(s, v);
		break;
	default:
		rc = scan_word(s, v);
	}
	s->depth--;
	return rc;
}

/*
 * The whole document: an object or an array (as jansson, which refused
 * anything else without JSON_DECODE_ANY), then nothing but white space.
 */
static int scan_document(struct scan *s, struct jobj *top, struct jval *v)
{
	skip_ws(s);
	if (s->p == s->end || (*s->p != '{' && *s->p != '['))
		return jerr(s, s->p, "'[' or '{' expected");
	if (scan_value(s, v, top))
		return -1;
	skip_ws(s);
	if (s->p != s->end)
		return jerr(s, s->p, "end of file expected");
	return 0;
}

__attribute__((hot))	/* on the decoder's path: see msg_decode */
int jscan(const void *buf, size_t len, const struct jkeys *keys,
	  struct jobj *top, struct jval *v, struct jscan_error *e)
{
	struct scan s = { .start = buf, .p = buf, .keys = keys, .e = e };
	int rc;

	s.end = s.p + len;
	e->at = 0;
	e->why[0] = '\0';
	rc = scan_document(&s, top, v);
	free(s.dups.key);
	free(s.dups.bytes);
	return rc;
}
