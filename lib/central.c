/* central.c: Central's rules without I/O: catalogue, CP states, sessions, decisions, tickets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "figure.h"
#include "xalloc.h"

#define PROGRESS_MS 100		/* least time between two progress of a session */
/*
 * Figures a CP could not have measured: more energy than its rated
 * power delivers in the time since the grant, with this margin and this
 * slack (Central's clock against the CP's start), or less energy than
 * before. This many such telemetry in a row is a broken meter.
 */
#define PLAUSIBLE_MARGIN 1.10
#define PLAUSIBLE_SLACK_MS 5000
#define DOUBTFUL_MAX 3

void central_init(struct central *c, const struct conf_central *rules,
		  const struct central_hooks *hooks)
{
	memset(c, 0, sizeof(*c));
	c->rules = rules;
	c->hooks = *hooks;
	index_init(&c->by_id, sizeof(struct central_cp),
		   offsetof(struct central_cp, id));
	index_init(&c->by_driver, sizeof(struct central_cp),
		   offsetof(struct central_cp, s.driver));
}

void central_free(struct central *c)
{
	index_free(&c->by_id);
	index_free(&c->by_driver);
	free(c->cps);
	memset(c, 0, sizeof(*c));
}

static struct central_cp *find(struct central *c, const char *id)
{
	return index_get(&c->by_id, c->cps, id);
}

const struct central_cp *central_find(const struct central *c,
				      const char *id)
{
	const struct central_cp *p = index_get(&c->by_id, c->cps, id);

	return p && !p->forgotten ? p : NULL;
}

uint32_t central_known(const struct central *c)
{
	return c->ncps - c->nforgotten;
}

static struct central_cp *find_driver(struct central *c, const char *driver)
{
	return index_get(&c->by_driver, c->cps, driver);
}

__attribute__((format(printf, 3, 4)))
static void say(struct central *c, enum say level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (level < c->hooks.say_min || !c->hooks.say)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->hooks.say(c->hooks.ctx, level, line);
}

/* A message Central will not act on: counted, and said (rate-limited). */
__attribute__((format(printf, 3, 4)))
static void ignore(struct central *c, const struct msg *m, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	c->ignored++;
	if (SAY_HOSTILE < c->hooks.say_min)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	say(c, SAY_HOSTILE, "ignored %s from '%s': %s", msg_type_name(m->type),
	    m->cp[0] ? m->cp : "-", why);
}

static void post(struct central *c, enum topic t, const struct msg *m)
{
	c->hooks.post(c->hooks.ctx, t, m);
}

static bool heard(struct central *c, const struct central_cp *p,
		  const struct now *now)
{
	return c->hooks.heard(c->hooks.ctx, (uint32_t)(p - c->cps), p->id,
			      now);
}

/* A message about p's open session: its CP, driver and session ids. */
static void init_about(struct msg *m, enum msg_type type,
		       const struct central_cp *p, const struct now *now)
{
	msg_init_at(m, type, now->wall);
	memcpy(m->cp, p->id, sizeof(m->cp));
	memcpy(m->driver, p->s.driver, sizeof(m->driver));
	memcpy(m->session, p->s.id, sizeof(m->session));
}

static void send_command(struct central *c, const struct central_cp *p,
			 enum msg_cmd cmd, const struct msg_auth_request *req,
			 const struct now *now)
{
	struct msg m;

	if (cmd == CMD_START || cmd == CMD_END) {
		init_about(&m, MSG_COMMAND, p, now);
	} else {
		msg_init_at(&m, MSG_COMMAND, now->wall);
		memcpy(m.cp, p->id, sizeof(m.cp));
	}
	m.u.cmd.cmd = cmd;
	if (cmd == CMD_START) {
		m.u.cmd.target_wh = req->target_wh;
		m.u.cmd.target_s = req->target_s;
		m.u.cmd.price = p->s.price;
	}
	post(c, T_CP_COMMANDS, &m);
}

/*
 * The requests granted at p lately, as cp-state keeps them: the oldest
 * first, so that a Central reading them back forgets the oldest first.
 */
static void granted_text(const struct central_cp *p, char *out)
{
	unsigned n = p->ngranted < CENTRAL_GRANTED_MAX ? p->ngranted :
			     CENTRAL_GRANTED_MAX;

	out[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, p->granted[(p->ngranted - n + i) %
				       CENTRAL_GRANTED_MAX]);
	}
}

static void remember_grant(struct central_cp *p, const char *request)
{
	memcpy(p->granted[p->ngranted++ % CENTRAL_GRANTED_MAX], request,
	       sizeof(p->granted[0]));
}

/* The ids of granted, as granted_text() wrote them (and msg.c checked). */
static void granted_restore(struct central_cp *p, const char *granted)
{
	char id[MSG_UUID_LEN + 1];

	p->ngranted = 0;
	for (const char *s = granted; strlen(s) >= MSG_UUID_LEN;
	     s += MSG_UUID_LEN + (s[MSG_UUID_LEN] == ' ')) {
		memcpy(id, s, MSG_UUID_LEN);
		id[MSG_UUID_LEN] = '\0';
		remember_grant(p, id);
	}
}

