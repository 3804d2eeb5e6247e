/* central_test.c: unit tests of lib/central.c: Central's rules, fed by hand, without Kafka. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/central.h"
#include "lib/figure.h"
#include "test/unit/check.h"

#define OUT_MAX 1024
#define SAID_MAX 64
#define HEALTH_MS 3000
#define AUTH_MS 10000

/* What the core posted: the messages in order, and its lines. */
struct out {
	enum topic t;
	struct msg m;
};

/*
 * The world around the core: a clock the test moves, a heard() the test
 * sets, and everything posted kept for the checks.
 */
static struct world {
	struct conf_central rules;
	struct central c;
	struct out out[OUT_MAX];
	int nout;
	char said[SAID_MAX][512];
	int nsaid;
	char erased[SAID_MAX][MSG_NAME_MAX + 1];	/* off cp-state */
	int nerased;
	bool deaf;			/* heard() says no: Kafka lags */
	struct now now;
} w;

static void on_post(void *ctx, enum topic t, const struct msg *m)
{
	(void)ctx;
	if (w.nout < OUT_MAX)
		w.out[w.nout++] = (struct out){ t, *m };
}

static void on_erase(void *ctx, enum topic t, const char *id)
{
	(void)ctx;
	if (t == T_CP_STATE && w.nerased < SAID_MAX)
		snprintf(w.erased[w.nerased++], sizeof(w.erased[0]), "%s", id);
}

static void on_say(void *ctx, enum say level, const char *line)
{
	(void)ctx;
	(void)level;
	snprintf(w.said[w.nsaid++ % SAID_MAX], sizeof(w.said[0]), "%s", line);
}

static bool on_heard(void *ctx, uint32_t i, const char *id,
		     const struct now *now)
{
	(void)ctx;
	(void)i;
	(void)id;
	(void)now;
	return !w.deaf;
}

static void clear(void)
{
	w.nout = 0;
	w.nsaid = 0;
	w.nerased = 0;
}

/*
 * Central with CP001 (0.35), CP002 (0.40) and CP003 (0.30, rated 22 kW)
 * in its catalogue; CPs without a rated power may deliver 10 MW, so
 * that the cases about other rules can use round figures at once.
 */
static void start(bool allow_unknown)
{
	struct central_hooks h = {
		.post = on_post, .erase = on_erase, .say = on_say,
		.heard = on_heard, .say_min = SAY_DEBUG,
	};

	central_free(&w.c);
	memset(&w, 0, sizeof(w));
	w.rules.allow_unknown = allow_unknown;
	w.rules.default_price = 0.30;
	w.rules.default_location = "unknown";
	w.rules.health_timeout_ms = HEALTH_MS;
	w.rules.auth_timeout_ms = AUTH_MS;
	w.rules.max_power_kw = 10000;
	w.now = (struct now){ .wall = 1800000000000, .mono = 5000000 };
	central_init(&w.c, &w.rules, &h);
	central_add(&w.c, "CP001", "Alicante", 0.35, 0, &w.now);
	central_add(&w.c, "CP002", "Elche", 0.40, 0, &w.now);
	central_add(&w.c, "CP003", "Elda", 0.30, 22, &w.now);
	central_serve(&w.c, &w.now);
	clear();
}

static void later(int64_t ms)
{
	w.now.wall += ms;
	w.now.mono += ms;
}

static void tick(void)
{
	central_tick(&w.c, &w.now);
}

/* --- what goes in ---------------------------------------------------- */

static struct msg make(enum msg_type t, const char *cp)
{
	struct msg m;

	msg_init_at(&m, t, w.now.wall);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	return m;
}

static void feed(const struct msg *m)
{
	central_feed(&w.c, m, &w.now);
}

static void reg(const char *cp, bool engine_ok)
{
	struct msg m = make(MSG_REGISTER, cp);

	m.u.reg.engine_ok = engine_ok;
	feed(&m);
}

static void beat(const char *cp, bool engine_ok)
{
	struct msg m = make(MSG_HEALTH, cp);

	m.u.health.engine_ok = engine_ok;
	feed(&m);
}

/* An auth_request of driver at cp, sent age_ms ago; its id in id. */
static void ask_aged(const char *driver, const char *cp, int64_t age_ms,
		     char id[MSG_UUID_LEN + 1])
{
	struct msg m = make(MSG_AUTH_REQUEST, cp);

	m.ts -= age_ms;
	snprintf(m.driver, sizeof(m.driver), "%s", driver);
	m.u.req.target_wh = 5000;
	memcpy(id, m.id, MSG_UUID_LEN + 1);
	feed(&m);
}

static void ask(const char *driver, const char *cp, char id[MSG_UUID_LEN + 1])
{
	ask_aged(driver, cp, 0, id);
}

static void about(struct msg *m, const char *driver, const char *session)
{
	snprintf(m->driver, sizeof(m->driver), "%s", driver);
	snprintf(m->session, sizeof(m->session), "%s", session);
}

static void tel(const char *cp, const char *driver, const char *session,
		uint32_t seq, int64_t wh)
{
	struct msg m = make(MSG_TELEMETRY, cp);

	about(&m, driver, session);
	m.u.prog = (struct msg_progress){ .seq = seq, .kw = 22, .wh = wh,
					  .cents = 999 };
	feed(&m);
}

static void fin(const char *cp, const char *driver, const char *session,
		uint32_t seq, int64_t wh, enum msg_end reason)
{
	struct msg m = make(MSG_SUPPLY_END, cp);

	about(&m, driver, session);
	m.u.ticket = (struct msg_ticket){ .seq = seq, .wh = wh, .cents = 1,
					  .price = 9, .started = m.ts - 1000,
					  .ended = m.ts, .reason = reason };
	feed(&m);
}

static void cancel(const char *cp, const char *driver, const char *session)
{
	struct msg m = make(MSG_AUTH_REQUEST, cp);

	about(&m, driver, session);
	m.u.req.cancel = true;
	feed(&m);
}

