/* web.c: the web role: an HTTP server of the CPs' state, sessions and tickets, and of the operator's stop, resume and catalogue, from Kafka alone. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/http.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/server.h"
#include "lib/setup.h"
#include "lib/trail.h"
#include "lib/webapi.h"
#include "lib/xalloc.h"

#define CHECK_MS 5000		/* for a broker to answer at all */
#define CATCH_UP_MS 30000	/* to read cp-state and cp-catalogue to their end */
#define FLUSH_MS 5000		/* a write waits this for Kafka */
#define DRAIN_MAX 5000		/* Kafka messages read between two turns */
#define TICK_US (100 * LWS_US_PER_MS)
#define PING_MS 15000		/* an idle event stream gets ": ping" */
#define STALL_S 60		/* a stream nothing can be written to is closed */
#define CHUNK 65536		/* bytes written to a client at a time */
#define AUTH_MAX 512

static const char usage[] =
	"usage: evc web [-nv] [-b BROKERS] [-c FILE] [-l ADDR:PORT] [-X NAME=VALUE]...\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -l, --listen ADDR:PORT where to serve HTTP (default web.listen,\n"
	"                         127.0.0.1:8080)\n"
	"  -n, --check            check the configuration and exit\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n"
	"\n"
	"The API is under /api/ (see evc-web(1) and /api/openapi.json); writes\n"
	"need web.token or $EVC_WEB_TOKEN as 'Authorization: Bearer TOKEN'.\n";

/* One HTTP connection: lws's per-session data. */
struct req {
	struct lws *wsi;
	char method[8];
	char path[HTTP_URI_MAX];
	char query[HTTP_URI_MAX];
	char auth[AUTH_MAX];
	bool has_auth;
	struct jbuf body;	/* the request's */
	long long expect;	/* its Content-Length; -1: none */
	struct http_resp resp;
	bool answering;		/* resp made: headers then body to write */
	bool close_after;	/* refused before its body was read: closed after */
	bool head_done;
	size_t off;		/* of the response's bytes written */
	/* an event stream */
	bool sse;
	struct webapi_cursor cur;
	long long wrote_ms;	/* last write; a ping after PING_MS */
	struct req *prev, *next;	/* the streams */
};

struct web {
	const struct conf *c;
	const char *listen;
	struct bus *b;
	struct server srv;
	struct webapi api;
	struct req *streams;
	long nstreams;
	long requests, refused, streams_opened;	/* for the stats at the end */
	struct metrics metrics;		/* GET /metrics */
	struct metrics_series *m_streams;
	uint64_t seen;		/* w->seq + tseq + counts_seq at the last wake */
	struct audit_limit refusals;	/* of writes without the token */
	int exit;		/* -1 while running */
};

static struct web *web_of;

/* --- the API's hooks: Kafka ---------------------------------------------- */

static int on_send(void *arg, enum topic t, const struct msg *m)
{
	return bus_send(((struct web *)arg)->b, t, m);
}

static int on_erase(void *arg, enum topic t, const char *cp)
{
	return bus_erase(((struct web *)arg)->b, t, cp);
}

static int on_commit(void *arg)
{
	return bus_flush(((struct web *)arg)->b, FLUSH_MS);
}

/*
 * A write asked through the API, to the audit trail. Tokens have no
 * names: the actor is "token" when the write carried web.token,
 * "loopback" when writes need none, "anonymous" when it was refused for
 * want of one (such records, which anyone can cause, are rate-limited).
 * The token itself is never written.
 */
static void on_audit(void *arg, const struct webapi_act *a,
		     const struct webapi_req *q, const struct http_resp *r)
{
	struct web *w = arg;
	bool refused = r->status == 401 || r->status == 403;
	struct audit_actor who;
	struct audit_rec rec;

	audit_actor_set(&who, AUDIT_CONSOLE, refused ? "anonymous" :
			w->api.token ? "token" : "loopback",
			q->peer ? q->peer : "", w->c);
	audit_init(&rec, &who, a->action, a->subject, q->now);
	if (*a->detail)
		audit_detail(&rec, "%s", a->detail);
	if (r->status >= 400)
		audit_result(&rec, refused ? AUDIT_REFUSED : AUDIT_FAILED,
			     "%d %s", r->status, r->what);
	if (refused)
		audit_post_limited(w->b, &w->refusals, &rec);
	else
		audit_post(w->b, &rec);
}

