/* ocpp.c: the ocpp role: a WebSocket server for OCPP 1.6J chargers, each made a CP of the network by lib/gateway.c. */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/figure.h"
#include "lib/gateway.h"
#include "lib/journal.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/server.h"
#include "lib/setup.h"
#include "lib/xalloc.h"

#define PROTOCOL "ocpp1.6"	/* OCPP-J's subprotocol for 1.6 */
#define SLICE_US (10 * LWS_US_PER_MS)	/* the core's deadlines: ticked this often */
#define DRAIN_MAX 2000		/* Kafka messages read between two waits */
#define FLUSH_MS 5000
#define OUT_MAX (256 << 10)	/* bytes queued to a charger that does not read */
#define HANDSHAKE_S 5		/* a connection must be upgraded within */
#define CLOSES_MAX 4096		/* sessions ended, waiting for Kafka's word */

static const char usage[] =
	"usage: evc ocpp [-nv] [-b BROKERS] [-c FILE] [-l ADDR:PORT] [-X NAME=VALUE]...\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -l, --listen ADDR:PORT where chargers connect (default ocpp.listen,\n"
	"                         127.0.0.1:9000)\n"
	"  -n, --check            check the configuration and exit\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n"
	"\n"
	"Chargers connect to ws://ADDR:PORT/ocpp/CP_ID (wss:// with ocpp.tls)\n"
	"with the subprotocol ocpp1.6.\n";

/* A frame waiting to be written, LWS_PRE bytes of room before it. */
struct out {
	struct out *next;
	size_t len;
	unsigned char data[];
};

/* A charger's connection: lws's per-session data. */
struct conn {
	struct lws *wsi;
	long ch;		/* the charger's number in the core; -1: none */
	char id[MSG_NAME_MAX + 1];
	bool no_protocol;	/* no subprotocol offered */
	struct out *head, *tail;
	size_t queued;		/* bytes in the queue */
	char *rx;		/* a message arriving in fragments */
	size_t rxlen;
	bool drop_rx;		/* ... too big: the rest is skipped */
	bool ping;		/* a ping is to be written */
	int close_status;	/* > 0: closing; nothing more is sent */
	char close_why[64];
};

/* A session ended: its journal record goes once Kafka has its end. */
struct pending_close {
	struct gw_record r;
	long mark;		/* messages queued when it ended */
	long failed;		/* delivery failures then */
};

struct gwio {
	const struct conf *c;
	const char *listen;
	struct bus *b;
	struct gateway g;
	struct journal j;
	struct server srv;	/* lws on a loop of ours */
	long queued;		/* messages handed to the bus */
	struct pending_close *closes;
	unsigned ncloses;
	struct crypt_data crypt;
	struct ratelimit rl_hostile, rl_lws, rl_http;
	int exit;		/* -1 while running */
};

/* lws's callbacks find the gateway here: one per process. */
static struct gwio *io_of;

/* --- the core's hooks ---------------------------------------------------- */

static int on_post(void *arg, enum topic t, const struct msg *m)
{
	struct gwio *io = arg;

	if (bus_send(io->b, t, m))
		return -1;
	io->queued++;
	return 0;
}

static void on_ping(void *arg, uint32_t ch, void *conn)
{
	struct conn *k = conn;

	(void)arg;
	(void)ch;
	k->ping = true;
	lws_callback_on_writable(k->wsi);
}

/* The core closes a connection (replaced, a flood): what is queued is dropped. */
static void on_close(void *arg, uint32_t ch, void *conn, int status,
		     const char *why)
{
	struct conn *k = conn;

	(void)arg;
	(void)ch;
	k->close_status = status;
	snprintf(k->close_why, sizeof(k->close_why), "%s", why);
	lws_callback_on_writable(k->wsi);
}

static void on_send(void *arg, uint32_t ch, void *conn, const char *frame,
		    size_t len)
{
	struct conn *k = conn;
	struct out *o;

	(void)arg;
	(void)ch;
	if (k->close_status)
		return;
	if (k->queued + len > OUT_MAX) {
		warn_limited(&io_of->rl_hostile, "'%s' does not read: closing",
			     k->id);
		on_close(arg, ch, conn, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			 "not reading");
		return;
	}
	o = xmalloc(sizeof(*o) + LWS_PRE + len);
	o->next = NULL;
	o->len = len;
	memcpy(o->data + LWS_PRE, frame, len);
	if (k->tail)
		k->tail->next = o;
	else
		k->head = o;
	k->tail = o;
	k->queued += len;
	lws_callback_on_writable(k->wsi);
}