static void control(enum msg_cmd cmd, const char *cp)
{
	struct msg m = make(MSG_CONTROL, cp ? cp : "");

	m.u.ctl.cmd = cmd;
	m.u.ctl.all = !cp;
	feed(&m);
}

/* --- what comes out -------------------------------------------------- */

/* The last message of type posted on t, or NULL. */
static const struct msg *last(enum topic t, enum msg_type type)
{
	for (int i = w.nout - 1; i >= 0; i--)
		if (w.out[i].t == t && w.out[i].m.type == type)
			return &w.out[i].m;
	return NULL;
}

static int count(enum topic t, enum msg_type type)
{
	int n = 0;

	for (int i = 0; i < w.nout; i++)
		n += w.out[i].t == t && w.out[i].m.type == type;
	return n;
}

/* The position of the first message of type on t, or -1. */
static int first_at(enum topic t, enum msg_type type)
{
	for (int i = 0; i < w.nout; i++)
		if (w.out[i].t == t && w.out[i].m.type == type)
			return i;
	return -1;
}

static const struct msg *answer_to(const char *request)
{
	for (int i = w.nout - 1; i >= 0; i--)
		if (w.out[i].m.type == MSG_AUTH_RESPONSE &&
		    !strcmp(w.out[i].m.u.resp.request, request))
			return &w.out[i].m;
	return NULL;
}

static const struct msg *command(enum msg_cmd cmd, const char *cp)
{
	for (int i = w.nout - 1; i >= 0; i--)
		if (w.out[i].t == T_CP_COMMANDS &&
		    w.out[i].m.u.cmd.cmd == cmd && !strcmp(w.out[i].m.cp, cp))
			return &w.out[i].m;
	return NULL;
}

static enum cp_state state(const char *cp)
{
	const struct central_cp *p = central_find(&w.c, cp);

	return p ? p->state : CP_STATE_COUNT;
}

static bool said(const char *text)
{
	for (int i = 0; i < w.nsaid && i < SAID_MAX; i++)
		if (strstr(w.said[i], text))
			return true;
	return false;
}

/* CP registered and heard: ACTIVE. */
static void online(const char *cp)
{
	reg(cp, true);
	beat(cp, true);
}

/* A granted session of driver at cp; its id in session. */
static bool granted(const char *driver, const char *cp,
		    char session[MSG_UUID_LEN + 1])
{
	char req[MSG_UUID_LEN + 1];
	const struct msg *a;

	ask(driver, cp, req);
	a = answer_to(req);
	if (!a || !a->u.resp.authorized)
		return false;
	memcpy(session, a->session, MSG_UUID_LEN + 1);
	return true;
}

/* --- the cases ------------------------------------------------------- */

/* practice.md's table: what the monitor and the engine say, what shows. */
static void test_truth_table(void)
{
	static const struct {
		const char *sentence;
		bool monitor, engine;
		enum cp_state want;
	} rows[] = {
		{ "monitor OK, engine OK: ACTIVE", true, true, CP_ACTIVE },
		{ "monitor OK, engine KO: BROKEN", true, false, CP_BROKEN },
		{ "monitor silent, engine OK: DISCONNECTED", false, true,
		  CP_DISCONNECTED },
		{ "monitor silent, engine KO: DISCONNECTED", false, false,
		  CP_DISCONNECTED },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		start(false);
		reg("CP001", true);
		beat("CP001", rows[i].engine);
		if (!rows[i].monitor) {
			later(HEALTH_MS + 1);
			tick();
		}
		check(state("CP001") == rows[i].want, "%s", rows[i].sentence);
	}
	start(false);
	check(state("CP002") == CP_DISCONNECTED,
	      "every catalogue CP is DISCONNECTED until it is heard");
	online("CP001");
	later(HEALTH_MS + 1);
	w.deaf = true;
	tick();
	check(state("CP001") == CP_ACTIVE,
	      "a CP is not judged silent while Central has not heard all it sent");
	w.deaf = false;
	tick();
	check(state("CP001") == CP_DISCONNECTED,
	      "once heard all, the silent CP is DISCONNECTED");
	beat("CP001", true);
	check(state("CP001") == CP_ACTIVE, "a heartbeat brings it back ACTIVE");
	control(CMD_STOP, "CP001");
	beat("CP001", false);
	check(state("CP001") == CP_BROKEN,
	      "a fault shows over the operator's stop: BROKEN");
	later(HEALTH_MS + 1);
	tick();
	check(state("CP001") == CP_DISCONNECTED,
	      "silence shows over both: DISCONNECTED");
	beat("CP001", true);
	check(state("CP001") == CP_STOPPED,
	      "heard again and well, it is still STOPPED");
}

static void setup_busy(void)
{
	char s[MSG_UUID_LEN + 1];

	granted("D9", "CP001", s);
}

static void setup_stopped(void)
{
	control(CMD_STOP, "CP001");
}

static void setup_broken(void)
{
	beat("CP001", false);
}

static void setup_driver_busy(void)
{
	char s[MSG_UUID_LEN + 1];

	online("CP002");
	granted("D1", "CP002", s);
}

static void setup_nothing(void)
{
}

