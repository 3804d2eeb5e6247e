/* gateway.c: the OCPP gateway's rules without I/O: every connected charger a CP of the network, OCPP 1.6 to evc messages and back. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figure.h"
#include "gateway.h"
#include "xalloc.h"

#define FLOOD_RATE 20.0		/* calls a second a charger may keep up */
#define FLOOD_BURST 200.0	/* ... and at once (an offline queue replayed) */
#define CLEAN_MAX 64		/* bytes of a charger's text in a log line */
#define TX_FIRST 1

static const char *const tag_status[DENY_COUNT] = {
	[DENY_NONE] = "Accepted",
	[DENY_UNKNOWN_CP] = "Invalid",
	[DENY_BUSY] = "Blocked",
	[DENY_OUT_OF_ORDER] = "Blocked",
	[DENY_BROKEN] = "Blocked",
	[DENY_DISCONNECTED] = "Blocked",
	[DENY_DRIVER_BUSY] = "ConcurrentTx",
	[DENY_EXPIRED] = "Expired",
	[DENY_BAD_REQUEST] = "Invalid",
};

const char *gw_tag_status(enum msg_deny why)
{
	return why < DENY_COUNT ? tag_status[why] : "Invalid";
}

/* StopTransaction's reasons; none given means Local, as OCPP says. */
static const struct {
	const char *name;
	enum msg_end end;
} stop_reasons[] = {
	{ "Local", END_CANCELLED }, { "Remote", END_CANCELLED },
	{ "DeAuthorized", END_CANCELLED }, { "EVDisconnected", END_UNPLUGGED },
	{ "UnlockCommand", END_UNPLUGGED }, { "EmergencyStop", END_BROKEN },
	{ "PowerLoss", END_BROKEN }, { "HardReset", END_BROKEN },
	{ "SoftReset", END_BROKEN }, { "Reboot", END_BROKEN },
	{ "Other", END_FINISHED },
};

enum msg_end gw_stop_reason(const char *reason)
{
	for (size_t i = 0; i < sizeof(stop_reasons) / sizeof(stop_reasons[0]); i++)
		if (!strcmp(reason, stop_reasons[i].name))
			return stop_reasons[i].end;
	return END_CANCELLED;
}

/* --- lines, frames and messages out ------------------------------------ */

__attribute__((format(printf, 3, 4)))
static void say(struct gateway *g, enum say level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!g->h.say || level < g->h.say_min)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	g->h.say(g->h.arg, level, line);
}

/* A charger's text for a log line: printable ASCII only, cut short. */
static const char *clean(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static uint32_t number(const struct gateway *g, const struct gw_charger *c)
{
	return (uint32_t)(c - g->ch);
}

static void send_frame(struct gateway *g, struct gw_charger *c, int n)
{
	if (n > 0 && c->conn)
		g->h.send(g->h.arg, number(g, c), c->conn, g->frame, (size_t)n);
}

/* The CALLRESULT of call id; payload is let go. */
static void reply(struct gateway *g, struct gw_charger *c, const char *id,
		  json_t *payload)
{
	send_frame(g, c, ocppj_result(g->frame, sizeof(g->frame), id, payload));
	json_decref(payload);
}

/* A CALLERROR for call id (or a frame without one: "-1"). */
static void refuse(struct gateway *g, struct gw_charger *c, const char *id,
		   enum ocppj_error code, const char *why)
{
	char text[CLEAN_MAX * 2];

	g->st.refused++;
	g->st.callerrors++;
	clean(why, text, sizeof(text));
	say(g, SAY_HOSTILE, "%s: refused a frame: %s: %s", c->cp.id,
	    ocppj_error_name(code), text);
	send_frame(g, c, ocppj_error(g->frame, sizeof(g->frame),
				     *id ? id : "-1", code, text));
}

static json_t *id_tag_info(const char *status)
{
	return json_pack("{s:{s:s}}", "idTagInfo", "status", status);
}

static int post(struct gateway *g, enum topic t, const struct msg *m)
{
	return g->h.post(g->h.arg, t, m);
}

/* --- the CPs' owner: lib/cp.c's hooks ------------------------------------ */

static struct gw_charger *charger_of(const struct cp *p)
{
	return (struct gw_charger *)((char *)p - offsetof(struct gw_charger, cp));
}

static int on_post(void *arg, enum topic t, const struct msg *m)
{
	return post(arg, t, m);
}

/* What the journal needs to take a supply back after a restart. */
static void on_save(void *arg, const struct cp *p, const struct msg *keep)
{
	struct gateway *g = arg;
	struct gw_charger *c = charger_of(p);
	struct gw_record r = { .closed = !keep };

	if (!g->h.keep)
		return;
	if (!keep) {
		r.end.type = MSG_SUPPLY_END;
		memcpy(r.end.cp, p->id, sizeof(r.end.cp));
		memcpy(r.end.session, p->s.session, sizeof(r.end.session));
	} else {
		r.final = !p->supplying;
		r.end = *keep;
	}
	r.tx = c->tx;
	r.connector = c->tx_connector;
	r.meter_start = c->tx_meter;
	r.target_wh = c->target_wh;
	r.limit_ms = c->limit_ms;
	g->h.keep(g->h.arg, &r);
}

static void on_cp_say(void *arg, const struct cp *p, enum say level,
		      const char *line)
{
	say(arg, level, "%s: %s", p->id, line);
}

/* --- chargers --------------------------------------------------------- */

void gw_init(struct gateway *g, const struct conf *c, const struct gw_hooks *h)
{
	memset(g, 0, sizeof(*g));
	g->c = c;
	g->h = *h;
	cp_owner_init(&g->o, c, c->cp.location);
	g->o.metered = true;
	g->o.post = on_post;
	g->o.save = on_save;
	g->o.say = on_cp_say;
	g->o.say_min = h->say_min;
	g->o.arg = g;
	index_init(&g->ids, sizeof(*g->ch), offsetof(struct gw_charger, cp.id));
	g->next_tx = TX_FIRST;
}

static void calls_clear(struct gw_charger *c)
{
	for (unsigned i = 0; i < c->ncalls; i++)
		json_decref(c->call[i].payload);
	c->ncalls = 0;
}

void gw_free(struct gateway *g)
{
	for (uint32_t i = 0; i < g->n; i++) {
		calls_clear(&g->ch[i]);
		cp_free(&g->ch[i].cp);
	}
	free(g->ch);
	index_free(&g->ids);
	sched_free(&g->timers);
	memset(g, 0, sizeof(*g));
}

struct gw_charger *gw_find(struct gateway *g, const char *id)
{
	return index_get(&g->ids, g->ch, id);
}

/* A charger never seen before: NULL when there are too many. */
static struct gw_charger *add(struct gateway *g, const char *id)
{
	struct gw_charger *c;

	if (g->n >= GW_CHARGERS_MAX)
		return NULL;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->ch = xreallocarray(g->ch, g->cap, sizeof(*g->ch));
	}
	c = &g->ch[g->n];
	memset(c, 0, sizeof(*c));
	cp_init(&c->cp, &g->o, id);
	c->slot.at = SCHED_NEVER;
	c->limit_ms = -1;
	index_put(&g->ids, g->ch, g->n++);
	return c;
}

