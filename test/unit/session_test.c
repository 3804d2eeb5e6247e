/* session_test.c: unit tests of lib/session.c, a driver's protocol core: each input, the event it means and the lines it gives people. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/msg.h"
#include "lib/session.h"
#include "test/unit/check.h"


/* Every case runs at this time; a later one says how much later. */
static const struct now T0 = { .wall = 1700000000000LL, .mono = 5000000LL };

static const char S1[] = "5e551000000000000000000000000001";
static const char S2[] = "5e551000000000000000000000000002";
static const char OTHER_REQ[] = "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e";

/* What the say hook heard last, and how often. */
static struct {
	char line[512];
	enum say level;
	int n;
} heard;

static void on_say(void *arg, enum say level, const char *line)
{
	(void)arg;
	snprintf(heard.line, sizeof(heard.line), "%s", line);
	heard.level = level;
	heard.n++;
}

static struct now later(int64_t ms)
{
	struct now t = { T0.wall + ms, T0.mono + ms };

	return t;
}

/* A message from Central to driver, about session sid ("" for none). */
static struct msg central(enum msg_type type, const char *driver,
			  const char *cp, const char *sid)
{
	struct msg m;

	msg_init_at(&m, type, T0.wall);
	snprintf(m.driver, sizeof(m.driver), "%s", driver);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	snprintf(m.session, sizeof(m.session), "%s", sid);
	return m;
}

static struct msg grant(const char *request, const char *cp, const char *sid,
			double price)
{
	struct msg m = central(MSG_AUTH_RESPONSE, "D1", cp, sid);

	snprintf(m.u.resp.request, sizeof(m.u.resp.request), "%s", request);
	m.u.resp.authorized = true;
	m.u.resp.price = price;
	return m;
}

static struct msg refusal(const char *request, const char *cp,
			  enum msg_deny reason)
{
	struct msg m = central(MSG_AUTH_RESPONSE, "D1", cp, "");

	snprintf(m.u.resp.request, sizeof(m.u.resp.request), "%s", request);
	m.u.resp.reason = reason;
	return m;
}

static struct msg progress(const char *sid, uint32_t seq, double kw,
			   int64_t wh, int64_t cents)
{
	struct msg m = central(MSG_PROGRESS, "D1", "CP001", sid);

	m.u.prog = (struct msg_progress){ seq, kw, wh, cents };
	return m;
}

static struct msg notice(const char *cp, const char *sid, enum cp_state st,
			 const char *text)
{
	struct msg m = central(MSG_NOTICE, "D1", cp, sid);

	m.u.notice.state = st;
	snprintf(m.u.notice.text, sizeof(m.u.notice.text), "%s", text);
	return m;
}

static struct msg ticket(const char *sid, int64_t wh, int64_t cents,
			 enum msg_end reason)
{
	struct msg m = central(MSG_TICKET, "D1", "CP001", sid);

	m.u.ticket = (struct msg_ticket){ .seq = 9, .wh = wh, .cents = cents,
		.price = 0.35, .started = T0.wall - 60000, .ended = T0.wall,
		.reason = reason };
	return m;
}

/* D1 with a request for cp sent at T0 (30 s to answer), heard by on_say. */
static struct msg asked(struct session *s, const char *cp)
{
	struct session_target tg = { 0, 0 };
	struct msg m;

	session_init(s, "D1");
	s->say = on_say;
	s->say_min = SAY_DEBUG;
	session_request(s, cp, &tg, 30000, &T0, &m);
	return m;
}

/* D1 charging at CP001 in session S1 at 0.35 EUR/kWh. */
static void charging(struct session *s)
{
	struct msg m;

	asked(s, "CP001");
	m = grant(s->request, "CP001", S1, 0.35);
	session_feed(s, &m);
}

static bool describes(const struct session *s, enum session_event ev,
		      const char *want)
{
	char line[512];

	session_describe(s, ev, line, sizeof(line));
	if (strcmp(line, want))
		printf("# got '%s'\n# want '%s'\n", line, want);
	return !strcmp(line, want);
}

