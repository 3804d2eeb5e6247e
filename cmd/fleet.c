/* fleet.c: the fleet role: many simulated CPs in one process, for load tests. */
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/cp.h"
#include "lib/index.h"
#include "lib/keyring.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/sched.h"
#include "lib/setup.h"
#include "lib/xalloc.h"

#define FLEET_MAX 1000000	/* CPs in one process */
#define SPREAD_MS 1000		/* first registrations spread over this */
#define SLICE_MS 10		/* longest wait on Kafka */
#define FLUSH_MS 10000		/* to deliver what is queued at the end */

static const char usage[] =
	"usage: evc fleet [-v] [-a SECONDS] [-b BROKERS] [-c FILE] [-k DIR] [-X NAME=VALUE]... [-p PREFIX] [-s START] N\n"
	"\n"
	"  -a, --auth SECONDS     once registered, each CP asks Central for a\n"
	"                         session of SECONDS for driver D<CP id>\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -k, --keys DIR         sign for each CP with its key DIR/ID.key (mode 600)\n"
	"  -p, --prefix PREFIX    CP ids are PREFIX and a number (default FLEET)\n"
	"  -s, --start START      number of the first CP (default 1)\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

/*
 * A CP of the fleet: its core (lib/cp.c, the same as evc cp's engine),
 * what its monitor would send, and its place in the timer heap.
 */
struct fcp {
	struct cp core;
	uint32_t health_seq;
	struct sched_slot slot;	/* when its core next needs a tick */
};

struct fleet {
	const struct conf *c;
	struct bus *b;
	struct cp_owner o;
	struct fcp *cps;
	uint32_t n;
	struct index ids;	/* of cps, by core.id */
	unsigned auth_s;	/* -a: 0 for none */
	long long t0;		/* monotonic start of the heartbeats */
	uint64_t beats;		/* heartbeats due so far, sent or skipped */
	uint32_t unregistered;	/* neither registered nor refused */
	struct sched timers;
	long sessions, refusals, send_failed, other;
	struct ratelimit rl;
	int exit;
	struct keyring keys;	/* -k: the CPs' keys; empty: unsigned */
	long forged;		/* commands and acks not signed by Central */
};

/* The cores' post hook: one producer for every CP. */
static int on_post(void *arg, enum topic t, const struct msg *m)
{
	struct fleet *f = arg;

	if (!bus_send(f->b, t, m))
		return 0;
	f->send_failed++;
	return -1;
}

/*
 * The cores' lines, named by CP: thousands of CPs may warn at once, so
 * warnings are rate-limited; the rest is for -v.
 */
static void on_say(void *arg, const struct cp *p, enum say level,
		   const char *line)
{
	struct fleet *f = arg;

	if (level >= SAY_WARN)
		warn_limited(&f->rl, "%s: %s", p->id, line);
	else
		debug("%s: %s", p->id, line);
}

/* One live timer per CP, at the time its core asks for. */
static void schedule(struct fleet *f, uint32_t i)
{
	sched_set(&f->timers, &f->cps[i].slot, i, cp_next(&f->cps[i].core));
}

/* Every core's tick due: registrations, telemetry, ends at the target. */
static void ticks_due(struct fleet *f, long long now)
{
	struct now t = { .mono = now };
	uint32_t i;

	if (sched_first(&f->timers) > now)
		return;
	t.wall = now_ms();
	while (sched_due(&f->timers, &f->cps[0].slot, sizeof(*f->cps), now, &i)) {
		cp_tick(&f->cps[i].core, &t);
		schedule(f, i);
	}
}

/*
 * Heartbeat k goes to CP k % n at t0 + k * health_ms / n, so that n
 * heartbeats a period leave evenly rather than in one burst. After a
 * stall no CP gets more than one at once.
 */