/*
 * What GET /metrics shows (evc(1), METRICS): the CPs as cp-state has
 * them, the requests, the event streams, the messages read and sent.
 */
static void metrics_begin(struct web *w)
{
	static const enum topic reads[] = {
		T_CP_STATE, T_CP_CATALOGUE, T_AUTH_RESPONSE,
	};
	static const enum topic sends[] = { T_CONTROL, T_CP_CATALOGUE, T_AUDIT };
	const struct bus_stats *st = bus_stats(w->b);
	struct metrics *m = &w->metrics;
	struct metrics_family *f;

	metrics_init(m);
	f = metrics_family(m, METRICS_GAUGE, "evc_cps", "CPs in each state", "state");
	for (int i = 0; i < CP_STATE_COUNT; i++)
		metrics_watch_long(metrics_series(f, cp_state_name(i)),
				   &w->api.counts[i]);
	metrics_counter_of(m, "evc_web_requests_total", "HTTP requests answered",
			   &w->requests);
	metrics_counter_of(m, "evc_web_refused_total",
			   "HTTP requests answered with a 4xx or 5xx", &w->refused);
	metrics_counter_of(m, "evc_web_event_streams_opened_total",
			   "Event streams opened", &w->streams_opened);
	w->m_streams = metrics_series(metrics_family(m, METRICS_GAUGE,
		"evc_web_event_streams", "Event streams open now", NULL));
	metrics_by_topic(m, "evc_messages_read_total", "Messages read and decoded",
			 w->c, st->received_by, reads, 3);
	metrics_by_topic(m, "evc_messages_rejected_total", "Malformed messages skipped",
			 w->c, st->rejected_by, reads, 3);
	metrics_by_topic(m, "evc_messages_sent_total", "Messages delivered to Kafka",
			 w->c, st->sent_by, sends, 3);
	metrics_by_topic(m, "evc_messages_failed_total", "Messages Kafka did not take",
			 w->c, st->failed_by, sends, 3);
}

static char *on_metrics(void *arg, size_t *len)
{
	struct web *w = arg;

	metrics_set(w->m_streams, (double)w->nstreams);
	return metrics_render(&w->metrics, len);
}

/* --- requests -------------------------------------------------------------- */

static const struct {
	enum lws_token_indexes tok;
	const char *name;
} methods[] = {
	{ WSI_TOKEN_GET_URI, "GET" }, { WSI_TOKEN_POST_URI, "POST" },
	{ WSI_TOKEN_HEAD_URI, "HEAD" },
	/* an lws built without them knows no PUT or DELETE (Debian's has them) */
#if defined(LWS_WITH_HTTP_UNCOMMON_HEADERS) || defined(LWS_HTTP_HEADERS_ALL)
	{ WSI_TOKEN_PUT_URI, "PUT" }, { WSI_TOKEN_DELETE_URI, "DELETE" },
	{ WSI_TOKEN_PATCH_URI, "PATCH" }, { WSI_TOKEN_OPTIONS_URI, "OPTIONS" },
#endif
};

/* Appends s[0..n) to the query, raw or percent-encoded: 0, or -1. */
static int add(struct req *q, const char *s, size_t n, bool raw)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(q->query);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 4 > sizeof(q->query))
			return -1;
		if (raw || strchr("-._~", c) || (c >= '0' && c <= '9') ||
		    ((c | 32) >= 'a' && (c | 32) <= 'z')) {
			q->query[o++] = (char)c;
		} else {
			q->query[o++] = '%';
			q->query[o++] = hex[c >> 4];
			q->query[o++] = hex[c & 15];
		}
	}
	q->query[o] = '\0';
	return 0;
}

/*
 * The query as lws keeps it, one decoded name=value per fragment, made a
 * query string again (encoded) for lib/webapi.c: 0, or -1 when too long.
 */
