/* exporter.c: a minimal HTTP listener answering GET /metrics, serviced from its owner's loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* uv.h first: libwebsockets.h declares its libuv helpers only then. */
#include <uv.h>
#include <libwebsockets.h>

#include "conf.h"
#include "exporter.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "xalloc.h"

#define CHUNK (16 << 10)	/* bytes of a body written at once */
#define IDLE_S 30		/* a connection silent this long is closed */

struct exporter {
	uv_loop_t loop;
	struct lws_context *ctx;
	exporter_render_fn *render;
	void *arg;
	unsigned port;
};

/* One reply under way: lws's per-session data of a connection. */
struct reply {
	unsigned status;	/* 0: none under way */
	const char *type;
	char *body;
	size_t len, sent;
};


static void reply_free(struct reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* The head of r, written; the body follows as the socket takes it. */
static int reply_start(struct lws *wsi, struct reply *r)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf);

	if (lws_add_http_common_headers(wsi, r->status, r->type, r->len, &p, end) ||
	    (r->status == HTTP_STATUS_METHOD_NOT_ALLOWED &&
	     lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
					 (const unsigned char *)"GET", 3, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

/* What a request asks for: the metrics, or an error in JSON. */
static void reply_decide(struct exporter *e, struct lws *wsi, struct reply *r,
			 const char *path)
{
	const char *why = NULL;

	reply_free(r);
	if (strcmp(path, "/metrics")) {
		r->status = HTTP_STATUS_NOT_FOUND;
		why = "not found: only /metrics is served here";
	} else if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		r->status = HTTP_STATUS_METHOD_NOT_ALLOWED;
		why = "method not allowed: only GET";
	}
	if (why) {
		r->type = "application/json";
		r->body = xasprintf("{\"error\": \"%s\"}\n", why);
		r->len = strlen(r->body);
		return;
	}
	r->status = HTTP_STATUS_OK;
	r->type = METRICS_CONTENT_TYPE;
	r->body = e->render(e->arg, &r->len);
}

/* Whether the request carries a body still to be read (a POST's). */
static bool has_body(struct lws *wsi)
{
	char len[24];

	return lws_hdr_copy(wsi, len, sizeof(len),
			    WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
	       strtoull(len, NULL, 10) > 0;
}

/* The body, a chunk at a time; then the connection waits for another request. */
static int reply_write(struct lws *wsi, struct reply *r)
{
	unsigned char buf[LWS_PRE + CHUNK];
	size_t n = r->len - r->sent < CHUNK ? r->len - r->sent : CHUNK;
	bool last = r->sent + n == r->len;

	if (!r->status)
		return 0;
	memcpy(buf + LWS_PRE, r->body + r->sent, n);
	if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL :
		      LWS_WRITE_HTTP) != (int)n)
		return -1;
	r->sent += n;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	reply_free(r);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct exporter *e = lws_context_user(lws_get_context(wsi));
	struct reply *r = user;

	(void)len;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		reply_decide(e, wsi, r, in ? (const char *)in : "");
		/* a body sent along is read before the answer */
		return has_body(wsi) ? 0 : reply_start(wsi, r);
	case LWS_CALLBACK_HTTP_BODY:
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return r->status ? reply_start(wsi, r) : -1;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return reply_write(wsi, r);
	case LWS_CALLBACK_CLOSED_HTTP:
		reply_free(r);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ "http", callback, sizeof(struct reply), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/*
 * lws says why it cannot listen in lines of its own: the address is
 * tried first, so that an address taken is said in one line of ours.
 * 0, or -1 with why.
 */
static int try_bind(const char *host, unsigned port, char *why, size_t n)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM }, *ai;
	char service[8];
	int fd, err, one = 1;

	snprintf(service, sizeof(service), "%u", port);
	if ((err = getaddrinfo(host, service, &hints, &ai))) {
		snprintf(why, n, "%s", gai_strerror(err));
		return -1;
	}
	err = 0;
	if ((fd = socket(ai->ai_family, ai->ai_socktype, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen))
		err = errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	if (err)
		snprintf(why, n, "%s", strerror(err));
	return err ? -1 : 0;
}

