/* session.c: a driver's protocol core: its requests, Central's answers, the session and its ticket. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "figure.h"
#include "session.h"

void session_init(struct session *s, const char *driver)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->driver, sizeof(s->driver), "%s", driver);
}

/* A line for the owner's log, formatted only when it would be kept. */
__attribute__((format(printf, 3, 4)))
static void say(const struct session *s, enum say level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!s->say || level < s->say_min)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->say(s->arg, level, line);
}

void session_request(struct session *s, const char *cp,
		     const struct session_target *tg, unsigned timeout_ms,
		     const struct now *t, struct msg *m)
{
	msg_init_at(m, MSG_AUTH_REQUEST, t->wall);
	snprintf(m->cp, sizeof(m->cp), "%s", cp);
	memcpy(m->driver, s->driver, sizeof(m->driver));
	m->u.req.target_wh = tg->wh;
	m->u.req.target_s = tg->s;
	m->u.req.timeout_ms = timeout_ms;
	memcpy(s->request, m->id, sizeof(s->request));
	memcpy(s->asked_cp, m->cp, sizeof(s->asked_cp));
	s->pending = true;
	s->asked_ms = t->mono;
	s->timeout_ms = timeout_ms;
	s->reason = DENY_NONE;
}

int session_cancel(struct session *s, const struct now *t, struct msg *m)
{
	if (s->state != SESS_CHARGING)
		return -1;
	msg_init_at(m, MSG_AUTH_REQUEST, t->wall);
	memcpy(m->cp, s->cp, sizeof(m->cp));
	memcpy(m->driver, s->driver, sizeof(m->driver));
	memcpy(m->session, s->id, sizeof(m->session));
	m->u.req.cancel = true;
	memcpy(s->cancel, m->id, sizeof(s->cancel));
	return 0;
}

/* Other drivers share the partition: their messages are expected. */
static enum session_event ignore(const struct session *s,
				 const struct msg *m, const char *why)
{
	say(s, SAY_DEBUG, "ignored %s %s: %s", msg_type_name(m->type), m->id,
	    why);
	return EV_NONE;
}

static enum session_event feed_response(struct session *s,
					const struct msg *m)
{
	const struct msg_auth_response *r = &m->u.resp;
	bool ours = s->request[0] && !strcmp(r->request, s->request);

	if (s->cancel[0] && !strcmp(r->request, s->cancel)) {
		s->cancel[0] = '\0';
		s->reason = r->reason;
		return r->authorized ? EV_NONE : EV_CANCEL_DENIED;
	}
	if (!ours && !(s->adopt && r->authorized))
		return ignore(s, m, "not the answer to our request");
	if (r->authorized && s->state != SESS_NONE && !strcmp(s->id, m->session))
		return ignore(s, m, "a session already known");
	if (ours) {
		s->request[0] = '\0';
		s->pending = false;
	}
	if (!r->authorized) {
		s->reason = r->reason;
		memcpy(s->asked_cp, m->cp, sizeof(s->asked_cp));
		return EV_DENIED;
	}
	s->state = SESS_CHARGING;
	memcpy(s->cp, m->cp, sizeof(s->cp));
	memcpy(s->id, m->session, sizeof(s->id));
	s->price = r->price;
	s->have_live = false;
	memset(&s->live, 0, sizeof(s->live));
	memset(&s->ticket, 0, sizeof(s->ticket));
	s->notice[0] = '\0';
	return EV_GRANTED;
}

static bool this_session(const struct session *s, const struct msg *m)
{
	return s->state != SESS_NONE && !strcmp(m->session, s->id);
}

static enum session_event feed_progress(struct session *s,
					const struct msg *m)
{
	bool first = !s->have_live;

	if (!this_session(s, m) || s->state != SESS_CHARGING)
		return ignore(s, m, "not our session in progress");
	if (s->have_live && m->u.prog.seq <= s->live.seq)
		return ignore(s, m, "stale figures");
	s->live = m->u.prog;
	s->have_live = true;
	return first ? EV_STARTED : EV_PROGRESS;
}

/* A notice names our session, or, without one, the CP we charge at. */
static enum session_event feed_notice(struct session *s, const struct msg *m)
{
	bool ours = m->session[0] ? this_session(s, m) :
		    s->state == SESS_CHARGING && !strcmp(m->cp, s->cp);

	if (!ours)
		return ignore(s, m, "not about our session");
	memcpy(s->notice, m->u.notice.text, sizeof(s->notice));
	s->notice_state = m->u.notice.state;
	return EV_NOTICE;
}

