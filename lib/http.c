/* http.c: what an HTTP API needs whatever it serves: limits, a JSON writer, error bodies, tokens, paths and queries. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "numfmt.h"
#include "xalloc.h"

void jbuf_free(struct jbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static void grow(struct jbuf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 256;
	while (b->len + n + 1 > b->cap)
		b->cap *= 2;
	b->s = xrealloc(b->s, b->cap);
}

void jbuf_add(struct jbuf *b, const char *s, size_t n)
{
	grow(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void jbuf_str(struct jbuf *b, const char *s)
{
	jbuf_add(b, s, strlen(s));
}

/* Tried in the room the buffer has; sized and written again if short. */
void jbuf_printf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	grow(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->s[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		grow(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void jbuf_int(struct jbuf *b, long long v)
{
	grow(b, NUMFMT_MAX);
	b->len += (size_t)numfmt_int(b->s + b->len, v);
	b->s[b->len] = '\0';
}

void jbuf_quote(struct jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t run;

	jbuf_add(b, "\"", 1);
	while (*p) {
		for (run = 0; p[run] >= 0x20 && p[run] != '"' &&
		     p[run] != '\\' && p[run] != 0x7f; run++)
			;
		jbuf_add(b, (const char *)p, run);
		p += run;
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			char e[2] = { '\\', (char)*p };
			jbuf_add(b, e, 2);
		} else {
			char e[6] = { '\\', 'u', '0', '0', hex[*p >> 4],
				      hex[*p & 15] };
			jbuf_add(b, e, 6);
		}
		p++;
	}
	jbuf_add(b, "\"", 1);
}

/*
 * d * 10^decimals rounded as "%.*f" rounds it, when that is sure: far
 * from a half, where the product's own rounding cannot change the
 * result. -1 otherwise (snprintf then decides).
 */
static long long scaled(double d, int decimals)
{
	static const double pow10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
	double x, f;

	if (decimals < 0 || decimals > 6 || !(d >= 0 && d < 1e12))
		return -1;
	x = d * pow10[decimals];
	f = x - floor(x);
	if (fabs(f - 0.5) < 1e-6)
		return -1;
	return llround(x);
}

/* The digits of n / 10^decimals, trailing zeros of the fraction dropped. */
static void jbuf_scaled(struct jbuf *b, long long n, int decimals)
{
	static const long long pow10[] = { 1, 10, 100, 1000, 10000, 100000,
					   1000000 };
	long long div = pow10[decimals], frac = n % div;

	jbuf_int(b, n / div);
	if (!frac)
		return;
	jbuf_add(b, ".", 1);
	for (div /= 10; frac; div /= 10) {
		char c = (char)('0' + frac / div);

		jbuf_add(b, &c, 1);
		frac %= div;
	}
}

void jbuf_num(struct jbuf *b, double d, int decimals)
{
	char s[64];
	long long k = scaled(d, decimals);
	int n;

	if (k >= 0) {
		jbuf_scaled(b, k, decimals);
		return;
	}
	n = snprintf(s, sizeof(s), "%.*f", decimals, d);
	if (n <= 0 || (size_t)n >= sizeof(s))
		n = snprintf(s, sizeof(s), "0");
	if (strchr(s, '.')) {
		while (s[n - 1] == '0')
			n--;
		if (s[n - 1] == '.')
			n--;
	}
	if (n == 2 && !strncmp(s, "-0", 2))
		jbuf_add(b, "0", 1);
	else
		jbuf_add(b, s, (size_t)n);
}

void jbuf_fixed(struct jbuf *b, int64_t n, int div, int decimals)
{
	int64_t a = n < 0 ? -n : n, frac = a % div;
	char digits[24];
	int len = 0;

	if (n < 0)
		jbuf_add(b, "-", 1);
	jbuf_int(b, (long long)(a / div));
	digits[len++] = '.';
	for (int i = decimals - 1; i >= 0; i--, frac /= 10)
		digits[1 + i] = (char)('0' + frac % 10);
	jbuf_add(b, digits, (size_t)decimals + 1);
}

int http_error(struct http_resp *r, int status, const char *what,
	       const char *subject)
{
	r->status = status;
	r->type = "application/json";
	snprintf(r->what, sizeof(r->what), "%s", what);
	r->body.len = 0;
	jbuf_str(&r->body, "{\"error\":");
	jbuf_quote(&r->body, what);
	jbuf_str(&r->body, ",\"subject\":");
	jbuf_quote(&r->body, subject ? subject : "");
	jbuf_str(&r->body, "}\n");
	return -1;
}

bool http_token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)(a[i < la ? i : 0] ^ b[i]) | (i >= la);
	return d == 0;
}

const char *http_bearer(const char *hdr)
{
	if (!hdr || strncmp(hdr, "Bearer ", 7) || !hdr[7])
		return NULL;
	return hdr + 7;
}

static int unhex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	       c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (len bytes with its NUL): 0 or -1. */
static int decode(const char *s, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= n || unhex(s[i + 1]) < 0 ||
			    unhex(s[i + 2]) < 0)
				return -1;
			c = unhex(s[i + 1]) * 16 + unhex(s[i + 2]);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (!c || o + 1 >= len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int http_query_next(const char **q, char *name, size_t nlen, char *value,
		    size_t vlen)
{
	const char *p = *q, *amp, *eq;

	while (*p == '&')
		p++;
	if (!*p)
		return 0;
	amp = p + strcspn(p, "&");
	eq = memchr(p, '=', (size_t)(amp - p));
	if (!eq || decode(p, (size_t)(eq - p), name, nlen) ||
	    decode(eq + 1, (size_t)(amp - eq - 1), value, vlen))
		return -1;
	*q = amp;
	return 1;
}

const struct http_asset *http_asset_find(const char *path)
{
	if (!strcmp(path, "/"))
		path = "/index.html";
	for (const struct http_asset *a = http_assets; a->path; a++)
		if (!strcmp(a->path, path))
			return a;
	return NULL;
}
