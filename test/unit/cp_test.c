/* cp_test.c: unit tests of lib/cp.c, a CP's protocol core: each input, and the exact messages and session file it leads to. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cp.h"
#include "test/unit/check.h"

/*
 * Every case starts at time 0: the wall clock is then WALL0 and the
 * monotonic clock MONO0. Messages are shown as msg_encode() writes them,
 * with three changes so that a case can spell them out: the random id
 * is "*", times are "@MS" after time 0, and the sessions are named.
 */
#define WALL0 1700000000000LL
#define MONO0 5000000LL

static const char S1[] = "5e551000000000000000000000000001";
static const char S2[] = "5e551000000000000000000000000002";
static const char S3[] = "5e551000000000000000000000000003";
static const char *const session_names[][2] = {
	{ S1, "S1" }, { S2, "S2" }, { S3, "S3" },
};

#define LOG_MAX 64
#define LINE_LEN 768

/* The CP under test and what its hooks did, in order. */
static struct {
	struct conf c;
	struct cp_owner o;
	struct cp p;
	char log[LOG_MAX][LINE_LEN];	/* post and save, since the last expect() */
	int nlog;
	char said[LOG_MAX][LINE_LEN];	/* say, since the last heard() */
	int nsaid;
	double price;			/* of the next start */
	struct msg last;		/* the last message posted */
} r;

/* Rewrites the number after key in s as "@MS" after time 0. */
static void relative(char *s, const char *key)
{
	char tail[LINE_LEN], *p = strstr(s, key), *end;
	long long v;

	if (!p)
		return;
	p += strlen(key);
	v = strtoll(p, &end, 10);
	snprintf(tail, sizeof(tail), "%s", end);
	sprintf(p, "@%lld%s", v - WALL0, tail);
}

/* Replaces the 32 characters after key in s by name. */
static void rename_id(char *s, const char *key, const char *name)
{
	char tail[LINE_LEN], *p = strstr(s, key);

	if (!p)
		return;
	p += strlen(key);
	snprintf(tail, sizeof(tail), "%s", p + MSG_UUID_LEN);
	sprintf(p, "%s%s", name, tail);
}

static void render(const struct msg *m, char *out, size_t len)
{
	char buf[LINE_LEN];
	int n = msg_encode(m, buf, sizeof(buf));

	if (n < 0) {
		snprintf(out, len, "(%s cannot be encoded)",
			 msg_type_name(m->type));
		return;
	}
	rename_id(buf, "\"id\":\"", "*");
	for (size_t i = 0; i < 3; i++)
		if (!strcmp(m->session, session_names[i][0]))
			rename_id(buf, "\"session\":\"", session_names[i][1]);
	relative(buf, "\"ts\":");
	relative(buf, "\"started\":");
	relative(buf, "\"ended\":");
	snprintf(out, len, "%s", buf);
}

__attribute__((format(printf, 1, 2)))
static void logline(const char *fmt, ...)
{
	va_list ap;

	if (r.nlog == LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r.log[r.nlog++], LINE_LEN, fmt, ap);
	va_end(ap);
}

static int on_post(void *arg, enum topic t, const struct msg *m)
{
	char json[LINE_LEN];

	(void)arg;
	r.last = *m;
	render(m, json, sizeof(json));
	logline("post %s %s", topic_default_names[t], json);
	return 0;
}

static void on_save(void *arg, const struct cp *p, const struct msg *keep)
{
	char json[LINE_LEN];

	(void)arg;
	(void)p;
	if (!keep) {
		logline("save none");
		return;
	}
	render(keep, json, sizeof(json));
	logline("save %s", json);
}

static void on_say(void *arg, const struct cp *p, enum say level,
		   const char *line)
{
	static const char *const names[] = { "debug", "info", "warn", "hostile" };

	(void)arg;
	(void)p;
	if (r.nsaid < LOG_MAX)
		snprintf(r.said[r.nsaid++], LINE_LEN, "%s: %s", names[level],
			 line);
}

/* A CP001 at "Main St 1", 360 kW (100 Wh a second), ticks of 1 s. */
static void rig(double default_kwh, unsigned default_seconds)
{
	cp_free(&r.p);
	memset(&r, 0, sizeof(r));
	r.c.cp.tick_ms = 1000;
	r.c.cp.power_kw = 360;
	r.c.cp.default_kwh = default_kwh;
	r.c.cp.default_seconds = default_seconds;
	cp_owner_init(&r.o, &r.c, "Main St 1");
	r.o.post = on_post;
	r.o.save = on_save;
	r.o.say = on_say;
	r.o.say_min = SAY_DEBUG;
	cp_init(&r.p, &r.o, "CP001");
	r.price = 0.35;
}

static struct now at(long long ms)
{
	return (struct now){ .wall = WALL0 + ms, .mono = MONO0 + ms };
}

static enum cp_event tick(long long ms)
{
	struct now t = at(ms);

	return cp_tick(&r.p, &t);
}