/* Every reason a request is refused, and the answer that says it. */
static void test_denials(void)
{
	static const struct {
		const char *sentence;
		void (*setup)(void);
		const char *cp;
		int64_t age_ms;
		enum msg_deny want;
	} rows[] = {
		{ "a CP outside the catalogue: unknown_cp", setup_nothing,
		  "CP777", 0, DENY_UNKNOWN_CP },
		{ "a CP supplying another driver: busy", setup_busy, "CP001", 0,
		  DENY_BUSY },
		{ "a CP stopped by the operator: out_of_order", setup_stopped,
		  "CP001", 0, DENY_OUT_OF_ORDER },
		{ "a CP whose engine is KO: broken", setup_broken, "CP001", 0,
		  DENY_BROKEN },
		{ "a CP never heard: disconnected", setup_nothing, "CP003", 0,
		  DENY_DISCONNECTED },
		{ "a driver charging elsewhere: driver_busy", setup_driver_busy,
		  "CP001", 0, DENY_DRIVER_BUSY },
		{ "a request older than its timeout: expired", setup_nothing,
		  "CP001", AUTH_MS + 1, DENY_EXPIRED },
		{ "a request older than this Central: expired", setup_nothing,
		  "CP001", 500, DENY_EXPIRED },
	};
	char req[MSG_UUID_LEN + 1];
	const struct msg *a;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		start(false);
		later(100);	/* the request of 500 ms ago predates Central */
		online("CP001");
		rows[i].setup();
		clear();
		ask_aged("D1", rows[i].cp, rows[i].age_ms, req);
		a = answer_to(req);
		check(a && !a->u.resp.authorized && a->u.resp.reason ==
		      rows[i].want && !strcmp(a->driver, "D1") &&
		      !a->session[0] && count(T_CP_COMMANDS, MSG_COMMAND) == 0,
		      "denied, %s", rows[i].sentence);
	}
}

static void test_grant(void)
{
	char req[MSG_UUID_LEN + 1];
	const struct msg *a, *cmd, *st;

	start(false);
	online("CP001");
	clear();
	ask("D1", "CP001", req);
	a = answer_to(req);
	cmd = command(CMD_START, "CP001");
	st = last(T_CP_STATE, MSG_CP_STATE);
	check(a && a->u.resp.authorized && a->u.resp.price == 0.35 &&
	      strlen(a->session) == MSG_UUID_LEN,
	      "a grant answers the driver with its session and the CP's price");
	check(cmd && !strcmp(cmd->session, a->session) &&
	      !strcmp(cmd->driver, "D1") && cmd->u.cmd.target_wh == 5000 &&
	      cmd->u.cmd.price == 0.35,
	      "the CP is told to start that session, with the target and price");
	check(st && st->u.state.state == CP_SUPPLYING &&
	      !strcmp(st->session, a->session) && state("CP001") == CP_SUPPLYING,
	      "cp-state shows the CP SUPPLYING for the session");
	check(first_at(T_CP_STATE, MSG_CP_STATE) <
	      first_at(T_CP_COMMANDS, MSG_COMMAND) &&
	      first_at(T_CP_COMMANDS, MSG_COMMAND) <
	      first_at(T_AUTH_RESPONSE, MSG_AUTH_RESPONSE),
	      "the session is on cp-state before the start, the start before the answer");
	check(a && a->ts == w.now.wall, "messages carry the time the core was given");
}

static void test_telemetry(void)
{
	char s[MSG_UUID_LEN + 1];
	const struct msg *p, *n;

	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	clear();
	tel("CP001", "D1", s, 0, 0);
	n = last(T_AUTH_RESPONSE, MSG_NOTICE);
	check(n && strstr(n->u.notice.text, "supply started at CP001") &&
	      count(T_AUTH_RESPONSE, MSG_PROGRESS) == 1,
	      "the first telemetry tells the driver the supply started");
	later(1000);
	tel("CP001", "D1", s, 1, 6111);
	p = last(T_AUTH_RESPONSE, MSG_PROGRESS);
	check(p && p->u.prog.wh == 6111 && p->u.prog.cents == 214 &&
	      p->u.prog.seq == 1 && p->u.prog.kw == 22,
	      "progress carries the CP's energy, cents by Central's own price");
	clear();
	tel("CP001", "D1", s, 1, 7000);
	check(w.c.ignored == 1 && count(T_AUTH_RESPONSE, MSG_PROGRESS) == 0,
	      "a telemetry seq seen before is ignored and counted");
	later(30);
	tel("CP001", "D1", s, 2, 7000);
	check(count(T_AUTH_RESPONSE, MSG_PROGRESS) == 0,
	      "figures within 100 ms of the last progress are held back");
	later(100);
	tick();
	p = last(T_AUTH_RESPONSE, MSG_PROGRESS);
	check(p && p->u.prog.wh == 7000 && p->u.prog.seq == 2,
	      "the held figures go at the next tick, the newest only");
	check(last(T_CP_STATE, MSG_CP_STATE) &&
	      last(T_CP_STATE, MSG_CP_STATE)->u.state.live.wh == 7000,
	      "the tick puts the live figures on cp-state");
	clear();
	tel("CP002", "D1", s, 3, 8000);
	tel("CP001", "D2", s, 3, 8000);
	tel("CP001", "D1", "0123456789abcdef0123456789abcdef", 3, 8000);
	check(w.c.ignored == 4 && w.nout == 0,
	      "telemetry of another CP, driver or session is ignored and counted");
}

static void test_ticket(void)
{
	char s[MSG_UUID_LEN + 1], s2[MSG_UUID_LEN + 1];
	const struct msg *t;

	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 0);
	clear();
	fin("CP001", "D1", s, 4, 10000, END_FINISHED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.wh == 10000 && t->u.ticket.cents == 350 &&
	      t->u.ticket.price == 0.35 && t->u.ticket.reason == END_FINISHED &&
	      !strcmp(t->session, s) && !strcmp(t->driver, "D1"),
	      "supply_end gives a ticket of the CP's energy at Central's price");
	check(state("CP001") == CP_ACTIVE, "after the ticket the CP is ACTIVE");
	check(said("CP001 ticket 10.0 kWh 3.50 EUR (finished), D1"),
	      "the ticket is said with its figures for people");
	clear();
	fin("CP001", "D1", s, 5, 20000, END_FINISHED);
	check(count(T_AUTH_RESPONSE, MSG_TICKET) == 0 && w.c.ignored == 1,
	      "a second supply_end of the session bills nothing");
	check(granted("D1", "CP001", s2) && strcmp(s, s2),
	      "the driver may charge again, in a new session");
}