static enum session_event feed_ticket(struct session *s, const struct msg *m)
{
	if (!this_session(s, m))
		return ignore(s, m, "not our session");
	if (s->state == SESS_DONE)
		return ignore(s, m, "a ticket already received");
	s->ticket = m->u.ticket;
	s->state = SESS_DONE;
	return EV_TICKET;
}

enum session_event session_feed(struct session *s, const struct msg *m)
{
	if (strcmp(m->driver, s->driver))
		return ignore(s, m, "another driver");
	switch (m->type) {
	case MSG_AUTH_RESPONSE:
		return feed_response(s, m);
	case MSG_PROGRESS:
		return feed_progress(s, m);
	case MSG_NOTICE:
		return feed_notice(s, m);
	case MSG_TICKET:
		return feed_ticket(s, m);
	default:
		return ignore(s, m, "not for drivers");
	}
}

/* A failure the bus cannot pin on one message is the request's. */
enum session_event session_unsent(struct session *s, const char *id)
{
	if (id && s->cancel[0] && !strcmp(id, s->cancel)) {
		s->cancel[0] = '\0';
		return EV_UNSENT;
	}
	if (id && strcmp(id, s->request))
		return EV_NONE;
	s->pending = false;
	s->request[0] = '\0';
	return EV_UNSENT;
}

/* The request keeps its id, so that a late answer is still shown. */
bool session_overdue(struct session *s, const struct now *t)
{
	if (!s->pending || t->mono - s->asked_ms < (int64_t)s->timeout_ms)
		return false;
	s->pending = false;
	return true;
}

/* A charge cut short by the CP or by Central was not a full service. */
bool session_served(enum msg_end reason)
{
	return reason == END_FINISHED || reason == END_UNPLUGGED ||
	       reason == END_CANCELLED;
}

void session_ticket_text(const struct msg_ticket *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s kWh, %s EUR at %s EUR/kWh (%s)",
		 fig_kwh(t->wh).s, fig_eur(t->cents).s, fig_price(t->price).s,
		 msg_end_name(t->reason));
}

void session_deny_text(const struct session *s, char *buf, size_t len)
{
	const char *cp = s->asked_cp;

	switch (s->reason) {
	case DENY_UNKNOWN_CP:
		snprintf(buf, len, "%s is not known to Central", cp);
		break;
	case DENY_BUSY:
		snprintf(buf, len, "%s is busy", cp);
		break;
	case DENY_OUT_OF_ORDER:
		snprintf(buf, len, "%s is out of order", cp);
		break;
	case DENY_BROKEN:
		snprintf(buf, len, "%s is broken", cp);
		break;
	case DENY_DISCONNECTED:
		snprintf(buf, len, "%s is not connected", cp);
		break;
	case DENY_DRIVER_BUSY:
		snprintf(buf, len, "%s is already charging elsewhere", s->driver);
		break;
	default:
		snprintf(buf, len, "%s", msg_deny_text(s->reason));
	}
}

void session_figures(const struct session *s, char *buf, size_t len)
{
	if (!s->have_live) {
		snprintf(buf, len, "no figures yet");
		return;
	}
	snprintf(buf, len, "%s kW, %s kWh, %s EUR", fig_kw(s->live.kw).s,
		 fig_kwh(s->live.wh).s, fig_eur(s->live.cents).s);
}

void session_describe(const struct session *s, enum session_event ev,
		      char *buf, size_t len)
{
	char text[256];

	switch (ev) {
	case EV_GRANTED:
		snprintf(buf, len, "authorised: %s at %s, session %s, price %s EUR/kWh",
			 s->driver, s->cp, s->id, fig_price(s->price).s);
		break;
	case EV_DENIED:
		session_deny_text(s, text, sizeof(text));
		snprintf(buf, len, "denied: %s", text);
		break;
	case EV_STARTED:
		snprintf(buf, len, "charging started at %s", s->cp);
		break;
	case EV_PROGRESS:
		session_figures(s, text, sizeof(text));
		snprintf(buf, len, "charging at %s: %s", s->cp, text);
		break;
	case EV_NOTICE:
		snprintf(buf, len, "notice: %s (%s)", s->notice,
			 cp_state_name(s->notice_state));
		break;
	case EV_CANCEL_DENIED:
		snprintf(buf, len, "cannot stop the charge at %s: %s", s->cp,
			 msg_deny_text(s->reason));
		break;
	case EV_TICKET:
		session_ticket_text(&s->ticket, text, sizeof(text));
		snprintf(buf, len, "ticket at %s: %s", s->cp, text);
		break;
	case EV_UNSENT:
		snprintf(buf, len, "cannot send to Central: Kafka did not take the message");
		break;
	default:
		snprintf(buf, len, "%s", "");
	}
}
