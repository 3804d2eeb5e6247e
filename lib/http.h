/* http.h: what an HTTP API needs whatever it serves: limits, a JSON writer, error bodies, tokens, paths and queries. */
#ifndef EVC_HTTP_H
#define EVC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_BODY_MAX 8192	/* bytes of a request body: more is a 413 */
#define HTTP_URI_MAX 1024	/* bytes of a path and its query */
#define HTTP_TIMEOUT_S 10	/* a request's head and body must come within */

/* A growing buffer of bytes: a response being written. */
struct jbuf {
	char *s;
	size_t len, cap;
};

void jbuf_free(struct jbuf *b);
void jbuf_add(struct jbuf *b, const char *s, size_t n);
void jbuf_str(struct jbuf *b, const char *s);	/* as is */
__attribute__((format(printf, 2, 3)))
void jbuf_printf(struct jbuf *b, const char *fmt, ...);
void jbuf_int(struct jbuf *b, long long v);
/* s as a JSON string, quotes included (s is valid UTF-8). */
void jbuf_quote(struct jbuf *b, const char *s);
/* A number with at most decimals digits after the point, zeros trimmed. */
void jbuf_num(struct jbuf *b, double d, int decimals);
/* n / div with decimals digits (watt-hours as kWh, cents as EUR). */
void jbuf_fixed(struct jbuf *b, int64_t n, int div, int decimals);

/* A response: its status, type and body. */
struct http_resp {
	int status;
	const char *type;	/* Content-Type */
	struct jbuf body;
	const char *allow;	/* 405: the methods that are */
	bool challenge;		/* 401: WWW-Authenticate: Bearer */
	bool stream;		/* 200 to GET /api/events: an SSE stream */
	const unsigned char *bytes;	/* an asset's, rather than body */
	size_t nbytes;
	char what[96];		/* an error's "error", cut: for the trail */
};

/* The error body {"error":what,"subject":subject}, with the status: -1. */
int http_error(struct http_resp *r, int status, const char *what,
		const char *subject);

/* Whether a and b are equal, in a time that depends on b's length only. */
bool http_token_eq(const char *a, const char *b);

/*
 * The token of "Bearer TOKEN" in hdr: NULL when hdr is NULL or not
 * that.
 */
const char *http_bearer(const char *hdr);

/*
 * The next name=value of a query ("a=1&b=2"), percent-decoded into name
 * and value: 1, 0 at its end, -1 when malformed or too long.
 */
int http_query_next(const char **q, char *name, size_t nlen, char *value,
		    size_t vlen);

/* An embedded file: lib/webui/ compiled in (lib/webui.c, generated). */
struct http_asset {
	const char *path;	/* "/console.js"; "/index.html" also serves "/" */
	const char *type;
	const unsigned char *bytes;
	size_t len;
};
extern const struct http_asset http_assets[];	/* a NULL path ends it */
const struct http_asset *http_asset_find(const char *path);

#endif
