/* fleet.c: the fleet role: many simulated CPs in one process, for load tests. */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/engine.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xalloc.h"

#define FLEET_MAX 1000000	/* CPs in one process */
#define SPREAD_MS 1000		/* first registrations spread over this */
#define REGISTER_MIN_MS 500	/* back-off between registrations, as evc cp */
#define REGISTER_MAX_MS 5000
#define SCAN_MS 10		/* how often unregistered CPs are looked at */
#define SLICE_MS 10		/* longest wait on Kafka */
#define FLUSH_MS 10000		/* to deliver what is queued at the end */

static const char usage[] =
	"usage: evc fleet [-v] [-a SECONDS] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... [-p PREFIX] [-s START] N\n"
	"\n"
	"  -a, --auth SECONDS     once registered, each CP asks Central for a\n"
	"                         session of SECONDS for driver D<CP id>\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -p, --prefix PREFIX    CP ids are PREFIX and a number (default FLEET)\n"
	"  -s, --start START      number of the first CP (default 1)\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

/* A session being supplied, as lib/engine.c keeps it. */
struct supply {
	char session[MSG_UUID_LEN + 1];
	char driver[MSG_NAME_MAX + 1];
	double price;
	int64_t started;	/* wall clock, ms */
	long long t0;		/* monotonic clock at the start */
	long long limit_ms;	/* the target is reached after this; -1: none */
	int64_t target_wh;	/* 0: none */
	uint32_t seq;		/* of the last telemetry sent */
	long long next_tick;
};

struct fcp {
	char id[MSG_NAME_MAX + 1];
	bool registered, refused, stopped, supplying;
	long long next_register;
	int register_ms;
	uint32_t health_seq;
	uint32_t gen;		/* which supply a timer belongs to */
	struct supply s;
};

/* A supply's next event: telemetry or its end. */
struct timer {
	long long at;
	uint32_t cp;
	uint32_t gen;
};

struct fleet {
	const struct conf *c;
	struct bus *b;
	struct fcp *cps;
	uint32_t n;
	uint32_t *slots;	/* hash of ids: index + 1, 0 when free */
	uint32_t mask;
	const char *location;
	unsigned auth_s;	/* -a: 0 for none */
	long long power_w;
	long long t0;		/* monotonic start of the heartbeats */
	uint64_t beats;		/* heartbeats due so far, sent or skipped */
	uint32_t unregistered;	/* neither registered nor refused */
	long long next_scan;
	struct timer *heap;
	uint32_t nheap, heap_cap;
	long sessions, refusals, send_failed, other;
	struct ratelimit rl;
	int exit;
};