static enum cp_event act(long long ms, enum cp_action a)
{
	struct now t = at(ms);

	return cp_act(&r.p, a, &t);
}

static enum cp_event ack(long long ms, const char *cp, bool accepted,
			 enum msg_deny reason, const char *location)
{
	struct now t = at(ms);
	struct msg m;

	msg_init_at(&m, MSG_REGISTER_ACK, t.wall);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	m.u.ack.accepted = accepted;
	m.u.ack.reason = reason;
	m.u.ack.price = accepted ? 0.35 : 0;
	snprintf(m.u.ack.location, sizeof(m.u.ack.location), "%s", location);
	return cp_feed(&r.p, &m, &t);
}

static enum cp_event command(long long ms, const char *cp, enum msg_cmd cmd,
			     const char *session, const char *driver,
			     long long wh, unsigned s)
{
	struct now t = at(ms);
	struct msg m;

	msg_init_at(&m, MSG_COMMAND, t.wall);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	snprintf(m.session, sizeof(m.session), "%s", session ? session : "");
	snprintf(m.driver, sizeof(m.driver), "%s", driver ? driver : "");
	m.u.cmd.cmd = cmd;
	m.u.cmd.target_wh = wh;
	m.u.cmd.target_s = s;
	m.u.cmd.price = cmd == CMD_START ? r.price : 0;
	return cp_feed(&r.p, &m, &t);
}

static enum cp_event start(long long ms, const char *session,
			   const char *driver, long long wh, unsigned s)
{
	return command(ms, "CP001", CMD_START, session, driver, wh, s);
}

/* Checks that the hooks did exactly the lines given (NULL-ended), then forgets them. */
__attribute__((sentinel))
static void expect(const char *what, ...)
{
	const char *want;
	bool ok = true;
	va_list ap;
	int i = 0;

	va_start(ap, what);
	for (; (want = va_arg(ap, const char *)); i++)
		if (i >= r.nlog || strcmp(r.log[i], want)) {
			printf("#   want: %s\n#   got:  %s\n", want,
			       i < r.nlog ? r.log[i] : "(nothing)");
			ok = false;
		}
	va_end(ap);
	for (; i < r.nlog; i++, ok = false)
		printf("#   more: %s\n", r.log[i]);
	check(ok, "%s", what);
	r.nlog = 0;
}

/* Whether the core said line (a "level: text" line) since the last call. */
static bool heard(const char *line)
{
	bool found = false;

	for (int i = 0; i < r.nsaid; i++)
		if (!strcmp(r.said[i], line))
			found = true;
	if (!found)
		for (int i = 0; i < r.nsaid; i++)
			printf("#   said: %s\n", r.said[i]);
	r.nsaid = 0;
	return found;
}

/* --- what the lines of messages look like --- */

#define NLINES 8
static char lines[NLINES][LINE_LEN];
static unsigned nlines;

__attribute__((format(printf, 1, 2)))
static const char *line(const char *fmt, ...)
{
	char *s = lines[nlines++ % NLINES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s, LINE_LEN, fmt, ap);
	va_end(ap);
	return s;
}

static const char *reg(long long ts, bool ok)
{
	return line("post cp-register {\"v\":1,\"type\":\"register\",\"id\":\"*\",\"ts\":@%lld,\"cp\":\"CP001\",\"location\":\"Main St 1\",\"engine_ok\":%s}",
		    ts, ok ? "true" : "false");
}

/* Telemetry of S1 for D1. */
static const char *tele(long long ts, unsigned seq, long long wh,
			long long cents)
{
	return line("post telemetry {\"v\":1,\"type\":\"telemetry\",\"id\":\"*\",\"ts\":@%lld,\"cp\":\"CP001\",\"driver\":\"D1\",\"session\":\"S1\",\"seq\":%u,\"kw\":360,\"wh\":%lld,\"cents\":%lld}",
		    ts, seq, wh, cents);
}

/* A supply_end, "post telemetry ..." or "save ...", of any session. */
static const char *end_of(const char *how, const char *driver,
			  const char *session, long long ts, unsigned seq,
			  long long wh, long long cents, const char *price,
			  long long started, const char *reason)
{
	return line("%s{\"v\":1,\"type\":\"supply_end\",\"id\":\"*\",\"ts\":@%lld,\"cp\":\"CP001\",\"driver\":\"%s\",\"session\":\"%s\",\"seq\":%u,\"wh\":%lld,\"cents\":%lld,\"price\":%s,\"started\":@%lld,\"ended\":@%lld,\"reason\":\"%s\"}",
		    how, ts, driver, session, seq, wh, cents, price, started,
		    ts, reason);
}

/* The end of S1 for D1 at 0.35, started at 1000, posted or kept. */
static const char *end1(long long ts, unsigned seq, long long wh,
			long long cents, const char *reason)
{
	return end_of("post telemetry ", "D1", "S1", ts, seq, wh, cents,
		      "0.35", 1000, reason);
}