static void test_stop_resume(void)
{
	char s[MSG_UUID_LEN + 1];
	const struct msg *n, *t;

	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 500);
	clear();
	control(CMD_STOP, "CP001");
	n = last(T_AUTH_RESPONSE, MSG_NOTICE);
	check(command(CMD_STOP, "CP001") && state("CP001") == CP_STOPPED,
	      "stop while supplying: the CP is told, and shows STOPPED");
	check(n && n->u.notice.state == CP_STOPPED && !strcmp(n->session, s),
	      "the driver is told the supply ends");
	fin("CP001", "D1", s, 1, 900, END_STOPPED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.wh == 900 && t->u.ticket.reason == END_STOPPED &&
	      state("CP001") == CP_STOPPED,
	      "its supply_end gives the ticket; the CP stays STOPPED");
	clear();
	control(CMD_RESUME, "CP001");
	check(command(CMD_RESUME, "CP001") && state("CP001") == CP_ACTIVE,
	      "resume: the CP is told, and shows ACTIVE");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 300);
	control(CMD_STOP, "CP001");
	clear();
	later(HEALTH_MS + 1);
	tick();
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.wh == 300 && t->u.ticket.reason == END_STOPPED,
	      "a stopped CP that sends no supply_end: Central bills the last figures");
	start(false);
	online("CP001");
	online("CP002");
	clear();
	control(CMD_STOP, NULL);
	check(command(CMD_STOP, "CP001") && command(CMD_STOP, "CP002") &&
	      !command(CMD_STOP, "CP003") && state("CP003") == CP_DISCONNECTED,
	      "stop all: every registered CP is told, the others wait unregistered");
	reg("CP003", true);
	check(command(CMD_STOP, "CP003") && state("CP003") == CP_STOPPED,
	      "a stopped CP that registers is told to stop again");
	control(CMD_RESUME, NULL);
	check(state("CP001") == CP_ACTIVE && state("CP003") == CP_ACTIVE,
	      "resume all brings them back");
	clear();
	control(CMD_STOP, "CP777");
	check(w.c.ignored == 1 && w.nout == 0, "a control for an unknown CP is ignored");
}

static void test_replays(void)
{
	char req[MSG_UUID_LEN + 1], s[MSG_UUID_LEN + 1];
	const struct msg *a;
	struct msg again;

	start(false);
	online("CP001");
	ask("D1", "CP001", req);
	memcpy(s, answer_to(req)->session, sizeof(s));
	again = make(MSG_AUTH_REQUEST, "CP001");
	memcpy(again.id, req, sizeof(again.id));
	snprintf(again.driver, sizeof(again.driver), "D1");
	clear();
	feed(&again);
	a = answer_to(req);
	check(a && a->u.resp.authorized && !strcmp(a->session, s) &&
	      count(T_CP_COMMANDS, MSG_COMMAND) == 0,
	      "a request read twice gets the same answer, and no second start");
	fin("CP001", "D1", s, 0, 0, END_FINISHED);
	clear();
	again.ts = w.now.wall;
	feed(&again);
	a = answer_to(req);
	check(a && !a->u.resp.authorized && a->u.resp.reason == DENY_BAD_REQUEST &&
	      count(T_CP_COMMANDS, MSG_COMMAND) == 0,
	      "a request granted before, sent again with a fresh time, is refused");
}

static void test_health_deadlines(void)
{
	char s[MSG_UUID_LEN + 1];
	const struct msg *t;

	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 700);
	later(HEALTH_MS + 1);
	tick();
	check(state("CP001") == CP_DISCONNECTED &&
	      count(T_AUTH_RESPONSE, MSG_TICKET) == 0,
	      "a silent CP shows DISCONNECTED; its session waits a timeout more");
	beat("CP001", true);
	tel("CP001", "D1", s, 1, 900);
	later(HEALTH_MS + 1);
	beat("CP001", true);
	tick();
	check(state("CP001") == CP_SUPPLYING &&
	      count(T_AUTH_RESPONSE, MSG_TICKET) == 0,
	      "a heartbeat and telemetry in time resume the session");
	later(HEALTH_MS + 1);
	tick();
	clear();
	later(HEALTH_MS + 1);
	tick();
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.wh == 900 &&
	      t->u.ticket.reason == END_DISCONNECTED &&
	      command(CMD_END, "CP001") && last(T_AUTH_RESPONSE, MSG_NOTICE),
	      "still silent after another timeout: told to end, ticket of the last figures");
	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	later(AUTH_MS + 1);
	beat("CP001", true);
	clear();
	tick();
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.reason == END_CANCELLED && t->u.ticket.wh == 0 &&
	      command(CMD_END, "CP001"),
	      "a session the CP never started is cancelled after the auth timeout");
	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 100);
	clear();
	beat("CP001", false);
	check(state("CP001") == CP_BROKEN && last(T_AUTH_RESPONSE, MSG_NOTICE) &&
	      last(T_AUTH_RESPONSE, MSG_NOTICE)->u.notice.state == CP_BROKEN,
	      "an engine KO while supplying: BROKEN, and the driver is told");
	fin("CP001", "D1", s, 1, 150, END_BROKEN);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.wh == 150 && t->u.ticket.reason == END_BROKEN &&
	      state("CP001") == CP_BROKEN,
	      "its supply_end gives the ticket, and the CP stays BROKEN");
}

/*
 * Central paused (its lease in doubt) decides nothing, however long;
 * resumed, the pause counts neither as silence nor as a session's wait.
 */