/*
 * Central's view of p on the compacted cp-state topic, with what a
 * Central after this one needs to give the same answer to a request it
 * reads again: the request of the session, and those granted lately.
 * Its price is what p charges now: the session's, while one runs, so
 * that a Central after this one bills it so too.
 */
static void publish_state(struct central *c, struct central_cp *p,
			  const struct now *now)
{
	struct msg m;

	msg_init_at(&m, MSG_CP_STATE, now->wall);
	memcpy(m.cp, p->id, sizeof(m.cp));
	if (p->busy) {
		memcpy(m.driver, p->s.driver, sizeof(m.driver));
		memcpy(m.session, p->s.id, sizeof(m.session));
		memcpy(m.u.state.request, p->s.request,
		       sizeof(m.u.state.request));
		m.u.state.live = p->s.live;
		p->s.live_dirty = false;
	}
	granted_text(p, m.u.state.granted);
	m.u.state.state = p->state;
	memcpy(m.u.state.location, p->location, sizeof(m.u.state.location));
	m.u.state.price = p->busy ? p->s.price : p->price;
	m.u.state.since = p->since;
	post(c, T_CP_STATE, &m);
	p->unsaid = false;
}

static void send_progress(struct central *c, struct central_cp *p,
			  const struct now *now)
{
	struct msg m;

	init_about(&m, MSG_PROGRESS, p, now);
	m.u.prog = p->s.live;
	post(c, T_AUTH_RESPONSE, &m);
	p->s.prog_dirty = false;
	p->s.prog_at = now->mono;
}

/*
 * The driver's live figures: at once, unless the last ones went out less
 * than PROGRESS_MS ago; then the newest go at the next tick. A CP sends
 * telemetry every second, so this only matters for a backlog (a Central
 * catching up after a restart), whose stale figures no driver needs one
 * by one.
 */
static void progress(struct central *c, struct central_cp *p, bool first,
		     const struct now *now)
{
	if (first || now->mono - p->s.prog_at >= PROGRESS_MS)
		send_progress(c, p, now);
	else
		p->s.prog_dirty = true;
}

static enum cp_state derive(const struct central_cp *p);

/* News of a session for its driver (supply started, CP broken...). */
__attribute__((format(printf, 4, 5)))
static void notify(struct central *c, const struct central_cp *p,
		   const struct now *now, const char *fmt, ...)
{
	struct msg m;
	va_list ap;

	init_about(&m, MSG_NOTICE, p, now);
	m.u.notice.state = derive(p);	/* what it is now, said or not yet */
	va_start(ap, fmt);
	vsnprintf(m.u.notice.text, sizeof(m.u.notice.text), fmt, ap);
	va_end(ap);
	post(c, T_AUTH_RESPONSE, &m);
}

static void update(struct central *c, struct central_cp *p, bool force,
		   const struct now *now);

static void forget(struct central *c, struct central_cp *p);

/*
 * The ticket of p's session, to its driver: the energy the CP measured,
 * the cost by Central's own price when the session began. The CP is
 * then free again, or forgotten if it left the catalogue meanwhile.
 */
static void close_session(struct central *c, struct central_cp *p,
			  const struct msg_ticket *t, const struct now *now)
{
	struct msg m;

	if (p->s.prog_dirty)
		send_progress(c, p, now);	/* the figures before the ticket */
	init_about(&m, MSG_TICKET, p, now);
	m.u.ticket = *t;
	m.u.ticket.price = p->s.price;
	m.u.ticket.cents = msg_cents(t->wh, p->s.price);
	post(c, T_AUTH_RESPONSE, &m);
	say(c, SAY_INFO, "%s ticket %s kWh %s EUR (%s), %s, session %.8s",
	    p->id, fig_kwh(t->wh).s, fig_eur(m.u.ticket.cents).s,
	    msg_end_name(t->reason), p->s.driver, p->s.id);
	index_del(&c->by_driver, c->cps, p->s.driver);
	p->busy = false;
	memset(&p->s, 0, sizeof(p->s));
	if (p->removed)
		forget(c, p);
	else
		update(c, p, true, now);
}

/* Central ends a session itself, with the last figures it received. */
static void close_by_central(struct central *c, struct central_cp *p,
			     enum msg_end reason, const struct now *now)
{
	struct msg_ticket t = {
		.seq = (uint32_t)(p->s.last_seq + 1),
		.wh = p->s.live.wh,
		.started = p->s.started,
		.ended = now->wall,
		.reason = reason,
	};

	close_session(c, p, &t, now);
}