static void on_keep(void *arg, const struct gw_record *r)
{
	struct gwio *io = arg;
	struct pending_close *p;

	if (!r->closed) {
		journal_keep(&io->j, r);
		return;
	}
	if (io->ncloses == CLOSES_MAX) {	/* Kafka is away long: keep them */
		warn_limited(&io->rl_lws, "too many ends waiting for Kafka: '%s' stays in the journal",
			     r->end.session);
		return;
	}
	p = &io->closes[io->ncloses++];
	p->r = *r;
	p->mark = io->queued;
	p->failed = bus_stats(io->b)->failed;
}

/* Sessions whose end Kafka has: forgotten by the journal. */
static void closes_done(struct gwio *io)
{
	const struct bus_stats *st = bus_stats(io->b);
	unsigned i = 0;

	while (i < io->ncloses && st->sent + st->failed >= io->closes[i].mark) {
		if (st->failed == io->closes[i].failed)
			journal_keep(&io->j, &io->closes[i].r);
		else
			warn("the end of session '%s' is not delivered: kept in the journal",
			     io->closes[i].r.end.session);
		i++;
	}
	memmove(io->closes, io->closes + i, (io->ncloses - i) * sizeof(*io->closes));
	io->ncloses -= i;
}

static void on_say(void *arg, enum say level, const char *line)
{
	log_say(&((struct gwio *)arg)->rl_hostile, level, line);
}

/* --- the handshake ------------------------------------------------------- */

/* The CP id of a URI: PATH<id>, nothing after; NULL when there is none. */
static const char *id_of(const char *path, const char *uri)
{
	size_t n = strlen(path);

	if (strncmp(uri, path, n) || !msg_cp_id_ok(uri + n))
		return NULL;
	return uri + n;
}

/* Whether the comma-separated list of subprotocols offers ours. */
static bool offers(const char *list)
{
	const char *p = list;
	size_t n;

	while (*p) {
		p += strspn(p, " ,");
		n = strcspn(p, " ,");
		if (n == strlen(PROTOCOL) && !strncmp(p, PROTOCOL, n))
			return true;
		p += n;
	}
	return false;
}

static const char *password_of(const struct conf *c, const char *id)
{
	for (unsigned i = 0; i < c->ocpp.npasswords; i++)
		if (!strcmp(c->ocpp.passwords[i].id, id))
			return c->ocpp.passwords[i].hash;
	return NULL;
}

/* Equal strings, in a time that does not tell how much of them is. */
static bool same(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned char d = n != strlen(b);

	for (size_t i = 0; i < n && b[i]; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return !d;
}


/*
 * Security profile 1: HTTP Basic, the user the CP id, the password
 * checked against its crypt(3) hash. A charger with no password may
 * connect only to a gateway on loopback, from loopback. 0 when it may
 * connect.
 */
static int authorised(struct gwio *io, struct lws *wsi, const char *id,
		      const char *peer)
{
	const char *hash = password_of(io->c, id), *out;
	char hdr[512], cred[384], *colon;
	int n;

	if (!hash)
		return io->srv.loopback && server_is_loopback(peer) ? 0 : -1;
	n = lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n <= 6 || strncasecmp(hdr, "Basic ", 6))
		return -1;
	n = lws_b64_decode_string(hdr + 6, cred, (int)sizeof(cred) - 1);
	if (n <= 0)
		return -1;
	cred[n] = '\0';
	if (!(colon = strchr(cred, ':')))
		return -1;
	*colon = '\0';
	if (strcmp(cred, id))
		return -1;
	out = crypt_r(colon + 1, hash, &io->crypt);
	return out && same(out, hash) ? 0 : -1;
}

/*
 * An upgrade refused with an HTTP status: 1, as lws wants it then. The
 * head is written whole: lws would answer an upgrade refused so early
 * as HTTP/1.0, which WebSocket clients do not read.
 */
static int http_refuse(struct lws *wsi, unsigned code, const char *text,
		       bool challenge)
{
	unsigned char buf[LWS_PRE + 256];
	int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
			 "HTTP/1.1 %u %s\r\n%sContent-Length: 0\r\n"
			 "Connection: close\r\n\r\n", code, text,
			 challenge ? "WWW-Authenticate: Basic realm=\"evc\"\r\n" : "");

	if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) < 0)
		return -1;
	return 1;
}