static const char *keep1(long long ts, unsigned seq, long long wh,
			 long long cents, const char *reason)
{
	return end_of("save ", "D1", "S1", ts, seq, wh, cents, "0.35", 1000,
		      reason);
}

/* A start refused at ts: nothing supplied, the session ends at once. */
static const char *refused(const char *driver, const char *session,
			   long long ts, const char *reason)
{
	return end_of("post telemetry ", driver, session, ts, 0, 0, 0, "0.35",
		      ts, reason);
}

/* A CP registered at time 0, with nothing logged yet. */
static void registered(void)
{
	tick(0);
	ack(10, "CP001", true, DENY_NONE, "Main St 1");
	r.nlog = r.nsaid = 0;
}

/* The same, S1 started for D1 at 1000 with these targets. */
static void supplying(long long wh, unsigned s)
{
	registered();
	start(1000, S1, "D1", wh, s);
	r.nlog = r.nsaid = 0;
}

/* --- the cases --- */

static void test_registration(void)
{
	static const struct {
		long long at;
		bool sent;
		long long next;
	} rows[] = {
		{ 0, true, 500 }, { 499, false, 500 }, { 500, true, 1500 },
		{ 1499, false, 1500 }, { 1500, true, 3500 },
		{ 3500, true, 7500 }, { 7500, true, 12500 },
		{ 12500, true, 17500 }, { 17500, true, 22500 },
	};

	rig(1, 0);
	check(cp_next(&r.p) <= MONO0, "a new CP wants its first tick at once");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		check(tick(rows[i].at) == CP_EV_NONE &&
		      r.nlog == rows[i].sent && (!rows[i].sent ||
		      !strcmp(r.log[0], reg(rows[i].at, true))) &&
		      cp_next(&r.p) == MONO0 + rows[i].next,
		      "unregistered at %lld ms: %s, the next at %lld ms",
		      rows[i].at, rows[i].sent ? "a register" : "nothing",
		      rows[i].next);
		r.nlog = 0;
	}
	check(heard("debug: register sent; next try in 5000 ms"),
	      "the back-off doubles from 0.5 s and stays at 5 s");
}

static void test_registered(void)
{
	char st[256];

	rig(1, 0);
	tick(0);
	r.nlog = 0;
	check(ack(100, "CP001", true, DENY_NONE, "Plaza 2") == CP_EV_REGISTERED,
	      "an accepted register_ack registers the CP");
	check(heard("info: registered as 'CP001' at 'Plaza 2', 0.35 EUR/kWh"),
	      "and says where and at what price, as Central knows them");
	check(cp_next(&r.p) == CP_NEVER && tick(60000) == CP_EV_NONE,
	      "a registered idle CP needs no tick");
	expect("and sends no more registers", NULL);
	check(ack(200, "CP001", true, DENY_NONE, "") == CP_EV_NONE,
	      "a repeated register_ack changes nothing");
	cp_status(&r.p, st, sizeof(st));
	check(!strcmp(st, "CP001 state=idle engine=ok registered=yes"),
	      "the status line says idle and registered");
	rig(1, 0);
	tick(0);
	ack(100, "CP001", true, DENY_NONE, "");
	check(heard("info: registered as 'CP001' at 'Main St 1', 0.35 EUR/kWh"),
	      "an ack without a location: the CP says its own");
}

static void test_refused(void)
{
	char st[256];

	rig(1, 0);
	tick(0);
	r.nlog = 0;
	check(ack(100, "CP001", false, DENY_UNKNOWN_CP, "") == CP_EV_REFUSED &&
	      r.p.refusal == DENY_UNKNOWN_CP,
	      "a refused register_ack is told to the owner with its reason");
	check(cp_next(&r.p) == CP_NEVER && tick(60000) == CP_EV_NONE,
	      "a refused CP needs no tick");
	expect("and sends no more registers", NULL);
	check(ack(200, "CP001", true, DENY_NONE, "") == CP_EV_NONE &&
	      !r.p.registered, "an accepted ack after a refusal changes nothing");
	cp_status(&r.p, st, sizeof(st));
	check(!strcmp(st, "CP001 state=refused engine=ok registered=no"),
	      "the status line says refused");
}

static void test_register_faulted(void)
{
	rig(1, 0);
	check(act(0, CP_FAULT) == CP_EV_FAULTED, "an unregistered CP can fail");
	tick(0);
	expect("its register says the engine is not OK", reg(0, false), NULL);
}

