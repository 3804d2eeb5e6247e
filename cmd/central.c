/* central.c: the central role: catalogue, registrations, authorisation, sessions. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/index.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/panel.h"
#include "lib/xalloc.h"

#define RECV_MS 50		/* longest wait for a message: keys stay responsive */
#define TICK_MS 100		/* heartbeat timeouts, grace periods, live figures */
#define COMMIT_MS 5000		/* default of auto.commit.interval.ms */
#define CHECK_MS 5000		/* one attempt to reach Kafka */
#define RETRY_MAX_MS 30000	/* longest pause between two attempts */
#define FLUSH_MS 10000
#define MAX_CPS 200000		/* catalogue plus unknown CPs accepted */
#define RESTORE_MS 10000	/* longest read of cp-state at start */
#define PROBE_CP ".probe"	/* the CP id of Central's own probes */
#define PROBE_MS 500		/* between probes, until one comes back */
#define LEASE_SAY_MS 5000	/* a lease this slow to come: say it */
#define STALL_MS 1000		/* a main loop this slow read nothing meanwhile */
#define HPROBE_MS 500		/* between two probes of every health partition */
#define HPROBE_FRESH_MS 2000	/* a partition whose probe came back this lately */
#define PROGRESS_MS 100		/* least time between two progress of a session */
#define DRAIN_MS 1000		/* longest read of what is left at a clean stop */
#define DRAIN_QUIET_MS 100	/* nothing read for this long: all is read */

static const char usage[] =
	"usage: evc central [-nv] [-b BROKERS] [-c FILE] [-X NAME=VALUE]...\n"
	"       evc central [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... stop CP|all\n"
	"       evc central [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... resume CP|all\n"
	"\n"
	"  stop CP|all    put one CP, or every CP, out of order (a supply ends)\n"
	"  resume CP|all  put it back in service\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -n, --check            check the configuration and the catalogue, then exit\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

/* A session as Central follows it, from the grant to the ticket. */
struct charge {
	char id[MSG_UUID_LEN + 1];
	char driver[MSG_NAME_MAX + 1];
	char request[MSG_UUID_LEN + 1];	/* the auth_request that opened it */
	int64_t started;		/* ms since epoch, at the grant */
	long long granted;		/* mono ms, at the grant */
	long long grace;		/* mono ms since a supply_end is due; 0: none */
	enum msg_end grace_reason;	/* the ticket's reason if none comes */
	int64_t last_seq;		/* of the last telemetry; -1: none yet */
	struct msg_progress live;	/* cents by Central's price */
	bool live_dirty;		/* figures not yet on cp-state */
	bool prog_dirty;		/* figures not yet sent to the driver */
	long long prog_at;		/* mono ms of the last progress sent */
};

#define CP_GRANTED_MAX 4

struct cp {
	char id[MSG_NAME_MAX + 1];
	char location[MSG_TEXT_MAX + 1];
	double price;			/* EUR/kWh */
	bool registered;		/* the engine announced itself once */
	bool connected;			/* its monitor's heartbeats arrive */
	bool engine_ok;
	bool stopped;			/* out of order by the operator */
	bool busy;			/* a session is open: s is valid */
	bool unsaid;			/* restored: cp-state keeps the last word */
	enum cp_state state;
	int64_t since;			/* ms since epoch of the last change */
	long long heartbeat;		/* mono ms of the last one */
	int32_t part;			/* its partition of health, telemetry; -1 */
	struct charge s;
	/* Requests granted here lately: a replay must not open a session. */
	char granted[CP_GRANTED_MAX][MSG_UUID_LEN + 1];
	unsigned ngranted;
};

struct central {
	struct conf *conf;
	struct bus *bus;
	struct bus *lease;		/* the lease group: held while serving */
	char lease_group[256];
	struct cp *cps;
	uint32_t ncps, cap;
	struct index by_id, by_driver;
	long count[CP_STATE_COUNT];	/* CPs in each state, for the panel */
	struct panel *panel;
	bool log_too;			/* events on stderr as well as the panel */
	bool quit;
	bool lost;			/* the lease went to another Central */
	long ignored;
	struct ratelimit rl_ignored;
	bool ready;			/* a probe came back: Central reads its topics */
	int64_t started;		/* ms since epoch; older probes are stale */
	long long probe_sent;
	long long last_tick, last_commit;
	long long commit_ms;		/* between two commits of offsets */
	long long serving;		/* mono ms Central began to serve */
	long long deaf_until;
	long long last_loop;		/* mono ms the main loop last read: "now"
					   for the message it read */
	int64_t *probe_back;		/* per health partition: ts of the newest
					   probe read back */
	int32_t nprobe;
	long long hprobe_sent;
	char probe_key[MSG_UUID_LEN + 1];	/* first half: this Central's */		/* mono ms: Central's own stall is too recent */
};

static struct cp *find(struct central *c, const char *id)
{
	long i = index_find(&c->by_id, c->cps, id);

	return i < 0 ? NULL : &c->cps[i];
}

static struct cp *find_driver(struct central *c, const char *driver)
{
	long i = index_find(&c->by_driver, c->cps, driver);

	return i < 0 ? NULL : &c->cps[i];
}

/* An event: a line on the panel, or a log line when there is none. */
__attribute__((format(printf, 2, 3)))
static void event(struct central *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (c->panel)
		panel_event(c->panel, line);
	if (!c->panel || c->log_too)
		info("%s", line);
}

/* A message Central will not act on: counted, and logged rate-limited. */
__attribute__((format(printf, 3, 4)))
static void ignore(struct central *c, const struct msg *m, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	c->ignored++;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	warn_limited(&c->rl_ignored, "ignored %s from '%s': %s",
		     msg_type_name(m->type), m->cp[0] ? m->cp : "-", why);
}

static void price_text(double price, char *buf, size_t len)
{
	panel_price(price, buf, len);
}

/* "12.345 kWh 4.32 EUR": figures for log lines. */
static void figures_text(int64_t wh, int64_t cents, char *buf, size_t len)
{
	snprintf(buf, len, "%lld.%03lld kWh %lld.%02lld EUR",
		 (long long)(wh / 1000), (long long)(wh % 1000),
		 (long long)(cents / 100), (long long)(cents % 100));
}