static int read_query(struct req *q)
{
	char frag[HTTP_URI_MAX];
	const char *eq;
	size_t n;

	q->query[0] = '\0';
	if (lws_hdr_total_length(q->wsi, WSI_TOKEN_HTTP_URI_ARGS) >=
	    HTTP_URI_MAX)
		return -1;
	for (int i = 0; lws_hdr_copy_fragment(q->wsi, frag, sizeof(frag),
					      WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
	     i++) {
		eq = strchr(frag, '=');
		n = eq ? (size_t)(eq - frag) : strlen(frag);
		if ((i && add(q, "&", 1, true)) || add(q, frag, n, false) ||
		    (eq && (add(q, "=", 1, true) ||
			    add(q, eq + 1, strlen(eq + 1), false))))
			return -1;
	}
	return 0;
}

/* Method, path, query, token and length of the request's head: 0, or -1. */
static int read_head(struct req *q, const char *uri)
{
	char len[24];

	q->method[0] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (lws_hdr_total_length(q->wsi, methods[i].tok) > 0)
			snprintf(q->method, sizeof(q->method), "%s",
				 methods[i].name);
	if (strlen(uri) >= sizeof(q->path))
		return -1;
	snprintf(q->path, sizeof(q->path), "%s", uri);
	if (read_query(q))
		return -1;
	q->has_auth = lws_hdr_total_length(q->wsi,
					   WSI_TOKEN_HTTP_AUTHORIZATION) > 0;
	if (q->has_auth && lws_hdr_copy(q->wsi, q->auth, sizeof(q->auth),
					WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
		q->auth[0] = '\0';
	q->expect = -1;
	if (lws_hdr_copy(q->wsi, len, sizeof(len),
			 WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
		q->expect = strtoll(len, NULL, 10);
	return 0;
}

static void answer(struct web *w, struct req *q)
{
	char peer[64] = "";
	struct webapi_req rq = {
		.method = q->method, .path = q->path, .query = q->query,
		.auth = q->has_auth ? q->auth : NULL, .peer = peer,
		.body = q->body.s, .len = q->body.len, .now = now_ms(),
	};

	lws_get_peer_simple(q->wsi, peer, sizeof(peer));

	webapi_handle(&w->api, &rq, &q->resp);
	w->requests++;
	w->refused += q->resp.status >= 400;
	if (q->resp.status >= 400)
		debug("%s %s: %d %.*s", q->method, q->path, q->resp.status,
		      (int)q->resp.body.len, q->resp.body.s);
	q->answering = true;
	lws_callback_on_writable(q->wsi);
}

/* Refused before its body is read: the connection closes after the answer. */
static int refuse(struct web *w, struct req *q, int status, const char *what)
{
	w->requests++;
	w->refused++;
	http_error(&q->resp, status, what, q->path);
	q->answering = true;
	q->close_after = true;
	lws_callback_on_writable(q->wsi);
	return 0;
}

/* A request's head: answered now, or once its body has come. */
static int on_http(struct web *w, struct req *q, struct lws *wsi,
		   const char *uri)
{
	memset(q, 0, sizeof(*q));
	q->wsi = wsi;
	if (read_head(q, uri))
		return refuse(w, q, 414, "URI too long");
	if (!q->method[0])
		return refuse(w, q, 405, "method not allowed");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return refuse(w, q, 411, "a body needs Content-Length");
	if (q->expect > HTTP_BODY_MAX)
		return refuse(w, q, 413, "request body too large");
	if (q->expect > 0)
		return 0;	/* LWS_CALLBACK_HTTP_BODY follows */
	answer(w, q);
	return 0;
}

static int on_body(struct web *w, struct req *q, const void *in, size_t len)
{
	if (q->answering)
		return 0;
	if (q->body.len + len > HTTP_BODY_MAX)
		return refuse(w, q, 413, "request body too large");
	jbuf_add(&q->body, in, len);
	return 0;
}

static void req_free(struct req *q)
{
	jbuf_free(&q->body);
	jbuf_free(&q->resp.body);
}

/* --- responses ------------------------------------------------------------- */

static int add_header(struct req *q, const char *name, const char *value,
		      unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(q->wsi, (const unsigned char *)name,
					   (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

static size_t resp_len(const struct http_resp *r)
{
	return r->bytes ? r->nbytes : r->body.len;
}

static int write_head(struct req *q)
{
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	const struct http_resp *r = &q->resp;

	if (lws_add_http_common_headers(q->wsi, (unsigned)r->status, r->type,
					r->stream ? LWS_ILLEGAL_HTTP_CONTENT_LEN :
					(lws_filepos_t)resp_len(r), &p, end) ||
	    add_header(q, "cache-control:", "no-store", &p, end) ||
	    add_header(q, "x-content-type-options:", "nosniff", &p, end) ||
	    (r->allow && add_header(q, "allow:", r->allow, &p, end)) ||
	    (r->challenge && add_header(q, "www-authenticate:",
					"Bearer realm=\"evc\"", &p, end)) ||
	    (q->close_after && add_header(q, "connection:", "close", &p, end)) ||
	    lws_finalize_write_http_header(q->wsi, start, &p, end))
		return -1;
	q->head_done = true;
	return 0;
}

/* Up to CHUNK bytes of b from *off; final: the last of the response. */
static int write_bytes(struct req *q, const void *b, size_t len, size_t *off,
		       bool final)
{
	static unsigned char buf[LWS_PRE + CHUNK];
	size_t n = len - *off < CHUNK ? len - *off : CHUNK;
	bool last = final && *off + n == len;

	memcpy(buf + LWS_PRE, (const char *)b + *off, n);
	if (lws_write(q->wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL :
		      LWS_WRITE_HTTP) < (int)n)
		return -1;
	*off += n;
	return 0;
}

/* The response's head, then its body a chunk at a time: -1 closes. */
static int write_resp(struct req *q)
{
	const struct http_resp *r = &q->resp;
	size_t len = resp_len(r);

	if (!q->head_done && write_head(q))
		return -1;
	if (len && strcmp(q->method, "HEAD") &&
	    write_bytes(q, r->bytes ? (const void *)r->bytes : r->body.s, len,
			&q->off, true))
		return -1;
	if (q->off < len && strcmp(q->method, "HEAD")) {
		lws_callback_on_writable(q->wsi);
		return 0;
	}
	req_free(q);
	q->answering = false;
	if (q->close_after)
		return -1;	/* lws sends what it holds, then closes */
	return lws_http_transaction_completed(q->wsi) ? -1 : 0;
}

/* --- event streams --------------------------------------------------------- */

static void stream_start(struct web *w, struct req *q)
{
	q->sse = true;
	q->next = w->streams;
	if (w->streams)
		w->streams->prev = q;
	w->streams = q;
	w->nstreams++;
	w->streams_opened++;
	lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK, STALL_S);
	debug("event stream %ld opened", w->nstreams);
}

static void stream_end(struct web *w, struct req *q)
{
	if (!q->sse)
		return;
	if (q->prev)
		q->prev->next = q->next;
	else
		w->streams = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->sse = false;
	w->nstreams--;
}

/* What a stream is owed: the hello, the changes, or a ping. */
static int write_stream(struct web *w, struct req *q)
{
	struct jbuf b = { 0 };
	size_t off = 0;
	bool more = false;
	int ret = 0;

	if (!q->head_done) {
		if (write_head(q))
			return -1;
		stream_start(w, q);
		webapi_hello(&w->api, &b, &q->cur);
	} else if (webapi_pending(&w->api, &q->cur)) {
		more = webapi_events(&w->api, &b, &q->cur, CHUNK / 2);
	} else if (mono_ms() - q->wrote_ms >= PING_MS) {
		jbuf_str(&b, ": ping\n\n");
	}
	while (off < b.len && !ret)
		ret = write_bytes(q, b.s, b.len, &off, false);
	if (b.len && !ret) {	/* taken: the stream is alive */
		q->wrote_ms = mono_ms();
		lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK, STALL_S);
	}
	if (more)
		lws_callback_on_writable(q->wsi);
	jbuf_free(&b);
	return ret;
}

/* After Kafka: the streams that have news, or are due a ping. */
static void wake_streams(struct web *w)
{
	uint64_t now = w->api.seq + w->api.tseq + w->api.counts_seq;
	long long t = mono_ms();

	for (struct req *q = w->streams; q; q = q->next)
		if ((now != w->seen && webapi_pending(&w->api, &q->cur)) ||
		    t - q->wrote_ms >= PING_MS)
			lws_callback_on_writable(q->wsi);
	w->seen = now;
}

/* --- lws ------------------------------------------------------------------- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct web *w = web_of;
	struct req *q = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		req_free(q);
		return on_http(w, q, wsi, in ? in : "");
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(w, q, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!q->answering)
			answer(w, q);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!q || !q->answering)
			return 0;
		if (q->resp.stream)
			return write_stream(w, q);
		return write_resp(q);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (q) {
			stream_end(w, q);
			req_free(q);
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ "http", callback, sizeof(struct req), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* --- Kafka ----------------------------------------------------------------- */

static void feed(void *arg, enum topic t, const struct msg *m, bool gone)
{
	webapi_feed(arg, t, m, gone);
}

/*
 * Tickets from now on, cp-catalogue and cp-state from their beginning,
 * read to their end before anything is served: EXIT_OK or the status.
 */
static int catch_up(struct web *w)
{
	struct bus *b = w->b;

	if (bus_follow_end_all(b, T_AUTH_RESPONSE) ||
	    bus_follow_all(b, T_CP_CATALOGUE))
		return EXIT_FAIL;
	switch (bus_read_compacted(b, T_CP_STATE, feed, &w->api, CATCH_UP_MS)) {
	case BUS_READ_DONE:
		return EXIT_OK;
	case BUS_READ_TIMEOUT:
		error("cannot read '%s' and '%s' to their end within %d s",
		      bus_topic_name(b, T_CP_STATE),
		      bus_topic_name(b, T_CP_CATALOGUE), CATCH_UP_MS / 1000);
		return EXIT_UNREACHABLE;
	case BUS_READ_UNFOLLOWED:
	case BUS_READ_STOPPED:
		return EXIT_FAIL;
	default:
		return EXIT_UNREACHABLE;
	}
}

/* What Kafka has, a bounded amount at a time. */
static void drain(struct web *w)
{
	enum topic t;
	struct msg m;
	int r = 1;

	for (int i = 0; i < DRAIN_MAX && r > 0; i++)
		if ((r = bus_recv(w->b, &m, &t, 0)) > 0)
			webapi_feed(&w->api, t, &m, r == BUS_GONE);
	if (r < 0)
		w->exit = EXIT_UNREACHABLE;
}

/* Listens, before Kafka is opened: an address taken is said at once. */
static int listen_start(struct web *w)
{
	const struct conf_web *o = &w->c->web;
	struct server_opts so = {
		.listen = w->listen, .protocols = protocols,
		.tls_cert = o->tls_cert, .tls_key = o->tls_key,
		.timeout_s = HTTP_TIMEOUT_S, .tick_us = TICK_US,
	};

	if (server_start(&w->srv, &so))
		return -1;
	w->api.open_writes = !w->api.token && w->srv.loopback;
	return 0;
}

/* Caught up with Kafka: requests are answered from now on. */
static void serve(struct web *w)
{
	char where[160];

	server_follow(&w->srv, w->b);
	server_where(&w->srv, where, sizeof(where));
	info("listening on %s (%s) for the API, %ld CPs known; writes %s", where,
	     w->c->web.tls_cert ? "https" : "http", w->api.total,
	     w->api.token ? "need the token" : w->api.open_writes ?
	     "open: no token, on loopback" : "refused: no token");
}

/* The server, then the API over Kafka's state: EXIT_OK or the status. */
static int web_start(struct web *w, struct setup *su)
{
	const struct webapi_hooks h = {
		.send = on_send, .erase = on_erase, .commit = on_commit,
		.audit = on_audit, .metrics = on_metrics, .arg = w,
	};
	int ret;

	webapi_init(&w->api, &h);
	w->api.token = getenv("EVC_WEB_TOKEN") ? getenv("EVC_WEB_TOKEN") :
		       w->c->web.token;
	w->api.read_token = w->c->web.read_token;
	w->api.default_kw = w->c->central.max_power_kw;
	if (listen_start(w)) {
		webapi_free(&w->api);
		return EXIT_FAIL;
	}
	if (!(w->b = setup_bus(su)))
		ret = EXIT_USAGE;
	else if (bus_check(w->b, CHECK_MS))
		ret = EXIT_UNREACHABLE;
	else if ((ret = catch_up(w)) == EXIT_OK) {
		metrics_begin(w);
		serve(w);
	}
	if (ret != EXIT_OK) {
		server_stop(&w->srv);
		bus_close(w->b, 0);
		webapi_free(&w->api);
	}
	return ret;
}

static int web_main(struct web *w, struct setup *su)
{
	const struct bus_stats *st;
	int ret = web_start(w, su);

	if (ret != EXIT_OK)
		return ret;
	log_batch(true);
	while (!bus_stop && w->exit < 0) {
		server_run(&w->srv);
		drain(w);
		wake_streams(w);
		log_flush();
	}
	log_batch(false);
	server_stop(&w->srv);
	st = bus_stats(w->b);
	info("stats: requests %ld, refused %ld, event streams %ld; Kafka received %ld, rejected %ld, sent %ld, failed %ld",
	     w->requests, w->refused, w->streams_opened, st->received,
	     st->rejected, st->sent, st->failed);
	if (bus_close(w->b, FLUSH_MS) && w->exit < 0)
		w->exit = EXIT_UNREACHABLE;
	metrics_free(&w->metrics);
	webapi_free(&w->api);
	return w->exit < 0 ? EXIT_OK : w->exit;
}

/* --- options --------------------------------------------------------------- */

struct web_opts {
	const char *listen;	/* -l, over web.listen */
	bool check;		/* -n */
};

/* What conf.c cannot know: the files named exist, the token is one. */
static int check(const struct conf *c, const char *listen)
{
	const struct conf_web *o = &c->web;
	const char *env = getenv("EVC_WEB_TOKEN");

	if (!conf_listen_ok(listen))
		return usage_error("bad --listen (ADDR:PORT): '%s'", listen);
	if (env && !conf_token_ok(env))
		return usage_error("EVC_WEB_TOKEN is not 16 to 256 printable characters without blanks");
	if (o->tls_cert && access(o->tls_cert, R_OK))
		return usage_error("cannot read web.tls.cert: '%s': %s",
				   o->tls_cert, strerror(errno));
	if (o->tls_key && access(o->tls_key, R_OK))
		return usage_error("cannot read web.tls.key: '%s': %s",
				   o->tls_key, strerror(errno));
	return 0;
}

static int web_run(void *ctx, struct setup *su)
{
	struct web_opts *o = ctx;
	struct web w = { .c = &su->conf, .exit = -1 };
	int ret;

	w.listen = o->listen ? o->listen : su->conf.web.listen;
	if (check(&su->conf, w.listen))
		return EXIT_USAGE;
	if (o->check)
		return EXIT_OK;
	bus_signals();
	web_of = &w;
	ret = web_main(&w, su);
	web_of = NULL;
	return ret;
}

static int web_opt(void *ctx, int opt, const char *arg)
{
	struct web_opts *o = ctx;

	if (opt == 'l')
		o->listen = arg;
	else
		o->check = true;
	return 0;
}

static int web_operands(void *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc > 0)
		return usage_error("too many arguments: '%s'", argv[0]);
	return 0;
}

int cmd_web(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'n' },
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	struct web_opts o = { 0 };
	struct setup_opts so = {
		.usage = usage, .shortopts = "l:n", .longopts = opts,
		.opt = web_opt, .operands = web_operands, .run = web_run,
		.ctx = &o,
	};

	return setup_run(&so, argc, argv);
}