static uint32_t hash_id(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* The CP of id, or NULL when it is not one of this fleet's. */
static struct fcp *lookup(const struct fleet *f, const char *id)
{
	for (uint32_t i = hash_id(id) & f->mask; f->slots[i];
	     i = (i + 1) & f->mask)
		if (!strcmp(f->cps[f->slots[i] - 1].id, id))
			return &f->cps[f->slots[i] - 1];
	return NULL;
}

static void insert(struct fleet *f, uint32_t idx)
{
	uint32_t i = hash_id(f->cps[idx].id) & f->mask;

	while (f->slots[i])
		i = (i + 1) & f->mask;
	f->slots[i] = idx + 1;
}

static void post(struct fleet *f, enum topic t, const struct msg *m)
{
	if (bus_send(f->b, t, m))
		f->send_failed++;
}

/* Min-heap on time: sift up after a push, down after a pop. */
static void heap_push(struct fleet *f, long long at, uint32_t cp)
{
	uint32_t i = f->nheap++;

	if (f->nheap > f->heap_cap) {
		f->heap_cap = f->heap_cap ? f->heap_cap * 2 : 1024;
		f->heap = xreallocarray(f->heap, f->heap_cap, sizeof(*f->heap));
	}
	while (i && f->heap[(i - 1) / 2].at > at) {
		f->heap[i] = f->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	f->heap[i] = (struct timer){ at, cp, f->cps[cp].gen };
}

static struct timer heap_pop(struct fleet *f)
{
	struct timer top = f->heap[0], last = f->heap[--f->nheap];
	uint32_t i = 0, k;

	while ((k = 2 * i + 1) < f->nheap) {
		if (k + 1 < f->nheap && f->heap[k + 1].at < f->heap[k].at)
			k++;
		if (f->heap[k].at >= last.at)
			break;
		f->heap[i] = f->heap[k];
		i = k;
	}
	if (f->nheap)
		f->heap[i] = last;
	return top;
}

static int64_t energy_at(const struct fleet *f, const struct supply *s,
			 long long now)
{
	return supply_energy(f->power_w, s->target_wh, s->limit_ms,
			     now - s->t0);
}

static void supply_end(struct fleet *f, struct fcp *p, enum msg_end reason)
{
	struct supply *s = &p->s;
	long long now = mono_ms();
	struct msg m;

	if (!p->supplying)
		return;
	msg_init(&m, MSG_SUPPLY_END);
	memcpy(m.cp, p->id, sizeof(m.cp));
	memcpy(m.driver, s->driver, sizeof(m.driver));
	memcpy(m.session, s->session, sizeof(m.session));
	m.u.ticket.seq = s->seq + 1;
	m.u.ticket.wh = energy_at(f, s, now);
	m.u.ticket.cents = msg_cents(m.u.ticket.wh, s->price);
	m.u.ticket.price = s->price;
	m.u.ticket.started = s->started;
	m.u.ticket.ended = s->started + (now - s->t0);
	m.u.ticket.reason = reason;
	p->supplying = false;
	p->gen++;
	debug("%s: supply ended: %lld Wh (%s)", p->id,
	      (long long)m.u.ticket.wh, msg_end_name(reason));
	post(f, T_TELEMETRY, &m);
}

static void telemetry(struct fleet *f, struct fcp *p, long long now)
{
	struct supply *s = &p->s;
	struct msg m;

	msg_init(&m, MSG_TELEMETRY);
	memcpy(m.cp, p->id, sizeof(m.cp));
	memcpy(m.driver, s->driver, sizeof(m.driver));
	memcpy(m.session, s->session, sizeof(m.session));
	m.u.prog.seq = s->seq;
	m.u.prog.kw = f->c->cp.power_kw;
	m.u.prog.wh = energy_at(f, s, now);
	m.u.prog.cents = msg_cents(m.u.prog.wh, s->price);
	post(f, T_TELEMETRY, &m);
}

/* The next event of a supply: its next tick, or its end if sooner. */
static void supply_schedule(struct fleet *f, struct fcp *p)
{
	long long at = p->s.next_tick;

	if (p->s.limit_ms >= 0 && p->s.t0 + p->s.limit_ms < at)
		at = p->s.t0 + p->s.limit_ms;
	heap_push(f, at, (uint32_t)(p - f->cps));
}

/* The targets of a start, the configured defaults when it names none. */
static void supply_target(struct fleet *f, struct supply *s,
			  const struct msg_command *cmd)
{
	supply_limits(f->c, f->power_w, cmd, &s->target_wh, &s->limit_ms);
}

/* A start a CP cannot take: the session ends at once, as the engine's. */
static void refuse_start(struct fleet *f, struct fcp *p, const struct msg *m)
{
	struct msg end;

	warn_limited(&f->rl, "%s: refusing session '%s' for '%s': %s", p->id,
		     m->session, m->driver, p->supplying ?
		     "busy with another session" : "stopped by Central");
	msg_init(&end, MSG_SUPPLY_END);
	memcpy(end.cp, p->id, sizeof(end.cp));
	memcpy(end.driver, m->driver, sizeof(end.driver));
	memcpy(end.session, m->session, sizeof(end.session));
	end.u.ticket.price = m->u.cmd.price;
	end.u.ticket.started = end.u.ticket.ended = end.ts;
	end.u.ticket.reason = p->supplying ? END_CANCELLED : END_STOPPED;
	post(f, T_TELEMETRY, &end);
}

static void supply_start(struct fleet *f, struct fcp *p, const struct msg *m)
{
	struct supply *s = &p->s;

	if (p->supplying && !strcmp(s->session, m->session))
		return;
	if (p->supplying || p->stopped) {
		refuse_start(f, p, m);
		return;
	}
	memset(s, 0, sizeof(*s));
	memcpy(s->session, m->session, sizeof(s->session));
	memcpy(s->driver, m->driver, sizeof(s->driver));
	s->price = m->u.cmd.price;
	supply_target(f, s, &m->u.cmd);
	s->started = now_ms();
	s->t0 = mono_ms();
	s->next_tick = s->t0 + f->c->cp.tick_ms;
	p->supplying = true;
	p->gen++;
	f->sessions++;
	debug("%s: session %s started for '%s'", p->id, s->session, s->driver);
	telemetry(f, p, s->t0);
	supply_schedule(f, p);
}

/* Every supply event due: telemetry, or the end at the target. */
static void supplies_due(struct fleet *f, long long now)
{
	while (f->nheap && f->heap[0].at <= now) {
		struct timer t = heap_pop(f);
		struct fcp *p = &f->cps[t.cp];
		struct supply *s = &p->s;

		if (!p->supplying || t.gen != p->gen)
			continue;	/* ended or restarted since */
		if (s->limit_ms >= 0 && now - s->t0 >= s->limit_ms) {
			supply_end(f, p, END_FINISHED);
			continue;
		}
		if (now >= s->next_tick) {
			s->seq++;
			telemetry(f, p, now);
			s->next_tick += f->c->cp.tick_ms;
			if (s->next_tick <= now)	/* late: skip ticks */
				s->next_tick = now + f->c->cp.tick_ms;
		}
		supply_schedule(f, p);
	}
}

static void send_register(struct fleet *f, struct fcp *p, long long now)
{
	struct msg m;

	msg_init(&m, MSG_REGISTER);
	memcpy(m.cp, p->id, sizeof(m.cp));
	snprintf(m.u.reg.location, sizeof(m.u.reg.location), "%s",
		 f->location);
	m.u.reg.engine_ok = true;
	post(f, T_CP_REGISTER, &m);
	p->next_register = now + p->register_ms;
	p->register_ms = p->register_ms * 2 > REGISTER_MAX_MS ?
			 REGISTER_MAX_MS : p->register_ms * 2;
}

/* Registrations due: the first ones spread out, then retries. */
static void registrations_due(struct fleet *f, long long now)
{
	if (!f->unregistered || now < f->next_scan)
		return;
	f->next_scan = now + SCAN_MS;
	for (uint32_t i = 0; i < f->n; i++) {
		struct fcp *p = &f->cps[i];

		if (!p->registered && !p->refused && now >= p->next_register)
			send_register(f, p, now);
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

		if (p->refused)
			continue;
		msg_init(&m, MSG_HEALTH);
		memcpy(m.cp, p->id, sizeof(m.cp));
		m.u.health.engine_ok = true;
		m.u.health.seq = p->health_seq++;
		post(f, T_HEALTH, &m);
	}
}

/* Milliseconds until the next heartbeat or supply event, at most a slice. */
static int next_wait(const struct fleet *f, long long now)
{
	unsigned hms = f->c->cp.health_ms ? f->c->cp.health_ms : 1;
	long long at = f->t0 + (long long)(f->beats * hms / f->n);
	long long w = SLICE_MS;

	if (at - now < w)
		w = at - now;
	if (f->nheap && f->heap[0].at - now < w)
		w = f->heap[0].at - now;
	return w < 0 ? 0 : (int)w;
}

/* -a: the fleet's own driver asks Central for a session at p. */
static void ask_session(struct fleet *f, const struct fcp *p)
{
	struct msg m;

	msg_init(&m, MSG_AUTH_REQUEST);
	memcpy(m.cp, p->id, sizeof(m.cp));
	m.driver[0] = 'D';	/* check() made sure that it fits */
	memcpy(m.driver + 1, p->id, sizeof(m.driver) - 1);
	m.driver[MSG_NAME_MAX] = '\0';
	m.u.req.target_s = f->auth_s;
	m.u.req.timeout_ms = f->c->driver.timeout_ms;
	post(f, T_AUTH_REQUEST, &m);
}

static void on_ack(struct fleet *f, struct fcp *p, const struct msg *m)
{
	if (p->registered || p->refused)
		return;
	f->unregistered--;
	if (!m->u.ack.accepted) {
		p->refused = true;
		f->refusals++;
		warn_limited(&f->rl, "registration refused by Central: %s: '%s'",
			     msg_deny_text(m->u.ack.reason), p->id);
		if (f->refusals == f->n)
			f->exit = EXIT_FAIL;	/* nothing left to run */
		return;
	}
	p->registered = true;
	debug("%s: registered", p->id);
	if (!f->unregistered)
		info("all %u CPs answered in %.1f s (%ld refused)", f->n,
		     (double)(mono_ms() - f->t0) / 1000, f->refusals);
	if (f->auth_s)
		ask_session(f, p);
}

static void on_command(struct fleet *f, struct fcp *p, const struct msg *m)
{
	switch (m->u.cmd.cmd) {
	case CMD_START:
		supply_start(f, p, m);
		break;
	case CMD_STOP:
		p->stopped = true;
		supply_end(f, p, END_STOPPED);
		break;
	case CMD_RESUME:
		p->stopped = false;
		break;
	case CMD_END:
		if (p->supplying && !strcmp(m->session, p->s.session))
			supply_end(f, p, END_CANCELLED);
		break;
	default:
		break;
	}
}

static void on_message(struct fleet *f, const struct msg *m, enum topic t)
{
	struct fcp *p = lookup(f, m->cp);

	if (!p) {
		f->other++;	/* the partitions carry other CPs too */
		return;
	}
	if (t == T_CP_REGISTER_ACK)
		on_ack(f, p, m);
	else if (t == T_CP_COMMANDS)
		on_command(f, p, m);
}

static void run_loop(struct fleet *f)
{
	struct msg m;
	enum topic t;
	long long now;
	int r;

	while (!bus_stop && f->exit < 0) {
		now = mono_ms();
		registrations_due(f, now);
		heartbeats_due(f, now);
		supplies_due(f, now);
		r = bus_recv(f->b, &m, &t, next_wait(f, mono_ms()));
		if (r < 0)
			f->exit = EXIT_UNREACHABLE;
		else if (r > 0)
			on_message(f, &m, t);
	}
}

/* The CPs, their ids in the hash, registrations spread over a second. */
static int fleet_init(struct fleet *f, const char *prefix, unsigned start)
{
	uint32_t size = 1;
	long long now = mono_ms();

	while (size < 2 * f->n)
		size *= 2;
	f->mask = size - 1;
	f->cps = xcalloc(f->n, sizeof(*f->cps));
	f->slots = xcalloc(size, sizeof(*f->slots));
	for (uint32_t i = 0; i < f->n; i++) {
		struct fcp *p = &f->cps[i];

		snprintf(p->id, sizeof(p->id), "%s%05u", prefix, start + i);
		p->register_ms = REGISTER_MIN_MS;
		p->next_register = now + (long long)i * SPREAD_MS / f->n;
		insert(f, i);
	}
	f->unregistered = f->n;
	f->t0 = now;
	return 0;
}

static int fleet_run(struct fleet *f, const char *prefix, unsigned start)
{
	int ret;

	if (!(f->b = bus_open(f->c, BUS_PRODUCER | BUS_CONSUMER, NULL)))
		return EXIT_USAGE;
	if (bus_follow_end_all(f->b, T_CP_REGISTER_ACK) ||
	    bus_follow_end_all(f->b, T_CP_COMMANDS)) {
		bus_close(f->b, 0);
		return EXIT_UNREACHABLE;
	}
	fleet_init(f, prefix, start);
	info("running %u CPs, '%s' to '%s'", f->n, f->cps[0].id,
	     f->cps[f->n - 1].id);
	run_loop(f);
	for (uint32_t i = 0; i < f->n; i++)
		supply_end(f, &f->cps[i], END_DISCONNECTED);
	info("%ld sessions supplied; %ld CPs refused; %ld messages not sent",
	     f->sessions, f->refusals, f->send_failed);
	ret = bus_close(f->b, FLUSH_MS);
	if (f->exit < 0)
		f->exit = ret ? EXIT_UNREACHABLE :
			  f->refusals ? EXIT_FAIL : EXIT_OK;
	free(f->cps);
	free(f->slots);
	free(f->heap);
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
	struct conf_args a;
	const char *prefix;
	long start, n, auth_s;
};

/* Options into o; returns -1 to go on, else the exit status. */
static int parse(struct fleet_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		CONF_LONGOPTS,
		{ "auth", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "start", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, CONF_SHORTOPTS "a:hp:s:", opts,
				  NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return EXIT_OK;
		} else if (opt == 'a') {
			if ((o->auth_s = number(optarg, 1, 86400 * 365)) < 0)
				return usage_error("bad --auth seconds: '%s'", optarg);
		} else if (opt == 'p')
			o->prefix = optarg;
		else if (opt == 's') {
			if ((o->start = number(optarg, 0, 99999999)) < 0)
				return usage_error("bad --start: '%s'", optarg);
		} else if ((r = conf_opt(&o->a, opt, optarg)) <= 0)
			return r < 0 ? EXIT_USAGE : opt_error(argv, optind, optopt);
	}
	if (optind == argc)
		return usage_error("missing N, the number of CPs");
	if ((o->n = number(argv[optind], 1, FLEET_MAX)) < 0)
		return usage_error("bad number of CPs (1 to %d): '%s'", FLEET_MAX,
				   argv[optind]);
	if (++optind < argc)
		return usage_error("too many arguments: '%s'", argv[optind]);
	return -1;
}

int cmd_fleet(int argc, char **argv)
{
	struct fleet_opts o = { .prefix = "FLEET", .start = 1 };
	struct fleet f = { .exit = -1 };
	struct conf c;
	int ret = parse(&o, argc, argv);

	if (ret >= 0)
		goto out;
	ret = EXIT_USAGE;
	if (conf_load(&c, &o.a))
		goto out;
	if (!check(&c, o.prefix, (unsigned)o.start, (unsigned)o.n,
		   (unsigned)o.auth_s)) {
		bus_signals();
		f.c = &c;
		f.n = (uint32_t)o.n;
		f.auth_s = (unsigned)o.auth_s;
		f.location = c.cp.location ? c.cp.location : "";
		f.power_w = llround(c.cp.power_kw * 1000);
		ret = fleet_run(&f, o.prefix, (unsigned)o.start);
	}
	conf_free(&c);
out:
	conf_args_free(&o.a);
	return ret;
}