static void test_request(void)
{
	struct session_target tg = { 7500, 0 };
	struct session s;
	char json[1024];
	struct msg m;

	session_init(&s, "D1");
	s.reason = DENY_BUSY;
	session_request(&s, "CP002", &tg, 20000, &T0, &m);
	check(m.type == MSG_AUTH_REQUEST && !strcmp(m.cp, "CP002") &&
	      !strcmp(m.driver, "D1") && !m.session[0],
	      "a request is an auth_request from the driver to the CP asked");
	check(m.u.req.target_wh == 7500 && m.u.req.target_s == 0 &&
	      m.u.req.timeout_ms == 20000 && !m.u.req.cancel,
	      "a request carries the target and the time Central has to answer");
	check(m.ts == T0.wall, "a request is stamped with the wall clock given");
	check(msg_encode(&m, json, sizeof(json)) > 0,
	      "a request is a message the codec accepts");
	check(s.pending && !strcmp(s.request, m.id) &&
	      !strcmp(s.asked_cp, "CP002"),
	      "a request is pending under its id, for the CP asked");
	check(s.asked_ms == T0.mono && s.timeout_ms == 20000,
	      "a request's deadline counts from the monotonic clock given");
	check(s.reason == DENY_NONE, "a request forgets the earlier refusal");
	check(s.state == SESS_NONE, "a request alone opens no session");
	tg = (struct session_target){ 0, 3600 };
	session_request(&s, "CP003", &tg, 20000, &T0, &m);
	check(m.u.req.target_wh == 0 && m.u.req.target_s == 3600 &&
	      !strcmp(s.request, m.id),
	      "a second request asks for time and replaces the first's id");
}

static void test_grant(void)
{
	struct session s;
	char want[256];
	struct msg m;

	asked(&s, "CP001");
	m = grant(s.request, "CP001", S1, 0.35);
	check(session_feed(&s, &m) == EV_GRANTED,
	      "the grant of our request is an authorisation");
	check(s.state == SESS_CHARGING && !strcmp(s.cp, "CP001") &&
	      !strcmp(s.id, S1) && s.price == 0.35,
	      "a grant opens the session at its CP and price");
	check(!s.pending && !s.request[0], "a grant answers the request");
	snprintf(want, sizeof(want),
		 "authorised: D1 at CP001, session %s, price 0.35 EUR/kWh", S1);
	check(describes(&s, EV_GRANTED, want),
	      "a grant reads as the session and its price");
	check(session_feed(&s, &m) == EV_NONE,
	      "the same grant read twice is ignored");
	s.price = 0.3555;
	snprintf(want, sizeof(want),
		 "authorised: D1 at CP001, session %s, price 0.3555 EUR/kWh", S1);
	check(describes(&s, EV_GRANTED, want),
	      "a price shows the decimals it has, up to six");
}

/* Each reason Central gives, and how a driver reads it. */
static const struct {
	enum msg_deny reason;
	const char *text;
} refusals[] = {
	{ DENY_UNKNOWN_CP, "CP009 is not known to Central" },
	{ DENY_BUSY, "CP009 is busy" },
	{ DENY_OUT_OF_ORDER, "CP009 is out of order" },
	{ DENY_BROKEN, "CP009 is broken" },
	{ DENY_DISCONNECTED, "CP009 is not connected" },
	{ DENY_DRIVER_BUSY, "D1 is already charging elsewhere" },
	{ DENY_EXPIRED, "the request expired before Central could answer" },
	{ DENY_BAD_REQUEST, "the request is invalid" },
};

static void test_refusals(void)
{
	char sentence[256], want[256];
	struct session s;
	struct msg m;

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const char *name = msg_deny_name(refusals[i].reason);

		asked(&s, "CP009");
		m = refusal(s.request, "CP009", refusals[i].reason);
		snprintf(sentence, sizeof(sentence),
			 "a refusal for %s is a denial with its reason", name);
		check(session_feed(&s, &m) == EV_DENIED &&
		      s.reason == refusals[i].reason && !s.pending &&
		      !s.request[0] && s.state == SESS_NONE, sentence);
		snprintf(want, sizeof(want), "denied: %s", refusals[i].text);
		snprintf(sentence, sizeof(sentence),
			 "a refusal for %s reads '%s'", name, refusals[i].text);
		check(describes(&s, EV_DENIED, want), sentence);
	}
}