/* Whether Central should hear the charger's health: it is there, or awaited. */
static bool alive(const struct gw_charger *c)
{
	return c->cp.registered && (c->conn || c->offline_until);
}

static void min_at(int64_t *at, int64_t t)
{
	if (t < *at)
		*at = t;
}

/* The first of a charger's deadlines. */
static int64_t next_due(const struct gw_charger *c)
{
	int64_t at = cp_next(&c->cp);

	if (alive(c))
		min_at(&at, c->next_health);
	if (c->offline_until)
		min_at(&at, c->offline_until);
	if (c->wait)
		min_at(&at, c->wait_until);
	if (c->ncalls && c->call[0].id[0])
		min_at(&at, c->call[0].deadline);
	if (c->phase == GW_AWAITED)
		min_at(&at, c->start_until);
	if (c->stop_until)
		min_at(&at, c->stop_until);
	if (c->phase == GW_CHARGING && c->limit_ms >= 0 && !c->stop_asked)
		min_at(&at, c->cp.s.t0 + c->limit_ms);
	return at;
}

/* When the connection is pinged, or found silent: SCHED_NEVER when never. */
static int64_t ping_due(const struct gateway *g, const struct gw_charger *c)
{
	int64_t ms = g->c->ocpp.ping_s * 1000LL;

	if (!c->conn || !ms)
		return SCHED_NEVER;
	return c->heard + (c->pinged ? 2 * ms : ms);
}

static void schedule(struct gateway *g, struct gw_charger *c)
{
	int64_t at = next_due(c);

	min_at(&at, ping_due(g, c));
	sched_set(&g->timers, &c->slot, number(g, c), at);
}

/* The heartbeat a CP's monitor would send: the charger is there, its engine OK or not. */
static void health(struct gateway *g, struct gw_charger *c, const struct now *t)
{
	struct msg m;

	msg_init_at(&m, MSG_HEALTH, t->wall);
	memcpy(m.cp, c->cp.id, sizeof(m.cp));
	m.u.health.engine_ok = !c->cp.faulted;
	m.u.health.seq = c->health_seq++;
	post(g, T_HEALTH, &m);
	c->next_health = t->mono + g->c->cp.health_ms;
}

/* --- the supply, the charger's side ------------------------------------ */

static int32_t new_tx(struct gateway *g)
{
	int32_t tx = g->next_tx;

	g->next_tx = tx == INT32_MAX ? TX_FIRST : tx + 1;
	return tx;
}

static void phase_idle(struct gw_charger *c)
{
	c->phase = GW_IDLE;
	c->tx = 0;
	c->stop_asked = false;
	c->stop_until = c->start_until = 0;
	c->target_wh = 0;
	c->limit_ms = -1;
}

/* The supply ends on wh: the reason asked for, if any, else why. */
static void end_supply(struct gw_charger *c, int64_t wh,
		       enum msg_end why, const struct now *t)
{
	cp_meter_end(&c->cp, wh, why, t);
	phase_idle(c);
	c->offline_until = 0;
}

static void queue_call(struct gateway *g, struct gw_charger *c,
		       enum ocpp16_action a, json_t *payload,
		       const struct now *t);

/*
 * An end is wanted (Central's stop or end, a fault, the target): the
 * charger is asked to stop its transaction and its StopTransaction
 * gives the last figure; without one in time, the last reading does.
 * Before the charger has a transaction, there is nothing to wait for.
 */