/* From now on, the CP owes a supply_end; without one Central ends it. */
static void owe_end(struct central_cp *p, enum msg_end reason,
		    const struct now *now)
{
	if (p->s.owed)
		return;
	p->s.owed = true;
	p->s.owed_since = now->mono;
	p->s.owed_reason = reason;
}

/* What a change of state means for the session in progress. */
static void session_news(struct central *c, struct central_cp *p,
			 const struct now *now)
{
	switch (p->state) {
	case CP_BROKEN:
		notify(c, p, now, "%s is broken: the supply ends", p->id);
		owe_end(p, END_BROKEN, now);
		break;
	case CP_STOPPED:
		notify(c, p, now, "%s was stopped by Central (Out of Order): "
		       "the supply ends", p->id);
		owe_end(p, END_STOPPED, now);
		break;
	case CP_DISCONNECTED:
		/*
		 * The silence may be Kafka's (a broker failing over) rather
		 * than the CP's: the session ends only if it lasts as long
		 * again; a heartbeat and telemetry before then resume it.
		 */
		owe_end(p, END_DISCONNECTED, now);
		break;
	default:
		break;
	}
}

/*
 * The practice's truth table, then the operator: no heartbeat shows
 * DISCONNECTED whatever the engine said last, a heartbeat with the
 * engine KO shows BROKEN, and only a CP that works can be STOPPED,
 * SUPPLYING or ACTIVE.
 */
static enum cp_state derive(const struct central_cp *p)
{
	if (!p->connected)
		return CP_DISCONNECTED;
	if (!p->engine_ok || p->meter_fault)
		return CP_BROKEN;
	if (p->stopped)
		return CP_STOPPED;
	return p->busy ? CP_SUPPLYING : CP_ACTIVE;
}

static void say_state(struct central *c, const struct central_cp *p)
{
	if (p->state == CP_STOPPED)
		say(c, SAY_INFO, "%s STOPPED (Out of Order)", p->id);
	else if (p->state == CP_SUPPLYING)
		say(c, SAY_INFO, "%s SUPPLYING for %s", p->id, p->s.driver);
	else
		say(c, SAY_INFO, "%s %s", p->id, cp_state_name(p->state));
}

/* Recomputes p's state; a change (or force) goes to cp-state at once. */
static void update(struct central *c, struct central_cp *p, bool force,
		   const struct now *now)
{
	enum cp_state old = p->state, state = derive(p);

	c->changed = true;
	if (state == old) {
		if (force)
			publish_state(c, p, now);
		return;
	}
	c->count[old]--;
	c->count[state]++;
	p->state = state;
	p->since = now->wall;
	say_state(c, p);
	publish_state(c, p, now);
	if (p->busy)
		session_news(c, p, now);
}

static struct central_cp *add_cp(struct central *c, const char *id,
				 const char *location, double price,
				 double power_kw, const struct now *now)
{
	struct central_cp *p;

	if (c->ncps >= CENTRAL_MAX_CPS)
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
	p->power_kw = power_kw;
	p->state = CP_DISCONNECTED;
	p->since = now->wall;
	c->count[CP_DISCONNECTED]++;
	c->roster++;
	index_put(&c->by_id, c->cps, c->ncps++);
	return p;
}

static enum central_add entry_check(const char *location, double price,
				    double power_kw);

enum central_add central_add(struct central *c, const char *id,
			     const char *location, double price,
			     double power_kw, const struct now *now)
{
	enum central_add r = entry_check(location, price, power_kw);

	if (r != CENTRAL_ADDED)
		return r;
	if (find(c, id))
		return CENTRAL_DUPLICATE;
	return add_cp(c, id, location, price, power_kw, now) ?
	       CENTRAL_ADDED : CENTRAL_FULL;
}

static void erase(struct central *c, struct central_cp *p)
{
	if (c->hooks.erase)
		c->hooks.erase(c->hooks.ctx, T_CP_STATE, p->id);
	p->unsaid = false;
}

/* News of the catalogue: for people once Central serves, else debug. */
#define say_catalogue(c, ...) \
	say(c, (c)->started ? SAY_INFO : SAY_DEBUG, __VA_ARGS__)

/*
 * A CP off the catalogue and idle: no longer counted, shown or
 * published; the row stays, so that its id is refused and found again
 * if it comes back.
 */
static void forget(struct central *c, struct central_cp *p)
{
	c->count[p->state]--;
	c->nforgotten++;
	c->roster++;
	c->changed = true;
	p->forgotten = true;
	p->registered = p->connected = p->stopped = p->meter_fault = false;
	if (c->started)
		erase(c, p);
	say_catalogue(c, "%s forgotten: off the catalogue", p->id);
}

/* A forgotten CP back in the catalogue: as new, DISCONNECTED. */
static void revive(struct central *c, struct central_cp *p,
		   const struct now *now)
{
	c->nforgotten--;
	c->roster++;
	p->forgotten = p->removed = p->unsaid = false;
	p->engine_ok = false;
	p->state = CP_DISCONNECTED;
	p->since = now->wall;
	c->count[CP_DISCONNECTED]++;
}