static void test_refusal_keeps_session(void)
{
	struct session_target tg = { 0, 0 };
	struct session s;
	struct msg m;

	charging(&s);
	session_request(&s, "CP002", &tg, 30000, &T0, &m);
	m = refusal(s.request, "CP002", DENY_DRIVER_BUSY);
	check(session_feed(&s, &m) == EV_DENIED && s.state == SESS_CHARGING &&
	      !strcmp(s.cp, "CP001") && !strcmp(s.id, S1),
	      "a refusal leaves the session in progress alone");
	check(!strcmp(s.asked_cp, "CP002"),
	      "a refusal names the CP it refused");
}

/* Messages the driver must let pass, one step each after a request. */
static void test_ignored(void)
{
	static const char *const sentences[] = {
		"a grant to another request is ignored",
		"a refusal of another request is ignored",
		"an answer to our request for another driver is ignored",
		"figures before any grant are ignored",
		"a ticket of a session not ours is ignored",
		"our own auth_request read back is ignored",
	};
	struct session s;
	struct msg ms[6];

	asked(&s, "CP001");
	ms[0] = grant(OTHER_REQ, "CP001", S2, 0.35);
	ms[1] = refusal(OTHER_REQ, "CP001", DENY_BUSY);
	ms[2] = grant(s.request, "CP001", S2, 0.35);
	snprintf(ms[2].driver, sizeof(ms[2].driver), "D2");
	ms[3] = progress(S2, 0, 22, 100, 4);
	ms[4] = ticket(S2, 100, 4, END_FINISHED);
	ms[5] = central(MSG_AUTH_REQUEST, "D1", "CP001", "");
	for (int i = 0; i < 6; i++)
		check(session_feed(&s, &ms[i]) == EV_NONE && s.pending &&
		      s.state == SESS_NONE, sentences[i]);
	check(heard.level == SAY_DEBUG &&
	      !strncmp(heard.line, "ignored auth_request ", 21) &&
	      strstr(heard.line, ": not for drivers"),
	      "an ignored message is said at the debug level, with why");
	heard.n = 0;
	s.say_min = SAY_INFO;
	session_feed(&s, &ms[0]);
	check(heard.n == 0, "a line below the owner's level is not said");
	s.say = NULL;
	s.say_min = SAY_DEBUG;
	check(session_feed(&s, &ms[0]) == EV_NONE,
	      "a session without a say hook stays silent");
}

static void test_adopt(void)
{
	struct session s;
	struct msg m;

	session_init(&s, "D1");
	m = grant(OTHER_REQ, "CP002", S2, 0.40);
	check(session_feed(&s, &m) == EV_NONE,
	      "a grant to a request of an earlier run is not ours");
	s.adopt = true;
	check(session_feed(&s, &m) == EV_GRANTED &&
	      s.state == SESS_CHARGING && !strcmp(s.id, S2) &&
	      !strcmp(s.cp, "CP002") && s.price == 0.40,
	      "a grant read while replaying history is adopted");
	check(!s.pending, "an adopted grant leaves no request pending");
	m = refusal(OTHER_REQ, "CP003", DENY_BUSY);
	check(session_feed(&s, &m) == EV_NONE && s.state == SESS_CHARGING,
	      "a refusal read while replaying history is not ours");
}

/* The live figures of S1, in the order they come. */
static const struct {
	const char *sentence;
	uint32_t seq;
	int64_t wh;
	enum session_event ev;
	uint32_t live_seq;	/* the figures kept after it */
} steps[] = {
	{ "the first figures say the charge started", 4, 100, EV_STARTED, 4 },
	{ "newer figures are progress", 5, 200, EV_PROGRESS, 5 },
	{ "figures of the same seq are stale", 5, 250, EV_NONE, 5 },
	{ "older figures are stale", 3, 50, EV_NONE, 5 },
	{ "figures may skip a seq", 9, 1200, EV_PROGRESS, 9 },
};