/* Start at 1000 with the default of 1 kWh: 10 s at 360 kW. */
static void test_supply(void)
{
	static const struct {
		long long at;
		int seq;		/* -1: nothing sent */
		long long wh, cents;
		long long next;
	} rows[] = {
		{ 1999, -1, 0, 0, 2000 }, { 2000, 1, 100, 4, 3000 },
		{ 2500, -1, 0, 0, 3000 }, { 3000, 2, 200, 7, 4000 },
		{ 4000, 3, 300, 11, 5000 }, { 5000, 4, 400, 14, 6000 },
		{ 6000, 5, 500, 18, 7000 }, { 7000, 6, 600, 21, 8000 },
		{ 8000, 7, 700, 25, 9000 }, { 9000, 8, 800, 28, 10000 },
		{ 10000, 9, 900, 32, 11000 },
	};

	rig(1, 0);
	registered();
	check(start(1000, S1, "D1", 0, 0) == CP_EV_STARTED,
	      "a start at an idle CP begins a supply");
	expect("telemetry seq 0 goes at once, and the end it would make is kept",
	       tele(1000, 0, 0, 0), keep1(1000, 1, 0, 0, "broken"), NULL);
	check(heard("info: session started for 'D1': session 5e551000000000000000000000000001, 0.35 EUR/kWh, target 1.0 kWh"),
	      "the start is said with its price and target");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		tick(rows[i].at);
		if (rows[i].seq < 0)
			expect(line("at %lld ms nothing is due", rows[i].at),
			       NULL);
		else
			expect(line("at %lld ms telemetry seq %d: %lld Wh, %lld cents; its end kept",
				    rows[i].at, rows[i].seq, rows[i].wh,
				    rows[i].cents),
			       tele(rows[i].at, (unsigned)rows[i].seq,
				    rows[i].wh, rows[i].cents),
			       keep1(rows[i].at, (unsigned)rows[i].seq + 1,
				     rows[i].wh, rows[i].cents, "broken"),
			       NULL);
		check(cp_next(&r.p) == MONO0 + rows[i].next,
		      "then the next tick is due at %lld ms", rows[i].next);
	}
	check(tick(11000) == CP_EV_ENDED, "at 11 s the default of 1 kWh is reached");
	expect("the end (finished) is kept, posted, then nothing needs keeping",
	       keep1(11000, 10, 1000, 35, "finished"),
	       end1(11000, 10, 1000, 35, "finished"), "save none", NULL);
	check(heard("info: supply ended for 'D1': 1.0 kWh, 0.35 EUR at 0.35 EUR/kWh in 10.0 s (finished)"),
	      "the end is said with its figures");
	check(!r.p.supplying && cp_next(&r.p) == CP_NEVER,
	      "the CP is idle again and needs no tick");
}

