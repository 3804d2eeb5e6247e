/* cp.c: the protocol core of one charging point: registration, supply, faults, what a crash must not lose. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp.h"
#include "figure.h"
#include "xalloc.h"

#define REGISTER_MIN_MS 500	/* first back-off between registrations */
#define REGISTER_MAX_MS 5000	/* longest back-off */
#define DONE_FIRST 4		/* the ring's first size; it doubles to CP_DONE_MAX */
#define WMS_PER_WH 3600000LL	/* watt-milliseconds in a watt-hour */

void cp_owner_init(struct cp_owner *o, const struct conf *c,
		   const char *location)
{
	memset(o, 0, sizeof(*o));
	o->c = c;
	o->location = location ? location : "";
	o->power_w = llround(c->cp.power_kw * 1000);
	o->say_min = SAY_INFO;
}

void cp_init(struct cp *p, const struct cp_owner *o, const char *id)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->o = o;
	p->register_ms = REGISTER_MIN_MS;
}

void cp_free(struct cp *p)
{
	free(p->done);
	p->done = NULL;
}

/* Whether anyone reads a line of level: if not, it is not even formatted. */
static bool says(const struct cp *p, enum say level)
{
	return p->o->say && level >= p->o->say_min;
}

__attribute__((format(printf, 3, 4)))
static void say(const struct cp *p, enum say level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!says(p, level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->o->say(p->o->arg, p, level, line);
}

static int post(const struct cp *p, enum topic t, const struct msg *m)
{
	return p->o->post(p->o->arg, t, m);
}

static void save(const struct cp *p, const struct msg *keep)
{
	if (p->o->save)
		p->o->save(p->o->arg, p, keep);
}

/* Energy supplied ms after the start, bounded by the target. */
int64_t supply_energy(long long power_w, int64_t target_wh,
		      long long limit_ms, long long ms)
{
	int64_t wh;

	if (ms < 0)
		ms = 0;
	if (limit_ms >= 0 && ms > limit_ms)
		ms = limit_ms;
	wh = (int64_t)(power_w * ms / WMS_PER_WH);
	if (target_wh > 0 && wh > target_wh)
		wh = target_wh;
	return wh < MSG_WH_MAX ? wh : MSG_WH_MAX;
}

void supply_limits(const struct conf *c, long long power_w,
		   const struct msg_command *cmd, int64_t *target_wh,
		   long long *limit_ms)
{
	long long secs = cmd->target_s;

	*target_wh = cmd->target_wh;
	if (!cmd->target_wh && !cmd->target_s) {
		*target_wh = llround(c->cp.default_kwh * 1000);
		secs = c->cp.default_seconds;
	}
	*limit_ms = secs ? secs * 1000 : -1;
	if (*target_wh > 0 && power_w > 0) {
		long long ms = (*target_wh * WMS_PER_WH + power_w - 1) /
			       power_w;

		if (*limit_ms < 0 || ms < *limit_ms)
			*limit_ms = ms;
	}
}

static int64_t energy_at(const struct cp *p, int64_t mono)
{
	if (p->o->metered)
		return p->s.wh;	/* the meter's last reading */
	return supply_energy(p->o->power_w, p->s.target_wh, p->s.limit_ms,
			     mono - p->s.t0);
}

/* A message of the session supplied: this CP, its driver, its session. */
static void supply_msg(const struct cp *p, struct msg *m, enum msg_type type,
		       const struct now *t)
{
	msg_init_at(m, type, t->wall);
	memcpy(m->cp, p->id, sizeof(m->cp));
	memcpy(m->driver, p->s.driver, sizeof(m->driver));
	memcpy(m->session, p->s.session, sizeof(m->session));
}

/*
 * The supply_end of the session supplied with figures wh at t, seq
 * after the last telemetry. Its times come from one clock, so that
 * ended - started is the time the supply took.
 */
static void end_msg(const struct cp *p, struct msg *m, const struct now *t,
		    int64_t wh, enum msg_end reason)
{
	supply_msg(p, m, MSG_SUPPLY_END, t);
	m->u.ticket.seq = p->s.told ? p->s.seq + 1 : 0;
	m->u.ticket.wh = wh;
	m->u.ticket.cents = msg_cents(wh, p->s.price);
	m->u.ticket.price = p->s.price;
	m->u.ticket.started = p->s.started;
	m->u.ticket.ended = p->s.started + (t->mono - p->s.t0);
	m->u.ticket.reason = reason;
}

/* A session id is 32 lowercase hex (msg_decode sees to it): 16 bytes kept. */
static void sid_pack(const char *hex, unsigned char out[CP_SID_BYTES])
{
	for (int i = 0; i < CP_SID_BYTES; i++) {
		unsigned hi = (unsigned char)hex[2 * i];
		unsigned lo = (unsigned char)hex[2 * i + 1];

		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		out[i] = (unsigned char)((hi & 15) << 4 | (lo & 15));
	}
}

static void done_add(struct cp *p, const char *session)
{
	if (p->ndone == p->done_cap && p->done_cap < CP_DONE_MAX) {
		p->done_cap = p->done_cap ? p->done_cap * 2 : DONE_FIRST;
		p->done = xreallocarray(p->done, p->done_cap, sizeof(*p->done));
	}
	sid_pack(session, p->done[p->ndone++ % p->done_cap]);
}

static bool supplied_before(const struct cp *p, const char *session)
{
	unsigned n = p->ndone < p->done_cap ? p->ndone : p->done_cap;
	unsigned char id[CP_SID_BYTES];

	if (!n)
		return false;
	sid_pack(session, id);
	for (unsigned i = 0; i < n; i++)
		if (!memcmp(p->done[i], id, sizeof(id)))
			return true;
	return false;
}

/*
 * Ends the supply at t. Its final figures are kept before they are
 * posted, so that they survive a crash before Kafka has them; once
 * they are delivered nothing needs keeping.
 */
static bool supply_close(struct cp *p, enum msg_end reason,
			 const struct now *t)
{
	int64_t wh;
	struct msg m;

	if (!p->supplying)
		return false;
	wh = energy_at(p, t->mono);
	end_msg(p, &m, t, wh, reason);
	p->supplying = false;
	done_add(p, p->s.session);
	if (says(p, SAY_INFO))
		say(p, SAY_INFO, "supply ended for '%s': %s kWh, %s EUR at %s EUR/kWh in %.1f s (%s)",
		    m.driver, fig_kwh(wh).s, fig_eur(m.u.ticket.cents).s,
		    fig_price(m.u.ticket.price).s,
		    (double)(m.u.ticket.ended - m.u.ticket.started) / 1000,
		    msg_end_name(reason));
	save(p, &m);
	post(p, T_TELEMETRY, &m);
	save(p, NULL);
	return true;
}

/*
 * An end the core decides. A metered CP's energy is its meter's: the
 * end is asked for, and the owner closes it once the meter has said its
 * last figure (cp_meter_end), so that the ticket bills all of it.
 */
static bool supply_end(struct cp *p, enum msg_end reason, const struct now *t)
{
	if (!p->o->metered || !p->supplying)
		return supply_close(p, reason, t);
	if (!p->s.ending) {
		p->s.ending = true;
		p->s.end_reason = reason;
		say(p, SAY_DEBUG, "asking the meter for the end (%s)",
		    msg_end_name(reason));
	}
	return false;
}

/* Telemetry seq with the energy at t; then keeps the end it would make. */
static void telemetry(struct cp *p, const struct now *t)
{
	struct cp_supply *s = &p->s;
	struct msg m, end;

	s->wh = energy_at(p, t->mono);
	supply_msg(p, &m, MSG_TELEMETRY, t);
	s->told = true;
	m.u.prog.seq = s->seq;
	m.u.prog.kw = p->o->metered ? s->kw : p->o->c->cp.power_kw;
	m.u.prog.wh = s->wh;
	m.u.prog.cents = msg_cents(s->wh, s->price);
	post(p, T_TELEMETRY, &m);
	if (says(p, SAY_DEBUG))
		say(p, SAY_DEBUG, "telemetry %u: %s kWh, %s EUR",
		    (unsigned)s->seq, fig_kwh(m.u.prog.wh).s,
		    fig_eur(m.u.prog.cents).s);
	if (!p->o->save)
		return;
	end_msg(p, &end, t, s->wh, END_BROKEN);
	save(p, &end);
}

/* "1 kWh or 60 s", "none": the targets of a start, for people. */
static void target_text(const struct cp *p, const struct msg_command *cmd,
			char *buf, size_t len)
{
	long long secs = cmd->target_wh || cmd->target_s || p->o->metered ?
			 cmd->target_s : p->o->c->cp.default_seconds;
	int n = 0;

	buf[0] = '\0';
	if (p->s.target_wh > 0)
		n = snprintf(buf, len, "%s kWh", fig_kwh(p->s.target_wh).s);
	if (secs && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%s%lld s", n ? " or " : "",
			 secs);
	if (!buf[0])
		snprintf(buf, len, "none");
}

/*
 * A start Central should not have sent: its session ends at once. Said
 * as hostile: anyone who can write to cp-commands can repeat it.
 */
static enum cp_event refuse_start(struct cp *p, const struct msg *m,
				  const struct now *t)
{
	enum msg_end reason = p->supplying ? END_CANCELLED :
			      p->faulted ? END_BROKEN : END_STOPPED;
	struct msg end;

	msg_init_at(&end, MSG_SUPPLY_END, t->wall);
	memcpy(end.cp, p->id, sizeof(end.cp));
	memcpy(end.driver, m->driver, sizeof(end.driver));
	memcpy(end.session, m->session, sizeof(end.session));
	end.u.ticket.price = m->u.cmd.price;
	end.u.ticket.started = end.u.ticket.ended = end.ts;
	end.u.ticket.reason = reason;
	say(p, SAY_HOSTILE, "refusing session '%s' for '%s': %s", m->session,
	    m->driver, p->supplying ? "busy with another session" :
	    p->faulted ? "the engine is faulted" : "stopped by Central");
	post(p, T_TELEMETRY, &end);
	return CP_EV_DECLINED;
}

static enum cp_event supply_start(struct cp *p, const struct msg *m,
				  const struct now *t)
{
	struct cp_supply *s = &p->s;
	char target[64];

	if ((p->supplying && !strcmp(s->session, m->session)) ||
	    supplied_before(p, m->session)) {
		say(p, SAY_HOSTILE, "ignoring a repeated start of session '%s'",
		    m->session);
		return CP_EV_NONE;
	}
	if (p->supplying || p->faulted || p->stopped)
		return refuse_start(p, m, t);
	memset(s, 0, sizeof(*s));
	memcpy(s->session, m->session, sizeof(s->session));
	memcpy(s->driver, m->driver, sizeof(s->driver));
	s->price = m->u.cmd.price;
	supply_limits(p->o->c, p->o->power_w, &m->u.cmd, &s->target_wh,
		      &s->limit_ms);
	if (p->o->metered) {	/* a real car stops when full: no defaults */
		s->target_wh = m->u.cmd.target_wh;
		s->limit_ms = m->u.cmd.target_s ? m->u.cmd.target_s * 1000LL :
				-1;
	}
	s->started = t->wall;
	s->t0 = t->mono;
	s->next_tick = t->mono + p->o->c->cp.tick_ms;
	p->supplying = true;
	if (says(p, SAY_INFO)) {
		target_text(p, &m->u.cmd, target, sizeof(target));
		say(p, SAY_INFO, "session started for '%s': session %s, %s EUR/kWh, target %s",
		    s->driver, s->session, fig_price(s->price).s, target);
	}
	if (!p->o->metered)	/* a meter speaks when the charger starts */
		telemetry(p, t);
	return CP_EV_STARTED;
}

/* Telemetry when a tick is due; the end when the target is reached. */
static enum cp_event supply_step(struct cp *p, const struct now *t)
{
	struct cp_supply *s = &p->s;
	unsigned tick_ms = p->o->c->cp.tick_ms;

	if (!p->supplying || p->o->metered)
		return CP_EV_NONE;
	if (s->limit_ms >= 0 && t->mono - s->t0 >= s->limit_ms)
		return supply_end(p, END_FINISHED, t) ? CP_EV_ENDED : CP_EV_NONE;
	if (t->mono < s->next_tick)
		return CP_EV_NONE;
	s->seq++;
	s->next_tick += tick_ms;
	if (s->next_tick <= t->mono)	/* late: skip the ticks missed */
		s->next_tick = t->mono + tick_ms;
	telemetry(p, t);
	return CP_EV_NONE;
}

/* A register, then the next one after a back-off doubling to 5 s. */
static void send_register(struct cp *p, const struct now *t)
{
	int wait = p->register_ms;
	struct msg m;

	msg_init_at(&m, MSG_REGISTER, t->wall);
	memcpy(m.cp, p->id, sizeof(m.cp));
	snprintf(m.u.reg.location, sizeof(m.u.reg.location), "%s",
		 p->o->location);
	m.u.reg.engine_ok = !p->faulted;
	p->next_register = t->mono + wait;
	p->register_ms = wait * 2 > REGISTER_MAX_MS ? REGISTER_MAX_MS : wait * 2;
	if (!post(p, T_CP_REGISTER, &m))
		say(p, SAY_DEBUG, "register sent; next try in %d ms", wait);
}

static enum cp_event on_ack(struct cp *p, const struct msg *m)
{
	const struct msg_register_ack *a = &m->u.ack;

	if (p->registered || p->refused) {
		say(p, SAY_DEBUG, "ignoring a repeated register_ack");
		return CP_EV_NONE;
	}
	if (!a->accepted) {
		p->refused = true;
		p->refusal = a->reason;
		return CP_EV_REFUSED;
	}
	p->registered = true;
	if (says(p, SAY_INFO))
		say(p, SAY_INFO, "registered as '%s' at '%s', %s EUR/kWh", p->id,
		    a->location[0] ? a->location : p->o->location,
		    fig_price(a->price).s);
	return CP_EV_REGISTERED;
}

/* Out of order: any supply ends, starts are refused until resumed. */
static enum cp_event stop(struct cp *p, const struct now *t)
{
	bool was = p->stopped;

	p->stopped = true;
	if (!was)
		say(p, SAY_INFO, "stopped by Central: out of order");
	return supply_end(p, END_STOPPED, t) || !was ? CP_EV_STOPPED :
						       CP_EV_NONE;
}

/* Ends a stop or a fault, saying so: ev, or CP_EV_NONE if there was none. */
static enum cp_event lift(struct cp *p, bool *flag, const char *said,
			  enum cp_event ev)
{
	if (!*flag)
		return CP_EV_NONE;
	*flag = false;
	say(p, SAY_INFO, "%s", said);
	return ev;
}

static enum cp_event on_command(struct cp *p, const struct msg *m,
				const struct now *t)
{
	switch (m->u.cmd.cmd) {
	case CMD_START:
		return supply_start(p, m, t);
	case CMD_STOP:
		return stop(p, t);
	case CMD_RESUME:
		return lift(p, &p->stopped, "resumed by Central", CP_EV_RESUMED);
	case CMD_END:
		if (p->supplying && !strcmp(m->session, p->s.session))
			return supply_end(p, END_CANCELLED, t) ? CP_EV_ENDED :
			       p->supplying ? CP_EV_ENDING : CP_EV_NONE;
		say(p, SAY_DEBUG, "ignoring the end of session '%s': not supplied here",
		    m->session);
		return CP_EV_NONE;
	default:
		return CP_EV_NONE;
	}
}

enum cp_event cp_feed(struct cp *p, const struct msg *m, const struct now *t)
{
	if (strcmp(m->cp, p->id)) {
		p->other++;
		say(p, SAY_HOSTILE, "ignoring %s for another CP: '%s'",
		    msg_type_name(m->type), m->cp);
		return CP_EV_OTHER;
	}
	if (m->type == MSG_REGISTER_ACK)
		return on_ack(p, m);
	if (m->type == MSG_COMMAND)
		return on_command(p, m, t);
	return CP_EV_NONE;
}

enum cp_event cp_tick(struct cp *p, const struct now *t)
{
	if (!p->registered && !p->refused && t->mono >= p->next_register)
		send_register(p, t);
	return supply_step(p, t);
}

enum cp_event cp_act(struct cp *p, enum cp_action a, const struct now *t)
{
	switch (a) {
	case CP_UNPLUG:
		return supply_close(p, END_UNPLUGGED, t) ? CP_EV_ENDED :
							   CP_EV_NONE;
	case CP_FAULT:
		if (p->faulted)
			return CP_EV_NONE;
		p->faulted = true;
		say(p, SAY_WARN, "engine fault: reporting KO until recovered");
		supply_end(p, END_BROKEN, t);
		return CP_EV_FAULTED;
	case CP_RECOVER:
		return lift(p, &p->faulted, "engine recovered: reporting OK",
			    CP_EV_RECOVERED);
	case CP_SHUTDOWN:
		return supply_close(p, END_DISCONNECTED, t) ? CP_EV_ENDED :
							      CP_EV_NONE;
	case CP_REBOOT:
		p->registered = p->refused = false;
		p->register_ms = REGISTER_MIN_MS;
		p->next_register = t->mono;
		return CP_EV_NONE;
	}
	return CP_EV_NONE;
}

int cp_meter(struct cp *p, int64_t wh, double kw, const struct now *t)
{
	if (!p->supplying)
		return -1;
	if (p->s.told)
		p->s.seq++;
	p->s.wh = wh;
	p->s.kw = kw;
	telemetry(p, t);
	return 0;
}

int cp_meter_end(struct cp *p, int64_t wh, enum msg_end reason,
		 const struct now *t)
{
	if (!p->supplying)
		return -1;
	p->s.wh = wh;
	supply_close(p, p->s.ending ? p->s.end_reason : reason, t);
	return 0;
}

/* A session of an earlier run of the owner, as its save hook kept it. */
int cp_resume(struct cp *p, const struct msg *keep, const struct now *t)
{
	const struct msg_ticket *k = &keep->u.ticket;
	struct cp_supply *s = &p->s;

	if (keep->type != MSG_SUPPLY_END || strcmp(keep->cp, p->id) ||
	    p->supplying)
		return -1;
	memset(s, 0, sizeof(*s));
	memcpy(s->session, keep->session, sizeof(s->session));
	memcpy(s->driver, keep->driver, sizeof(s->driver));
	s->price = k->price;
	s->started = k->started;
	/* The charger went on meanwhile: the supply is as old as the wall says. */
	s->t0 = t->mono - (t->wall > k->started ? t->wall - k->started : 0);
	s->told = k->seq > 0;
	s->seq = s->told ? k->seq - 1 : 0;
	s->wh = k->wh;
	s->limit_ms = -1;
	p->supplying = p->registered = true;
	if (says(p, SAY_INFO))
		say(p, SAY_INFO, "resuming session %s for '%s' at %s kWh",
		    s->session, s->driver, fig_kwh(s->wh).s);
	return 0;
}

/*
 * The end of a session an earlier run supplied: its figures as kept,
 * its session remembered so that a replayed start does not reopen it.
 */
int cp_interrupted(struct cp *p, const struct msg *end, const struct now *t)
{
	struct msg m;

	if (end->type != MSG_SUPPLY_END || strcmp(end->cp, p->id))
		return -1;
	m = *end;
	msg_new_uuid(m.id);
	m.ts = t->wall;
	done_add(p, m.session);
	if (says(p, SAY_INFO))
		say(p, SAY_INFO, "reporting the end of an interrupted session for '%s': %s kWh, %s EUR (%s)",
		    m.driver, fig_kwh(m.u.ticket.wh).s,
		    fig_eur(m.u.ticket.cents).s,
		    msg_end_name(m.u.ticket.reason));
	save(p, &m);
	post(p, T_TELEMETRY, &m);
	save(p, NULL);
	return 0;
}

int64_t cp_next(const struct cp *p)
{
	int64_t at = CP_NEVER, end;

	if (!p->registered && !p->refused)
		at = p->next_register;
	if (p->supplying && !p->o->metered) {
		end = p->s.limit_ms >= 0 ? p->s.t0 + p->s.limit_ms : CP_NEVER;
		if (p->s.next_tick < at)
			at = p->s.next_tick;
		if (end < at)
			at = end;
	}
	return at;
}

static const char *state_word(const struct cp *p)
{
	if (p->faulted)
		return "faulted";
	if (p->supplying)
		return "supplying";
	if (p->stopped)
		return "stopped";
	if (p->refused)
		return "refused";
	return p->registered ? "idle" : "registering";
}

void cp_status(const struct cp *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s state=%s engine=%s registered=%s",
			 p->id, state_word(p), p->faulted ? "ko" : "ok",
			 p->registered ? "yes" : "no");

	if (p->supplying && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n,
			 " driver=%s session=%s seq=%u wh=%lld cents=%lld",
			 p->s.driver, p->s.session, (unsigned)p->s.seq,
			 (long long)p->s.wh,
			 (long long)msg_cents(p->s.wh, p->s.price));
}