static void post(struct central *c, enum topic t, const struct msg *m)
{
	/* bus_send() prints why it failed; delivery failures are counted. */
	bus_send(c->bus, t, m);
}

/* A message about p's open session: its CP, driver and session ids. */
static void init_about(struct msg *m, enum msg_type type, const struct cp *p)
{
	msg_init(m, type);
	memcpy(m->cp, p->id, sizeof(m->cp));
	memcpy(m->driver, p->s.driver, sizeof(m->driver));
	memcpy(m->session, p->s.id, sizeof(m->session));
}

static void send_command(struct central *c, const struct cp *p,
			 enum msg_cmd cmd, const struct msg_auth_request *req)
{
	struct msg m;

	if (cmd == CMD_START || cmd == CMD_END) {
		init_about(&m, MSG_COMMAND, p);
	} else {
		msg_init(&m, MSG_COMMAND);
		memcpy(m.cp, p->id, sizeof(m.cp));
	}
	m.u.cmd.cmd = cmd;
	if (cmd == CMD_START) {
		m.u.cmd.target_wh = req->target_wh;
		m.u.cmd.target_s = req->target_s;
		m.u.cmd.price = p->price;
	}
	post(c, T_CP_COMMANDS, &m);
}

/* Central's view of p on the compacted cp-state topic. */
static void publish_state(struct central *c, struct cp *p)
{
	struct msg m;

	msg_init(&m, MSG_CP_STATE);
	memcpy(m.cp, p->id, sizeof(m.cp));
	if (p->busy) {
		memcpy(m.driver, p->s.driver, sizeof(m.driver));
		memcpy(m.session, p->s.id, sizeof(m.session));
		m.u.state.live = p->s.live;
		p->s.live_dirty = false;
	}
	m.u.state.state = p->state;
	memcpy(m.u.state.location, p->location, sizeof(m.u.state.location));
	m.u.state.price = p->price;
	m.u.state.since = p->since;
	post(c, T_CP_STATE, &m);
	p->unsaid = false;
}

static void send_progress(struct central *c, struct cp *p)
{
	struct msg m;

	init_about(&m, MSG_PROGRESS, p);
	m.u.prog = p->s.live;
	post(c, T_AUTH_RESPONSE, &m);
	p->s.prog_dirty = false;
	p->s.prog_at = c->last_loop;
}

/*
 * The driver's live figures: at once, unless the last ones went out less
 * than PROGRESS_MS ago; then the newest go at the next tick. A CP sends
 * telemetry every second, so this only matters for a backlog (a Central
 * catching up after a restart), whose stale figures no driver needs one
 * by one.
 */
static void progress(struct central *c, struct cp *p, bool first)
{
	if (first || c->last_loop - p->s.prog_at >= PROGRESS_MS)
		send_progress(c, p);
	else
		p->s.prog_dirty = true;
}

static void notify(struct central *c, const struct cp *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* News of a session for its driver (supply started, CP broken...). */
static void notify(struct central *c, const struct cp *p, const char *fmt, ...)
{
	struct msg m;
	va_list ap;

	init_about(&m, MSG_NOTICE, p);
	m.u.notice.state = p->state;
	va_start(ap, fmt);
	vsnprintf(m.u.notice.text, sizeof(m.u.notice.text), fmt, ap);
	va_end(ap);
	post(c, T_AUTH_RESPONSE, &m);
}

static void update(struct central *c, struct cp *p, bool force);

/*
 * The ticket of p's session, to its driver: the energy the CP measured,
 * the cost by Central's own price. The CP is then free again.
 */
static void close_session(struct central *c, struct cp *p,
			  const struct msg_ticket *t)
{
	char fig[96];
	struct msg m;

	if (p->s.prog_dirty)
		send_progress(c, p);	/* the figures before the ticket */
	init_about(&m, MSG_TICKET, p);
	m.u.ticket = *t;
	m.u.ticket.price = p->price;
	m.u.ticket.cents = msg_cents(t->wh, p->price);
	post(c, T_AUTH_RESPONSE, &m);
	figures_text(t->wh, m.u.ticket.cents, fig, sizeof(fig));
	event(c, "%s ticket %s (%s), %s, session %.8s", p->id, fig,
	      msg_end_name(t->reason), p->s.driver, p->s.id);
	index_del(&c->by_driver, c->cps, p->s.driver);
	p->busy = false;
	memset(&p->s, 0, sizeof(p->s));
	update(c, p, true);
}

/* Central ends a session itself, with the last figures it received. */
static void close_by_central(struct central *c, struct cp *p,
			     enum msg_end reason)
{
	struct msg_ticket t = {
		.seq = (uint32_t)(p->s.last_seq + 1),
		.wh = p->s.live.wh,
		.started = p->s.started,
		.ended = now_ms(),
		.reason = reason,
	};

	close_session(c, p, &t);
}

/* From now on, the CP owes a supply_end; without one Central ends it. */
static void start_grace(struct cp *p, enum msg_end reason)
{
	if (p->s.grace)
		return;
	p->s.grace = mono_ms();
	p->s.grace_reason = reason;
}

/* What a change of state means for the session in progress. */
static void session_news(struct central *c, struct cp *p)
{
	switch (p->state) {
	case CP_BROKEN:
		notify(c, p, "%s is broken: the supply ends", p->id);
		start_grace(p, END_BROKEN);
		break;
	case CP_STOPPED:
		notify(c, p, "%s was stopped by Central (Out of Order): the supply ends",
		       p->id);
		start_grace(p, END_STOPPED);
		break;
	case CP_DISCONNECTED:
		/*
		 * The silence may be Kafka's (a broker failing over) rather
		 * than the CP's: the session ends only if it lasts as long
		 * again; a heartbeat and telemetry before then resume it.
		 */
		start_grace(p, END_DISCONNECTED);
		break;
	default:
		break;
	}
}

/* Precedence: no heartbeat, then a fault, then the operator's stop. */
static enum cp_state derive(const struct cp *p)
{
	if (!p->connected)
		return CP_DISCONNECTED;
	if (!p->engine_ok)
		return CP_BROKEN;
	if (p->stopped)
		return CP_STOPPED;
	return p->busy ? CP_SUPPLYING : CP_ACTIVE;
}

static void log_state(struct central *c, const struct cp *p)
{
	if (p->state == CP_STOPPED)
		event(c, "%s STOPPED (Out of Order)", p->id);
	else if (p->state == CP_SUPPLYING)
		event(c, "%s SUPPLYING for %s", p->id, p->s.driver);
	else
		event(c, "%s %s", p->id, cp_state_name(p->state));
}

/* Recomputes p's state; a change (or force) goes to cp-state at once. */
static void update(struct central *c, struct cp *p, bool force)
{
	enum cp_state old = p->state, now = derive(p);

	if (c->panel)
		panel_touch(c->panel);
	if (now == old) {
		if (force)
			publish_state(c, p);
		return;
	}
	c->count[old]--;
	c->count[now]++;
	p->state = now;
	p->since = now_ms();
	log_state(c, p);
	publish_state(c, p);
	if (p->busy)
		session_news(c, p);
}

static struct cp *add_cp(struct central *c, const char *id,
			 const char *location, double price)
{
	struct cp *p;

	if (c->ncps >= MAX_CPS)
		return NULL;
	if (c->ncps == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->cps = xreallocarray(c->cps, c->cap, sizeof(*c->cps));
	}
	p = &c->cps[c->ncps];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->location, sizeof(p->location), "%s", location);
	p->price = price;
	p->state = CP_DISCONNECTED;
	p->since = now_ms();
	p->part = -1;
	c->count[CP_DISCONNECTED]++;
	index_put(&c->by_id, c->cps, c->ncps++);
	return p;
}

