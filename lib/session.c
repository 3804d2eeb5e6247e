/* session.c: a driver's view of its sessions: requests, answers, tickets. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session.h"
#include "xalloc.h"

#define WAIT_SLICE_MS 200	/* how often a wait looks at bus_stop */
#define DURATION_MAX_S 1000000.0

void session_init(struct session *s, const char *driver)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->driver, sizeof(s->driver), "%s", driver);
}

/* A decimal number with nothing after it; -1 when arg is not one. */
static int parse_number(const char *arg, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(arg, &end);
	if (end == arg || *end || errno || !isfinite(*v) || *v < 0)
		return -1;
	return 0;
}

int session_parse_kwh(const char *arg, int64_t *wh)
{
	double kwh;

	if (parse_number(arg, &kwh) || kwh * 1000 < 0.5 ||
	    kwh * 1000 > (double)MSG_WH_MAX)
		return error("bad energy: '%s' (kWh, e.g. 7.5)", arg);
	*wh = llround(kwh * 1000);
	return 0;
}

int session_parse_seconds(const char *arg, uint32_t *s)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno || v < 1 ||
	    v > UINT32_MAX)
		return error("bad number of seconds: '%s'", arg);
	*s = (uint32_t)v;
	return 0;
}

int session_parse_duration(const char *what, const char *arg, unsigned *ms)
{
	double v;

	if (parse_number(arg, &v) || v > DURATION_MAX_S)
		return error("bad %s: '%s' (seconds, e.g. 2.5)", what, arg);
	*ms = (unsigned)llround(v * 1000);
	return 0;
}

int session_open(const struct conf *c, const char *driver, int64_t from_ms,
		 unsigned timeout_ms, struct bus **bp)
{
	struct bus *b;

	*bp = NULL;
	if (!(b = bus_open(c, BUS_PRODUCER | BUS_CONSUMER, NULL)))
		return EXIT_USAGE;
	if (bus_check(b, (int)timeout_ms) ||
	    bus_follow(b, T_AUTH_RESPONSE, driver, from_ms)) {
		bus_close(b, 0);
		return EXIT_UNREACHABLE;
	}
	*bp = b;
	return EXIT_OK;
}

int session_close(struct bus *b, int timeout_ms)
{
	const struct bus_stats *st = bus_stats(b);

	debug("stats: received %ld, rejected %ld, sent %ld, failed %ld",
	      st->received, st->rejected, st->sent, st->failed);
	return bus_close(b, timeout_ms);
}

int session_request(struct bus *b, struct session *s, const char *cp,
		    const struct session_target *t, unsigned timeout_ms)
{
	struct msg m;

	msg_init(&m, MSG_AUTH_REQUEST);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	snprintf(m.driver, sizeof(m.driver), "%s", s->driver);
	m.u.req.target_wh = t->wh;
	m.u.req.target_s = t->s;
	m.u.req.timeout_ms = timeout_ms;
	s->failed_base = bus_stats(b)->failed;
	if (bus_send(b, T_AUTH_REQUEST, &m))
		return -1;
	debug("request %s sent for '%s'", m.id, cp);
	memcpy(s->request, m.id, sizeof(s->request));
	snprintf(s->asked_cp, sizeof(s->asked_cp), "%s", cp);
	s->pending = true;
	s->asked_ms = mono_ms();
	s->reason = DENY_NONE;
	return 0;
}

int session_cancel(struct bus *b, struct session *s)
{
	struct msg m;

	if (s->state != SESS_CHARGING)
		return error("no session in progress");
	msg_init(&m, MSG_AUTH_REQUEST);
	memcpy(m.cp, s->cp, sizeof(m.cp));
	memcpy(m.driver, s->driver, sizeof(m.driver));
	memcpy(m.session, s->id, sizeof(m.session));
	m.u.req.cancel = true;
	s->failed_base = bus_stats(b)->failed;
	if (bus_send(b, T_AUTH_REQUEST, &m))
		return -1;
	memcpy(s->cancel, m.id, sizeof(s->cancel));
	return 0;
}

/* Other drivers share the partition: their messages are expected. */
static enum session_event ignore(const struct msg *m, const char *why)
{
	debug("ignored %s %s: %s", msg_type_name(m->type), m->id, why);
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
		return ignore(m, "not the answer to our request");
	if (r->authorized && s->state != SESS_NONE && !strcmp(s->id, m->session))
		return ignore(m, "a session already known");
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
		return ignore(m, "not our session in progress");
	if (s->have_live && m->u.prog.seq <= s->live.seq)
		return ignore(m, "stale figures");
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
		return ignore(m, "not about our session");
	memcpy(s->notice, m->u.notice.text, sizeof(s->notice));
	s->notice_state = m->u.notice.state;
	return EV_NOTICE;
}