static enum central_add entry_check(const char *location, double price,
				    double power_kw)
{
	if (strlen(location) > MSG_TEXT_MAX)
		return CENTRAL_BAD_LOCATION;
	if (!(price >= 0 && price <= MSG_PRICE_MAX))
		return CENTRAL_BAD_PRICE;
	if (!(power_kw >= 0 && power_kw <= MSG_KW_MAX))
		return CENTRAL_BAD_POWER;
	return CENTRAL_ADDED;
}

/* What changed of known CP p, said; true when anything did. */
static bool entry_changes(struct central *c, const struct central_cp *p,
			  const struct msg_cp_entry *e)
{
	bool changed = false;

	if (p->price != e->price) {
		say_catalogue(c, "%s price %s EUR/kWh, was %s: for the sessions from now on",
			      p->id, fig_price(e->price).s, fig_price(p->price).s);
		changed = true;
	}
	if (strcmp(p->location, e->location)) {
		say_catalogue(c, "%s location '%s', was '%s'", p->id,
			      e->location, p->location);
		changed = true;
	}
	return changed || p->power_kw != e->power_kw || p->removed;
}

enum central_add central_catalogue_set(struct central *c, const char *id,
				       const struct msg_cp_entry *e,
				       const struct now *now)
{
	enum central_add r = entry_check(e->location, e->price, e->power_kw);
	struct central_cp *p = find(c, id);
	bool fresh = !p || p->forgotten;

	if (r != CENTRAL_ADDED)
		return r;
	if (!p && !(p = add_cp(c, id, e->location, e->price, e->power_kw, now)))
		return CENTRAL_FULL;
	if (p->forgotten)
		revive(c, p, now);
	if (fresh)
		say_catalogue(c, "%s added to the catalogue (%s, %s EUR/kWh)", id,
			      e->location, fig_price(e->price).s);
	else if (!entry_changes(c, p, e))
		return CENTRAL_UPDATED;		/* read again: nothing new */
	else if (p->removed)
		say_catalogue(c, "%s back in the catalogue", id);
	snprintf(p->location, sizeof(p->location), "%s", e->location);
	p->price = e->price;
	p->power_kw = e->power_kw;
	p->removed = false;
	c->changed = true;
	if (c->started && !p->unsaid)
		publish_state(c, p, now);
	return fresh ? CENTRAL_ADDED : CENTRAL_UPDATED;
}

void central_catalogue_remove(struct central *c, const char *id,
			      const struct now *now)
{
	struct central_cp *p = find(c, id);

	/* Kept even unknown: allow_unknown must not take it back. */
	if (!p && (p = add_cp(c, id, "", 0, 0, now)))
		p->removed = true;
	if (!p || p->forgotten || (p->removed && p->busy))
		return;
	p->removed = true;
	if (!p->busy) {
		forget(c, p);
		return;
	}
	say_catalogue(c, "%s removed from the catalogue: session %.8s of %s goes on to its end",
		      p->id, p->s.id, p->s.driver);
}

/* A CP missing from the catalogue, when the configuration allows it. */
static struct central_cp *adopt(struct central *c, const char *id,
				const char *location, const struct now *now)
{
	struct central_cp *p;

	if (!c->rules->allow_unknown)
		return NULL;
	p = add_cp(c, id, *location ? location : c->rules->default_location,
		   c->rules->default_price, 0, now);
	if (!p)
		say(c, SAY_HOSTILE, "too many CPs (%d): refusing '%s'",
		    CENTRAL_MAX_CPS, id);
	return p;
}

static void send_ack(struct central *c, const char *cp,
		     const struct central_cp *p, const struct now *now)
{
	struct msg m;

	msg_init_at(&m, MSG_REGISTER_ACK, now->wall);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	m.u.ack.accepted = p != NULL;
	m.u.ack.reason = p ? DENY_NONE : DENY_UNKNOWN_CP;
	if (p) {
		m.u.ack.price = p->price;
		memcpy(m.u.ack.location, p->location, sizeof(m.u.ack.location));
	}
	post(c, T_CP_REGISTER_ACK, &m);
}

static void on_register(struct central *c, const struct msg *m,
			const struct now *now)
{
	struct central_cp *p = find(c, m->cp);

	if (!msg_cp_id_ok(m->cp)) {
		ignore(c, m, "reserved CP id");
		return;
	}
	if (p && p->removed) {
		send_ack(c, m->cp, NULL, now);
		say(c, SAY_INFO, "%s refused: removed from the catalogue", m->cp);
		return;
	}
	if (!p && !(p = adopt(c, m->cp, m->u.reg.location, now))) {
		send_ack(c, m->cp, NULL, now);
		say(c, SAY_INFO, "%s refused: not in the catalogue", m->cp);
		return;
	}
	send_ack(c, m->cp, p, now);
	/* An engine repeats its registration until acknowledged: say it once. */
	if (!p->registered)
		say(c, SAY_INFO, "%s registered (%s, %s EUR/kWh)", p->id,
		    p->location, fig_price(p->price).s);
	else
		say(c, SAY_DEBUG, "%s registered again", p->id);
	/* An engine that registers again restarted: a supply_end is due. */
	if (p->busy && p->registered)
		owe_end(p, END_BROKEN, now);
	p->registered = p->connected = true;
	p->heartbeat = now->mono;
	p->engine_ok = m->u.reg.engine_ok;
	p->meter_fault = false;		/* restarted, or repaired */
	if (p->stopped)
		send_command(c, p, CMD_STOP, NULL, now);
	update(c, p, true, now);
}