static void heartbeats_due(struct fleet *f, long long now)
{
	uint64_t due = (uint64_t)(now - f->t0) * f->n /
		       (f->c->cp.health_ms ? f->c->cp.health_ms : 1) + 1;
	struct msg m;

	if (due > f->beats + f->n)
		f->beats = due - f->n;
	for (; f->beats < due; f->beats++) {
		struct fcp *p = &f->cps[f->beats % f->n];

		if (p->core.refused)
			continue;
		msg_init(&m, MSG_HEALTH);
		memcpy(m.cp, p->core.id, sizeof(m.cp));
		m.u.health.engine_ok = !p->core.faulted;
		m.u.health.seq = p->health_seq++;
		on_post(f, T_HEALTH, &m);
	}
}

/*
 * Milliseconds until the next heartbeat or tick, at most a slice. The
 * next heartbeat's time is rounded up: rounded down, a heartbeat due
 * later in the current millisecond (more CPs than health_ms) made the
 * wait 0 and the loop spin, reading the clock, until that millisecond
 * ended; now it goes out at most a millisecond late.
 */
static int next_wait(const struct fleet *f, long long now)
{
	unsigned hms = f->c->cp.health_ms ? f->c->cp.health_ms : 1;
	long long at = f->t0 + (long long)((f->beats * hms + f->n - 1) / f->n);
	long long w = SLICE_MS;

	if (at - now < w)
		w = at - now;
	if (sched_first(&f->timers) - now < w)
		w = sched_first(&f->timers) - now;
	return w < 0 ? 0 : (int)w;
}

/* -a: the fleet's own driver asks Central for a session at p. */
static void ask_session(struct fleet *f, const struct fcp *p)
{
	struct msg m;

	msg_init(&m, MSG_AUTH_REQUEST);
	memcpy(m.cp, p->core.id, sizeof(m.cp));
	m.driver[0] = 'D';	/* check() made sure that it fits */
	memcpy(m.driver + 1, p->core.id, sizeof(m.driver) - 1);
	m.driver[MSG_NAME_MAX] = '\0';
	m.u.req.target_s = f->auth_s;
	m.u.req.timeout_ms = f->c->driver.timeout_ms;
	on_post(f, T_AUTH_REQUEST, &m);
}

/* Central answered a registration: the count, and -a's request. */
static void answered(struct fleet *f, struct fcp *p, enum cp_event ev)
{
	f->unregistered--;
	if (ev == CP_EV_REFUSED) {
		f->refusals++;
		warn_limited(&f->rl, "registration refused by Central: %s: '%s'",
			     msg_deny_text(p->core.refusal), p->core.id);
		if (f->refusals == f->n)
			f->exit = EXIT_FAIL;	/* nothing left to run */
	} else if (f->auth_s)
		ask_session(f, p);
	if (!f->unregistered)
		info("all %u CPs answered in %.1f s (%ld refused)", f->n,
		     (double)(mono_ms() - f->t0) / 1000, f->refusals);
}

static struct seal_key *sign_for(void *ctx, enum topic t, const struct msg *m)
{
	(void)t;
	return keyring_key(&((struct fleet *)ctx)->keys, m->cp);
}

static void on_message(struct fleet *f, const struct msg *m)
{
	long i = index_find(&f->ids, f->cps, m->cp);
	struct seal_key *k = keyring_key(&f->keys, m->cp);
	struct now t;
	enum cp_event ev;

	if (i < 0) {
		f->other++;	/* the partitions carry other CPs too */
		return;
	}
	if (k && !bus_last_sealed_by(f->b, k)) {
		f->forged++;
		warn_limited(&f->rl, "%s: ignored %s not signed with its key (%ld so far)",
			     m->cp, msg_type_name(m->type), f->forged);
		return;
	}
	t = (struct now){ .wall = now_ms(), .mono = mono_ms() };
	ev = cp_feed(&f->cps[i].core, m, &t);
	if (ev == CP_EV_REGISTERED || ev == CP_EV_REFUSED)
		answered(f, &f->cps[i], ev);
	else if (ev == CP_EV_STARTED)
		f->sessions++;
	schedule(f, (uint32_t)i);
}