/* A CP missing from the catalogue, when the configuration allows it. */
static struct cp *adopt(struct central *c, const char *id, const char *location)
{
	const struct conf_central *cc = &c->conf->central;
	struct cp *p;

	if (!cc->allow_unknown)
		return NULL;
	p = add_cp(c, id, *location ? location : cc->default_location,
		   cc->default_price);
	if (!p)
		warn_limited(&c->rl_ignored, "too many CPs (%d): refusing '%s'",
			     MAX_CPS, id);
	return p;
}

static void send_ack(struct central *c, const char *cp, const struct cp *p)
{
	struct msg m;

	msg_init(&m, MSG_REGISTER_ACK);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	m.u.ack.accepted = p != NULL;
	m.u.ack.reason = p ? DENY_NONE : DENY_UNKNOWN_CP;
	if (p) {
		m.u.ack.price = p->price;
		memcpy(m.u.ack.location, p->location, sizeof(m.u.ack.location));
	}
	post(c, T_CP_REGISTER_ACK, &m);
}

static void on_register(struct central *c, const struct msg *m)
{
	struct cp *p = find(c, m->cp);
	char price[32];

	if (!msg_cp_id_ok(m->cp)) {
		ignore(c, m, "reserved CP id");
		return;
	}
	if (!p && !(p = adopt(c, m->cp, m->u.reg.location))) {
		send_ack(c, m->cp, NULL);
		event(c, "%s refused: not in the catalogue", m->cp);
		return;
	}
	send_ack(c, m->cp, p);
	price_text(p->price, price, sizeof(price));
	/* An engine repeats its registration until acknowledged: log once. */
	if (!p->registered)
		event(c, "%s registered (%s, %s EUR/kWh)", p->id, p->location,
		      price);
	else
		debug("%s registered again", p->id);
	/* An engine that registers again restarted: a supply_end is due. */
	if (p->busy && p->registered)
		start_grace(p, END_BROKEN);
	p->registered = p->connected = true;
	p->heartbeat = mono_ms();
	p->engine_ok = m->u.reg.engine_ok;
	if (p->stopped)
		send_command(c, p, CMD_STOP, NULL);
	update(c, p, true);
}

/*
 * Central's own heartbeat, written to every health partition twice a
 * second. One read back lately shows that Kafka makes the partition's
 * messages readable (a broker failing over can hold them all back for
 * seconds) and that Central reads them: only then is a CP's silence its
 * own. Everything a CP sent before the probe is read before it.
 */
static void probe_health(struct central *c, long long now)
{
	int32_t n = bus_partitions(c->bus, T_HEALTH);
	struct msg m;

	if (now - c->hprobe_sent < HPROBE_MS || n <= 0)
		return;
	if (n > c->nprobe) {
		c->probe_back = xreallocarray(c->probe_back, (size_t)n,
					       sizeof(int64_t));
		memset(c->probe_back + c->nprobe, 0,
		       sizeof(int64_t) * (size_t)(n - c->nprobe));
		c->nprobe = n;
	}
	msg_init(&m, MSG_HEALTH);
	snprintf(m.cp, sizeof(m.cp), "%s", PROBE_CP);
	m.u.health.engine_ok = true;
	/* Its id begins with a key of this run: a forged probe is not ours. */
	if (!c->probe_key[0])
		msg_new_uuid(c->probe_key);
	memcpy(m.id, c->probe_key, MSG_UUID_LEN / 2);
	for (int32_t p = 0; p < n; p++)
		bus_send_to(c->bus, T_HEALTH, p, &m);
	c->hprobe_sent = now;
}

static void on_health_probe(struct central *c, const struct msg *m)
{
	int32_t p = bus_last_partition(c->bus);

	if (!c->probe_key[0] ||
	    memcmp(m->id, c->probe_key, MSG_UUID_LEN / 2)) {
		ignore(c, m, "a probe that is not this Central's");
		return;
	}
	if (p >= 0 && p < c->nprobe && m->ts > c->probe_back[p])
		c->probe_back[p] = m->ts;
}

static void on_health(struct central *c, const struct msg *m)
{
	struct cp *p = find(c, m->cp);
	char price[32];

	if (!strcmp(m->cp, PROBE_CP)) {
		on_health_probe(c, m);
		return;
	}
	if (!p && !(p = adopt(c, m->cp, ""))) {
		ignore(c, m, "unknown CP");
		return;
	}
	if (!p->registered) {
		/* Central restarted while the CP ran: it will not register. */
		price_text(p->price, price, sizeof(price));
		event(c, "%s registered by its heartbeat (%s, %s EUR/kWh)",
		      p->id, p->location, price);
		p->registered = true;
	}
	p->connected = true;
	p->heartbeat = mono_ms();
	p->engine_ok = m->u.health.engine_ok;
	update(c, p, false);
}