static void request_stop(struct gateway *g, struct gw_charger *c,
			 enum msg_end why, const struct now *t)
{
	if (!c->cp.supplying || c->stop_until)
		return;
	if (c->phase != GW_CHARGING) {
		end_supply(c, c->cp.s.wh, why, t);
		return;
	}
	c->stop_reason = why;
	c->stop_until = t->mono + g->c->ocpp.stop_wait_ms;
	if (c->conn && !c->stop_asked) {
		c->stop_asked = true;
		queue_call(g, c, A_REMOTE_STOP,
			   json_pack("{s:i}", "transactionId", c->tx), t);
	}
}

/* After the CP's core acted: an end it asks for is asked of the charger. */
static void follow(struct gateway *g, struct gw_charger *c, const struct now *t)
{
	if (c->cp.supplying && c->cp.s.ending)
		request_stop(g, c, c->cp.s.end_reason, t);
}

/* A reading of the charger's meter for the transaction. */
static void meter(struct gateway *g, struct gw_charger *c,
		  const struct ocpp16_reading *r, const struct now *t)
{
	int64_t wh = r->has_wh ? r->wh - c->tx_meter : c->cp.s.wh;
	double kw = r->has_w ? r->w / 1000 : c->cp.s.kw;

	if (wh < c->cp.s.wh || wh > MSG_WH_MAX) {
		say(g, SAY_HOSTILE, "%s: transaction %d: refused a reading of %lld Wh after %lld Wh",
		    c->cp.id, c->tx, (long long)wh, (long long)c->cp.s.wh);
		return;
	}
	cp_meter(&c->cp, wh, kw < 0 ? 0 : kw > MSG_KW_MAX ? MSG_KW_MAX : kw, t);
	if (c->target_wh > 0 && wh >= c->target_wh)
		request_stop(g, c, END_FINISHED, t);
}

static void answer_start(struct gateway *g, struct gw_charger *c,
			 const char *id, const char *status, int32_t tx)
{
	reply(g, c, id, json_pack("{s:i,s:{s:s}}", "transactionId", tx,
				  "idTagInfo", "status", status));
}

/* The StartTransaction waiting is the granted session's: it opens. */
static void open_tx(struct gateway *g, struct gw_charger *c,
		    const struct now *t)
{
	c->tx = new_tx(g);
	c->tx_connector = c->connector;
	c->tx_meter = c->meter_start;
	c->phase = GW_CHARGING;
	c->start_until = 0;
	c->wait = GW_NO_WAIT;
	answer_start(g, c, c->wait_call, "Accepted", c->tx);
	cp_meter(&c->cp, 0, 0, t);
	say(g, SAY_INFO, "%s: transaction %d started for '%s' at %s kWh on the meter",
	    c->cp.id, c->tx, c->cp.s.driver, fig_kwh(c->tx_meter).s);
}

/* --- the gateway's CALLs ------------------------------------------------- */

static void send_call(struct gateway *g, struct gw_charger *c,
		      const struct now *t)
{
	struct gw_call *k = &c->call[0];

	if (!c->ncalls || k->id[0] || !c->conn)
		return;
	snprintf(k->id, sizeof(k->id), "gw%x", ++g->next_call);
	k->deadline = t->mono + g->c->ocpp.call_timeout_ms;
	send_frame(g, c, ocppj_call(g->frame, sizeof(g->frame), k->id,
				    ocpp16_action_name(k->action), k->payload));
	json_decref(k->payload);
	k->payload = NULL;
}

/* The call in flight is over: the next one may go. */
static enum ocpp16_action call_done(struct gw_charger *c)
{
	enum ocpp16_action a = c->call[0].action;

	json_decref(c->call[0].payload);
	memmove(&c->call[0], &c->call[1], --c->ncalls * sizeof(c->call[0]));
	return a;
}

/* A CALL that got no good answer. */
static void call_failed(struct gateway *g, struct gw_charger *c,
			enum ocpp16_action a, const struct now *t)
{
	if (a != A_REMOTE_START || c->phase != GW_ASKED)
		return;
	say(g, SAY_INFO, "%s: the charger did not take '%s''s session: it ends",
	    c->cp.id, c->cp.s.driver);
	end_supply(c, 0, END_CANCELLED, t);
}

static void queue_call(struct gateway *g, struct gw_charger *c,
		       enum ocpp16_action a, json_t *payload,
		       const struct now *t)
{
	if (!c->conn || c->ncalls > GW_CALLS_QUEUED) {
		json_decref(payload);
		say(g, SAY_WARN, "%s: cannot send %s: %s", c->cp.id,
		    ocpp16_action_name(a), c->conn ? "too many calls waiting" :
		    "not connected");
		call_failed(g, c, a, t);
		return;
	}
	c->call[c->ncalls++] = (struct gw_call){ .action = a, .payload = payload };
	send_call(g, c, t);
}

/* A charger's good confirmation of a CALL of the gateway. */
static void call_result(struct gateway *g, struct gw_charger *c,
			enum ocpp16_action a, const json_t *p,
			const struct now *t)
{
	const char *status = ocpp16_str(p, "status");

	if (a == A_REMOTE_START && c->phase == GW_ASKED) {
		if (strcmp(status, "Accepted")) {
			call_failed(g, c, a, t);
			return;
		}
		c->phase = GW_AWAITED;
		c->start_until = t->mono + g->c->ocpp.start_timeout_s * 1000LL;
		cp_meter(&c->cp, 0, 0, t);	/* the driver hears it began */
	} else if (a == A_REMOTE_STOP && strcmp(status, "Accepted")) {
		say(g, SAY_INFO, "%s: the charger refused to stop transaction %d",
		    c->cp.id, c->tx);
	} else if (a == A_CHANGE_AVAILABILITY) {
		say(g, SAY_INFO, "%s: availability change %s", c->cp.id, status);
	}
}