/* Supplies that end at their target, S1 started at 1000 at 360 kW. */
static void test_targets(void)
{
	static const struct {
		const char *what;
		long long wh;		/* of the start command */
		unsigned s;
		double default_kwh;	/* configured */
		unsigned default_s;
		long long end;		/* when it ends, and its figures */
		unsigned seq;
		long long end_wh, cents;
	} rows[] = {
		{ "250 Wh end 2.5 s after the start, before the next tick",
		  250, 0, 1, 0, 3500, 3, 250, 9 },
		{ "a target of 2 s ends the supply at the tick 2 s after its start",
		  0, 2, 1, 0, 3000, 2, 200, 7 },
		{ "1 kWh or 2 s: the sooner ends the supply",
		  1000, 2, 1, 0, 3000, 2, 200, 7 },
		{ "no target named: the configured 0.5 kWh or 3 s, the sooner",
		  0, 0, 0.5, 3, 4000, 3, 300, 11 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rig(rows[i].default_kwh, rows[i].default_s);
		supplying(rows[i].wh, rows[i].s);
		for (long long t = 2000; t < rows[i].end; t += 1000)
			tick(t);
		r.nlog = 0;
		check(cp_next(&r.p) == MONO0 + rows[i].end &&
		      tick(rows[i].end) == CP_EV_ENDED, "%s", rows[i].what);
		expect("with the energy of that time, seq after the last telemetry",
		       keep1(rows[i].end, rows[i].seq, rows[i].end_wh,
			     rows[i].cents, "finished"),
		       end1(rows[i].end, rows[i].seq, rows[i].end_wh,
			    rows[i].cents, "finished"), "save none", NULL);
	}
}

/* What a start says of its targets; none at all is none. */
static void test_target_lines(void)
{
	rig(0.5, 3);
	registered();
	start(1000, S1, "D1", 0, 0);
	check(heard("info: session started for 'D1': session 5e551000000000000000000000000001, 0.35 EUR/kWh, target 0.5 kWh or 3 s"),
	      "a start naming no target is said with the configured ones");
	rig(0, 0);
	registered();
	start(1000, S1, "D1", 0, 0);
	check(heard("info: session started for 'D1': session 5e551000000000000000000000000001, 0.35 EUR/kWh, target none"),
	      "no target anywhere: the supply has none");
	check(cp_next(&r.p) == MONO0 + 2000 && tick(3600000) == CP_EV_NONE &&
	      r.p.supplying, "and goes on until something ends it");
}

static void test_late_tick(void)
{
	rig(1, 0);
	supplying(0, 0);
	tick(4500);
	expect("a late tick sends one telemetry with the energy so far",
	       tele(4500, 1, 350, 12), keep1(4500, 2, 350, 12, "broken"),
	       NULL);
	check(cp_next(&r.p) == MONO0 + 5500,
	      "and the ticks missed are skipped, the next a tick later");
}

static void test_stop_resume(void)
{
	char st[256];

	rig(1, 0);
	supplying(0, 0);
	tick(2000);
	r.nlog = 0;
	check(command(2500, "CP001", CMD_STOP, NULL, NULL, 0, 0) ==
	      CP_EV_STOPPED, "a stop while supplying stops the CP");
	expect("and ends the supply (stopped)",
	       keep1(2500, 2, 150, 5, "stopped"),
	       end1(2500, 2, 150, 5, "stopped"), "save none", NULL);
	cp_status(&r.p, st, sizeof(st));
	check(!strcmp(st, "CP001 state=stopped engine=ok registered=yes"),
	      "the status line says stopped");
	check(command(2600, "CP001", CMD_STOP, NULL, NULL, 0, 0) == CP_EV_NONE,
	      "a second stop changes nothing");
	check(start(3000, S2, "D2", 0, 0) == CP_EV_DECLINED,
	      "a start while stopped is refused");
	expect("its session ends at once (stopped), nothing supplied",
	       refused("D2", "S2", 3000, "stopped"), NULL);
	check(heard("hostile: refusing session '5e551000000000000000000000000002' for 'D2': stopped by Central"),
	      "and the refusal is said");
	check(command(4000, "CP001", CMD_RESUME, NULL, NULL, 0, 0) ==
	      CP_EV_RESUMED && heard("info: resumed by Central"),
	      "a resume puts the CP back in service");
	check(command(4100, "CP001", CMD_RESUME, NULL, NULL, 0, 0) ==
	      CP_EV_NONE, "a second resume changes nothing");
	check(start(5000, S3, "D3", 0, 0) == CP_EV_STARTED,
	      "once resumed, a start supplies");
}

static void test_end(void)
{
	rig(1, 0);
	supplying(0, 0);
	check(command(1500, "CP001", CMD_END, S2, NULL, 0, 0) == CP_EV_NONE &&
	      r.p.supplying, "an end naming another session changes nothing");
	expect("and sends nothing", NULL);
	check(command(2500, "CP001", CMD_END, S1, NULL, 0, 0) == CP_EV_ENDED,
	      "an end naming the session supplied ends it");
	expect("with reason cancelled", keep1(2500, 1, 150, 5, "cancelled"),
	       end1(2500, 1, 150, 5, "cancelled"), "save none", NULL);
}

static void test_busy(void)
{
	rig(1, 0);
	supplying(0, 0);
	r.price = 0.40;
	check(start(1500, S2, "D2", 0, 0) == CP_EV_DECLINED,
	      "a start for another session while supplying is refused");
	expect("its session ends at once (cancelled) at its own price",
	       end_of("post telemetry ", "D2", "S2", 1500, 0, 0, 0, "0.4",
		      1500, "cancelled"), NULL);
	check(heard("hostile: refusing session '5e551000000000000000000000000002' for 'D2': busy with another session"),
	      "the refusal says the CP is busy");
	tick(2000);
	expect("the supply in progress goes on", tele(2000, 1, 100, 4),
	       keep1(2000, 2, 100, 4, "broken"), NULL);
}

static void test_replays(void)
{
	char id[MSG_UUID_LEN + 1];

	rig(1, 0);
	supplying(0, 0);
	check(start(1500, S1, "D1", 0, 0) == CP_EV_NONE,
	      "a start of the session in progress is ignored");
	expect("and sends nothing", NULL);
	check(heard("hostile: ignoring a repeated start of session '5e551000000000000000000000000001'"),
	      "it is said as input that could repeat");
	act(2000, CP_UNPLUG);
	r.nlog = 0;
	check(start(3000, S1, "D1", 0, 0) == CP_EV_NONE,
	      "a start of a session already supplied is ignored");
	expect("and sends nothing either", NULL);
	for (int i = 0; i < CP_DONE_MAX - 1; i++) {
		snprintf(id, sizeof(id), "%032x", 0x1000 + i);
		start(4000 + i, id, "D9", 0, 0);
		act(4000 + i, CP_UNPLUG);
	}
	check(start(5000, S1, "D1", 0, 0) == CP_EV_NONE,
	      "a session 64 supplies back is still remembered");
	snprintf(id, sizeof(id), "%032x", 0x2000);
	start(5000, id, "D9", 0, 0);
	act(5000, CP_UNPLUG);
	check(start(6000, S1, "D1", 0, 0) == CP_EV_STARTED,
	      "one 65 supplies back is forgotten");
}

static void test_unplug_fault(void)
{
	char st[256];

	rig(1, 0);
	supplying(0, 0);
	check(act(1700, CP_UNPLUG) == CP_EV_ENDED, "unplug ends the supply");
	expect("with reason unplugged", keep1(1700, 1, 70, 2, "unplugged"),
	       end1(1700, 1, 70, 2, "unplugged"), "save none", NULL);
	check(act(1800, CP_UNPLUG) == CP_EV_NONE, "unplug with no car changes nothing");
	expect("and sends nothing", NULL);

	rig(1, 0);
	supplying(0, 0);
	tick(2000);
	r.nlog = 0;
	check(act(2200, CP_FAULT) == CP_EV_FAULTED, "a fault fails the engine");
	expect("and ends the supply (broken)", keep1(2200, 2, 120, 4, "broken"),
	       end1(2200, 2, 120, 4, "broken"), "save none", NULL);
	check(heard("warn: engine fault: reporting KO until recovered"),
	      "the fault is said as a warning");
	cp_status(&r.p, st, sizeof(st));
	check(!strcmp(st, "CP001 state=faulted engine=ko registered=yes"),
	      "the status line says faulted, engine KO");
	check(act(2300, CP_FAULT) == CP_EV_NONE, "a second fault changes nothing");
	check(start(3000, S2, "D2", 0, 0) == CP_EV_DECLINED,
	      "a start while faulted is refused");
	expect("its session ends at once (broken), nothing supplied",
	       refused("D2", "S2", 3000, "broken"), NULL);
	check(act(4000, CP_RECOVER) == CP_EV_RECOVERED &&
	      heard("info: engine recovered: reporting OK"),
	      "recover ends the fault");
	check(act(4100, CP_RECOVER) == CP_EV_NONE, "a second recover changes nothing");
	check(start(5000, S3, "D3", 0, 0) == CP_EV_STARTED,
	      "once recovered, a start supplies");
	r.nlog = 0;
	check(act(6000, CP_SHUTDOWN) == CP_EV_ENDED,
	      "the CP going away ends its supply");
	expect("with reason disconnected",
	       end_of("save ", "D3", "S3", 6000, 1, 100, 4, "0.35", 5000,
		      "disconnected"),
	       end_of("post telemetry ", "D3", "S3", 6000, 1, 100, 4, "0.35",
		      5000, "disconnected"), "save none", NULL);
}

static void test_status_supplying(void)
{
	char st[256];

	rig(1, 0);
	supplying(0, 0);
	tick(2000);
	tick(3000);
	cp_status(&r.p, st, sizeof(st));
	check(!strcmp(st, "CP001 state=supplying engine=ok registered=yes driver=D1 session=5e551000000000000000000000000001 seq=2 wh=200 cents=7"),
	      "the status line while supplying has the figures of the last telemetry");
}

static void test_interrupted(void)
{
	struct now t = at(500);
	struct msg m;

	rig(1, 0);
	msg_init_at(&m, MSG_SUPPLY_END, WALL0 - 60000);
	strcpy(m.cp, "CP001");
	strcpy(m.driver, "D1");
	strcpy(m.session, S1);
	m.u.ticket = (struct msg_ticket){ .seq = 4, .wh = 300, .cents = 11,
		.price = 0.35, .started = WALL0 - 64000,
		.ended = WALL0 - 61000, .reason = END_BROKEN };
	check(cp_interrupted(&r.p, &m, &t) == 0,
	      "an interrupted session found at start is reported");
	expect("its end is kept, posted, then let go: its figures as they were",
	       "save {\"v\":1,\"type\":\"supply_end\",\"id\":\"*\",\"ts\":@500,\"cp\":\"CP001\",\"driver\":\"D1\",\"session\":\"S1\",\"seq\":4,\"wh\":300,\"cents\":11,\"price\":0.35,\"started\":@-64000,\"ended\":@-61000,\"reason\":\"broken\"}",
	       "post telemetry {\"v\":1,\"type\":\"supply_end\",\"id\":\"*\",\"ts\":@500,\"cp\":\"CP001\",\"driver\":\"D1\",\"session\":\"S1\",\"seq\":4,\"wh\":300,\"cents\":11,\"price\":0.35,\"started\":@-64000,\"ended\":@-61000,\"reason\":\"broken\"}",
	       "save none", NULL);
	check(strcmp(r.last.id, m.id) && r.last.ts == WALL0 + 500,
	      "with a fresh id and the time it is sent");
	check(heard("info: reporting the end of an interrupted session for 'D1': 0.3 kWh, 0.11 EUR (broken)"),
	      "the report is said with its figures");
	tick(600);
	ack(700, "CP001", true, DENY_NONE, "");
	r.nlog = 0;
	check(start(1000, S1, "D1", 0, 0) == CP_EV_NONE,
	      "a replayed start of the interrupted session is ignored");
	strcpy(m.cp, "CP002");
	check(cp_interrupted(&r.p, &m, &t) == -1,
	      "the end of another CP's session is not sent");
	m = (struct msg){ .type = MSG_TELEMETRY };
	strcpy(m.cp, "CP001");
	check(cp_interrupted(&r.p, &m, &t) == -1, "nor anything but a supply_end");
	expect("nothing posted for either", NULL);
}

static void test_other_cp(void)
{
	rig(1, 0);
	supplying(0, 0);
	check(command(1500, "CP002", CMD_START, S2, "D2", 0, 0) == CP_EV_OTHER &&
	      command(1600, "CP002", CMD_STOP, NULL, NULL, 0, 0) == CP_EV_OTHER &&
	      ack(1700, "CP002", false, DENY_UNKNOWN_CP, "") == CP_EV_OTHER,
	      "commands and acks for another CP are ignored");
	expect("nothing is sent for them", NULL);
	check(r.p.other == 3 && r.p.supplying && !r.p.stopped && !r.p.refused,
	      "they are counted and change nothing");
	check(heard("hostile: ignoring command for another CP: 'CP002'"),
	      "they are said as input that could repeat");
}

/* The fleet's way: no session file, lines from warnings up only. */
static void test_quiet_owner(void)
{
	rig(1, 0);
	r.o.save = NULL;
	r.o.say_min = SAY_WARN;
	supplying(0, 0);
	tick(2000);
	expect("without a save hook, telemetry is all a tick sends",
	       tele(2000, 1, 100, 4), NULL);
	act(2500, CP_UNPLUG);
	expect("and an end is posted alone", end1(2500, 2, 150, 5, "unplugged"),
	       NULL);
	check(r.nsaid == 0, "lines below the owner's level are not said");
	r.o.say = NULL;
	start(3000, S2, "D2", 0, 0);
	check(command(3100, "CP002", CMD_STOP, NULL, NULL, 0, 0) == CP_EV_OTHER,
	      "without a say hook the core works the same");
}

/* --- metered CPs: a real charger's meter says the energy --- */

static void metered(void)
{
	rig(1, 0);
	r.o.metered = true;
}

static int meter(long long ms, long long wh, double kw)
{
	struct now t = at(ms);

	return cp_meter(&r.p, wh, kw, &t);
}

static int meter_end(long long ms, long long wh, enum msg_end reason)
{
	struct now t = at(ms);

	return cp_meter_end(&r.p, wh, reason, &t);
}

/* Telemetry of S1 for D1 with the meter's power. */
static const char *mtele(long long ts, unsigned seq, const char *kw,
			 long long wh, long long cents)
{
	return line("post telemetry {\"v\":1,\"type\":\"telemetry\",\"id\":\"*\",\"ts\":@%lld,\"cp\":\"CP001\",\"driver\":\"D1\",\"session\":\"S1\",\"seq\":%u,\"kw\":%s,\"wh\":%lld,\"cents\":%lld}",
		    ts, seq, kw, wh, cents);
}

static void test_metered_supply(void)
{
	metered();
	registered();
	check(start(1000, S1, "D1", 0, 0) == CP_EV_STARTED,
	      "metered: a start at an idle CP begins a supply");
	expect("and sends nothing until the meter speaks", NULL);
	check(heard("info: session started for 'D1': session 5e551000000000000000000000000001, 0.35 EUR/kWh, target none"),
	      "with no target: the configured defaults are for simulated CPs");
	check(cp_next(&r.p) == CP_NEVER && tick(60000) == CP_EV_NONE,
	      "ticks send no telemetry and end nothing");
	expect("not even after a minute", NULL);
	check(meter(61000, 0, 0) == 0, "the first reading is taken");
	expect("as telemetry seq 0, its end kept (seq 1)",
	       mtele(61000, 0, "0", 0, 0), keep1(61000, 1, 0, 0, "broken"),
	       NULL);
	meter(62000, 1834, 11.04);
	expect("the next is seq 1 with the meter's energy and power",
	       mtele(62000, 1, "11.04", 1834, 64),
	       keep1(62000, 2, 1834, 64, "broken"), NULL);
	check(meter_end(63000, 2000, END_UNPLUGGED) == 0 && !r.p.supplying,
	      "the meter's last figure ends the supply");
	expect("with that figure and the reason given",
	       keep1(63000, 2, 2000, 70, "unplugged"),
	       end1(63000, 2, 2000, 70, "unplugged"), "save none", NULL);
	check(meter(64000, 10, 1) == -1 && meter_end(64000, 10, END_FINISHED) == -1,
	      "readings without a supply are refused");
	expect("and send nothing", NULL);
}

static void test_metered_targets(void)
{
	metered();
	registered();
	start(1000, S1, "D1", 1000, 2);
	check(r.p.s.target_wh == 1000 && r.p.s.limit_ms == 2000,
	      "metered: the targets of the request are kept for the owner");
	meter(5000, 2500, 22);
	check(r.p.supplying && tick(60000) == CP_EV_NONE && r.p.supplying,
	      "but reaching them ends nothing: the owner stops the charger");
}

/* Ends the core decides are asked for; the meter's figure closes them. */
static void test_metered_ends(void)
{
	static const struct {
		const char *what, *reason;
		enum cp_event ev;
	} rows[] = {
		{ "the end command", "cancelled", CP_EV_ENDING },
		{ "a stop", "stopped", CP_EV_STOPPED },
		{ "a fault", "broken", CP_EV_FAULTED },
	};
	enum cp_event ev;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		metered();
		supplying(0, 0);
		meter(2000, 500, 22);
		r.nlog = 0;
		ev = i == 0 ? command(2500, "CP001", CMD_END, S1, NULL, 0, 0) :
		     i == 1 ? command(2500, "CP001", CMD_STOP, NULL, NULL, 0, 0) :
			      act(2500, CP_FAULT);
		check(ev == rows[i].ev && r.p.supplying && r.p.s.ending,
		      "metered: %s asks for the end", rows[i].what);
		expect("and sends nothing yet", NULL);
		meter_end(3000, 700, END_UNPLUGGED);
		expect(line("the meter's figure closes it, for the reason asked (%s)",
			    rows[i].reason),
		       keep1(3000, 1, 700, 25, rows[i].reason),
		       end1(3000, 1, 700, 25, rows[i].reason), "save none", NULL);
	}
	metered();
	supplying(0, 0);
	check(act(1500, CP_UNPLUG) == CP_EV_ENDED,
	      "metered: the owner's unplug ends at once");
	expect("a supply the meter never spoke of: seq 0, nothing supplied",
	       keep1(1500, 0, 0, 0, "unplugged"),
	       end1(1500, 0, 0, 0, "unplugged"), "save none", NULL);
}