static void test_progress(void)
{
	struct session s;
	char text[64];
	struct msg m;

	charging(&s);
	check(describes(&s, EV_NONE, ""), "no event reads as an empty line");
	session_figures(&s, text, sizeof(text));
	check(!strcmp(text, "no figures yet"),
	      "a session without figures says so");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		m = progress(S1, steps[i].seq, 22, steps[i].wh, 42);
		check(session_feed(&s, &m) == steps[i].ev &&
		      s.live.seq == steps[i].live_seq, steps[i].sentence);
	}
	check(s.live.wh == 1200, "the figures kept are the newest");
	check(describes(&s, EV_STARTED, "charging started at CP001"),
	      "the start reads as the CP");
	check(describes(&s, EV_PROGRESS,
			"charging at CP001: 22.0 kW, 1.2 kWh, 0.42 EUR"),
	      "progress reads as kW with a decimal, kWh and EUR");
	s.live.kw = 11.04;
	s.live.wh = 1834;
	s.live.cents = 5;
	check(describes(&s, EV_PROGRESS,
			"charging at CP001: 11.04 kW, 1.834 kWh, 0.05 EUR"),
	      "figures keep every Wh and two decimals of EUR");
	m = progress(S2, 10, 22, 1300, 46);
	check(session_feed(&s, &m) == EV_NONE,
	      "figures of another session are ignored");
}

static void test_notices(void)
{
	struct session s;
	struct msg m;

	charging(&s);
	m = notice("CP001", S1, CP_BROKEN, "CP001 is broken");
	check(session_feed(&s, &m) == EV_NOTICE &&
	      !strcmp(s.notice, "CP001 is broken") &&
	      s.notice_state == CP_BROKEN,
	      "a notice naming our session is news of it");
	check(describes(&s, EV_NOTICE, "notice: CP001 is broken (BROKEN)"),
	      "a notice reads as its text and the CP's state");
	m = notice("CP001", "", CP_STOPPED, "CP001 is out of order");
	check(session_feed(&s, &m) == EV_NOTICE && s.notice_state == CP_STOPPED,
	      "a notice without a session, about our CP, is news of it");
	m = notice("CP002", "", CP_STOPPED, "CP002 is out of order");
	check(session_feed(&s, &m) == EV_NONE,
	      "a notice without a session, about another CP, is ignored");
	m = notice("CP001", S2, CP_BROKEN, "CP001 is broken");
	check(session_feed(&s, &m) == EV_NONE,
	      "a notice naming another session is ignored");
	session_init(&s, "D1");
	m = notice("CP001", "", CP_STOPPED, "CP001 is out of order");
	check(session_feed(&s, &m) == EV_NONE,
	      "a notice about a CP is ignored without a session there");
}

static void test_ticket(void)
{
	struct session s;
	struct msg m;

	charging(&s);
	m = ticket(S2, 3200, 112, END_FINISHED);
	check(session_feed(&s, &m) == EV_NONE && s.state == SESS_CHARGING,
	      "a ticket of another session is ignored");
	m = ticket(S1, 3200, 112, END_FINISHED);
	check(session_feed(&s, &m) == EV_TICKET && s.state == SESS_DONE &&
	      s.ticket.wh == 3200 && s.ticket.cents == 112,
	      "the ticket of our session ends it");
	check(describes(&s, EV_TICKET,
			"ticket at CP001: 3.2 kWh, 1.12 EUR at 0.35 EUR/kWh (finished)"),
	      "a ticket reads as energy, money, price and why it ended");
	m = ticket(S1, 3300, 116, END_FINISHED);
	check(session_feed(&s, &m) == EV_NONE && s.ticket.wh == 3200,
	      "a second ticket of the session is ignored");
	m = progress(S1, 20, 22, 3300, 116);
	check(session_feed(&s, &m) == EV_NONE,
	      "figures after the ticket are ignored");
	m = notice("CP001", "", CP_BROKEN, "CP001 is broken");
	check(session_feed(&s, &m) == EV_NONE,
	      "a notice about the CP after the ticket is ignored");
}