/* A CALLRESULT or CALLERROR: the answer to the call in flight. */
static void on_answer(struct gateway *g, struct gw_charger *c,
		      const struct ocppj_frame *f, const struct now *t)
{
	char err[256], text[CLEAN_MAX];
	enum ocpp16_action a;

	if (!c->ncalls || !c->call[0].id[0] || strcmp(f->id, c->call[0].id)) {
		g->st.refused++;
		say(g, SAY_HOSTILE, "%s: an answer to no call: '%s'", c->cp.id,
		    clean(f->id, text, sizeof(text)));
		return;
	}
	a = call_done(c);
	if (f->type == OCPPJ_ERROR) {
		say(g, SAY_INFO, "%s: %s failed: %s: %s", c->cp.id,
		    ocpp16_action_name(a), ocppj_error_name(f->code),
		    clean(f->text, text, sizeof(text)));
		call_failed(g, c, a, t);
	} else if (ocpp16_check(a, true, f->payload, err, sizeof(err))) {
		say(g, SAY_HOSTILE, "%s: a bad answer to %s: %s", c->cp.id,
		    ocpp16_action_name(a), clean(err, text, sizeof(text)));
		call_failed(g, c, a, t);
	} else {
		call_result(g, c, a, f->payload, t);
	}
	send_call(g, c, t);
}

/* --- requests waiting for Central ----------------------------------- */

static void answer_boot(struct gateway *g, struct gw_charger *c,
			const char *status, const struct now *t)
{
	char now[OCPP16_TIME_MAX];
	unsigned interval = !strcmp(status, "Accepted") ?
			    g->c->ocpp.heartbeat_s : g->c->ocpp.retry_s;

	g->st.boots[!strcmp(status, "Accepted") ? GW_BOOT_ACCEPTED :
		    !strcmp(status, "Rejected") ? GW_BOOT_REJECTED :
		    GW_BOOT_PENDING]++;

	ocpp16_time(t->wall, now);
	reply(g, c, c->wait_call, json_pack("{s:s,s:s,s:i}", "status", status,
					    "currentTime", now,
					    "interval", interval));
	c->wait = GW_NO_WAIT;
}

/* An Authorize or StartTransaction goes to Central as a driver's request. */
static void ask_central(struct gateway *g, struct gw_charger *c,
			enum gw_wait what, const char *call, const char *tag,
			const struct now *t)
{
	struct msg m;

	msg_init_at(&m, MSG_AUTH_REQUEST, t->wall);
	memcpy(m.cp, c->cp.id, sizeof(m.cp));
	snprintf(m.driver, sizeof(m.driver), "%s", tag);
	m.u.req.timeout_ms = g->c->ocpp.central_wait_ms;
	c->wait = what;
	snprintf(c->wait_call, sizeof(c->wait_call), "%s", call);
	memcpy(c->wait_req, m.id, sizeof(c->wait_req));
	memcpy(c->wait_tag, m.driver, sizeof(c->wait_tag));
	c->wait_until = t->mono + g->c->ocpp.central_wait_ms;
	c->wait_granted = false;
	post(g, T_AUTH_REQUEST, &m);
}

/* A request Central did not answer in time. */
static void wait_over(struct gateway *g, struct gw_charger *c,
		      const struct now *t)
{
	say(g, SAY_INFO, "%s: no answer from Central in %u ms", c->cp.id,
	    g->c->ocpp.central_wait_ms);
	if (c->wait == GW_WAIT_BOOT)
		answer_boot(g, c, "Pending", t);
	else if (c->wait == GW_WAIT_AUTHORIZE)
		reply(g, c, c->wait_call, id_tag_info("Invalid"));
	else
		answer_start(g, c, c->wait_call, "Invalid", new_tx(g));
	c->wait = GW_NO_WAIT;
}

/* Central's decision on a driver's request the charger made. */
static void on_decision(struct gateway *g, struct gw_charger *c,
			const struct msg *m, const struct now *t)
{
	enum msg_deny why = m->u.resp.authorized ? DENY_NONE : m->u.resp.reason;

	say(g, SAY_INFO, "%s: '%s' %s at the charger%s%s", c->cp.id,
	    c->wait_tag, why ? "denied" : "authorised", why ? ": " : "",
	    why ? msg_deny_name(why) : "");
	if (c->wait == GW_WAIT_AUTHORIZE) {
		reply(g, c, c->wait_call, id_tag_info(gw_tag_status(why)));
		c->wait = GW_NO_WAIT;
		/* Unless its start came first, the next one is the charger's. */
		if (!why && !(c->cp.supplying &&
			      !strcmp(c->cp.s.driver, c->wait_tag))) {
			memcpy(c->local, c->wait_tag, sizeof(c->local));
			c->local_until = t->mono +
					 g->c->ocpp.start_timeout_s * 1000LL;
		}
	} else if (why) {
		answer_start(g, c, c->wait_call, gw_tag_status(why), new_tx(g));
		c->wait = GW_NO_WAIT;
	} else if (c->cp.supplying && !strcmp(c->cp.s.driver, c->wait_tag)) {
		open_tx(g, c, t);	/* the start command came first */
	} else {
		c->wait_granted = true;	/* the start command is to come */
	}
}