static void run_loop(struct fleet *f)
{
	struct msg m;
	enum topic t;
	long long now;
	int r;

	while (!bus_stop && f->exit < 0) {
		now = mono_ms();
		heartbeats_due(f, now);
		ticks_due(f, now);
		r = bus_recv(f->b, &m, &t, next_wait(f, mono_ms()));
		if (r < 0)
			f->exit = EXIT_UNREACHABLE;
		else if (r > 0)
			on_message(f, &m);
	}
}

/*
 * The cores, their ids in the index, their first ticks (registrations)
 * spread over a second so that Central does not get them in one burst.
 */
static void fleet_init(struct fleet *f, const char *prefix, unsigned start)
{
	long long now = mono_ms();
	char id[MSG_NAME_MAX + 1];

	f->o.post = on_post;
	f->o.say = on_say;
	f->o.say_min = log_verbose ? SAY_INFO : SAY_WARN;
	f->o.arg = f;
	f->cps = xcalloc(f->n, sizeof(*f->cps));
	index_init(&f->ids, sizeof(*f->cps), offsetof(struct fcp, core.id));
	for (uint32_t i = 0; i < f->n; i++) {
		struct fcp *p = &f->cps[i];

		snprintf(id, sizeof(id), "%s%05u", prefix, start + i);
		cp_init(&p->core, &f->o, id);
		index_put(&f->ids, f->cps, i);
		sched_set(&f->timers, &p->slot, i,
			  now + (long long)i * SPREAD_MS / f->n);
	}
	f->unregistered = f->n;
	f->t0 = now;
}

/* Every supply in progress ends (disconnected); the cores go. */
static void fleet_end(struct fleet *f)
{
	struct now t = { .wall = now_ms(), .mono = mono_ms() };

	for (uint32_t i = 0; i < f->n; i++) {
		cp_act(&f->cps[i].core, CP_SHUTDOWN, &t);
		cp_free(&f->cps[i].core);
	}
}

static int fleet_run(struct fleet *f, const char *prefix, unsigned start)
{
	int ret;

	if (bus_follow_end_all(f->b, T_CP_REGISTER_ACK) ||
	    bus_follow_end_all(f->b, T_CP_COMMANDS)) {
		bus_close(f->b, 0);
		return EXIT_UNREACHABLE;
	}
	fleet_init(f, prefix, start);
	info("running %u CPs, '%s' to '%s'", f->n, f->cps[0].core.id,
	     f->cps[f->n - 1].core.id);
	run_loop(f);
	fleet_end(f);
	info("%ld sessions supplied; %ld CPs refused; %ld messages not sent",
	     f->sessions, f->refusals, f->send_failed);
	ret = bus_close(f->b, FLUSH_MS);
	if (f->exit < 0)
		f->exit = ret ? EXIT_UNREACHABLE :
			  f->refusals ? EXIT_FAIL : EXIT_OK;
	free(f->cps);
	sched_free(&f->timers);
	index_free(&f->ids);
	return f->exit;
}

