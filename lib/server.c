/* server.c: a libwebsockets server on a libuv loop of ours: listening, TLS, waking on Kafka, stopping (evc ocpp, evc web). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bus.h"
#include "conf.h"
#include "server.h"

#define FDS_MAX 65536		/* connections one server serves */

static struct ratelimit rl_lws;

void server_lws_line(int level, const char *line)
{
	size_t n = strlen(line);

	(void)level;
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	warn_limited(&rl_lws, "libwebsockets: %.*s", (int)n, line);
}

bool server_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!strcmp(host, "localhost") || !strcmp(host, "lo"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) != 1)
		return false;
	return IN6_IS_ADDR_LOOPBACK(&a6) ||
	       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
}

void server_where(const struct server *s, char *buf, size_t len)
{
	snprintf(buf, len, strchr(s->host, ':') ? "[%s]:%u" : "%s:%u",
		 s->host, s->port);
}

/* As many descriptors as the limit lets, up to FDS_MAX: 0, or the count. */
static unsigned raise_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < FDS_MAX && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < FDS_MAX ? rl.rlim_max : FDS_MAX;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur < FDS_MAX ? (unsigned)rl.rlim_cur : FDS_MAX;
}

/* Kafka has something: the poll of the sockets ends, the loop reads it. */
static void wake(void *arg)
{
	lws_cancel_service(((struct server *)arg)->ctx);
}

static void tick_sul(lws_sorted_usec_list_t *sul)
{
	struct server *s = lws_container_of(sul, struct server, sul);

	lws_sul_schedule(s->ctx, 0, &s->sul, tick_sul, s->tick_us);
}

void server_follow(struct server *s, struct bus *b)
{
	s->bus = b;
	bus_wakeup(b, wake, s);
}

void server_run(struct server *s)
{
	uv_run(&s->loop, UV_RUN_ONCE);
}

/*
 * Every connection closed; lws lets go of the loop, which is closed then.
 * On a loop of ours lws only begins its destruction: it ends in the
 * callbacks of its handles' closing, as the loop runs, and a second call
 * frees what is left (lws 4.1 needs it; later ones do nothing more).
 */
void server_stop(struct server *s)
{
	if (s->bus)
		bus_wakeup(s->bus, NULL, NULL);
	if (s->ctx)
		lws_context_destroy(s->ctx);
	while (uv_run(&s->loop, UV_RUN_NOWAIT))
		;
	if (s->ctx)
		lws_context_destroy(s->ctx);
	while (uv_run(&s->loop, UV_RUN_NOWAIT))
		;
	uv_loop_close(&s->loop);
}

static void creation_info(struct server *s, const struct server_opts *o,
			  struct lws_context_creation_info *ci, void **loops)
{
	const char *h = s->host;

	memset(ci, 0, sizeof(*ci));
	ci->port = (int)s->port;
	ci->iface = !strcmp(h, "*") || !strcmp(h, "0.0.0.0") ? NULL :
		    !strcmp(h, "localhost") ? "127.0.0.1" : h;
	ci->protocols = o->protocols;
	ci->timeout_secs = o->timeout_s;
	ci->timeout_secs_ah_idle = o->timeout_s;
	ci->fd_limit_per_thread = raise_fds();
	ci->server_string = "evc";
	ci->user = o->user;
	ci->options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBUV;
	/* lws binds an IPv4 address only on an IPv4 socket; else it is every address's */
	if (inet_pton(AF_INET, ci->iface ? ci->iface : "", &(struct in_addr){ 0 }) == 1)
		ci->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (o->tls_cert) {
		ci->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		ci->ssl_cert_filepath = o->tls_cert;
		ci->ssl_private_key_filepath = o->tls_key;
	}
	loops[0] = &s->loop;
	ci->foreign_loops = loops;
	ci->pcontext = &s->ctx;		/* lws clears it once wholly destroyed */
}

int server_start(struct server *s, const struct server_opts *o)
{
	void *loops[2] = { NULL, NULL };
	struct lws_context_creation_info ci;
	struct lws_vhost *vh;

	memset(s, 0, sizeof(*s));
	conf_listen_split(o->listen, s->host, sizeof(s->host), &s->port);
	s->loopback = server_is_loopback(s->host);
	s->tick_us = o->tick_us;
	creation_info(s, o, &ci, loops);
	lws_set_log_level(LLL_ERR, server_lws_line);
	if (uv_loop_init(&s->loop))
		return error("cannot start the event loop");
	if (!(s->ctx = lws_create_context(&ci))) {
		uv_loop_close(&s->loop);
		return error("cannot listen on '%s' (see the line above)",
			     o->listen);
	}
	/*
	 * lws makes a context even when its server cannot listen. It is let
	 * go without running the loop: lws 4.1 has unloaded its libuv plugin
	 * by the time the callbacks of its closing handles would run.
	 */
	if (!(vh = lws_get_vhost_by_name(s->ctx, "default"))) {
		lws_context_destroy(s->ctx);
		return error("cannot listen on '%s' (see the line above)",
			     o->listen);
	}
	lws_sul_schedule(s->ctx, 0, &s->sul, tick_sul, s->tick_us);
	/* Port 0 took a free one */
	s->port = (unsigned)lws_get_vhost_listen_port(vh);
	return 0;
}