/* --- Central's messages -------------------------------------------------- */

/* A session Central granted here: the charger is told, unless it asked. */
static void on_started(struct gateway *g, struct gw_charger *c,
		       const struct now *t)
{
	const char *d = c->cp.s.driver;

	c->target_wh = c->cp.s.target_wh;
	c->limit_ms = c->cp.s.limit_ms;
	if (c->wait == GW_WAIT_START && !strcmp(c->wait_tag, d)) {
		open_tx(g, c, t);
		return;
	}
	if ((c->wait == GW_WAIT_AUTHORIZE && !strcmp(c->wait_tag, d)) ||
	    (!strcmp(c->local, d) && t->mono < c->local_until)) {
		c->phase = GW_AWAITED;	/* the charger starts it itself */
		c->start_until = t->mono + g->c->ocpp.start_timeout_s * 1000LL;
		c->local[0] = '\0';
		return;
	}
	c->phase = GW_ASKED;
	queue_call(g, c, A_REMOTE_START, json_pack("{s:s}", "idTag", d), t);
}

static void on_cp_event(struct gateway *g, struct gw_charger *c,
			enum cp_event ev, const struct now *t)
{
	switch (ev) {
	case CP_EV_REGISTERED:
		say(g, SAY_INFO, "%s: accepted by Central", c->cp.id);
		c->next_health = t->mono;
		if (c->wait == GW_WAIT_BOOT)
			answer_boot(g, c, "Accepted", t);
		break;
	case CP_EV_REFUSED:
		say(g, SAY_INFO, "%s: refused by Central: %s", c->cp.id,
		    msg_deny_text(c->cp.refusal));
		if (c->wait == GW_WAIT_BOOT)
			answer_boot(g, c, "Rejected", t);
		break;
	case CP_EV_STARTED:
		on_started(g, c, t);
		break;
	case CP_EV_STOPPED:
	case CP_EV_RESUMED:
		queue_call(g, c, A_CHANGE_AVAILABILITY, json_pack("{s:i,s:s}",
			   "connectorId", 0, "type", ev == CP_EV_STOPPED ?
			   "Inoperative" : "Operative"), t);
		break;
	default:
		break;
	}
	follow(g, c, t);
}

void gw_count(const struct gateway *g, uint32_t *connected,
	      uint32_t *transactions)
{
	*connected = *transactions = 0;
	for (uint32_t i = 0; i < g->n; i++) {
		*connected += g->ch[i].conn != NULL;
		*transactions += g->ch[i].tx != 0;
	}
}

void gw_feed(struct gateway *g, const struct msg *m, const struct now *t)
{
	struct gw_charger *c = gw_find(g, m->cp);

	if (!c || (!c->conn && !c->cp.supplying) ||
	    (m->type != MSG_REGISTER_ACK && m->type != MSG_COMMAND &&
	     m->type != MSG_AUTH_RESPONSE)) {
		g->st.ignored++;	/* another gateway's, or not for CPs */
		return;
	}
	if (m->type == MSG_AUTH_RESPONSE) {
		if (c->wait != GW_WAIT_AUTHORIZE && c->wait != GW_WAIT_START)
			return;
		if (strcmp(c->wait_req, m->u.resp.request))
			return;		/* a driver's own request */
		on_decision(g, c, m, t);
	} else {
		on_cp_event(g, c, cp_feed(&c->cp, m, t), t);
	}
	schedule(g, c);
}

/* --- the charger's CALLs ----------------------------------------------- */

typedef void call_fn(struct gateway *g, struct gw_charger *c, const char *id,
		     const json_t *p, const struct now *t);

static void on_boot(struct gateway *g, struct gw_charger *c, const char *id,
		    const json_t *p, const struct now *t)
{
	char vendor[32], model[32];

	say(g, SAY_INFO, "%s: booted (%s %s)", c->cp.id,
	    clean(ocpp16_str(p, "chargePointVendor"), vendor, sizeof(vendor)),
	    clean(ocpp16_str(p, "chargePointModel"), model, sizeof(model)));
	if (c->wait == GW_WAIT_BOOT)
		answer_boot(g, c, "Pending", t);	/* asked again */
	c->wait = GW_NO_WAIT;
	snprintf(c->wait_call, sizeof(c->wait_call), "%s", id);
	if (c->cp.registered && c->reg_gen == c->conn_gen) {
		answer_boot(g, c, "Accepted", t);
		return;
	}
	/* Registered before this connection, or refused: a boot starts over. */
	if (c->cp.registered || c->cp.refused) {
		cp_act(&c->cp, CP_REBOOT, t);
		c->reg_gen = c->conn_gen;
	}
	c->wait = GW_WAIT_BOOT;
	c->wait_until = t->mono + g->c->ocpp.central_wait_ms;
	cp_tick(&c->cp, t);
}

static void on_heartbeat(struct gateway *g, struct gw_charger *c,
			 const char *id, const json_t *p, const struct now *t)
{
	char now[OCPP16_TIME_MAX];

	(void)p;
	ocpp16_time(t->wall, now);
	reply(g, c, id, json_pack("{s:s}", "currentTime", now));
}