/* What the configuration cannot check: the ids and the figures. */
static int check(const struct conf *c, const char *prefix, unsigned start,
		 unsigned n, unsigned auth_s)
{
	const char *location = c->cp.location ? c->cp.location : "";
	char first[64], last[64], buf[1024];
	struct msg m;

	snprintf(first, sizeof(first), "%s%05u", prefix, start);
	snprintf(last, sizeof(last), "%s%05u", prefix, start + n - 1);
	if (strlen(prefix) > MSG_NAME_MAX || !msg_cp_id_ok(first) ||
	    !msg_cp_id_ok(last))
		return usage_error("bad CP ids (1 to 32 of A-Z a-z 0-9 _ . -, not first '.'): '%s'",
				   last);
	msg_init(&m, MSG_REGISTER);
	memcpy(m.cp, first, strlen(first) + 1);	/* a good name fits */
	snprintf(m.u.reg.location, sizeof(m.u.reg.location), "%s", location);
	if (strlen(location) > MSG_TEXT_MAX || msg_encode(&m, buf, sizeof(buf)) < 0)
		return usage_error("bad location (at most %d printable bytes): '%s'",
				   MSG_TEXT_MAX, location);
	if (auth_s && strlen(last) + 1 > MSG_NAME_MAX)
		return usage_error("CP ids too long for driver ids: '%s'", last);
	if (c->cp.power_kw > MSG_KW_MAX)
		return usage_error("cp.power_kw above %g: '%g'", MSG_KW_MAX,
				   c->cp.power_kw);
	if (c->cp.default_kwh * 1000 > MSG_WH_MAX)
		return usage_error("cp.default_kwh above %lld: '%g'",
				   MSG_WH_MAX / 1000, c->cp.default_kwh);
	return 0;
}

/* A whole number in [lo, hi] from s, or -1. */
static long number(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && !*end && v >= lo && v <= hi ? v : -1;
}

struct fleet_opts {
	const char *keys;		/* -k */
	const char *prefix;
	long start, n, auth_s;
};

static int fleet_opt(void *ctx, int opt, const char *arg)
{
	struct fleet_opts *o = ctx;

	if (opt == 'a') {
		if ((o->auth_s = number(arg, 1, 86400 * 365)) < 0)
			return usage_error("bad --auth seconds: '%s'", arg);
	} else if (opt == 'p') {
		o->prefix = arg;
	} else if (opt == 'k') {
		o->keys = arg;
	} else if ((o->start = number(arg, 0, 99999999)) < 0) {
		return usage_error("bad --start: '%s'", arg);
	}
	return 0;
}

static int fleet_operands(void *ctx, int argc, char **argv)
{
	struct fleet_opts *o = ctx;

	if (argc == 0)
		return usage_error("missing N, the number of CPs");
	if ((o->n = number(argv[0], 1, FLEET_MAX)) < 0)
		return usage_error("bad number of CPs (1 to %d): '%s'", FLEET_MAX,
				   argv[0]);
	if (argc > 1)
		return usage_error("too many arguments: '%s'", argv[1]);
	return 0;
}

static int fleet_main(void *ctx, struct setup *su)
{
	const struct fleet_opts *o = ctx;
	struct fleet f = { .exit = -1 };
	int ret;

	if (check(&su->conf, o->prefix, (unsigned)o->start, (unsigned)o->n,
		  (unsigned)o->auth_s))
		return EXIT_USAGE;
	bus_signals();
	f.c = &su->conf;
	f.n = (uint32_t)o->n;
	f.auth_s = (unsigned)o->auth_s;
	cp_owner_init(&f.o, &su->conf, su->conf.cp.location);
	keyring_init(&f.keys, false);
	if (o->keys && seal_dir_load(o->keys, keyring_take, &f.keys) < 0) {
		keyring_free(&f.keys);
		return EXIT_USAGE;
	}
	if (!(f.b = setup_bus(su))) {
		keyring_free(&f.keys);
		return EXIT_USAGE;
	}
	bus_seal(f.b, sign_for, &f);
	ret = fleet_run(&f, o->prefix, (unsigned)o->start);
	keyring_free(&f.keys);
	return ret;
}

int cmd_fleet(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "auth", required_argument, NULL, 'a' },
		{ "keys", required_argument, NULL, 'k' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "start", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct fleet_opts o = { .prefix = "FLEET", .start = 1 };
	struct setup_opts so = {
		.usage = usage, .shortopts = "a:k:p:s:", .longopts = opts,
		.opt = fleet_opt, .operands = fleet_operands, .run = fleet_main,
		.ctx = &o,
	};

	return setup_run(&so, argc, argv);
}