static void test_pause(void)
{
	char s[MSG_UUID_LEN + 1], s2[MSG_UUID_LEN + 1];

	start(false);
	online("CP001");
	online("CP002");
	online("CP003");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 700);
	granted("D2", "CP002", s2);	/* never started */
	later(HEALTH_MS / 2);
	beat("CP003", true);
	clear();
	central_pause(&w.c, &w.now);
	later(AUTH_MS * 3);
	tick();
	check(w.nout == 0 && state("CP001") == CP_SUPPLYING &&
	      state("CP002") == CP_SUPPLYING && state("CP003") == CP_ACTIVE,
	      "paused, Central decides nothing, however long");
	central_resume(&w.c, &w.now);
	tick();
	later(HEALTH_MS / 2 - 1);
	tick();
	check(state("CP001") == CP_SUPPLYING && state("CP002") == CP_SUPPLYING &&
	      count(T_AUTH_RESPONSE, MSG_TICKET) == 0 && !command(CMD_END, "CP002"),
	      "resumed, the time paused is not silence: the timeout runs on from the pause");
	beat("CP002", true);
	later(2);
	tick();
	check(state("CP001") == CP_DISCONNECTED && state("CP002") == CP_SUPPLYING &&
	      state("CP003") == CP_ACTIVE && count(T_AUTH_RESPONSE, MSG_TICKET) == 0,
	      "a silence of a health timeout outside the pause is a CP's own");
	beat("CP001", true);
	beat("CP002", true);
	tel("CP001", "D1", s, 1, 800);
	later(AUTH_MS - HEALTH_MS - 2);
	beat("CP001", true);
	beat("CP002", true);
	tick();
	check(count(T_AUTH_RESPONSE, MSG_TICKET) == 0,
	      "nor is it a wait for a start: the auth timeout runs on from the pause");
	later(2);
	tick();
	check(count(T_AUTH_RESPONSE, MSG_TICKET) == 1 &&
	      last(T_AUTH_RESPONSE, MSG_TICKET)->u.ticket.reason == END_CANCELLED &&
	      state("CP001") == CP_SUPPLYING,
	      "the session never started is cancelled once the auth timeout ran outside the pause");
	central_resume(&w.c, &w.now);
	later(HEALTH_MS + 1);
	tick();
	check(state("CP001") == CP_DISCONNECTED,
	      "a resume without a pause moves nothing");
}

static void test_register(void)
{
	const struct msg *ack;
	char s[MSG_UUID_LEN + 1];

	start(false);
	reg("CP001", true);
	ack = last(T_CP_REGISTER_ACK, MSG_REGISTER_ACK);
	check(ack && ack->u.ack.accepted && ack->u.ack.price == 0.35 &&
	      !strcmp(ack->u.ack.location, "Alicante") &&
	      state("CP001") == CP_ACTIVE,
	      "a catalogue CP registers: accepted with its price and location");
	check(said("CP001 registered (Alicante, 0.35 EUR/kWh)"),
	      "the registration is said once, with the price for people");
	reg("CP777", true);
	ack = last(T_CP_REGISTER_ACK, MSG_REGISTER_ACK);
	check(ack && !ack->u.ack.accepted && ack->u.ack.reason == DENY_UNKNOWN_CP &&
	      !central_find(&w.c, "CP777"),
	      "a CP outside the catalogue is refused as unknown_cp");
	clear();
	reg(".probe", true);
	check(w.nout == 0 && w.c.ignored == 1, "a reserved CP id is ignored");
	start(true);
	reg("CP777", true);
	ack = last(T_CP_REGISTER_ACK, MSG_REGISTER_ACK);
	check(ack && ack->u.ack.accepted && ack->u.ack.price == 0.30 &&
	      !strcmp(ack->u.ack.location, "unknown"),
	      "allow_unknown: an unknown CP is adopted at the default price");
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 100);
	reg("CP001", true);
	later(HEALTH_MS + 1);
	beat("CP001", true);
	tick();
	check(count(T_AUTH_RESPONSE, MSG_TICKET) == 1 &&
	      last(T_AUTH_RESPONSE, MSG_TICKET)->u.ticket.reason == END_BROKEN,
	      "an engine that registers again mid-session restarted: its session ends broken");
	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 100);
	reg("CP001", true);
	tel("CP001", "D1", s, 1, 200);
	later(HEALTH_MS + 1);
	beat("CP001", true);
	tick();
	check(count(T_AUTH_RESPONSE, MSG_TICKET) == 0,
	      "telemetry after a second register clears the doubt");
}

static void test_cancel(void)
{
	char s[MSG_UUID_LEN + 1];
	const struct msg *t;

	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 100);
	clear();
	cancel("CP001", "D2", s);
	check(last(T_AUTH_RESPONSE, MSG_AUTH_RESPONSE) &&
	      last(T_AUTH_RESPONSE, MSG_AUTH_RESPONSE)->u.resp.reason ==
	      DENY_BAD_REQUEST && !command(CMD_END, "CP001"),
	      "a cancel of another driver's session is refused");
	cancel("CP001", "D1", s);
	check(command(CMD_END, "CP001") &&
	      !strcmp(command(CMD_END, "CP001")->session, s),
	      "the driver's cancel tells the CP to end that session");
	fin("CP001", "D1", s, 1, 180, END_CANCELLED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.reason == END_CANCELLED && t->u.ticket.wh == 180,
	      "the ticket follows with the energy supplied");
}

/* cp-state as a Central wrote it before it stopped. */
static struct cpstate_row row(const char *cp, enum cp_state st,
			      const char *driver, const char *session,
			      int64_t wh)
{
	struct cpstate_row r;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", cp);
	snprintf(r.driver, sizeof(r.driver), "%s", driver);
	snprintf(r.session, sizeof(r.session), "%s", session);
	r.st.state = st;
	r.st.price = 0.35;
	r.st.since = w.now.wall - 60000;
	r.st.live.seq = wh ? 3 : 0;
	r.st.live.wh = wh;
	return r;
}