static void on_health(struct central *c, const struct msg *m,
		      const struct now *now)
{
	struct central_cp *p = find(c, m->cp);

	if (!p && !(p = adopt(c, m->cp, "", now))) {
		ignore(c, m, "unknown CP");
		return;
	}
	if (p->forgotten) {	/* it may run on: not hostile, not news */
		c->ignored++;
		say(c, SAY_DEBUG, "ignored health from '%s': removed from the catalogue",
		    p->id);
		return;
	}
	if (!p->registered) {
		/* Central restarted while the CP ran: it will not register. */
		say(c, SAY_INFO, "%s registered by its heartbeat (%s, %s EUR/kWh)",
		    p->id, p->location, fig_price(p->price).s);
		p->registered = true;
	}
	p->connected = true;
	p->heartbeat = now->mono;
	p->engine_ok = m->u.health.engine_ok;
	update(c, p, false, now);
}

/* The answer to an auth_request; a grant carries the session. */
static void answer(struct central *c, const struct central_cp *p,
		   const struct msg *req, enum msg_deny why,
		   const struct now *now)
{
	struct msg m;

	msg_init_at(&m, MSG_AUTH_RESPONSE, now->wall);
	memcpy(m.cp, req->cp, sizeof(m.cp));
	memcpy(m.driver, req->driver, sizeof(m.driver));
	memcpy(m.u.resp.request, req->id, sizeof(m.u.resp.request));
	m.u.resp.authorized = why == DENY_NONE;
	m.u.resp.reason = why;
	if (why == DENY_NONE) {
		m.u.resp.price = p->s.price;
		memcpy(m.session, p->s.id, sizeof(m.session));
	}
	post(c, T_AUTH_RESPONSE, &m);
}