/* A connector Faulted makes the engine KO; none Faulted, OK again. */
static void on_status(struct gateway *g, struct gw_charger *c, const char *id,
		      const json_t *p, const struct now *t)
{
	long long k = ocpp16_int(p, "connectorId", 0);
	uint64_t bit = 1ULL << (k < 63 ? k : 63);
	bool was = c->faulted != 0;

	if (!strcmp(ocpp16_str(p, "status"), "Faulted"))
		c->faulted |= bit;
	else
		c->faulted &= ~bit;
	if (!was != !c->faulted) {
		on_cp_event(g, c, cp_act(&c->cp, was ? CP_RECOVER : CP_FAULT,
					 t), t);
		c->next_health = t->mono;	/* a change is told at once */
	}
	reply(g, c, id, json_object());
}

static void on_authorize(struct gateway *g, struct gw_charger *c,
			 const char *id, const json_t *p, const struct now *t)
{
	const char *tag = ocpp16_str(p, "idTag");

	if (!msg_name_ok(tag)) {
		reply(g, c, id, id_tag_info("Invalid"));
		return;
	}
	if (c->cp.supplying) {	/* Central's answer is known */
		reply(g, c, id, id_tag_info(strcmp(tag, c->cp.s.driver) ?
					    gw_tag_status(DENY_BUSY) :
					    "Accepted"));
		return;
	}
	if (c->wait)
		wait_over(g, c, t);
	ask_central(g, c, GW_WAIT_AUTHORIZE, id, tag, t);
}

static void on_start_tx(struct gateway *g, struct gw_charger *c,
			const char *id, const json_t *p, const struct now *t)
{
	const char *tag = ocpp16_str(p, "idTag");
	int connector = (int)ocpp16_int(p, "connectorId", 1);
	int64_t meter = ocpp16_int(p, "meterStart", 0);
	bool mine = c->cp.supplying && !strcmp(tag, c->cp.s.driver);

	if (mine && c->phase == GW_CHARGING) {	/* its answer was lost */
		answer_start(g, c, id, c->tx_meter == meter &&
			     c->tx_connector == connector ? "Accepted" :
			     gw_tag_status(DENY_DRIVER_BUSY),
			     c->tx_meter == meter ? c->tx : new_tx(g));
		return;
	}
	if (c->wait)
		wait_over(g, c, t);
	c->connector = connector;
	c->meter_start = meter;
	if (mine) {
		snprintf(c->wait_call, sizeof(c->wait_call), "%s", id);
		open_tx(g, c, t);
	} else if (c->cp.supplying || !msg_name_ok(tag)) {
		answer_start(g, c, id, gw_tag_status(c->cp.supplying ?
			     DENY_BUSY : DENY_BAD_REQUEST), new_tx(g));
	} else {
		ask_central(g, c, GW_WAIT_START, id, tag, t);
	}
}

static void on_meter_values(struct gateway *g, struct gw_charger *c,
			    const char *id, const json_t *p,
			    const struct now *t)
{
	struct ocpp16_reading r;

	if (c->phase == GW_CHARGING && json_object_get(p, "transactionId") &&
	    ocpp16_int(p, "transactionId", 0) == c->tx) {
		ocpp16_reading(json_object_get(p, "meterValue"), &r);
		if (r.skipped)
			say(g, SAY_HOSTILE, "%s: %d meter values could not be read",
			    c->cp.id, r.skipped);
		if (r.has_wh || r.has_w)
			meter(g, c, &r, t);
	}
	reply(g, c, id, json_object());
}

static void on_stop_tx(struct gateway *g, struct gw_charger *c,
		       const char *id, const json_t *p, const struct now *t)
{
	long long tx = ocpp16_int(p, "transactionId", 0);
	int64_t wh = ocpp16_int(p, "meterStop", 0) - c->tx_meter;
	const char *reason = ocpp16_str(p, "reason");
	enum msg_end why;

	if (c->phase == GW_CHARGING && tx == c->tx) {
		if (wh < c->cp.s.wh || wh > MSG_WH_MAX) {
			say(g, SAY_HOSTILE, "%s: transaction %d: refused a meterStop of %lld Wh after %lld Wh",
			    c->cp.id, c->tx, (long long)wh,
			    (long long)c->cp.s.wh);
			wh = c->cp.s.wh;
		}
		why = c->stop_asked ? c->stop_reason :
		      gw_stop_reason(*reason ? reason : "Local");
		say(g, SAY_INFO, "%s: transaction %d stopped (%s): %s kWh",
		    c->cp.id, c->tx, *reason ? reason : "Local",
		    fig_kwh(wh).s);
		end_supply(c, wh, why, t);
	} else {
		say(g, SAY_INFO, "%s: transaction %lld is not open here: nothing to bill",
		    c->cp.id, tx);
	}
	reply(g, c, id, *ocpp16_str(p, "idTag") ? id_tag_info("Accepted") :
		       json_object());
}

static void on_data_transfer(struct gateway *g, struct gw_charger *c,
			     const char *id, const json_t *p,
			     const struct now *t)
{
	(void)p;
	(void)t;
	reply(g, c, id, json_pack("{s:s}", "status", "UnknownVendorId"));
}

/* DiagnosticsStatusNotification, FirmwareStatusNotification: noted. */
static void on_notice(struct gateway *g, struct gw_charger *c, const char *id,
		      const json_t *p, const struct now *t)
{
	(void)t;
	say(g, SAY_DEBUG, "%s: status '%s'", c->cp.id, ocpp16_str(p, "status"));
	reply(g, c, id, json_object());
}