/*
 * OCPP-J's checks before the upgrade: the path names a valid CP id
 * (else 404), the subprotocol offered is ocpp1.6 (another: 400; none is
 * let through and closed at once, as OCPP-J says), the credentials
 * (else 401 and a log line).
 */
static int confirm_upgrade(struct gwio *io, struct lws *wsi)
{
	char uri[256], proto[256], peer[64];
	const char *id;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    !(id = id_of(io->c->ocpp.path, uri))) {
		warn_limited(&io->rl_http, "refused a connection from %s: no CP id in the path",
			     peer);
		return http_refuse(wsi, 404, "Not Found", false);
	}
	if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) > 0 &&
	    !offers(proto)) {
		warn_limited(&io->rl_http, "refused '%s' from %s: subprotocol '%.40s', not " PROTOCOL,
			     id, peer, proto);
		return http_refuse(wsi, 400, "Bad Request", false);
	}
	if (authorised(io, wsi, id, peer)) {
		warn_limited(&io->rl_http, "refused '%s' from %s: bad or missing password",
			     id, peer);
		return http_refuse(wsi, 401, "Unauthorized", true);
	}
	return 0;
}

/* The connection's id and subprotocol, once lws has bound it to us. */
static int bind_conn(struct gwio *io, struct lws *wsi, struct conn *k)
{
	char uri[256];
	const char *id;

	memset(k, 0, sizeof(*k));
	k->wsi = wsi;
	k->ch = -1;
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    !(id = id_of(io->c->ocpp.path, uri)))
		return -1;
	snprintf(k->id, sizeof(k->id), "%s", id);
	k->no_protocol = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) <= 0;
	return 0;
}

/* --- a connection's life -------------------------------------------------- */

static int established(struct gwio *io, struct conn *k)
{
	struct now t = clock_now();

	if (k->no_protocol) {
		warn_limited(&io->rl_http, "closed '%s': no subprotocol offered (" PROTOCOL " is required)",
			     k->id);
		lws_close_reason(k->wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
				 (unsigned char *)"subprotocol ocpp1.6 required",
				 28);
		return -1;
	}
	if ((k->ch = gw_connect(&io->g, k->id, k, &t)) < 0)
		return -1;
	return 0;
}

/*
 * A message over ocpp.max_frame: the rest of it is read and dropped, so
 * that the close frame reaches the charger (closing with bytes unread
 * would reset the connection); one that goes on far longer is cut.
 */
static int too_big(struct gwio *io, struct conn *k, size_t len, bool last)
{
	k->rxlen += len;
	if (!last && k->rxlen <= 16ULL * io->c->ocpp.max_frame)
		return 0;
	lws_close_reason(k->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			 (unsigned char *)"message too big", 15);
	return -1;
}

/* A whole message: to the core; fragments are put together first. */
static int receive(struct gwio *io, struct conn *k, const char *in, size_t len)
{
	struct now t;
	bool first = lws_is_first_fragment(k->wsi);
	bool last = lws_is_final_fragment(k->wsi);

	if (lws_frame_is_binary(k->wsi)) {
		warn_limited(&io->rl_hostile, "'%s' sent a binary frame: closing",
			     k->id);
		lws_close_reason(k->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
				 (unsigned char *)"text frames only", 16);
		return -1;
	}
	if (first)
		k->rxlen = 0, k->drop_rx = false;
	if (!k->drop_rx && k->rxlen + len > io->c->ocpp.max_frame) {
		warn_limited(&io->rl_hostile, "'%s' sent a message over %u bytes: closing",
			     k->id, io->c->ocpp.max_frame);
		k->drop_rx = true;
	}
	if (k->drop_rx)
		return too_big(io, k, len, last);
	t = clock_now();
	if (first && last) {
		gw_frame(&io->g, (uint32_t)k->ch, k, in, len, &t);
		return 0;
	}
	if (!k->rx)
		k->rx = xmalloc(io->c->ocpp.max_frame);
	memcpy(k->rx + k->rxlen, in, len);
	k->rxlen += len;
	if (last)
		gw_frame(&io->g, (uint32_t)k->ch, k, k->rx, k->rxlen, &t);
	return 0;
}

/*
 * The close frame, written here and the connection let go. lws's own way
 * (lws_close_reason() and -1) waits for a writeable event that lws on
 * libuv never raises from a closing connection: the frame would not go.
 * 4 is the close opcode's place in lws_write's ABI (lws-write.h).
 */