/* The answer to an auth_request; a grant carries the session. */
static void answer(struct central *c, const struct cp *p,
		   const struct msg *req, enum msg_deny why)
{
	struct msg m;

	msg_init(&m, MSG_AUTH_RESPONSE);
	memcpy(m.cp, req->cp, sizeof(m.cp));
	memcpy(m.driver, req->driver, sizeof(m.driver));
	memcpy(m.u.resp.request, req->id, sizeof(m.u.resp.request));
	m.u.resp.authorized = why == DENY_NONE;
	m.u.resp.reason = why;
	if (why == DENY_NONE) {
		m.u.resp.price = p->price;
		memcpy(m.session, p->s.id, sizeof(m.session));
	}
	post(c, T_AUTH_RESPONSE, &m);
}

/* Why a request cannot be granted now, or DENY_NONE. */
static enum msg_deny auth_check(struct central *c, const struct cp *p,
				const struct msg *m)
{
	int64_t timeout = m->u.req.timeout_ms ? m->u.req.timeout_ms :
			  c->conf->central.auth_timeout_ms;

	/*
	 * A request older than this Central asked one that is gone: after a
	 * crash it is read again, and granting it could open a second
	 * session for a request already served.
	 */
	if (m->ts < now_ms() - timeout || m->ts < c->started)
		return DENY_EXPIRED;
	if (!p)
		return DENY_UNKNOWN_CP;
	switch (p->state) {
	case CP_DISCONNECTED: return DENY_DISCONNECTED;
	case CP_BROKEN: return DENY_BROKEN;
	case CP_STOPPED: return DENY_OUT_OF_ORDER;
	case CP_SUPPLYING: return DENY_BUSY;
	default: break;
	}
	if (p->busy)
		return DENY_BUSY;
	if (find_driver(c, m->driver))
		return DENY_DRIVER_BUSY;
	return DENY_NONE;
}

static void grant(struct central *c, struct cp *p, const struct msg *m)
{
	struct charge *s = &p->s;

	memset(s, 0, sizeof(*s));
	msg_new_uuid(s->id);
	memcpy(s->driver, m->driver, sizeof(s->driver));
	memcpy(s->request, m->id, sizeof(s->request));
	s->started = now_ms();
	s->granted = mono_ms();
	s->last_seq = -1;
	p->busy = true;
	memcpy(p->granted[p->ngranted++ % CP_GRANTED_MAX], m->id,
	       sizeof(p->granted[0]));
	index_put(&c->by_driver, c->cps, (uint32_t)(p - c->cps));
	/*
	 * The session goes to cp-state before the CP is told to start: a
	 * Central killed in between leaves a session that never started
	 * (cancelled after a restart), rarely a supply no one bills.
	 */
	event(c, "%s authorised at %s, session %.8s", m->driver, p->id, s->id);
	update(c, p, true);
	send_command(c, p, CMD_START, &m->u.req);
	answer(c, p, m, DENY_NONE);
}

/*
 * The driver ends its charge: the CP is told, its supply_end and the
 * ticket follow. A cancel naming no session of the driver is refused.
 */
static void on_cancel(struct central *c, struct cp *p, const struct msg *m)
{
	if (!p || !p->busy || strcmp(p->s.id, m->session) ||
	    strcmp(p->s.driver, m->driver)) {
		answer(c, p, m, DENY_BAD_REQUEST);
		event(c, "%s cannot cancel session %.8s at %s: no such session",
		      m->driver, m->session, m->cp);
		return;
	}
	send_command(c, p, CMD_END, NULL);
	start_grace(p, END_CANCELLED);
	event(c, "%s cancelled session %.8s at %s", m->driver, p->s.id, p->id);
}

static bool granted_before(const struct cp *p, const char *request)
{
	for (unsigned i = 0; i < CP_GRANTED_MAX && i < p->ngranted; i++)
		if (!strcmp(p->granted[i], request))
			return true;
	return false;
}

static void on_auth(struct central *c, const struct msg *m)
{
	struct cp *p = find(c, m->cp);
	enum msg_deny why;

	if (m->u.req.cancel) {
		on_cancel(c, p, m);
		return;
	}
	/* The same request seen twice (a redelivery) gets the same answer. */
	if (p && p->busy && !strcmp(p->s.request, m->id) &&
	    !strcmp(p->s.driver, m->driver)) {
		answer(c, p, m, DENY_NONE);
		return;
	}
	if (p && granted_before(p, m->id)) {
		answer(c, p, m, DENY_BAD_REQUEST);
		ignore(c, m, "request %.8s was granted before", m->id);
		return;
	}
	if ((why = auth_check(c, p, m)) == DENY_NONE) {
		grant(c, p, m);
		return;
	}
	answer(c, p, m, why);
	event(c, "%s denied at %s: %s", m->driver, m->cp, msg_deny_name(why));
}

/* The open session a CP's message is about, or NULL (ignored). */
static struct cp *session_of(struct central *c, const struct msg *m)
{
	struct cp *p = find(c, m->cp);

	if (!p) {
		ignore(c, m, "unknown CP");
		return NULL;
	}
	if (!p->busy || strcmp(p->s.id, m->session)) {
		ignore(c, m, "no session %.8s in progress there", m->session);
		return NULL;
	}
	if (m->driver[0] && strcmp(m->driver, p->s.driver)) {
		ignore(c, m, "session %.8s is not that of '%s'", m->session,
		       m->driver);
		return NULL;
	}
	return p;
}

static void on_telemetry(struct central *c, const struct msg *m)
{
	struct cp *p = session_of(c, m);
	struct charge *s;
	bool first;

	if (!p)
		return;
	s = &p->s;
	if ((int64_t)m->u.prog.seq <= s->last_seq) {
		ignore(c, m, "stale seq %u (last %lld)", (unsigned)m->u.prog.seq,
		       (long long)s->last_seq);
		return;
	}
	first = s->last_seq < 0;
	s->last_seq = m->u.prog.seq;
	s->live = m->u.prog;
	s->live.cents = msg_cents(s->live.wh, p->price);
	s->live_dirty = true;
	/*
	 * Telemetry clears a doubt (a second register that was no restart,
	 * a session restored after Central's own restart), never an end
	 * that was asked for.
	 */
	if (p->state == CP_SUPPLYING && (s->grace_reason == END_BROKEN ||
					 s->grace_reason == END_DISCONNECTED))
		s->grace = 0;
	if (first) {
		notify(c, p, "supply started at %s", p->id);
		event(c, "%s supply started for %s", p->id, s->driver);
	}
	progress(c, p, first);
	if (c->panel)
		panel_touch(c->panel);
}