/* The address lws binds: NULL for every one, as evc ocpp takes them. */
static const char *iface_of(const char *host)
{
	if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0"))
		return NULL;
	return !strcmp(host, "localhost") ? "127.0.0.1" : host;
}

/* ci for host:port. */
static void creation_info(struct exporter *e, struct lws_context_creation_info *ci,
			  const char *host, void **loops)
{
	memset(ci, 0, sizeof(*ci));
	ci->port = (int)e->port;
	ci->iface = iface_of(host);
	ci->protocols = protocols;
	ci->timeout_secs = IDLE_S;
	ci->keepalive_timeout = IDLE_S;
	ci->server_string = "evc";
	ci->user = e;
	ci->options = LWS_SERVER_OPTION_LIBUV;
	/* lws binds an IPv4 address only on an IPv4 socket */
	if (inet_pton(AF_INET, ci->iface ? ci->iface : "", &(struct in_addr){ 0 }) == 1)
		ci->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	ci->foreign_loops = loops;
	ci->pcontext = &e->ctx;
}

struct exporter *exporter_open(const char *addr, exporter_render_fn *render,
			       void *arg)
{
	struct exporter *e = xcalloc(1, sizeof(*e));
	void *loops[] = { &e->loop, NULL };
	struct lws_context_creation_info ci;
	struct lws_vhost *vh;
	char host[128], why[128];

	conf_listen_split(addr, host, sizeof(host), &e->port);
	e->render = render;
	e->arg = arg;
	if (try_bind(iface_of(host), e->port, why, sizeof(why))) {
		error("cannot listen on '%s': %s", addr, why);
		goto fail;
	}
	creation_info(e, &ci, host, loops);
	lws_set_log_level(LLL_ERR, server_lws_line);
	if (uv_loop_init(&e->loop)) {
		error("cannot start the event loop of '%s'", addr);
		goto fail;
	}
	if (!(e->ctx = lws_create_context(&ci))) {
		uv_loop_close(&e->loop);
		error("cannot listen on '%s' (see the line above)", addr);
		goto fail;
	}
	/*
	 * lws makes a context even when it cannot listen: no vhost then. It
	 * is let go without running the loop, as evc ocpp does (lws 4.1 has
	 * unloaded its libuv plugin by the time its handles' callbacks run).
	 */
	if (!(vh = lws_get_vhost_by_name(e->ctx, "default"))) {
		lws_context_destroy(e->ctx);
		error("cannot listen on '%s' (see the line above)", addr);
		goto fail;
	}
	e->port = (unsigned)lws_get_vhost_listen_port(vh);
	/* Port 0 took a free one: scripts read which here. */
	info(strchr(host, ':') ? "metrics: listening on [%s]:%u for GET /metrics" :
	     "metrics: listening on %s:%u for GET /metrics", host, e->port);
	return e;
fail:
	free(e);
	return NULL;
}

void exporter_service(struct exporter *e)
{
	if (e)
		uv_run(&e->loop, UV_RUN_NOWAIT);
}

unsigned exporter_port(const struct exporter *e)
{
	return e->port;
}

/*
 * lws on a loop of ours only begins its destruction: it ends in the
 * callbacks of its handles' closing, as the loop runs, and a second
 * call frees what is left (lws 4.1; later ones do nothing more).
 */
void exporter_close(struct exporter *e)
{
	if (!e)
		return;
	for (int i = 0; i < 2; i++) {
		if (e->ctx)
			lws_context_destroy(e->ctx);
		while (uv_run(&e->loop, UV_RUN_NOWAIT))
			;
	}
	uv_loop_close(&e->loop);
	free(e);
}