static call_fn *const handlers[A_FROM_CHARGER] = {
	[A_AUTHORIZE] = on_authorize,
	[A_BOOT_NOTIFICATION] = on_boot,
	[A_DATA_TRANSFER] = on_data_transfer,
	[A_DIAGNOSTICS_STATUS] = on_notice,
	[A_FIRMWARE_STATUS] = on_notice,
	[A_HEARTBEAT] = on_heartbeat,
	[A_METER_VALUES] = on_meter_values,
	[A_START_TRANSACTION] = on_start_tx,
	[A_STATUS_NOTIFICATION] = on_status,
	[A_STOP_TRANSACTION] = on_stop_tx,
};

static void on_call(struct gateway *g, struct gw_charger *c,
		    const struct ocppj_frame *f, const struct now *t)
{
	int a = ocpp16_action_parse(f->action);
	char err[256];
	enum ocppj_error r;

	if (a == -1) {
		snprintf(err, sizeof(err), "unknown action '%s'", f->action);
		refuse(g, c, f->id, OCPPJ_NOT_IMPLEMENTED, err);
	} else if (a < 0) {
		snprintf(err, sizeof(err), "action '%s' is not taken here",
			 f->action);
		refuse(g, c, f->id, OCPPJ_NOT_SUPPORTED, err);
	} else if ((r = ocpp16_check(a, false, f->payload, err, sizeof(err)))) {
		refuse(g, c, f->id, r, err);
	} else if (c->cp.refused && a != A_BOOT_NOTIFICATION) {
		refuse(g, c, f->id, OCPPJ_SECURITY,
		       "the charge point is not accepted by Central");
	} else {
		handlers[a](g, c, f->id, f->payload, t);
	}
}

/* --- connections --------------------------------------------------------- */

/* The connection is gone: what was in flight on it fails; a supply is awaited. */
static void drop(struct gateway *g, struct gw_charger *c, const struct now *t)
{
	unsigned n = c->ncalls;

	c->conn = NULL;
	c->wait = GW_NO_WAIT;
	for (unsigned i = 0; i < n; i++)
		call_failed(g, c, call_done(c), t);
	if (c->cp.supplying && !c->offline_until) {
		c->offline_until = t->mono + g->c->ocpp.offline_s * 1000LL;
		say(g, SAY_INFO, "%s: gone during the supply to '%s': awaited for %u s",
		    c->cp.id, c->cp.s.driver, g->c->ocpp.offline_s);
	}
}

long gw_connect(struct gateway *g, const char *id, void *conn,
		const struct now *t)
{
	struct gw_charger *c = gw_find(g, id);

	if (!c && !(c = add(g, id))) {
		say(g, SAY_HOSTILE, "%s: refused: %d chargers already",
		    id, GW_CHARGERS_MAX);
		return -1;
	}
	if (c->conn) {
		say(g, SAY_INFO, "%s: a new connection replaces the open one",
		    id);
		g->h.close(g->h.arg, number(g, c), c->conn, 1001,
			   "replaced by a new connection");
		drop(g, c, t);
	}
	if (c->offline_until && c->cp.supplying)
		say(g, SAY_INFO, "%s: back: the supply to '%s' goes on", id,
		    c->cp.s.driver);
	c->conn = conn;
	c->conn_gen++;
	c->heard = t->mono;
	c->pinged = false;
	c->offline_until = 0;
	c->tokens = FLOOD_BURST;
	c->tokens_at = t->mono;
	c->next_health = t->mono;
	if (!c->cp.registered) {
		if (c->cp.refused)
			cp_act(&c->cp, CP_REBOOT, t);
		c->reg_gen = c->conn_gen;
	}
	say(g, SAY_DEBUG, "%s: connected", id);
	schedule(g, c);
	return number(g, c);
}

void gw_disconnect(struct gateway *g, uint32_t ch, void *conn,
		   const struct now *t)
{
	struct gw_charger *c = ch < g->n ? &g->ch[ch] : NULL;

	if (!c || c->conn != conn)
		return;		/* replaced, or closed for a flood */
	say(g, SAY_DEBUG, "%s: disconnected", c->cp.id);
	drop(g, c, t);
	schedule(g, c);
}

void gw_pong(struct gateway *g, uint32_t ch, void *conn, const struct now *t)
{
	struct gw_charger *c = ch < g->n ? &g->ch[ch] : NULL;

	if (!c || c->conn != conn)
		return;
	c->heard = t->mono;
	c->pinged = false;
	schedule(g, c);
}

/* An idle connection is pinged; one silent since is closed. */
static void liveness(struct gateway *g, struct gw_charger *c,
		     const struct now *t)
{
	if (t->mono < ping_due(g, c))
		return;
	if (!c->pinged) {
		c->pinged = true;
		g->h.ping(g->h.arg, number(g, c), c->conn);
		return;
	}
	say(g, SAY_INFO, "%s: silent for %u s: closing", c->cp.id,
	    2 * g->c->ocpp.ping_s);
	g->h.close(g->h.arg, number(g, c), c->conn, 1001, "silent");
	drop(g, c, t);
}

/* A charger may send FLOOD_RATE calls a second, FLOOD_BURST at once. */
static bool take_token(struct gw_charger *c, const struct now *t)
{
	c->tokens += (double)(t->mono - c->tokens_at) * FLOOD_RATE / 1000;
	c->tokens_at = t->mono;
	if (c->tokens > FLOOD_BURST)
		c->tokens = FLOOD_BURST;
	if (c->tokens < 1)
		return false;
	c->tokens -= 1;
	return true;
}