static int close_now(struct conn *k)
{
	unsigned char buf[LWS_PRE + 2 + sizeof(k->close_why)];
	size_t n = strlen(k->close_why);

	buf[LWS_PRE] = (unsigned char)(k->close_status >> 8);
	buf[LWS_PRE + 1] = (unsigned char)k->close_status;
	memcpy(buf + LWS_PRE + 2, k->close_why, n);
	lws_write(k->wsi, buf + LWS_PRE, n + 2, (enum lws_write_protocol)4);
	return -1;
}

/* The frames queued, as many as the socket takes now. */
static int writeable(struct conn *k)
{
	/* lws hands a pong to the callback only when it has a payload */
	unsigned char ping[LWS_PRE + 4] = { [LWS_PRE] = 'e', 'v', 'c', '?' };
	struct out *o;

	if (k->close_status)
		return close_now(k);
	if (k->ping) {
		k->ping = false;
		if (lws_write(k->wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 4)
			return -1;
	}
	while ((o = k->head)) {
		if (lws_write(k->wsi, o->data + LWS_PRE, o->len,
			      LWS_WRITE_TEXT) < (int)o->len)
			return -1;
		k->head = o->next;
		if (!k->head)
			k->tail = NULL;
		k->queued -= o->len;
		free(o);
		if (k->head && lws_send_pipe_choked(k->wsi)) {
			lws_callback_on_writable(k->wsi);
			break;
		}
	}
	return 0;
}

static void closed(struct gwio *io, struct conn *k)
{
	struct now t = clock_now();
	struct out *o;

	if (k->ch >= 0)
		gw_disconnect(&io->g, (uint32_t)k->ch, k, &t);
	while ((o = k->head)) {
		k->head = o->next;
		free(o);
	}
	free(k->rx);
	k->rx = NULL;
	k->ch = -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct gwio *io = io_of;
	struct conn *k = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(io, wsi);
	case LWS_CALLBACK_HTTP:
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return -1;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return bind_conn(io, wsi, k);
	case LWS_CALLBACK_ESTABLISHED:
		return established(io, k);
	case LWS_CALLBACK_RECEIVE:
		return k->ch < 0 ? -1 : receive(io, k, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (k->ch >= 0) {
			struct now t = clock_now();

			gw_pong(&io->g, (uint32_t)k->ch, k, &t);
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(k);
	case LWS_CALLBACK_CLOSED:
		closed(io, k);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ PROTOCOL, callback, sizeof(struct conn), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* --- the server ----------------------------------------------------------- */

static int listen_start(struct gwio *io)
{
	const struct conf_ocpp *o = &io->c->ocpp;
	struct server_opts so = {
		.listen = io->listen, .protocols = protocols,
		.tls_cert = o->tls_cert, .tls_key = o->tls_key,
		.timeout_s = HANDSHAKE_S, .tick_us = SLICE_US, .bus = io->b,
	};
	char where[160];

	if (server_start(&io->srv, &so))
		return -1;
	server_where(&io->srv, where, sizeof(where));
	info("listening on %s for OCPP 1.6J chargers (%s), %s", where,
	     o->tls_cert ? "wss, TLS" : "ws", io->srv.loopback ?
	     "on loopback: chargers without a password are accepted" :
	     "chargers without a password in ocpp.passwords are refused");
	return 0;
}

/* --- the loop ----------------------------------------------------------- */

static void restore(void *arg, const struct gw_record *r)
{
	struct gwio *io = arg;
	struct now t = clock_now();

	if (gw_restore(&io->g, r, &t))
		warn("cannot take back session '%s' of '%s' from the journal",
		     r->end.session, r->end.cp);
	else if (!r->final)
		info("%s: took back session %.8s for '%s' (transaction %d, %s kWh)",
		     r->end.cp, r->end.session, r->end.driver, r->tx,
		     fig_kwh(r->end.u.ticket.wh).s);
}

/* What Kafka has for the chargers, a bounded amount at a time. */
static void drain(struct gwio *io)
{
	struct now t = clock_now();
	enum topic topic;
	struct msg m;
	int r = 1;

	for (int i = 0; i < DRAIN_MAX && r > 0; i++)
		if ((r = bus_recv(io->b, &m, &topic, 0)) > 0)
			gw_feed(&io->g, &m, &t);
	if (r < 0)
		io->exit = EXIT_UNREACHABLE;
}

static void run_loop(struct gwio *io)
{
	struct now t;

	log_batch(true);
	while (!bus_stop && io->exit < 0) {
		server_run(&io->srv);
		drain(io);
		t = clock_now();
		gw_tick(&io->g, &t);
		closes_done(io);
		journal_flush(&io->j, io->g.next_tx);
		log_flush();
	}
	log_batch(false);
}

static int follow(struct gwio *io)
{
	static const enum topic ts[] = {
		T_CP_REGISTER_ACK, T_CP_COMMANDS, T_AUTH_RESPONSE,
	};

	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		if (bus_follow_end_all(io->b, ts[i]))
			return -1;
	return 0;
}

static int gateway_run(struct gwio *io, struct setup *su)
{
	struct gw_hooks h = {
		.post = on_post, .send = on_send, .ping = on_ping,
		.close = on_close,
		.keep = on_keep, .say = on_say, .arg = io,
		.say_min = log_verbose ? SAY_DEBUG : SAY_INFO,
	};
	const struct conf *c = io->c;
	const struct bus_stats *st;

	if (!(io->b = setup_bus(su)))
		return EXIT_USAGE;
	if (follow(io)) {
		bus_close(io->b, 0);
		return EXIT_UNREACHABLE;
	}
	io->closes = xreallocarray(NULL, CLOSES_MAX, sizeof(*io->closes));
	gw_init(&io->g, c, &h);
	if (listen_start(io)) {
		/* nothing served: no journal, no figures */
		bus_close(io->b, 0);
		gw_free(&io->g);
		free(io->closes);
		return EXIT_FAIL;
	}
	journal_open(&io->j, c->ocpp.state_dir ? c->ocpp.state_dir :
		     c->cp.state_dir, io->srv.port);
	journal_load(&io->j, restore, io, &io->g.next_tx);
	run_loop(io);
	server_stop(&io->srv);
	st = bus_stats(io->b);
	info("stats: frames %ld, refused %ld, floods %ld, ignored %ld; Kafka received %ld, rejected %ld, sent %ld, failed %ld",
	     io->g.st.frames, io->g.st.refused, io->g.st.floods,
	     io->g.st.ignored, st->received, st->rejected, st->sent, st->failed);
	if (bus_close(io->b, FLUSH_MS) && io->exit < 0)
		io->exit = EXIT_UNREACHABLE;
	closes_done(io);
	journal_flush(&io->j, io->g.next_tx);
	journal_close(&io->j);
	gw_free(&io->g);
	free(io->closes);
	return io->exit < 0 ? EXIT_OK : io->exit;
}

/* --- options --------------------------------------------------------------- */

struct ocpp_opts {
	const char *listen;	/* -l, over ocpp.listen */
	bool check;		/* -n */
};

/* What conf.c cannot know: the files named exist and can be read. */
static int check(const struct conf *c, const char *listen)
{
	const struct conf_ocpp *o = &c->ocpp;

	if (!conf_listen_ok(listen))
		return usage_error("bad --listen (ADDR:PORT): '%s'", listen);
	if (o->tls_cert && access(o->tls_cert, R_OK))
		return usage_error("cannot read ocpp.tls.cert: '%s': %s",
				   o->tls_cert, strerror(errno));
	if (o->tls_key && access(o->tls_key, R_OK))
		return usage_error("cannot read ocpp.tls.key: '%s': %s",
				   o->tls_key, strerror(errno));
	if (c->cp.location && strlen(c->cp.location) > MSG_TEXT_MAX)
		return usage_error("cp.location longer than %d bytes",
				   MSG_TEXT_MAX);
	return 0;
}

static int ocpp_run(void *ctx, struct setup *su)
{
	struct ocpp_opts *o = ctx;
	struct gwio io = { .c = &su->conf, .exit = -1 };
	int ret;

	io.listen = o->listen ? o->listen : su->conf.ocpp.listen;
	if (check(&su->conf, io.listen))
		return EXIT_USAGE;
	if (o->check)
		return EXIT_OK;
	bus_signals();
	io_of = &io;
	ret = gateway_run(&io, su);
	io_of = NULL;
	return ret;
}

static int ocpp_opt(void *ctx, int opt, const char *arg)
{
	struct ocpp_opts *o = ctx;

	if (opt == 'l')
		o->listen = arg;
	else
		o->check = true;
	return 0;
}

static int ocpp_operands(void *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc > 0)
		return usage_error("too many arguments: '%s'", argv[0]);
	return 0;
}

int cmd_ocpp(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'n' },
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	struct ocpp_opts o = { 0 };
	struct setup_opts so = {
		.usage = usage, .shortopts = "l:n", .longopts = opts,
		.opt = ocpp_opt, .operands = ocpp_operands, .run = ocpp_run,
		.ctx = &o,
	};

	return setup_run(&so, argc, argv);
}