/* Why a request cannot be granted now, or DENY_NONE. */
static enum msg_deny auth_check(struct central *c, const struct central_cp *p,
				const struct msg *m, const struct now *now)
{
	int64_t timeout = m->u.req.timeout_ms ? m->u.req.timeout_ms :
			  c->rules->auth_timeout_ms;

	/*
	 * A request older than this Central asked one that is gone: after a
	 * crash it is read again, and granting it could open a second
	 * session for a request already served.
	 */
	if (m->ts < now->wall - timeout || m->ts < c->started)
		return DENY_EXPIRED;
	if (!p || p->removed)
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

static void grant(struct central *c, struct central_cp *p, const struct msg *m,
		  const struct now *now)
{
	struct central_session *s = &p->s;

	memset(s, 0, sizeof(*s));
	msg_new_uuid(s->id);
	memcpy(s->driver, m->driver, sizeof(s->driver));
	memcpy(s->request, m->id, sizeof(s->request));
	s->price = p->price;
	s->started = now->wall;
	s->granted = now->mono;
	s->last_seq = -1;
	p->busy = true;
	remember_grant(p, m->id);
	index_put(&c->by_driver, c->cps, (uint32_t)(p - c->cps));
	/*
	 * The session goes to cp-state before the CP is told to start: a
	 * Central killed in between leaves a session that never started
	 * (cancelled after a restart), rarely a supply no one bills.
	 */
	say(c, SAY_INFO, "%s authorised at %s, session %.8s", m->driver, p->id,
	    s->id);
	update(c, p, true, now);
	send_command(c, p, CMD_START, &m->u.req, now);
	answer(c, p, m, DENY_NONE, now);
}

/*
 * The driver ends its charge: the CP is told, its supply_end and the
 * ticket follow. A cancel naming no session of the driver is refused.
 */
static void on_cancel(struct central *c, struct central_cp *p,
		      const struct msg *m, const struct now *now)
{
	if (!p || !p->busy || strcmp(p->s.id, m->session) ||
	    strcmp(p->s.driver, m->driver)) {
		answer(c, p, m, DENY_BAD_REQUEST, now);
		say(c, SAY_INFO, "%s cannot cancel session %.8s at %s: no such session",
		    m->driver, m->session, m->cp);
		return;
	}
	send_command(c, p, CMD_END, NULL, now);
	owe_end(p, END_CANCELLED, now);
	say(c, SAY_INFO, "%s cancelled session %.8s at %s", m->driver, p->s.id,
	    p->id);
}

static bool granted_before(const struct central_cp *p, const char *request)
{
	for (unsigned i = 0; i < CENTRAL_GRANTED_MAX && i < p->ngranted; i++)
		if (!strcmp(p->granted[i], request))
			return true;
	return false;
}

static void on_auth(struct central *c, const struct msg *m,
		    const struct now *now)
{
	struct central_cp *p = find(c, m->cp);
	enum msg_deny why;

	if (m->u.req.cancel) {
		on_cancel(c, p, m, now);
		return;
	}
	/* The same request seen twice (a redelivery) gets the same answer. */
	if (p && p->busy && !strcmp(p->s.request, m->id) &&
	    !strcmp(p->s.driver, m->driver)) {
		answer(c, p, m, DENY_NONE, now);
		return;
	}
	/*
	 * A request granted before: sent again by someone, it is refused;
	 * read again from before this Central started (an earlier Central
	 * answered it, and died before it committed), it was answered
	 * already: a second answer could only contradict the first.
	 */
	if (p && granted_before(p, m->id) && m->ts < c->started) {
		ignore(c, m, "request %.8s was answered before this Central",
		       m->id);
		return;
	}
	if (p && granted_before(p, m->id)) {
		answer(c, p, m, DENY_BAD_REQUEST, now);
		ignore(c, m, "request %.8s was granted before", m->id);
		return;
	}
	if ((why = auth_check(c, p, m, now)) == DENY_NONE) {
		grant(c, p, m, now);
		return;
	}
	answer(c, p, m, why, now);
	say(c, SAY_INFO, "%s denied at %s: %s", m->driver, m->cp,
	    msg_deny_name(why));
}

/* The open session a CP's message is about, or NULL (ignored). */
static struct central_cp *session_of(struct central *c, const struct msg *m)
{
	struct central_cp *p = find(c, m->cp);

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

/*
 * Why figures of wh for p's session cannot be true now, in buf, or NULL
 * when they can. Central's own clock measures the time since the grant:
 * a message's time stamp is the sender's to choose.
 */
static const char *implausible(const struct central *c,
			       const struct central_cp *p, int64_t wh,
			       const struct now *now, char *buf, size_t len)
{
	double kw = p->power_kw > 0 ? p->power_kw : c->rules->max_power_kw;
	int64_t ms = now->wall - p->s.started;

	if (wh < p->s.live.wh) {
		snprintf(buf, len, "energy went back from %s to %s kWh",
			 fig_kwh(p->s.live.wh).s, fig_kwh(wh).s);
		return buf;
	}
	if (ms < 0)
		ms = 0;
	if ((double)wh <= kw * (double)(ms + PLAUSIBLE_SLACK_MS) / 3600 *
			  PLAUSIBLE_MARGIN)
		return NULL;
	snprintf(buf, len, "%s kWh in %s is more than %s kW can deliver",
		 fig_kwh(wh).s, fig_span(ms).s, fig_kw(kw).s);
	return buf;
}

/* Figures refused: counted, said, and the meter judged after a few. */
static void refuse_figures(struct central *c, struct central_cp *p,
			   const struct msg *m, const char *why, bool last)
{
	c->implausible++;
	say(c, SAY_HOSTILE, "refused %s from '%s' for session %.8s: %s",
	    msg_type_name(m->type), p->id, p->s.id, why);
	if (last || ++p->s.doubtful >= DOUBTFUL_MAX) {
		if (!p->meter_fault)
			say(c, SAY_INFO, "%s meter fault: its figures cannot be true",
			    p->id);
		p->meter_fault = true;
	}
}

/* Telemetry a broken meter sent: the session ends on verified figures. */
static void doubt(struct central *c, struct central_cp *p, const struct msg *m,
		  const char *why, const struct now *now)
{
	bool was = p->meter_fault;

	refuse_figures(c, p, m, why, false);
	if (p->meter_fault && !was) {
		send_command(c, p, CMD_END, NULL, now);
		update(c, p, false, now);	/* BROKEN: the driver is told */
	}
}

static void on_telemetry(struct central *c, const struct msg *m,
			 const struct now *now)
{
	struct central_cp *p = session_of(c, m);
	struct central_session *s;
	const char *why;
	char buf[256];
	bool first;

	if (!p)
		return;
	s = &p->s;
	if ((int64_t)m->u.prog.seq <= s->last_seq) {
		ignore(c, m, "stale seq %u (last %lld)", (unsigned)m->u.prog.seq,
		       (long long)s->last_seq);
		return;
	}
	if ((why = implausible(c, p, m->u.prog.wh, now, buf, sizeof(buf)))) {
		doubt(c, p, m, why, now);
		return;
	}
	first = s->last_seq < 0;
	s->last_seq = m->u.prog.seq;
	s->live = m->u.prog;
	s->live.cents = msg_cents(s->live.wh, s->price);
	s->live_dirty = true;
	s->doubtful = 0;
	/*
	 * Telemetry clears a doubt (a second register that was no restart,
	 * a session restored after Central's own restart), never an end
	 * that was asked for.
	 */
	if (p->state == CP_SUPPLYING && (s->owed_reason == END_BROKEN ||
					 s->owed_reason == END_DISCONNECTED))
		s->owed = false;
	if (first) {
		notify(c, p, now, "supply started at %s", p->id);
		say(c, SAY_INFO, "%s supply started for %s", p->id, s->driver);
	}
	progress(c, p, first, now);
	c->changed = true;
}

/*
 * The end of a supply: the ticket of its figures, or, when they cannot
 * be true, of the last plausible ones (and the meter is judged broken).
 */
static void on_supply_end(struct central *c, const struct msg *m,
			  const struct now *now)
{
	struct central_cp *p = session_of(c, m);
	const char *why;
	char buf[256];

	if (!p)
		return;
	if (!(why = implausible(c, p, m->u.ticket.wh, now, buf, sizeof(buf)))) {
		close_session(c, p, &m->u.ticket, now);
		return;
	}
	refuse_figures(c, p, m, why, true);
	notify(c, p, now, "%s reported figures that cannot be true: the "
	       "ticket bills the last plausible ones", p->id);
	close_by_central(c, p, m->u.ticket.reason, now);
}

/* Stop or resume one CP; quiet when part of "all". */
static void control(struct central *c, struct central_cp *p, enum msg_cmd cmd,
		    bool quiet, const struct now *now)
{
	bool stop = cmd == CMD_STOP;

	if (!stop && p->meter_fault) {
		p->meter_fault = false;	/* the operator vouches for it */
		if (!quiet)
			say(c, SAY_INFO, "%s meter fault cleared by the operator",
			    p->id);
		if (!p->stopped)
			update(c, p, true, now);
	}
	if (p->stopped == stop)
		return;
	p->stopped = stop;
	if (!quiet)
		say(c, SAY_INFO, "%s %s by the operator", p->id,
		    stop ? "stopped" : "resumed");
	if (p->registered)
		send_command(c, p, cmd, NULL, now);
	update(c, p, true, now);
}

void central_control(struct central *c, enum msg_cmd cmd, const char *id,
		     const struct now *now)
{
	struct central_cp *p;

	if (!id) {
		say(c, SAY_INFO, "every CP %s by the operator",
		    cmd == CMD_STOP ? "stopped" : "resumed");
		for (uint32_t i = 0; i < c->ncps; i++)
			if (!c->cps[i].forgotten)
				control(c, &c->cps[i], cmd, true, now);
	} else if (!(p = find(c, id)) || p->forgotten) {
		say(c, SAY_INFO, "no CP '%s'", id);
	} else {
		control(c, p, cmd, false, now);
	}
}

static void on_control(struct central *c, const struct msg *m,
		       const struct now *now)
{
	if (!m->u.ctl.all && !central_find(c, m->cp)) {
		ignore(c, m, "unknown CP");
		return;
	}
	central_control(c, m->u.ctl.cmd, m->u.ctl.all ? NULL : m->cp, now);
}

void central_feed(struct central *c, const struct msg *m,
		  const struct now *now)
{
	if (SAY_DEBUG >= c->hooks.say_min)
		say(c, SAY_DEBUG, "%s from '%s'", msg_type_name(m->type), m->cp);
	switch (m->type) {
	case MSG_REGISTER: on_register(c, m, now); break;
	case MSG_HEALTH: on_health(c, m, now); break;
	case MSG_AUTH_REQUEST: on_auth(c, m, now); break;
	case MSG_TELEMETRY: on_telemetry(c, m, now); break;
	case MSG_SUPPLY_END: on_supply_end(c, m, now); break;
	case MSG_CONTROL: on_control(c, m, now); break;
	default: ignore(c, m, "not for Central"); break;
	}
}

/* Whether an owed supply_end is overdue: a health timeout, all heard. */
static bool overdue(struct central *c, const struct central_cp *p,
		    const struct now *now)
{
	return p->s.owed &&
	       now->mono - p->s.owed_since > c->rules->health_timeout_ms &&
	       heard(c, p, now);
}

/* Deadlines of an open session: a supply_end due, a start that never came. */
static void tick_session(struct central *c, struct central_cp *p,
			 const struct now *now)
{
	struct central_session *s = &p->s;

	if (s->prog_dirty)
		send_progress(c, p, now);
	if (overdue(c, p, now) && s->owed_reason == END_DISCONNECTED) {
		say(c, SAY_INFO, "%s still disconnected: Central ends session %.8s",
		    p->id, s->id);
		notify(c, p, now, "%s is disconnected: the supply ends", p->id);
		send_command(c, p, CMD_END, NULL, now);
		close_by_central(c, p, END_DISCONNECTED, now);
	} else if (overdue(c, p, now)) {
		say(c, SAY_INFO, "%s sent no supply_end for session %.8s: "
		    "Central ends it", p->id, s->id);
		close_by_central(c, p, s->owed_reason, now);
	} else if (s->last_seq < 0 &&
		   now->mono - s->granted > c->rules->auth_timeout_ms &&
		   heard(c, p, now)) {
		say(c, SAY_INFO, "%s did not start session %.8s: Central cancels it",
		    p->id, s->id);
		send_command(c, p, CMD_END, NULL, now);
		close_by_central(c, p, END_CANCELLED, now);
	} else if (s->live_dirty) {
		publish_state(c, p, now);
	}
}

void central_tick(struct central *c, const struct now *now)
{
	int64_t timeout = c->rules->health_timeout_ms;

	if (c->paused)
		return;
	for (uint32_t i = 0; i < c->ncps; i++) {
		struct central_cp *p = &c->cps[i];

		if (p->forgotten)
			continue;
		if (p->connected && now->mono - p->heartbeat > timeout &&
		    heard(c, p, now)) {
			p->connected = false;
			update(c, p, false, now);
		} else if (p->unsaid && !p->connected && !p->stopped &&
			   now->mono - c->serving > timeout && heard(c, p, now)) {
			publish_state(c, p, now);	/* never heard since the start */
		}
		if (p->busy)
			tick_session(c, p, now);
	}
}

/* A session Central had open when it stopped, as cp-state kept it. */
static void restore_session(struct central *c, struct central_cp *p,
			    const struct cpstate_row *r, const struct now *now)
{
	struct central_session *s = &p->s;
	const struct msg_progress *live = &r->st.live;

	if (find_driver(c, r->driver))
		return;		/* a driver has one session: keep the first */
	memset(s, 0, sizeof(*s));
	memcpy(s->id, r->session, sizeof(s->id));
	memcpy(s->driver, r->driver, sizeof(s->driver));
	memcpy(s->request, r->st.request, sizeof(s->request));
	s->price = r->st.price;	/* the session's, while it runs */
	s->started = r->st.since;
	s->granted = now->mono;
	s->last_seq = live->seq || live->wh ? (int64_t)live->seq : -1;
	s->live = *live;
	/* The CP may have gone meanwhile: without news, the session ends. */
	s->owed = true;
	s->owed_since = now->mono + c->rules->auth_timeout_ms;
	s->owed_reason = END_DISCONNECTED;
	p->busy = true;
	index_put(&c->by_driver, c->cps, (uint32_t)(p - c->cps));
}

/*
 * A CP removed while Central was away: its record is erased once
 * Central serves; with a session in progress, that session is taken
 * back and runs to its end first.
 */
static bool restore_removed(struct central *c, struct central_cp *p,
			    const struct cpstate_row *r)
{
	if (!r->session[0] || !r->driver[0]) {
		p->unsaid = true;
		return false;
	}
	snprintf(p->location, sizeof(p->location), "%s", r->st.location);
	c->nforgotten--;
	c->roster++;
	c->count[p->state]++;
	p->forgotten = false;
	return true;
}

void central_restore(struct central *c, const struct cpstate_row *r,
		     const struct now *now)
{
	struct central_cp *p = find(c, r->id);

	if (!p && c->rules->allow_unknown)
		p = add_cp(c, r->id, r->st.location, r->st.price, 0, now);
	if (!p || (p->forgotten && !restore_removed(c, p, r)))
		return;
	if (p->busy) {
		index_del(&c->by_driver, c->cps, p->s.driver);
		p->busy = false;
	}
	p->stopped = r->st.state == CP_STOPPED;
	p->unsaid = true;
	granted_restore(p, r->st.granted);
	p->s.last_seq = -1;
	if (r->session[0] && r->driver[0])
		restore_session(c, p, r, now);
}

/*
 * CPs with a record keep it until heard (or found silent): a restarted
 * Central does not flash them all DISCONNECTED.
 */
void central_serve(struct central *c, const struct now *now)
{
	for (uint32_t i = 0; i < c->ncps; i++) {
		struct central_cp *p = &c->cps[i];

		if (p->forgotten && p->unsaid)
			erase(c, p);
		else if (!p->forgotten && !p->unsaid)
			publish_state(c, p, now);
	}
	c->started = now->wall;
	c->serving = now->mono;
}

void central_pause(struct central *c, const struct now *now)
{
	if (c->paused)
		return;
	c->paused = true;
	c->paused_at = now->mono;
}

void central_resume(struct central *c, const struct now *now)
{
	int64_t span = now->mono - c->paused_at;

	if (!c->paused)
		return;
	c->paused = false;
	if (span <= 0)
		return;
	for (uint32_t i = 0; i < c->ncps; i++) {
		struct central_cp *p = &c->cps[i];

		p->heartbeat += span;
		if (!p->busy)
			continue;
		p->s.granted += span;
		p->s.owed_since += span;
		p->s.prog_at += span;
	}
	c->serving += span;
}