static void on_supply_end(struct central *c, const struct msg *m)
{
	struct cp *p = session_of(c, m);

	if (p)
		close_session(c, p, &m->u.ticket);
}

/* Stop or resume one CP; quiet when part of "all". */
static void control(struct central *c, struct cp *p, enum msg_cmd cmd,
		    bool quiet)
{
	bool stop = cmd == CMD_STOP;

	if (p->stopped == stop)
		return;
	p->stopped = stop;
	if (!quiet)
		event(c, "%s %s by the operator", p->id,
		      stop ? "stopped" : "resumed");
	if (p->registered)
		send_command(c, p, cmd, NULL);
	update(c, p, true);
}

static void control_all(struct central *c, enum msg_cmd cmd)
{
	event(c, "every CP %s by the operator",
	      cmd == CMD_STOP ? "stopped" : "resumed");
	for (uint32_t i = 0; i < c->ncps; i++)
		control(c, &c->cps[i], cmd, true);
}

/*
 * Central knows it reads its topics once a message it sent itself comes
 * back: a control message for the reserved CP id PROBE_CP, resent until
 * one arrives (the group may not have its partitions yet). Tests and
 * scripts wait for the "ready" line this prints.
 */
static void probe(struct central *c, long long now)
{
	struct msg m;

	if (c->ready || now - c->probe_sent < PROBE_MS)
		return;
	msg_init(&m, MSG_CONTROL);
	snprintf(m.cp, sizeof(m.cp), "%s", PROBE_CP);
	m.u.ctl.cmd = CMD_RESUME;
	post(c, T_CONTROL, &m);
	c->probe_sent = now;
}

static void on_probe(struct central *c, const struct msg *m)
{
	if (c->ready || m->ts < c->started)
		return;
	c->ready = true;
	event(c, "ready: %u CPs, Kafka at '%s', group '%s'", c->ncps,
	      c->conf->brokers, c->conf->central.group);
}

static void on_control(struct central *c, const struct msg *m)
{
	struct cp *p;

	if (!strcmp(m->cp, PROBE_CP)) {
		on_probe(c, m);
		return;
	}

	if (m->u.ctl.all) {
		control_all(c, m->u.ctl.cmd);
		return;
	}
	if (!(p = find(c, m->cp))) {
		ignore(c, m, "unknown CP");
		return;
	}
	control(c, p, m->u.ctl.cmd, false);
}

static void handle(struct central *c, const struct msg *m)
{
	debug("%s from '%s'", msg_type_name(m->type), m->cp);
	switch (m->type) {
	case MSG_REGISTER: on_register(c, m); break;
	case MSG_HEALTH: on_health(c, m); break;
	case MSG_AUTH_REQUEST: on_auth(c, m); break;
	case MSG_TELEMETRY: on_telemetry(c, m); break;
	case MSG_SUPPLY_END: on_supply_end(c, m); break;
	case MSG_CONTROL: on_control(c, m); break;
	default: ignore(c, m, "not for Central"); break;
	}
}

/*
 * A heartbeat is late only if Central has read everything the CP sent: a
 * Central behind on the CP's partitions (a backlog after a restart or a
 * burst) would otherwise call a live CP DISCONNECTED and close its
 * session on figures it has not read yet. Health and telemetry have as
 * many partitions and one key hash, so one partition number serves both.
 */
static bool heard_all(struct central *c, struct cp *p)
{
	if (mono_ms() < c->deaf_until)
		return false;
	if (p->part < 0)
		p->part = bus_partition(c->bus, T_HEALTH, p->id);
	return p->part >= 0 && p->part < c->nprobe &&
	       now_ms() - c->probe_back[p->part] < HPROBE_FRESH_MS &&
	       bus_at_end(c->bus, T_HEALTH, p->part) &&
	       bus_at_end(c->bus, T_TELEMETRY, p->part);
}

/* Deadlines of an open session: a supply_end due, a start that never came. */
static void tick_session(struct central *c, struct cp *p, long long now)
{
	struct charge *s = &p->s;

	if (s->prog_dirty)
		send_progress(c, p);
	if (s->grace && now - s->grace > c->conf->central.health_timeout_ms &&
	    heard_all(c, p) && s->grace_reason == END_DISCONNECTED) {
		event(c, "%s still disconnected: Central ends session %.8s",
		      p->id, s->id);
		notify(c, p, "%s is disconnected: the supply ends", p->id);
		send_command(c, p, CMD_END, NULL);
		close_by_central(c, p, END_DISCONNECTED);
	} else if (s->grace &&
		   now - s->grace > c->conf->central.health_timeout_ms &&
		   heard_all(c, p)) {
		event(c, "%s sent no supply_end for session %.8s: Central ends it",
		      p->id, s->id);
		close_by_central(c, p, s->grace_reason);
	} else if (s->last_seq < 0 &&
		   now - s->granted > c->conf->central.auth_timeout_ms &&
		   heard_all(c, p)) {
		event(c, "%s did not start session %.8s: Central cancels it",
		      p->id, s->id);
		send_command(c, p, CMD_END, NULL);
		close_by_central(c, p, END_CANCELLED);
	} else if (s->live_dirty) {
		publish_state(c, p);
	}
}

static void tick(struct central *c, long long now)
{
	long long timeout = c->conf->central.health_timeout_ms;

	for (uint32_t i = 0; i < c->ncps; i++) {
		struct cp *p = &c->cps[i];

		if (p->connected && now - p->heartbeat > timeout &&
		    heard_all(c, p)) {
			p->connected = false;
			update(c, p, false);
		} else if (p->unsaid && !p->connected && !p->stopped &&
			   now - c->serving > timeout && heard_all(c, p)) {
			publish_state(c, p);	/* never heard since the start */
		}
		if (p->busy)
			tick_session(c, p, now);
	}
}

static void panel_row_of(void *ctx, size_t i, struct panel_row *r)
{
	const struct cp *p = &((const struct central *)ctx)->cps[i];

	memset(r, 0, sizeof(*r));
	r->id = p->id;
	r->location = p->location;
	r->price = p->price;
	r->state = p->state;
	r->stopped = p->stopped;
	r->driver = p->busy ? p->s.driver : "";
	if (p->busy) {
		r->kw = p->s.live.kw;
		r->wh = p->s.live.wh;
		r->cents = p->s.live.cents;
	}
}