static void flood(struct gateway *g, struct gw_charger *c, const struct now *t)
{
	g->st.floods++;
	say(g, SAY_HOSTILE, "%s: more than %.0f messages a second: closing",
	    c->cp.id, FLOOD_RATE);
	g->h.close(g->h.arg, number(g, c), c->conn, 1008, "too many messages");
	drop(g, c, t);
}

void gw_frame(struct gateway *g, uint32_t ch, void *conn, const char *buf,
	      size_t len, const struct now *t)
{
	struct gw_charger *c = ch < g->n ? &g->ch[ch] : NULL;
	struct ocppj_frame f;
	enum ocppj_error r;
	char err[256];

	if (!c || c->conn != conn)
		return;
	g->st.frames++;
	c->heard = t->mono;
	c->pinged = false;
	if (!take_token(c, t)) {
		flood(g, c, t);
	} else if ((r = ocppj_decode(buf, len, &f, err, sizeof(err)))) {
		if (f.type == OCPPJ_CALL || !f.type)
			refuse(g, c, f.id, r, err);
		else
			say(g, SAY_HOSTILE, "%s: a bad answer: %s", c->cp.id,
			    clean(err, err, sizeof(err)));
	} else if (f.type == OCPPJ_CALL) {
		on_call(g, c, &f, t);
	} else {
		on_answer(g, c, &f, t);
	}
	ocppj_free(&f);
	schedule(g, c);
}

/* --- time ------------------------------------------------------------------ */

/* The charger's deadlines that have come. */
static void charger_tick(struct gateway *g, struct gw_charger *c,
			 const struct now *t)
{
	int64_t now = t->mono;

	cp_tick(&c->cp, t);
	if (c->wait && now >= c->wait_until)
		wait_over(g, c, t);
	if (c->ncalls && c->call[0].id[0] && now >= c->call[0].deadline) {
		say(g, SAY_INFO, "%s: no answer to %s in %u ms", c->cp.id,
		    ocpp16_action_name(c->call[0].action),
		    g->c->ocpp.call_timeout_ms);
		call_failed(g, c, call_done(c), t);
		send_call(g, c, t);
	}
	if (c->phase == GW_AWAITED && now >= c->start_until) {
		say(g, SAY_INFO, "%s: no StartTransaction for '%s' in %u s: the session ends",
		    c->cp.id, c->cp.s.driver, g->c->ocpp.start_timeout_s);
		end_supply(c, c->cp.s.wh, END_CANCELLED, t);
	}
	if (c->phase == GW_CHARGING && c->limit_ms >= 0 &&
	    now >= c->cp.s.t0 + c->limit_ms)
		request_stop(g, c, END_FINISHED, t);
	if (c->stop_until && now >= c->stop_until) {
		say(g, SAY_INFO, "%s: no StopTransaction for transaction %d: it ends on the last reading",
		    c->cp.id, c->tx);
		end_supply(c, c->cp.s.wh, c->stop_reason, t);
	}
	if (c->offline_until && now >= c->offline_until) {
		c->offline_until = 0;
		if (c->cp.supplying) {
			say(g, SAY_INFO, "%s: not back in %u s: the supply ends on the last reading",
			    c->cp.id, g->c->ocpp.offline_s);
			end_supply(c, c->cp.s.wh, END_DISCONNECTED, t);
		}
	}
	liveness(g, c, t);
	if (alive(c) && now >= c->next_health)
		health(g, c, t);
}

void gw_tick(struct gateway *g, const struct now *t)
{
	uint32_t i;

	if (!g->n)
		return;
	while (sched_due(&g->timers, &g->ch[0].slot, sizeof(*g->ch), t->mono,
			 &i)) {
		charger_tick(g, &g->ch[i], t);
		schedule(g, &g->ch[i]);
	}
}

int64_t gw_next(const struct gateway *g)
{
	return sched_first(&g->timers);
}

/* --- restart ----------------------------------------------------------------- */

int gw_restore(struct gateway *g, const struct gw_record *r,
	       const struct now *t)
{
	struct gw_charger *c;

	if (r->closed || r->end.type != MSG_SUPPLY_END ||
	    !msg_cp_id_ok(r->end.cp))
		return -1;
	if (!(c = gw_find(g, r->end.cp)) && !(c = add(g, r->end.cp)))
		return -1;
	if (r->final)	/* Kafka may not have had it: again */
		return cp_interrupted(&c->cp, &r->end, t);
	if (cp_resume(&c->cp, &r->end, t))
		return -1;
	c->tx = r->tx;
	c->tx_connector = r->connector;
	c->tx_meter = r->meter_start;
	c->target_wh = r->target_wh;
	c->limit_ms = r->limit_ms;
	c->phase = r->tx ? GW_CHARGING : GW_AWAITED;
	c->start_until = r->tx ? 0 :
			 t->mono + g->c->ocpp.start_timeout_s * 1000LL;
	c->offline_until = t->mono + g->c->ocpp.offline_s * 1000LL;
	c->next_health = t->mono;
	if (r->tx >= g->next_tx && r->tx < INT32_MAX)
		g->next_tx = r->tx + 1;
	schedule(g, c);
	return 0;
}
