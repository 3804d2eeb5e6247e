/* server.h: a libwebsockets server on a libuv loop of ours: listening, TLS, waking on Kafka, stopping (evc ocpp, evc web). */
#ifndef EVC_SERVER_H
#define EVC_SERVER_H

#include <stdbool.h>

/* uv.h first: libwebsockets.h declares its libuv helpers only then. */
#include <uv.h>
#include <libwebsockets.h>

#include "log.h"

struct bus;

struct server_opts {
	const char *listen;		/* ADDR:PORT (conf_listen_ok()'s) */
	const struct lws_protocols *protocols;
	const char *tls_cert, *tls_key;	/* both, or NULL: no TLS */
	unsigned timeout_s;		/* a connection's handshake, its headers */
	unsigned tick_us;		/* the loop turns at least this often */
	void *user;			/* lws_context_user() */
};

struct server {
	struct lws_context *ctx;
	uv_loop_t loop;		/* lws runs on it: epoll, not a poll of every socket */
	lws_sorted_usec_list_t sul;
	unsigned tick_us;
	struct bus *bus;
	char host[128];		/* of the listening address */
	unsigned port;		/* the one listened on (port 0: a free one) */
	bool loopback;		/* listening on loopback only */
};

/*
 * Listens as o says, on a loop of its own that server_run() turns. 0, or
 * -1 after saying why ("cannot listen on 'ADDR:PORT'").
 */
int server_start(struct server *s, const struct server_opts *o);

/* lws's own complaints, one line each, at a limited rate (lws_set_log_level). */
void server_lws_line(int level, const char *line);

/*
 * From now on the loop also wakes when b has something to read. A server
 * listens before its owner opens Kafka: an address already taken is said
 * at once, and no consumer is opened only to be closed again.
 */
void server_follow(struct server *s, struct bus *b);

/* One turn of the loop: what is ready, or a tick. */
void server_run(struct server *s);

/* Closes every connection and the loop. */
void server_stop(struct server *s);

/* Whether host (an address, "localhost") is one of loopback's. */
bool server_is_loopback(const char *host);

/* "HOST:PORT", "[HOST]:PORT" when host has colons, for messages. */
void server_where(const struct server *s, char *buf, size_t len);

#endif