static void draw(struct central *c)
{
	char title[256];
	const struct bus_stats *st = bus_stats(c->bus);

	snprintf(title, sizeof(title),
		 " evc central%s  %u CPs: %ld active %ld supplying %ld stopped %ld broken %ld disconnected  msgs %ld rejected %ld ignored %ld",
		 c->ready ? "" : " (joining)", c->ncps,
		 c->count[CP_ACTIVE], c->count[CP_SUPPLYING],
		 c->count[CP_STOPPED], c->count[CP_BROKEN],
		 c->count[CP_DISCONNECTED], st->received, st->rejected,
		 c->ignored);
	panel_draw(c->panel, title, c->ncps, panel_row_of, c);
}

/* What the operator typed on the panel. */
static void operate(struct central *c, const struct panel_cmd *cmd)
{
	enum msg_cmd what = cmd->action == PANEL_STOP ? CMD_STOP : CMD_RESUME;
	struct cp *p;

	if (cmd->action == PANEL_QUIT) {
		c->quit = true;
	} else if (cmd->all) {
		control_all(c, what);
	} else if (!(p = find(c, cmd->cp))) {
		event(c, "no CP '%s'", cmd->cp);
	} else {
		control(c, p, what, false);
	}
}

/*
 * Several Centrals may run at once: the one the lease group gives the
 * lease topic's single partition serves, the others stand by. The group
 * notices a dead holder within its session timeout and hands the lease
 * to a waiting Central, which then reads Central's state and goes on
 * from the offsets the first one committed. Cooperative-sticky: a
 * Central that joins never takes the lease from a living holder.
 */
static bool take_lease(struct central *c)
{
	static const enum topic lease[] = { T_CENTRAL_LEASE };
	long long asked = mono_ms();
	bool said = false;
	struct msg m;
	enum topic t;

	snprintf(c->lease_group, sizeof(c->lease_group), "%s-lease",
		 c->conf->central.group);
	if (!(c->lease = bus_open(c->conf, BUS_GROUP | BUS_LEASE,
				  c->lease_group)) ||
	    bus_subscribe(c->lease, lease, 1))
		return false;
	while (!bus_stop && !bus_denied(c->lease)) {
		if (bus_recv(c->lease, &m, &t, 100) < 0)
			return false;
		if (bus_held(c->lease) > 0) {
			if (said)
				info("taking over: the lease of group '%s' is ours",
				     c->lease_group);
			return true;
		}
		/* No answer yet after a while: say why Central waits. */
		if (!said && (bus_held(c->lease) == 0 ||
			      mono_ms() - asked > LEASE_SAY_MS)) {
			info("standing by: another Central holds the lease of group '%s'",
			     c->lease_group);
			said = true;
		}
	}
	if (bus_denied(c->lease))
		bus_abandon(c->lease);
	return false;
}

/* Serves the lease group; false once the lease went to another Central. */
static bool keep_lease(struct central *c)
{
	struct msg m;
	enum topic t;

	if (bus_recv(c->lease, &m, &t, 0) < 0 || bus_revoked(c->lease) > 0 ||
	    bus_held(c->lease) == 0) {
		event(c, "lost the lease of group '%s': another Central serves now",
		      c->lease_group);
		return false;
	}
	return true;
}

static void housekeeping(struct central *c, long long now)
{
	struct panel_cmd cmd;

	if (now - c->last_tick >= TICK_MS) {
		log_flush();
		probe(c, now);
		probe_health(c, now);
		tick(c, now);
		c->last_tick = now;
		c->lost = !keep_lease(c);
	}
	if (now - c->last_commit >= c->commit_ms) {
		bus_commit(c->bus);
		c->last_commit = now;
	}
	if (!c->panel)
		return;
	while (panel_key(c->panel, &cmd))
		operate(c, &cmd);
	draw(c);
}

/*
 * Central commits offsets itself, after flushing what they caused; the
 * librdkafka property auto.commit.interval.ms (the last one set) keeps
 * its meaning: how often. bus_open() has checked it is a number.
 */
static long long commit_interval(const struct conf *conf)
{
	long long ms = COMMIT_MS;

	for (unsigned i = 0; i < conf->nprops; i++)
		if (!strcmp(conf->props[i].name, "auto.commit.interval.ms"))
			ms = atoll(conf->props[i].value);
	return ms > 0 ? ms : COMMIT_MS;
}

/*
 * A clean stop first reads what is left, Central's own last probes of
 * the health topic among it, so that the offsets it commits leave no lag
 * behind it. What is read is handled as usual; no probe goes out.
 */
static void drain(struct central *c)
{
	long long end = mono_ms() + DRAIN_MS, quiet = mono_ms();
	struct msg m;
	enum topic t;
	int r;

	bus_flush(c->bus, FLUSH_MS);
	while (mono_ms() < end && mono_ms() - quiet < DRAIN_QUIET_MS) {
		if ((r = bus_recv(c->bus, &m, &t, 10)) < 0)
			break;
		if (r > 0) {
			c->last_loop = mono_ms();
			handle(c, &m);
			quiet = c->last_loop;
		}
	}
}

static int serve(struct central *c)
{
	struct msg m;
	enum topic t;
	int r = 0;

	c->last_tick = c->last_commit = c->last_loop = c->serving = mono_ms();
	c->commit_ms = commit_interval(c->conf);
	/*
	 * Serving, Central may log tens of thousands of lines a second: they
	 * go out in batches, at the latest at the next tick (100 ms).
	 */
	log_batch(true);
	while (!bus_stop && !c->quit) {
		long long now;

		if ((r = bus_recv(c->bus, &m, &t, RECV_MS)) < 0)
			break;
		/*
		 * A loop that stalled (a slow disk, a frozen process) read
		 * nothing meanwhile: what it knows of partitions' ends is old
		 * until it has read for a health timeout again. One clock
		 * read per message: at a backlog's pace it is not free.
		 */
		now = mono_ms();
		if (now - c->last_loop > STALL_MS + RECV_MS)
			c->deaf_until = now + c->conf->central.health_timeout_ms;
		c->last_loop = now;
		if (r > 0)
			handle(c, &m);
		else
			log_flush();	/* nothing to read: nothing to wait for */
		housekeeping(c, now);
		/* Refused by Kafka's ACLs, or replaced: serving would do harm. */
		if (c->lost || bus_denied(c->bus)) {
			bus_abandon(c->bus);
			bus_abandon(c->lease);
			r = -1;
			break;
		}
	}
	if (r >= 0)
		drain(c);
	log_batch(false);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}