static void test_cancel(void)
{
	struct session s;
	struct msg m, before;

	session_init(&s, "D1");
	memset(&m, 0, sizeof(m));
	before = m;
	check(session_cancel(&s, &T0, &m) == -1 &&
	      !memcmp(&m, &before, sizeof(m)),
	      "there is nothing to cancel without a session in progress");
	charging(&s);
	check(session_cancel(&s, &T0, &m) == 0 &&
	      m.type == MSG_AUTH_REQUEST && m.u.req.cancel &&
	      !strcmp(m.session, S1) && !strcmp(m.cp, "CP001") &&
	      !strcmp(m.driver, "D1") && m.ts == T0.wall,
	      "a cancel is an auth_request naming the session in progress");
	check(!strcmp(s.cancel, m.id) && !s.pending,
	      "a cancel waits for its answer, not as a request");
	m = refusal(m.id, "CP001", DENY_BAD_REQUEST);
	check(session_feed(&s, &m) == EV_CANCEL_DENIED &&
	      s.reason == DENY_BAD_REQUEST && !s.cancel[0] &&
	      s.state == SESS_CHARGING,
	      "a refused cancel leaves the session going");
	check(describes(&s, EV_CANCEL_DENIED,
			"cannot stop the charge at CP001: the request is invalid"),
	      "a refused cancel reads as the CP and Central's reason");
	session_cancel(&s, &T0, &m);
	m = grant(m.id, "CP001", S1, 0.35);
	check(session_feed(&s, &m) == EV_NONE && !s.cancel[0],
	      "a granted cancel is quiet: the ticket tells the end");
	session_init(&s, "D1");
	s.state = SESS_DONE;
	check(session_cancel(&s, &T0, &m) == -1,
	      "there is nothing to cancel once the ticket came");
}

static void test_unsent(void)
{
	struct session s;
	struct msg m, req;

	req = asked(&s, "CP001");
	check(session_unsent(&s, OTHER_REQ) == EV_NONE && s.pending,
	      "a message not ours that Kafka did not take changes nothing");
	check(session_unsent(&s, req.id) == EV_UNSENT && !s.pending &&
	      !s.request[0], "a request Kafka did not take is given up");
	check(describes(&s, EV_UNSENT,
			"cannot send to Central: Kafka did not take the message"),
	      "a message not taken reads as such");
	m = grant(req.id, "CP001", S1, 0.35);
	check(session_feed(&s, &m) == EV_NONE,
	      "an answer to a request given up is ignored");
	asked(&s, "CP001");
	check(session_unsent(&s, NULL) == EV_UNSENT && !s.pending &&
	      !s.request[0],
	      "a failure the bus cannot pin on a message gives the request up");
	charging(&s);
	session_request(&s, "CP002", &(struct session_target){ 0, 0 }, 30000,
			&T0, &req);
	session_cancel(&s, &T0, &m);
	check(session_unsent(&s, m.id) == EV_UNSENT && !s.cancel[0] &&
	      s.pending && s.state == SESS_CHARGING,
	      "a cancel Kafka did not take leaves the request and the session alone");
}

static void test_overdue(void)
{
	struct session s;
	struct now t;
	struct msg m;

	session_init(&s, "D1");
	t = later(60000);
	check(!session_overdue(&s, &t), "nothing is overdue without a request");
	asked(&s, "CP001");
	t = later(29999);
	check(!session_overdue(&s, &t) && s.pending,
	      "a request is not overdue before its time is up");
	t = later(30000);
	check(session_overdue(&s, &t) && !s.pending,
	      "a request is overdue once its time is up");
	check(!session_overdue(&s, &t), "a request is overdue only once");
	m = grant(s.request, "CP001", S1, 0.35);
	check(session_feed(&s, &m) == EV_GRANTED,
	      "a late answer to an overdue request is still taken");
}

static void test_served(void)
{
	static const bool served[END_COUNT] = {
		[END_FINISHED] = true, [END_UNPLUGGED] = true,
		[END_CANCELLED] = true,
	};
	char sentence[128];

	for (int r = 0; r < END_COUNT; r++) {
		snprintf(sentence, sizeof(sentence), "a charge %s %s served",
			 msg_end_name(r), served[r] ? "was" : "was not");
		check(session_served(r) == served[r], sentence);
	}
}

int main(void)
{
	test_request();
	test_grant();
	test_refusals();
	test_refusal_keeps_session();
	test_ignored();
	test_adopt();
	test_progress();
	test_notices();
	test_ticket();
	test_cancel();
	test_unsent();
	test_overdue();
	test_served();
	return check_done();
}