static enum session_event feed_ticket(struct session *s, const struct msg *m)
{
	if (!this_session(s, m))
		return ignore(m, "not our session");
	if (s->state == SESS_DONE)
		return ignore(m, "a ticket already received");
	s->ticket = m->u.ticket;
	s->state = SESS_DONE;
	return EV_TICKET;
}

enum session_event session_feed(struct session *s, const struct msg *m)
{
	if (strcmp(m->driver, s->driver))
		return ignore(m, "another driver");
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
		return ignore(m, "not for drivers");
	}
}

int session_wait(struct bus *b, struct session *s, int timeout_ms,
		 enum session_event *ev)
{
	long long deadline = mono_ms() + timeout_ms, left;
	enum topic t;
	struct msg m;
	int r;

	while (!bus_stop && (left = deadline - mono_ms()) > 0) {
		if (bus_stats(b)->failed > s->failed_base) {
			s->failed_base = bus_stats(b)->failed;
			s->pending = false;
			s->request[0] = '\0';
			*ev = EV_UNSENT;
			return 1;
		}
		r = bus_recv(b, &m, &t, left < WAIT_SLICE_MS ? (int)left :
			     WAIT_SLICE_MS);
		if (r < 0)
			return error("cannot read from Kafka");
		if (r == 0 || t != T_AUTH_RESPONSE)
			continue;
		if ((*ev = session_feed(s, &m)) != EV_NONE)
			return 1;
	}
	return 0;
}

/* A charge cut short by the CP or by Central was not a full service. */
bool session_served(enum msg_end reason)
{
	return reason == END_FINISHED || reason == END_UNPLUGGED ||
	       reason == END_CANCELLED;
}

/* Drops trailing zeros after the point, keeping at least min decimals. */
static void trim(char *buf, int min)
{
	char *dot = strchr(buf, '.');
	char *end;

	if (!dot)
		return;
	end = buf + strlen(buf);
	while (end > dot + 1 + min && end[-1] == '0')
		*--end = '\0';
	if (end == dot + 1)
		*dot = '\0';
}

void session_kwh(int64_t wh, char *buf, size_t len)
{
	snprintf(buf, len, "%lld.%03lld", (long long)(wh / 1000),
		 (long long)(llabs(wh % 1000)));
	trim(buf, 1);
}

void session_eur(int64_t cents, char *buf, size_t len)
{
	snprintf(buf, len, "%lld.%02lld", (long long)(cents / 100),
		 (long long)(llabs(cents % 100)));
}

void session_price(double price, char *buf, size_t len)
{
	snprintf(buf, len, "%.6f", price);
	trim(buf, 2);
}

static void kw_text(double kw, char *buf, size_t len)
{
	snprintf(buf, len, "%.3f", kw);
	trim(buf, 0);
}

void session_ticket_text(const struct msg_ticket *t, char *buf, size_t len)
{
	char kwh[32], eur[32], price[32];

	session_kwh(t->wh, kwh, sizeof(kwh));
	session_eur(t->cents, eur, sizeof(eur));
	session_price(t->price, price, sizeof(price));
	snprintf(buf, len, "%s kWh, %s EUR at %s EUR/kWh (%s)", kwh, eur,
		 price, msg_end_name(t->reason));
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
	char kw[32], kwh[32], eur[32];

	if (!s->have_live) {
		snprintf(buf, len, "no figures yet");
		return;
	}
	kw_text(s->live.kw, kw, sizeof(kw));
	session_kwh(s->live.wh, kwh, sizeof(kwh));
	session_eur(s->live.cents, eur, sizeof(eur));
	snprintf(buf, len, "%s kW, %s kWh, %s EUR", kw, kwh, eur);
}

void session_describe(const struct session *s, enum session_event ev,
		      char *buf, size_t len)
{
	char text[256];

	switch (ev) {
	case EV_GRANTED:
		session_price(s->price, text, sizeof(text));
		snprintf(buf, len, "authorised: %s at %s, session %s, price %s EUR/kWh",
			 s->driver, s->cp, s->id, text);
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