/* The catalogue's CPs, all DISCONNECTED until they register. */
static int load_catalogue(struct central *c)
{
	const struct conf_central *cc = &c->conf->central;
	struct catalogue cat;
	int ret = 0;

	if (!cc->catalogue || !*cc->catalogue) {
		if (!cc->allow_unknown)
			warn("no catalogue (central.catalogue) and no unknown CPs allowed: every CP will be refused");
		return 0;
	}
	if (catalogue_load(&cat, cc->catalogue))
		return -1;
	for (unsigned i = 0; i < cat.ncps && !ret; i++) {
		const struct cp_entry *e = &cat.cps[i];

		if (strlen(e->location) > MSG_TEXT_MAX)
			ret = error("%s: location of '%s' longer than %d bytes",
				    cc->catalogue, e->id, MSG_TEXT_MAX);
		else if (e->price > MSG_PRICE_MAX)
			ret = error("%s: price of '%s' above %g EUR/kWh",
				    cc->catalogue, e->id, MSG_PRICE_MAX);
		else if (find(c, e->id))
			ret = error("%s: duplicate CP id: '%s'", cc->catalogue,
				    e->id);
		else if (!add_cp(c, e->id, e->location, e->price))
			ret = error("%s: more than %d CPs", cc->catalogue,
				    MAX_CPS);
	}
	catalogue_free(&cat);
	return ret;
}

/* The settings the catalogue check cannot see. */
static int check_defaults(const struct conf_central *cc)
{
	if (strlen(cc->default_location) > MSG_TEXT_MAX)
		return error("central.default_location longer than %d bytes",
			     MSG_TEXT_MAX);
	if (!(cc->default_price >= 0 && cc->default_price <= MSG_PRICE_MAX))
		return error("central.default_price out of range: %g",
			     cc->default_price);
	return 0;
}

/* A session Central had open when it stopped, as cp-state kept it. */
static void restore_session(struct central *c, struct cp *p,
			    const struct msg *m)
{
	struct charge *s = &p->s;
	const struct msg_progress *live = &m->u.state.live;

	if (find_driver(c, m->driver))
		return;		/* a driver has one session: keep the first */
	memset(s, 0, sizeof(*s));
	memcpy(s->id, m->session, sizeof(s->id));
	memcpy(s->driver, m->driver, sizeof(s->driver));
	s->started = m->u.state.since;
	s->granted = mono_ms();
	s->last_seq = live->seq || live->wh ? (int64_t)live->seq : -1;
	s->live = *live;
	/* The CP may have gone meanwhile: without news, the session ends. */
	s->grace = mono_ms() + c->conf->central.auth_timeout_ms;
	s->grace_reason = END_DISCONNECTED;
	p->busy = true;
	memcpy(p->granted[p->ngranted++ % CP_GRANTED_MAX], m->id,
	       sizeof(p->granted[0]));
	index_put(&c->by_driver, c->cps, (uint32_t)(p - c->cps));
}

/* One cp-state record: later ones replace what earlier ones said. */
static void restore_one(struct central *c, const struct msg *m)
{
	const struct msg_cp_state *st = &m->u.state;
	struct cp *p = find(c, m->cp);

	if (!p && c->conf->central.allow_unknown)
		p = add_cp(c, m->cp, st->location, st->price);
	if (!p)
		return;
	if (p->busy) {
		index_del(&c->by_driver, c->cps, p->s.driver);
		p->busy = false;
	}
	p->stopped = st->state == CP_STOPPED;
	p->unsaid = true;
	p->s.last_seq = -1;
	if (m->session[0] && m->driver[0])
		restore_session(c, p, m);
}

/*
 * After a restart, Central takes back from cp-state the sessions in
 * progress (so that their tickets still reach the drivers) and the CPs
 * it had stopped. Every CP still shows DISCONNECTED until it is heard.
 */
static bool restore(struct central *c)
{
	struct bus *b;
	long long end = mono_ms() + RESTORE_MS;
	long n = 0;
	struct msg m;
	enum topic t;
	int r;

	b = bus_open(c->conf, BUS_CONSUMER, NULL);
	if (!b || bus_follow_all(b, T_CP_STATE)) {
		bool denied = b && bus_denied(b);

		if (!denied)
			warn("cannot read '%s': starting afresh",
			     c->conf->topics[T_CP_STATE]);
		bus_close(b, 0);
		return !denied;
	}
	while (!bus_caught_up(b) && !bus_stop && mono_ms() < end) {
		if ((r = bus_recv(b, &m, &t, 100)) < 0)
			break;
		if (r > 0) {
			restore_one(c, &m);
			n++;
		}
	}
	if (!bus_caught_up(b))
		warn("cannot read '%s' to its end: some state may be lost",
		     c->conf->topics[T_CP_STATE]);
	bus_close(b, 0);
	debug("restored %ld cp-state records", n);
	return true;
}

/* Sleeps ms, or less when a signal asks to stop; false when it did. */
static bool pause_ms(long long ms)
{
	long long end = mono_ms() + ms;

	while (!bus_stop && mono_ms() < end)
		usleep(100 * 1000);
	return !bus_stop;
}

/* Daemons wait for Kafka: a broker may come up after them. */
static bool wait_for_kafka(struct central *c)
{
	long long pause = 1000;

	while (bus_check(c->bus, CHECK_MS)) {
		if (!pause_ms(pause))
			return false;
		pause = pause * 2 < RETRY_MAX_MS ? pause * 2 : RETRY_MAX_MS;
	}
	return true;
}