static void test_restore(void)
{
	static const char S[] = "5e55105e55105e55105e55105e55105e";
	struct cpstate_row r1 = row("CP001", CP_SUPPLYING, "D1", S, 1200);
	struct cpstate_row r2 = row("CP002", CP_STOPPED, "", "", 0);
	char req[MSG_UUID_LEN + 1];
	const struct msg *t;

	start(false);
	central_free(&w.c);
	memset(&w.c, 0, sizeof(w.c));
	central_init(&w.c, &w.rules, &(struct central_hooks){
		.post = on_post, .say = on_say, .heard = on_heard });
	central_add(&w.c, "CP001", "Alicante", 0.35, 0, &w.now);
	central_add(&w.c, "CP002", "Elche", 0.40, 0, &w.now);
	central_restore(&w.c, &r1, &w.now);
	central_restore(&w.c, &r2, &w.now);
	central_serve(&w.c, &w.now);
	check(w.nout == 0, "restored CPs keep cp-state's word until heard");
	online("CP002");
	check(state("CP002") == CP_STOPPED, "a CP stopped before the restart stays stopped");
	online("CP001");
	ask("D1", "CP002", req);
	check(answer_to(req)->u.resp.reason == DENY_OUT_OF_ORDER,
	      "and refuses drivers as out_of_order");
	ask("D1", "CP003", req);
	check(answer_to(req)->u.resp.reason == DENY_UNKNOWN_CP,
	      "a CP not in the catalogue any more is not restored");
	tel("CP001", "D1", S, 4, 1500);
	fin("CP001", "D1", S, 5, 1600, END_UNPLUGGED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && !strcmp(t->session, S) && t->u.ticket.wh == 1600 &&
	      !strcmp(t->driver, "D1"),
	      "a session in progress at the restart still gets its ticket");
	start(false);
	central_restore(&w.c, &r1, &w.now);
	online("CP002");
	ask("D1", "CP002", req);
	check(answer_to(req)->u.resp.reason == DENY_DRIVER_BUSY,
	      "a restored session keeps its driver busy");
	later(AUTH_MS + HEALTH_MS + 1);
	clear();
	tick();
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.wh == 1200 &&
	      t->u.ticket.reason == END_DISCONNECTED,
	      "without news from its CP, a restored session ends on its last figures");
}