static struct msg kept(const char *cp, unsigned seq, long long wh)
{
	struct msg m;

	msg_init_at(&m, MSG_SUPPLY_END, WALL0 - 1000);
	strcpy(m.cp, cp);
	strcpy(m.driver, "D1");
	strcpy(m.session, S1);
	m.u.ticket = (struct msg_ticket){ .seq = seq, .wh = wh,
		.cents = msg_cents(wh, 0.35), .price = 0.35,
		.started = WALL0 - 5000, .ended = WALL0 - 1000,
		.reason = END_BROKEN };
	return m;
}

static void test_resume(void)
{
	struct now t = at(0);
	struct msg m = kept("CP001", 4, 300);

	metered();
	check(cp_resume(&r.p, &m, &t) == 0 && r.p.supplying && r.p.registered,
	      "a kept supply is taken back, the CP counted as registered");
	check(heard("info: resuming session 5e551000000000000000000000000001 for 'D1' at 0.3 kWh"),
	      "and said");
	check(cp_next(&r.p) == CP_NEVER, "it sends no register");
	meter(1000, 450, 7);
	expect("the next reading follows the last telemetry (seq 3)",
	       mtele(1000, 4, "7", 450, 16),
	       end_of("save ", "D1", "S1", 1000, 5, 450, 16, "0.35", -5000,
		      "broken"), NULL);
	check(cp_resume(&r.p, &m, &t) == -1, "a CP supplying takes back nothing");
	metered();
	m = kept("CP002", 4, 300);
	check(cp_resume(&r.p, &m, &t) == -1 && !r.p.supplying,
	      "nor the supply of another CP");
	m = kept("CP001", 0, 0);
	m.type = MSG_TELEMETRY;
	check(cp_resume(&r.p, &m, &t) == -1, "nor anything but a supply_end");
	m = kept("CP001", 0, 0);
	check(cp_resume(&r.p, &m, &t) == 0 && !r.p.s.told,
	      "a kept supply of seq 0 had no telemetry yet");
	meter(1000, 0, 0);
	check(r.last.u.prog.seq == 0, "so the next reading is seq 0");
}