/* Connects and subscribes; false with *status when Central cannot serve. */
static bool start(struct central *c, int *status)
{
	static const enum topic topics[] = {
		T_CP_REGISTER, T_AUTH_REQUEST, T_TELEMETRY, T_HEALTH, T_CONTROL,
	};

	*status = EXIT_USAGE;	/* bus_open() fails on bad properties */
	if (!(c->bus = bus_open(c->conf, BUS_PRODUCER | BUS_GROUP,
				c->conf->central.group)))
		return false;
	*status = EXIT_OK;	/* a signal before Kafka answered */
	if (!wait_for_kafka(c))
		return false;
	if (!take_lease(c)) {
		*status = bus_stop ? EXIT_OK : EXIT_FAIL;
		return false;
	}
	*status = EXIT_FAIL;
	if (!restore(c) ||
	    bus_subscribe(c->bus, topics, sizeof(topics) / sizeof(topics[0])))
		return false;
	bus_trust(c->bus, c->conf->central.health_timeout_ms);
	/* Looked up now, while Kafka answers, rather than at the first tick. */
	bus_partition(c->bus, T_HEALTH, "");
	bus_partition(c->bus, T_TELEMETRY, "");
	/*
	 * CPs with a record keep it until heard (or found silent): a
	 * restarted Central does not flash them all DISCONNECTED.
	 */
	for (uint32_t i = 0; i < c->ncps; i++)
		if (!c->cps[i].unsaid)
			publish_state(c, &c->cps[i]);
	c->started = now_ms();
	return true;
}

static void stop(struct central *c)
{
	const struct bus_stats *st;

	if (!c->bus) {
		bus_close(c->lease, 0);
		return;
	}
	bus_flush(c->bus, FLUSH_MS);
	st = bus_stats(c->bus);
	if (c->started)	/* a Central that never served has nothing to say */
		info("stats: received %ld, rejected %ld, ignored %ld, sent %ld, failed %ld",
		     st->received, st->rejected, c->ignored, st->sent,
		     st->failed);
	bus_close(c->bus, FLUSH_MS);
	c->bus = NULL;
	/* Last: a standby takes over only after our offsets are committed. */
	bus_close(c->lease, 0);
	c->lease = NULL;
}

static void central_free(struct central *c)
{
	free(c->probe_back);
	index_free(&c->by_id);
	index_free(&c->by_driver);
	free(c->cps);
	free(c);
}

/* Set when the lease went to another Central while this one served. */
static bool lease_lost;

/*
 * A Central that lost the lease (frozen past the session timeout, or cut
 * off while a broker failed over) starts again as the same process, with
 * nothing of what it held: it stands by, or serves again from cp-state
 * and the committed offsets if the lease comes back to it.
 */
static void stand_by_again(char **argv)
{
	info("standing by again");
	fflush(stderr);
	execv("/proc/self/exe", argv);
	warn("cannot start again: %s", strerror(errno));
}

static int run_central(struct conf *conf, bool check_only)
{
	struct central *c = xcalloc(1, sizeof(*c));
	int ret;

	c->conf = conf;
	index_init(&c->by_id, sizeof(struct cp), offsetof(struct cp, id));
	index_init(&c->by_driver, sizeof(struct cp),
		   offsetof(struct cp, s.driver));
	if (check_defaults(&conf->central) || load_catalogue(c)) {
		ret = EXIT_USAGE;
		goto out;
	}
	if (check_only) {
		ret = EXIT_OK;
		goto out;
	}
	bus_signals();
	if (!start(c, &ret))
		goto out;
	if ((c->panel = panel_open()))
		c->log_too = !isatty(STDERR_FILENO);
	ret = serve(c);
	lease_lost = c->lost;
	panel_close(c->panel);
	c->panel = NULL;
out:
	stop(c);
	central_free(c);
	return ret;
}

/* evc central stop|resume CP|all: one control message, delivered. */
static int run_control(const struct conf *conf, const char *verb,
		       const char *target)
{
	bool all = !strcmp(target, "all");
	struct bus *b;
	struct msg m;
	int ret = EXIT_OK;

	if (!all && !msg_name_ok(target))
		return usage_error("bad CP id: '%s'", target);
	if (!(b = bus_open(conf, BUS_PRODUCER, NULL)))
		return EXIT_USAGE;
	if (bus_check(b, CHECK_MS)) {
		bus_close(b, 0);
		return EXIT_UNREACHABLE;
	}
	msg_init(&m, MSG_CONTROL);
	m.u.ctl.cmd = !strcmp(verb, "stop") ? CMD_STOP : CMD_RESUME;
	m.u.ctl.all = all;
	if (!all)
		snprintf(m.cp, sizeof(m.cp), "%s", target);
	if (bus_send(b, T_CONTROL, &m))
		ret = EXIT_FAIL;
	else if (bus_flush(b, FLUSH_MS))
		ret = EXIT_UNREACHABLE;
	else
		debug("%s %s sent", verb, target);
	bus_close(b, 0);
	return ret;
}

/* What follows the options: nothing, or "stop|resume CP|all". */
static int check_words(int n, char **w, bool check_only)
{
	if (n == 0)
		return 0;
	if (strcmp(w[0], "stop") && strcmp(w[0], "resume"))
		return usage_error("unknown action: '%s'", w[0]);
	if (n != 2)
		return usage_error("expected one CP id or 'all' after '%s'",
				   w[0]);
	if (check_only)
		return usage_error("-n does not go with '%s'", w[0]);
	return 0;
}

int cmd_central(int argc, char **argv)
{
	static const struct option opts[] = {
		CONF_LONGOPTS,
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct conf_args a = { 0 };
	bool check_only = false;
	struct conf c;
	int opt, r, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, CONF_SHORTOPTS "hn", opts,
				  NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			conf_args_free(&a);
			return EXIT_OK;
		}
		if (opt == 'n') {
			check_only = true;
			continue;
		}
		if ((r = conf_opt(&a, opt, optarg)) <= 0) {
			conf_args_free(&a);
			return r < 0 ? EXIT_USAGE : opt_error(argv, optind, optopt);
		}
	}
	if ((ret = check_words(argc - optind, argv + optind, check_only))) {
		conf_args_free(&a);
		return ret;
	}
	if (conf_load(&c, &a)) {
		conf_args_free(&a);
		return EXIT_USAGE;
	}
	if (optind < argc)
		ret = run_control(&c, argv[optind], argv[optind + 1]);
	else
		ret = run_central(&c, check_only);
	conf_free(&c);
	conf_args_free(&a);
	if (lease_lost)
		stand_by_again(argv);
	return ret;
}