/* The figures a 22 kW CP may report, and what becomes of the others. */
static void test_plausible(void)
{
	char s[MSG_UUID_LEN + 1];
	const struct msg *t;

	start(false);
	online("CP003");
	granted("D1", "CP003", s);
	later(4000);
	tel("CP003", "D1", s, 0, 24);
	check(w.c.implausible == 0 && last(T_AUTH_RESPONSE, MSG_PROGRESS) &&
	      last(T_AUTH_RESPONSE, MSG_PROGRESS)->u.prog.wh == 24,
	      "24 Wh after 4 s at 22 kW is believed");
	clear();
	fin("CP003", "D1", s, 1, 999000, END_FINISHED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(w.c.implausible == 1 && t && t->u.ticket.wh == 24 &&
	      t->u.ticket.cents == 1,
	      "a supply_end of 999 kWh after 4 s is refused: the ticket bills the 24 Wh verified");
	check(state("CP003") == CP_BROKEN && last(T_AUTH_RESPONSE, MSG_NOTICE),
	      "the CP shows BROKEN (its meter), and the driver is told");
	reg("CP003", true);
	check(state("CP003") == CP_ACTIVE,
	      "registering again (a restarted engine) clears the meter fault");
	granted("D1", "CP003", s);
	later(10000);
	tel("CP003", "D1", s, 0, 50);
	clear();
	w.c.implausible = 0;
	tel("CP003", "D1", s, 1, 40);
	check(w.c.implausible == 1 && !last(T_AUTH_RESPONSE, MSG_PROGRESS) &&
	      central_find(&w.c, "CP003")->s.live.wh == 50,
	      "energy that goes backwards is refused; the figures stay");
	tel("CP003", "D1", s, 2, 60);
	check(w.c.implausible == 1 && central_find(&w.c, "CP003")->s.live.wh == 60,
	      "plausible figures after it are taken again");
	clear();
	tel("CP003", "D1", s, 3, 500000);
	tel("CP003", "D1", s, 4, 500000);
	check(state("CP003") == CP_SUPPLYING && !command(CMD_END, "CP003"),
	      "two impossible figures in a row are refused, the supply goes on");
	tel("CP003", "D1", s, 5, 500000);
	check(state("CP003") == CP_BROKEN && command(CMD_END, "CP003") &&
	      last(T_AUTH_RESPONSE, MSG_NOTICE),
	      "the third in a row is a broken meter: BROKEN, the CP told to end");
	fin("CP003", "D1", s, 6, 500000, END_CANCELLED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.wh == 60 && w.c.implausible == 5,
	      "its supply_end is refused too: the ticket bills the 60 Wh verified");
	control(CMD_RESUME, "CP003");
	check(state("CP003") == CP_ACTIVE,
	      "the operator's resume clears a meter fault");
}

/* What cp-state keeps of the requests, and a Central after a restart. */
static void test_requests_kept(void)
{
	static const char S[] = "5e55105e55105e55105e55105e55105e";
	static const char R1[] = "4e0e57aa4e0e57aa4e0e57aa4e0e57aa";
	static const char R2[] = "0123456789abcdef0123456789abcdef";
	struct cpstate_row r = row("CP001", CP_SUPPLYING, "D1", S, 500);
	char req[MSG_UUID_LEN + 1], s[MSG_UUID_LEN + 1];
	const struct msg *st, *a;
	struct msg again;

	start(false);
	online("CP001");
	ask("D1", "CP001", req);
	st = last(T_CP_STATE, MSG_CP_STATE);
	check(st && !strcmp(st->u.state.request, req) &&
	      !strcmp(st->u.state.granted, req),
	      "cp-state names the request of the session and the ones granted");
	memcpy(s, answer_to(req)->session, sizeof(s));
	fin("CP001", "D1", s, 0, 0, END_FINISHED);
	st = last(T_CP_STATE, MSG_CP_STATE);
	check(st && !st->u.state.request[0] && !strcmp(st->u.state.granted, req),
	      "once the session is over, the granted ids stay on cp-state");
	start(false);
	snprintf(r.st.request, sizeof(r.st.request), "%s", R1);
	snprintf(r.st.granted, sizeof(r.st.granted), "%s %s", R2, R1);
	central_restore(&w.c, &r, &w.now);
	later(1000);
	online("CP001");
	clear();
	again = make(MSG_AUTH_REQUEST, "CP001");
	memcpy(again.id, R1, sizeof(again.id));
	snprintf(again.driver, sizeof(again.driver), "D1");
	again.ts -= 2000;	/* read again from before this Central */
	feed(&again);
	a = answer_to(R1);
	check(a && a->u.resp.authorized && !strcmp(a->session, S) &&
	      count(T_CP_COMMANDS, MSG_COMMAND) == 0,
	      "a restored session's request read again gets the same answer");
	memcpy(again.id, R2, sizeof(again.id));
	feed(&again);
	check(!answer_to(R2) && w.c.ignored == 1,
	      "an earlier grant read again from before this Central gets no second answer");
	fin("CP001", "D1", S, 4, 600, END_FINISHED);
	again.ts = w.now.wall;
	feed(&again);
	a = answer_to(R2);
	check(a && !a->u.resp.authorized && a->u.resp.reason == DENY_BAD_REQUEST &&
	      count(T_CP_COMMANDS, MSG_COMMAND) == 0,
	      "a request granted by an earlier Central, sent again with a fresh time, is refused");
	for (int i = 0; i < 3; i++) {
		granted("D1", "CP001", s);
		fin("CP001", "D1", s, 0, 0, END_FINISHED);
	}
	st = last(T_CP_STATE, MSG_CP_STATE);
	check(st && !strstr(st->u.state.granted, R2) &&
	      !strncmp(st->u.state.granted, R1, MSG_UUID_LEN),
	      "new grants push out the oldest restored id first, and it is listed first");
}

/* --- the catalogue as the cp-catalogue topic changes it -------------- */

static enum central_add set_entry(const char *cp, const char *location,
				  double price)
{
	struct msg_cp_entry e = { .price = price };

	snprintf(e.location, sizeof(e.location), "%s", location);
	return central_catalogue_set(&w.c, cp, &e, &w.now);
}

static void remove_entry(const char *cp)
{
	central_catalogue_remove(&w.c, cp, &w.now);
}

static bool erased(const char *cp)
{
	for (int i = 0; i < w.nerased; i++)
		if (!strcmp(w.erased[i], cp))
			return true;
	return false;
}

/* The CPs counted in each state are the CPs Central knows. */
static bool counts_add_up(void)
{
	long n = 0;

	for (int i = 0; i < CP_STATE_COUNT; i++)
		n += w.c.count[i];
	return n == (long)central_known(&w.c);
}

static enum msg_deny denial(const char *driver, const char *cp)
{
	char req[MSG_UUID_LEN + 1];
	const struct msg *a;

	ask(driver, cp, req);
	a = answer_to(req);
	return a ? a->u.resp.reason : DENY_COUNT;
}

static void test_catalogue_add(void)
{
	const struct msg *st, *ack;
	char s[MSG_UUID_LEN + 1];

	start(false);
	check(set_entry("CP009", "Elche", 0.5) == CENTRAL_ADDED &&
	      state("CP009") == CP_DISCONNECTED && central_known(&w.c) == 4,
	      "a CP added to the catalogue while Central serves is DISCONNECTED");
	st = last(T_CP_STATE, MSG_CP_STATE);
	check(st && !strcmp(st->cp, "CP009") && st->u.state.price == 0.5 &&
	      said("CP009 added to the catalogue (Elche, 0.50 EUR/kWh)"),
	      "it is published on cp-state at once, and said");
	reg("CP009", true);
	ack = last(T_CP_REGISTER_ACK, MSG_REGISTER_ACK);
	check(ack && ack->u.ack.accepted && ack->u.ack.price == 0.5 &&
	      !strcmp(ack->u.ack.location, "Elche"),
	      "it registers with the price and location of its entry");
	beat("CP009", true);
	check(granted("D1", "CP009", s) && state("CP009") == CP_SUPPLYING,
	      "and is granted a charge");
	clear();
	check(set_entry("CP001", "Alicante", 0.35) == CENTRAL_UPDATED &&
	      w.nout == 0 && w.nsaid == 0,
	      "an entry read again unchanged changes nothing and says nothing");
	check(set_entry("CP001", "Alicante", -1) == CENTRAL_BAD_PRICE &&
	      set_entry("CP001", "Alicante", MSG_PRICE_MAX + 1) == CENTRAL_BAD_PRICE &&
	      central_find(&w.c, "CP001")->price == 0.35,
	      "an entry with a price out of range is refused, the old one stays");
	check(counts_add_up(), "every CP known is counted in one state");
}

static void test_catalogue_price(void)
{
	char s[MSG_UUID_LEN + 1], req[MSG_UUID_LEN + 1];
	const struct msg *t, *st;

	start(false);
	online("CP001");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 0);
	clear();
	check(set_entry("CP001", "Alicante Centro", 0.5) == CENTRAL_UPDATED &&
	      said("CP001 price 0.50 EUR/kWh, was 0.35") &&
	      said("CP001 location 'Alicante Centro'"),
	      "a new price and location are taken and said");
	st = last(T_CP_STATE, MSG_CP_STATE);
	check(st && st->u.state.price == 0.35 &&
	      !strcmp(st->u.state.location, "Alicante Centro"),
	      "cp-state shows the price of the session in progress");
	later(1000);
	tel("CP001", "D1", s, 1, 1000);
	check(last(T_AUTH_RESPONSE, MSG_PROGRESS) &&
	      last(T_AUTH_RESPONSE, MSG_PROGRESS)->u.prog.cents == 35,
	      "the session in progress is costed at the price it began with");
	fin("CP001", "D1", s, 2, 2000, END_FINISHED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.price == 0.35 && t->u.ticket.cents == 70,
	      "and billed at it: 2 kWh at 0.35 is 70 cents");
	st = last(T_CP_STATE, MSG_CP_STATE);
	check(st && st->u.state.price == 0.5,
	      "once it ends, cp-state shows the new price");
	clear();
	ask("D2", "CP001", req);
	check(answer_to(req) && answer_to(req)->u.resp.price == 0.5 &&
	      command(CMD_START, "CP001") &&
	      command(CMD_START, "CP001")->u.cmd.price == 0.5,
	      "the next session is granted and started at the new price");
	if (answer_to(req))
		memcpy(s, answer_to(req)->session, sizeof(s));
	fin("CP001", "D2", s, 0, 2000, END_FINISHED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.price == 0.5 && t->u.ticket.cents == 100,
	      "and its ticket bills 2 kWh at 0.50: 100 cents");
}