static void test_reboot(void)
{
	rig(1, 0);
	registered();
	check(act(100, CP_REBOOT) == CP_EV_NONE && !r.p.registered &&
	      cp_next(&r.p) == MONO0 + 100,
	      "a reboot makes a registered CP register again at once");
	tick(100);
	expect("with a register", reg(100, true), NULL);
	check(cp_next(&r.p) == MONO0 + 600, "from the first back-off");
	ack(200, "CP001", false, DENY_UNKNOWN_CP, "");
	act(300, CP_REBOOT);
	check(!r.p.refused && tick(300) == CP_EV_NONE && r.nlog == 1,
	      "a refused CP tries again after a reboot");
}

int main(void)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_registration();
	test_registered();
	test_refused();
	test_register_faulted();
	test_supply();
	test_targets();
	test_target_lines();
	test_late_tick();
	test_stop_resume();
	test_end();
	test_busy();
	test_replays();
	test_unplug_fault();
	test_status_supplying();
	test_interrupted();
	test_other_cp();
	test_quiet_owner();
	test_metered_supply();
	test_metered_targets();
	test_metered_ends();
	test_resume();
	test_reboot();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cp_free(&r.p);
	printf("# %d cases in %ld us\n", check_passed + check_failed,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000000 +
		      (t1.tv_nsec - t0.tv_nsec) / 1000));
	return check_done();
}