static void test_catalogue_remove(void)
{
	char s[MSG_UUID_LEN + 1];
	const struct msg *ack, *t;

	start(false);
	online("CP001");
	online("CP002");
	granted("D1", "CP001", s);
	tel("CP001", "D1", s, 0, 0);
	clear();
	remove_entry("CP002");
	check(!central_find(&w.c, "CP002") && erased("CP002") &&
	      central_known(&w.c) == 2 && counts_add_up(),
	      "an idle CP removed is forgotten at once, erased from cp-state");
	reg("CP002", true);
	ack = last(T_CP_REGISTER_ACK, MSG_REGISTER_ACK);
	check(ack && !ack->u.ack.accepted && ack->u.ack.reason == DENY_UNKNOWN_CP &&
	      said("CP002 refused: removed from the catalogue"),
	      "its registration is refused: unknown_cp");
	check(denial("D2", "CP002") == DENY_UNKNOWN_CP,
	      "a request for it is refused: unknown_cp");
	clear();
	beat("CP002", true);
	control(CMD_STOP, "CP002");
	check(w.nout == 0 && !central_find(&w.c, "CP002"),
	      "its heartbeats and a stop for it change nothing");
	remove_entry("CP001");
	check(!erased("CP001") && state("CP001") == CP_SUPPLYING &&
	      said("CP001 removed from the catalogue: session"),
	      "a CP removed while it supplies keeps its session");
	check(denial("D2", "CP001") == DENY_UNKNOWN_CP,
	      "but new requests for it are refused: unknown_cp");
	later(1000);
	tel("CP001", "D1", s, 1, 500);
	check(last(T_AUTH_RESPONSE, MSG_PROGRESS) &&
	      last(T_AUTH_RESPONSE, MSG_PROGRESS)->u.prog.wh == 500,
	      "its telemetry still reaches the driver");
	later(HEALTH_MS - 100);
	beat("CP001", true);
	later(HEALTH_MS - 100);
	tick();
	check(state("CP001") == CP_SUPPLYING,
	      "its heartbeats keep the session alive");
	fin("CP001", "D1", s, 2, 1000, END_FINISHED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.cents == 35 && erased("CP001") &&
	      !central_find(&w.c, "CP001") && central_known(&w.c) == 1 &&
	      counts_add_up(),
	      "the session ends with its ticket, then the CP is forgotten");
	clear();
	check(set_entry("CP002", "Elche", 0.45) == CENTRAL_ADDED &&
	      state("CP002") == CP_DISCONNECTED && counts_add_up(),
	      "a CP removed and added again is new: DISCONNECTED");
	online("CP002");
	check(state("CP002") == CP_ACTIVE && granted("D3", "CP002", s),
	      "it registers and charges again");
	control(CMD_STOP, NULL);
	check(!command(CMD_STOP, "CP001") && command(CMD_STOP, "CP002"),
	      "a stop of every CP leaves the forgotten ones out");
}

static void test_catalogue_unknown(void)
{
	const struct msg *ack;

	start(true);
	remove_entry("CP777");
	reg("CP777", true);
	ack = last(T_CP_REGISTER_ACK, MSG_REGISTER_ACK);
	check(ack && !ack->u.ack.accepted && central_known(&w.c) == 3,
	      "allow_unknown: a CP removed from the catalogue is still refused");
	reg("CP778", true);
	ack = last(T_CP_REGISTER_ACK, MSG_REGISTER_ACK);
	check(ack && ack->u.ack.accepted && central_known(&w.c) == 4 &&
	      counts_add_up(),
	      "allow_unknown: another unknown CP is still accepted");
}

/* A Central that starts after a removal: the topic read, then cp-state. */
static void test_catalogue_restore(void)
{
	static const char S[] = "5e55105e55105e55105e55105e55105e";
	struct cpstate_row r1 = row("CP001", CP_SUPPLYING, "D1", S, 1200);
	struct cpstate_row r2 = row("CP002", CP_ACTIVE, "", "", 0);
	const struct msg *t;

	start(false);
	central_free(&w.c);
	memset(&w.c, 0, sizeof(w.c));
	central_init(&w.c, &w.rules, &(struct central_hooks){
		.post = on_post, .erase = on_erase, .say = on_say,
		.heard = on_heard });
	set_entry("CP001", "Alicante", 0.5);
	set_entry("CP002", "Elche", 0.4);
	remove_entry("CP001");
	remove_entry("CP002");
	central_restore(&w.c, &r1, &w.now);
	central_restore(&w.c, &r2, &w.now);
	check(w.nerased == 0 && w.nout == 0,
	      "before it serves, Central erases and publishes nothing");
	central_serve(&w.c, &w.now);
	check(erased("CP002") && !erased("CP001") && central_known(&w.c) == 1 &&
	      counts_add_up(),
	      "an idle CP removed meanwhile is erased from cp-state once it serves");
	online("CP001");
	fin("CP001", "D1", S, 4, 2000, END_FINISHED);
	t = last(T_AUTH_RESPONSE, MSG_TICKET);
	check(t && t->u.ticket.price == 0.35 && t->u.ticket.cents == 70,
	      "a session on a removed CP is taken back, billed at its own price");
	check(erased("CP001") && central_known(&w.c) == 0 && counts_add_up(),
	      "then that CP is forgotten too");
}

static void run_cases(void)
{
	test_truth_table();
	test_denials();
	test_grant();
	test_telemetry();
	test_ticket();
	test_stop_resume();
	test_replays();
	test_health_deadlines();
	test_pause();
	test_register();
	test_cancel();
	test_restore();
	test_plausible();
	test_requests_kept();
	test_catalogue_add();
	test_catalogue_price();
	test_catalogue_remove();
	test_catalogue_unknown();
	test_catalogue_restore();
}

int main(void)
{
	run_cases();
	central_free(&w.c);
	return check_done();
}
