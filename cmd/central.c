/* central.c: the central role: reads Central's topics, feeds its core, sends what it posts, draws the panel. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cmd/cmds.h"
#include "lib/audit.h"
#include "lib/bus.h"
#include "lib/central.h"
#include "lib/conf.h"
#include "lib/keyring.h"
#include "lib/cpstate.h"
#include "lib/exporter.h"
#include "lib/lease.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/msg.h"
#include "lib/panel.h"
#include "lib/probe.h"
#include "lib/registry.h"
#include "lib/setup.h"
#include "lib/trail.h"
#include "lib/xalloc.h"

#define RECV_MS 50		/* longest wait for a message: keys stay responsive */
#define TICK_MS 100		/* heartbeat timeouts, grace periods, live figures */
#define COMMIT_MS 5000		/* default of auto.commit.interval.ms */
#define CHECK_MS 5000		/* one attempt to reach Kafka */
#define RETRY_MAX_MS 30000	/* longest pause between two attempts */
#define FLUSH_MS 10000
#define RESTORE_MS 10000	/* longest read of cp-state, or of the catalogue, at start */
#define CATALOGUE_BATCH 1000	/* catalogue records taken at most per tick */
#define STALL_MS 1000		/* a main loop this slow read nothing meanwhile */
#define DRAIN_MS 1000		/* longest read of what is left at a clean stop */
#define DRAIN_QUIET_MS 100	/* nothing read for this long: all is read */
#define SCRAPE_MS 10		/* the metrics listener is serviced this often */
#define KEYS_BATCH 1000		/* key records taken at most per tick */
#define REFUSED_EVERY_MS 10000	/* one line about refused messages per this */

static const char usage[] =
	"usage: evc central [-nv] [-b BROKERS] [-c FILE] [-m ADDR:PORT] [-X NAME=VALUE]...\n"
	"       evc central [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... stop CP|all\n"
	"       evc central [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... resume CP|all\n"
	"\n"
	"  stop CP|all    put one CP, or every CP, out of order (a supply ends)\n"
	"  resume CP|all  put it back in service\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -m, --metrics ADDR:PORT serve Prometheus metrics there (default\n"
	"                         central.metrics: none)\n"
	"  -n, --check            check the configuration and the catalogue, then exit\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

/* Central's rules are in lib/central.c; this is what talks to the world. */
struct role {
	struct conf *conf;
	struct central core;
	struct bus *bus;
	struct bus *cat;		/* follows cp-catalogue; NULL: cannot */
	struct bus *kbus;		/* follows cp-keys; NULL: cannot */
	struct keyring keys;		/* each CP's keys, from cp-keys */
	long refused_said;		/* refused messages said so far */
	long long refused_at;		/* mono ms of the last line about them */
	struct catalogue yaml;		/* central.catalogue: the topic's seed */
	uint32_t *shown;		/* the panel's rows: the CPs not forgotten */
	uint32_t nshown, shown_roster;
	struct lease lease;
	struct probe probe;
	struct panel *panel;
	bool log_too;			/* events on stderr as well as the panel */
	bool quit;
	bool lost;			/* the lease went to another Central */
	struct audit_limit refusals;	/* bad-mac records on the trail */
	bool failed;			/* Kafka failed: Central stops */
	bool suspended;			/* the lease in doubt: not serving */
	long long suspended_at;		/* mono ms */
	struct ratelimit rl;
	long long last_tick, last_commit, last_loop;
	long long commit_ms;		/* between two commits of offsets */
	const char *metrics_at;		/* ADDR:PORT of GET /metrics; NULL: none */
	struct exporter *exporter;
	struct metrics metrics;
	struct metrics_series *m_sessions, *m_ignored, *m_ready;
	struct metrics_family *m_lag;
	long long last_scrape;		/* mono ms the listener was last serviced */
};

/* The topics Central's group reads. */
static const enum topic reads[] = {
	T_CP_REGISTER, T_AUTH_REQUEST, T_TELEMETRY, T_HEALTH, T_CONTROL,
};
#define NREADS (sizeof(reads) / sizeof(reads[0]))

static struct now now_is(void)
{
	return (struct now){ .wall = now_ms(), .mono = mono_ms() };
}

/* An event: a line on the panel, or a log line when there is none. */
static void event(struct role *r, const char *line)
{
	if (r->panel)
		panel_event(r->panel, line);
	if (!r->panel || r->log_too)
		info("%s", line);
}

__attribute__((format(printf, 2, 3)))
static void eventf(struct role *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	event(r, line);
}

static void on_post(void *ctx, enum topic t, const struct msg *m)
{
	/* bus_send() prints why it failed; delivery failures are counted. */
	bus_send(((struct role *)ctx)->bus, t, m);
}

static void on_erase(void *ctx, enum topic t, const char *id)
{
	bus_erase(((struct role *)ctx)->bus, t, id);
}

static void on_say(void *ctx, enum say level, const char *line)
{
	struct role *r = ctx;

	switch (level) {
	case SAY_DEBUG: debug("%s", line); break;
	case SAY_INFO: event(r, line); break;
	case SAY_WARN: warn("%s", line); break;
	case SAY_HOSTILE: warn_limited(&r->rl, "%s", line); break;
	}
}

static bool on_heard(void *ctx, uint32_t i, const char *id,
		     const struct now *now)
{
	return probe_heard(&((struct role *)ctx)->probe, i, id, now);
}

static long keys_refused(const struct role *r)
{
	long n = 0;

	for (int v = 0; v < KEYRING_VERDICTS; v++)
		n += r->keys.refused[v];
	return n;
}

/*
 * A CP's message whose MAC is not one of that CP's keys: counted, said
 * the first time, then at most one line every REFUSED_EVERY_MS with the
 * count. The CP's state and sessions are not touched.
 */
static void key_refused(struct role *r, enum topic t, const struct msg *m,
			enum keyring_verdict v, const char *kid,
			const struct now *now)
{
	long n = keys_refused(r);
	struct audit_actor who;
	struct audit_rec rec;

	/*
	 * To the trail too, within its rate limit: anyone can send them.
	 * Kafka does not say who wrote a record: it came "from" its topic.
	 */
	audit_actor_set(&who, AUDIT_CP, m->cp, r->conf->topics[t], r->conf);
	audit_init(&rec, &who, AUDIT_BAD_MAC, m->cp, now->wall);
	audit_result(&rec, AUDIT_REFUSED, "%s", keyring_verdict_text(v));
	audit_detail(&rec, "%s, key id '%s'", msg_type_name(m->type), kid);
	audit_post_limited(r->bus, &r->refusals, &rec);
	if (r->refused_said && now->mono - r->refused_at < REFUSED_EVERY_MS)
		return;
	warn("refused %s for '%s' (kid '%s'): %s; %ld refused so far",
	     msg_type_name(m->type), m->cp, kid, keyring_verdict_text(v), n);
	r->refused_said = n;
	r->refused_at = now->mono;
}

/* Whether a message a CP writes may reach the core: its MAC checked. */
static bool authentic(struct role *r, enum topic t, const struct msg *m,
		      const struct now *now)
{
	struct bus_sealed rec;
	enum keyring_verdict v;

	if (t != T_CP_REGISTER && t != T_TELEMETRY && t != T_HEALTH)
		return true;
	/* A CP without a key: its verdict needs no header (the hot path). */
	memset(&rec, 0, sizeof(rec));
	if (keyring_has_key(&r->keys, m->cp) && bus_last_record(r->bus, &rec))
		return false;
	v = keyring_verify(&r->keys, m->cp, rec.kid, rec.mac, rec.maclen,
			   &rec.rec, now->wall);
	if (v == KEYRING_OK || v == KEYRING_UNSIGNED_OK)
		return true;
	key_refused(r, t, m, v, rec.kid, now);
	return false;
}

/* A message read: Central's own probes first, then its rules. */
static void handle(struct role *r, enum topic t, const struct msg *m,
		   const struct now *now)
{
	switch (probe_feed(&r->probe, m, bus_last_partition(r->bus))) {
	case PROBE_NONE:
		if (authentic(r, t, m, now))
			central_feed(&r->core, m, now);
		break;
	case PROBE_READY:
		/* Tests and scripts wait for this line. */
		eventf(r, "ready: %u CPs, Kafka at '%s', group '%s'",
		       central_known(&r->core), r->conf->brokers,
		       r->conf->central.group);
		break;
	case PROBE_FORGED:
		warn_limited(&r->rl, "ignored %s from '%s': a probe that is not this Central's",
			     msg_type_name(m->type), m->cp);
		break;
	case PROBE_TAKEN:
		break;
	}
}

static void panel_row_of(void *ctx, size_t i, struct panel_row *row)
{
	const struct role *r = ctx;
	const struct central_cp *p = &r->core.cps[r->shown ? r->shown[i] : i];

	memset(row, 0, sizeof(*row));
	row->id = p->id;
	row->location = p->location;
	row->price = p->price;
	row->state = p->state;
	row->stopped = p->stopped;
	row->driver = p->busy ? p->s.driver : "";
	if (p->busy) {
		row->kw = p->s.live.kw;
		row->wh = p->s.live.wh;
		row->cents = p->s.live.cents;
	}
}

/* The rows the panel shows: every CP but the forgotten ones. */
static void update_shown(struct role *r)
{
	const struct central *c = &r->core;

	if (r->shown_roster == c->roster && (r->shown || !c->nforgotten))
		return;
	r->shown_roster = c->roster;
	free(r->shown);
	r->shown = NULL;
	r->nshown = c->ncps;
	if (!c->nforgotten)
		return;
	r->shown = xreallocarray(NULL, c->ncps, sizeof(*r->shown));
	r->nshown = 0;
	for (uint32_t i = 0; i < c->ncps; i++)
		if (!c->cps[i].forgotten)
			r->shown[r->nshown++] = i;
}

static void draw(struct role *r)
{
	const struct bus_stats *st = bus_stats(r->bus);
	const struct central *c = &r->core;
	char title[256];

	update_shown(r);
	if (c->changed)
		panel_touch(r->panel);
	r->core.changed = false;
	snprintf(title, sizeof(title),
		 " evc central%s%s  %u CPs: %ld active %ld supplying %ld stopped %ld broken %ld disconnected %ld revoked  msgs %ld rejected %ld ignored %ld",
		 r->probe.ready ? "" : " (joining)",
		 r->suspended ? " (lease in doubt: not serving)" : "", r->nshown,
		 c->count[CP_ACTIVE], c->count[CP_SUPPLYING],
		 c->count[CP_STOPPED], c->count[CP_BROKEN],
		 c->count[CP_DISCONNECTED], c->count[CP_REVOKED], st->received,
		 st->rejected + keys_refused(r),
		 c->ignored + r->probe.forged);
	panel_draw(r->panel, title, r->nshown, panel_row_of, r);
}

/*
 * What GET /metrics shows (evc(1), METRICS): the counters Central keeps
 * for its panel and its last log line, read where they are; the few
 * figures that need a sum are set as a scrape is rendered.
 */
static void metrics_begin(struct role *r)
{
	const struct bus_stats *st = bus_stats(r->bus);
	struct metrics *m = &r->metrics;
	struct metrics_family *f;

	f = metrics_family(m, METRICS_GAUGE, "evc_cps", "CPs in each state", "state");
	for (int i = 0; i < CP_STATE_COUNT; i++)
		metrics_watch_long(metrics_series(f, cp_state_name(i)),
				   &r->core.count[i]);
	r->m_sessions = metrics_series(metrics_family(m, METRICS_GAUGE,
		"evc_sessions_in_progress", "Sessions granted and not yet billed", NULL));
	metrics_counter_of(m, "evc_billed_sessions_total", "Tickets sent to drivers", &r->core.billed);
	metrics_counter_of(m, "evc_billed_energy_wh_total", "Energy billed on the tickets, Wh",
			   &r->core.billed_wh);
	metrics_counter_of(m, "evc_billed_cents_total", "Money billed on the tickets, euro cents",
			   &r->core.billed_cents);
	metrics_by_topic(m, "evc_messages_read_total", "Messages read and decoded",
			 r->conf, st->received_by, reads, NREADS);
	metrics_by_topic(m, "evc_messages_rejected_total", "Malformed messages skipped",
			 r->conf, st->rejected_by, reads, NREADS);
	metrics_by_topic(m, "evc_messages_sent_total", "Messages delivered to Kafka",
			 r->conf, st->sent_by, NULL, 0);
	metrics_by_topic(m, "evc_messages_failed_total", "Messages Kafka did not take",
			 r->conf, st->failed_by, NULL, 0);
	r->m_ignored = metrics_series(metrics_family(m, METRICS_COUNTER,
		"evc_messages_ignored_total", "Well-formed messages Central would not act on", NULL));
	metrics_counter_of(m, "evc_telemetry_implausible_total", "Figures refused as impossible",
			   &r->core.implausible);
	r->m_lag = metrics_family(m, METRICS_GAUGE, "evc_consumer_lag",
		"Messages of a partition Central's group has not read yet",
		"group,topic,partition");
	r->m_ready = metrics_series(metrics_family(m, METRICS_GAUGE, "evc_central_ready",
		"1 once Central has read what was waiting for it at its start", NULL));
}

/* The lag of each partition assigned, as librdkafka's statistics gave it. */
static void lag_series(struct role *r)
{
	char part[16];
	long long lag;

	metrics_clear(r->m_lag);
	for (size_t i = 0; i < NREADS; i++)
		for (int32_t p = 0; p < bus_lag_partitions(r->bus, reads[i]); p++) {
			if ((lag = bus_lag(r->bus, reads[i], p)) < 0)
				continue;
			snprintf(part, sizeof(part), "%d", (int)p);
			metrics_set(metrics_series(r->m_lag, r->conf->central.group,
						   r->conf->topics[reads[i]], part),
				    (double)lag);
		}
}

/* One scrape, rendered in Central's thread: its state is read as it is. */
static char *render(void *arg, size_t *len)
{
	struct role *r = arg;

	metrics_set(r->m_sessions, r->core.by_driver.n);
	metrics_set(r->m_ignored, (double)(r->core.ignored + r->probe.forged));
	metrics_set(r->m_ready, r->probe.ready);
	lag_series(r);
	return metrics_render(&r->metrics, len);
}

/*
 * The listener of GET /metrics, on a loop of its own that Central's
 * loop runs without waiting every SCRAPE_MS (lib/exporter.h). A thread
 * of its own would need a lock or a copy of the state on the hot path;
 * this costs one epoll_wait(2) of no time per SCRAPE_MS, and a scrape
 * waits at most for one turn of the loop (RECV_MS when idle). Opened
 * before Kafka is asked anything, so that an address taken is said at
 * once; answered only once Central serves.
 */
static int metrics_open(struct role *r)
{
	if (!r->metrics_at)
		return 0;
	return (r->exporter = exporter_open(r->metrics_at, render, r)) ? 0 : -1;
}

static void metrics_close(struct role *r)
{
	exporter_close(r->exporter);
	r->exporter = NULL;
	metrics_free(&r->metrics);
}

/* The audit action of a stop or resume, of one CP or all. */
static enum audit_action control_action(enum msg_cmd cmd, bool all)
{
	if (cmd == CMD_STOP)
		return all ? AUDIT_STOP_ALL : AUDIT_STOP;
	return all ? AUDIT_RESUME_ALL : AUDIT_RESUME;
}

/* What the operator did at the panel: done, and written to the trail. */
static void operate(struct role *r, const struct panel_cmd *cmd,
		    const struct now *now)
{
	enum msg_cmd c = cmd->action == PANEL_STOP ? CMD_STOP : CMD_RESUME;
	const char *id = cmd->all ? NULL : cmd->cp;
	struct audit_actor who;
	struct audit_rec rec;

	if (cmd->action == PANEL_QUIT) {
		r->quit = true;
		return;
	}
	audit_actor_local(&who, AUDIT_PANEL, r->conf);
	audit_init(&rec, &who, control_action(c, cmd->all), id, now->wall);
	if (r->suspended) {
		event(r, "not serving while the lease is in doubt: order not taken");
		audit_result(&rec, AUDIT_REFUSED, "lease in doubt");
	} else {
		if (id && !central_find(&r->core, id))
			audit_result(&rec, AUDIT_FAILED, "no such CP");
		central_control(&r->core, c, id, now);
	}
	audit_post(r->bus, &rec);	/* says why it failed; delivered later */
}

/* One entry to the core, whatever it came from. */
static void catalogue_set(struct role *r, const char *id,
			  const struct msg_cp_entry *e, const struct now *now)
{
	if (central_catalogue_set(&r->core, id, e, now) == CENTRAL_FULL)
		warn_limited(&r->rl, "more than %d CPs: '%s' not added",
			     CENTRAL_MAX_CPS, id);
}

/* What changed on cp-catalogue since the last tick, to the core. */
static void follow_catalogue(struct role *r, const struct now *now)
{
	struct msg m;
	enum topic t;
	int got = 1;

	for (int i = 0; r->cat && got > 0 && i < CATALOGUE_BATCH; i++) {
		if ((got = bus_recv(r->cat, &m, &t, 0)) == BUS_GONE)
			central_catalogue_remove(&r->core, m.cp, now);
		else if (got > 0)
			catalogue_set(r, m.cp, &m.u.entry, now);
	}
	if (got < 0) {
		warn("cannot follow '%s' any more: changes of the catalogue will not reach Central",
		     r->conf->topics[T_CP_CATALOGUE]);
		bus_close(r->cat, 0);
		r->cat = NULL;
	}
}

/*
 * The lease in doubt (its group lost it: the coordinator failing over,
 * or this process frozen), Central suspends: it decides and publishes
 * nothing, lest another Central was given the lease, and keeps all it
 * knows, to serve on from it if the lease comes back as it was.
 */
static void suspend(struct role *r, const struct now *now)
{
	eventf(r, "the lease of group '%s' is in doubt: not serving until Kafka settles it",
	       r->lease.group);
	central_pause(&r->core, now);
	r->suspended = true;
	r->suspended_at = now->mono;
}

/*
 * The lease back, and no other Central took it meanwhile: Central
 * serves on. The time suspended is nobody's silence (central_resume()),
 * and its view of the partitions' ends is old until it has read for a
 * health timeout again (probe_stalled()).
 */
static void resume(struct role *r, const struct now *now)
{
	eventf(r, "the lease of group '%s' is ours again, no other Central served meanwhile: serving on after %lld ms",
	       r->lease.group, now->mono - r->suspended_at);
	central_resume(&r->core, now);
	probe_stalled(&r->probe, r->conf->central.health_timeout_ms, now);
	r->suspended = false;
	r->last_commit = now->mono;
}

/* Whether this Central still holds the lease: first thing every tick. */
static void keep_lease(struct role *r, const struct now *now)
{
	switch (lease_keep(&r->lease)) {
	case LEASE_HELD:
		if (r->suspended)
			resume(r, now);
		break;
	case LEASE_DOUBT:
		if (!r->suspended)
			suspend(r, now);
		break;
	case LEASE_GONE:
		eventf(r, "lost the lease of group '%s': another Central serves now",
		       r->lease.group);
		r->lost = true;
		break;
	}
}

/* Central signs what it writes to a CP with that CP's newest key. */
static struct seal_key *sign_for(void *ctx, enum topic t, const struct msg *m)
{
	struct role *r = ctx;

	if (t != T_CP_COMMANDS && t != T_CP_REGISTER_ACK)
		return NULL;
	return keyring_key(&r->keys, m->cp);
}

/*
 * One record of cp-keys, to the table and, for a revocation or a key
 * after one, to the core. Kids are said; keys never are.
 */
static void key_record(struct role *r, const char *cp, const struct now *now)
{
	struct bus_sealed rec;
	struct seal_entry e;
	char err[160];

	if (bus_last_record(r->kbus, &rec))
		return;
	if (seal_parse(rec.rec.val, rec.rec.vallen, &e, err, sizeof(err))) {
		warn_limited(&r->rl, "ignored a record of '%s' for '%s': %s",
			     r->conf->topics[T_CP_KEYS], cp, err);
		return;
	}
	/* The CP is told to end its session with the key it still has. */
	if (e.revoked)
		central_revoke(&r->core, cp, true, now);
	switch (keyring_set(&r->keys, cp, &e)) {
	case KEYRING_ISSUED:
		info("keys: %s has key '%s'", cp, e.cur.kid);
		central_revoke(&r->core, cp, false, now);
		break;
	case KEYRING_ROTATED:
		info("keys: %s has key '%s'; the one before is good until %lld",
		     cp, e.cur.kid, (long long)e.keep_until);
		break;
	case KEYRING_REPLACED:
		info("keys: %s has key '%s'; the one before is dropped", cp, e.cur.kid);
		break;
	case KEYRING_REVOKE:
		info("keys: %s revoked", cp);
		break;
	case KEYRING_FULL:
		warn_limited(&r->rl, "too many CPs with keys: '%s' not added", cp);
		break;
	case KEYRING_SAME:
		break;
	}
	OPENSSL_cleanse(&e, sizeof(e));
}

/* What changed on cp-keys since the last tick. */
static void follow_keys(struct role *r, const struct now *now)
{
	struct msg m;
	enum topic t;
	int got = 1;

	for (int i = 0; r->kbus && got > 0 && i < KEYS_BATCH; i++) {
		if ((got = bus_recv(r->kbus, &m, &t, 0)) == BUS_GONE)
			keyring_remove(&r->keys, m.cp);
		else if (got == BUS_RAW)
			key_record(r, m.cp, now);
	}
	if (got < 0) {
		warn("cannot follow '%s' any more: keys issued from now on will not reach Central",
		     r->conf->topics[T_CP_KEYS]);
		bus_close(r->kbus, 0);
		r->kbus = NULL;
	}
}

/* cp-keys read to its end at the start, then followed; false: denied. */
static bool keys_begin(struct role *r)
{
	long long end = mono_ms() + RESTORE_MS;
	struct now now = now_is();

	r->kbus = bus_open(r->conf, BUS_CONSUMER, NULL);
	if (!r->kbus || bus_follow_all(r->kbus, T_CP_KEYS)) {
		warn("cannot read '%s': no CP has a key", r->conf->topics[T_CP_KEYS]);
		bus_close(r->kbus, 0);
		r->kbus = NULL;
		return !bus_stop;
	}
	while (!bus_caught_up(r->kbus) && mono_ms() < end && !bus_stop &&
	       !bus_denied(r->kbus))
		follow_keys(r, &now);
	if (r->kbus && bus_denied(r->kbus))
		return false;
	if (r->kbus && !bus_caught_up(r->kbus))
		warn("cannot read '%s' to its end: its last keys come as it is read",
		     r->conf->topics[T_CP_KEYS]);
	return true;
}

/* Said once at the start: which CPs are served unsigned, and why. */
static void say_keys(struct role *r)
{
	char list[256] = "";
	size_t used = 0;
	uint32_t without = 0;

	for (uint32_t i = 0; i < r->core.ncps; i++) {
		const struct central_cp *p = &r->core.cps[i];

		if (p->forgotten || keyring_key(&r->keys, p->id) ||
		    (keyring_find(&r->keys, p->id) && keyring_find(&r->keys, p->id)->revoked))
			continue;
		if (!without++ || used < sizeof(list) - 40)
			used += (size_t)snprintf(list + used, sizeof(list) - used,
						 "%s%s", used ? " " : "", p->id);
	}
	if (!without)
		info("keys: every CP has a key: unsigned messages are refused");
	else if (r->conf->central.require_keys)
		info("keys: %u CPs have no key and are refused until issued one (evc cps key): %s%s",
		     without, list, used >= sizeof(list) - 40 ? " ..." : "");
	else
		info("keys: central.require_keys is off: %u CPs without a key are served unsigned: %s%s",
		     without, list, used >= sizeof(list) - 40 ? " ..." : "");
}

static void housekeeping(struct role *r, const struct now *now)
{
	struct panel_cmd cmd;

	if (now->mono - r->last_tick >= TICK_MS) {
		log_flush();
		r->last_tick = now->mono;
		keep_lease(r, now);
		if (!r->suspended && !r->lost) {
			follow_catalogue(r, now);
			follow_keys(r, now);
			probe_tick(&r->probe, now);
			central_tick(&r->core, now);
		}
	}
	if (r->exporter && now->mono - r->last_scrape >= SCRAPE_MS) {
		exporter_service(r->exporter);
		r->last_scrape = now->mono;
	}
	if (!r->suspended &&
	    now->mono - r->last_commit >= r->commit_ms) {
		bus_commit(r->bus);
		r->last_commit = now->mono;
	}
	if (!r->panel)
		return;
	while (panel_key(r->panel, &cmd))
		operate(r, &cmd, now);
	draw(r);
}

/*
 * Central commits offsets itself, after flushing what they caused; the
 * librdkafka property auto.commit.interval.ms (the last one set) keeps
 * its meaning: how often. bus_open() has checked it is a number.
 */
static long long commit_interval(const struct conf *conf)
{
	long long ms = COMMIT_MS;

	for (unsigned i = 0; i < conf->nprops; i++)
		if (!strcmp(conf->props[i].name, "auto.commit.interval.ms"))
			ms = atoll(conf->props[i].value);
	return ms > 0 ? ms : COMMIT_MS;
}

/*
 * A clean stop first reads what is left, Central's own last probes of
 * the health topic among it, so that the offsets it commits leave no lag
 * behind it. What is read is handled as usual; no probe goes out.
 */
static void drain(struct role *r)
{
	long long end = mono_ms() + DRAIN_MS, quiet = mono_ms();
	struct now now;
	struct msg m;
	enum topic t;
	int got;

	bus_flush(r->bus, FLUSH_MS);
	while (mono_ms() < end && mono_ms() - quiet < DRAIN_QUIET_MS) {
		if ((got = bus_recv(r->bus, &m, &t, 10)) < 0)
			break;
		if (got > 0) {
			now = now_is();
			handle(r, t, &m, &now);
			quiet = now.mono;
		}
	}
}

/* One turn of the loop: a message if one comes, then what is due. */
static void serve_turn(struct role *r)
{
	struct now now;
	struct msg m;
	enum topic t;
	int got;

	if ((got = bus_recv(r->bus, &m, &t, RECV_MS)) < 0) {
		r->failed = true;
		return;
	}
	/* One clock read per message: at a backlog's pace it is not free. */
	now = now_is();
	if (now.mono - r->last_loop > STALL_MS + RECV_MS)
		probe_stalled(&r->probe, r->conf->central.health_timeout_ms,
			      &now);
	r->last_loop = now.mono;
	if (got > 0)
		handle(r, t, &m, &now);
	else
		log_flush();	/* nothing to read: nothing to wait for */
	housekeeping(r, &now);
}

/*
 * Suspended, Central reads nothing (what it would read waits for it in
 * Kafka) and serves only its deliveries, the lease and the panel.
 */
static void suspended_turn(struct role *r)
{
	struct now now;

	bus_poll(r->bus, RECV_MS);
	now = now_is();
	r->last_loop = now.mono;
	log_flush();
	housekeeping(r, &now);
}

static int serve_one(struct role *r)
{
	if (r->suspended)
		suspended_turn(r);
	else
		serve_turn(r);
	if (r->failed)
		return -1;
	/* Refused by Kafka's ACLs, or replaced: serving would do harm. */
	if (r->lost || bus_denied(r->bus)) {
		bus_abandon(r->bus);
		lease_release(&r->lease, true);
		return -1;
	}
	return 0;
}

static int serve(struct role *r)
{
	int ret = 0;

	r->last_tick = r->last_commit = r->last_loop = mono_ms();
	r->commit_ms = commit_interval(r->conf);
	/*
	 * Serving, Central may log tens of thousands of lines a second: they
	 * go out in batches, at the latest at the next tick (100 ms).
	 */
	log_batch(true);
	while (!bus_stop && !r->quit && (ret = serve_one(r)) == 0)
		;
	if (ret == 0 && !r->suspended)	/* suspended: nothing more is read */
		drain(r);
	log_batch(false);
	return ret < 0 ? EXIT_FAIL : EXIT_OK;
}

/* central.catalogue, checked whole: the seed of the catalogue topic. */
static int load_catalogue(struct role *r)
{
	const struct conf_central *cc = &r->conf->central;

	if (!cc->catalogue || !*cc->catalogue)
		return 0;
	if (catalogue_load(&r->yaml, cc->catalogue))
		return -1;
	return registry_check_file(&r->yaml, cc->catalogue);
}

/* The YAML catalogue to the core: when the topic cannot be read. */
static void feed_yaml(struct role *r, const struct now *now)
{
	struct msg_cp_entry e;

	for (unsigned i = 0; i < r->yaml.ncps; i++) {
		const struct cp_entry *en = &r->yaml.cps[i];

		memset(&e, 0, sizeof(e));
		snprintf(e.location, sizeof(e.location), "%s", en->location);
		e.price = en->price;
		e.power_kw = en->power_kw;
		catalogue_set(r, en->id, &e, now);
	}
}

/* The topic as read, by id: its entries, and its removals remembered. */
static void feed_registry(struct role *r, struct registry *reg,
			  const struct now *now)
{
	const struct registry_row *const *rows = registry_sorted(reg);

	for (uint32_t i = 0; i < reg->n; i++) {
		if (rows[i]->removed)
			central_catalogue_remove(&r->core, rows[i]->id, now);
		else
			catalogue_set(r, rows[i]->id, &rows[i]->e, now);
	}
}

/*
 * A topic that never held a record takes the YAML catalogue: written
 * by the first Central to start (or evc topics create). False when it
 * could not be, said.
 */
static bool seed(struct role *r)
{
	const char *file = r->conf->central.catalogue;
	const char *topic = r->conf->topics[T_CP_CATALOGUE];
	long n;

	if (!r->yaml.ncps)
		return true;
	if ((n = registry_seed(r->bus, &r->yaml, file, now_ms())) < 0) {
		warn("cannot seed '%s': the CPs of '%s' are known to this Central alone",
		     topic, file);
		return false;
	}
	info("catalogue: topic '%s' held nothing: seeded with %ld CPs from '%s'",
	     topic, n, file);
	return true;
}

/* Which catalogue Central uses, said once it is read. */
static void say_catalogue(const struct role *r, bool seeded)
{
	const char *topic = r->conf->topics[T_CP_CATALOGUE];
	const char *file = r->conf->central.catalogue;

	if (seeded || !file || !*file)
		info("catalogue: %u CPs, following topic '%s'",
		     central_known(&r->core), topic);
	else
		info("catalogue: %u CPs, following topic '%s' (the file '%s' only seeds an empty topic)",
		     central_known(&r->core), topic, file);
}

/* The topic cannot be read: the file's CPs stand in, without changes. */
static void catalogue_fallback(struct role *r, const struct now *now)
{
	const char *topic = r->conf->topics[T_CP_CATALOGUE];

	if (r->yaml.ncps)
		warn("cannot read '%s': the catalogue is that of '%s' alone, without the topic's changes",
		     topic, r->conf->central.catalogue);
	else
		warn("cannot read '%s': no catalogue", topic);
	feed_yaml(r, now);
	bus_close(r->cat, 0);
	r->cat = NULL;
}

/*
 * The catalogue Central serves: the topic cp-catalogue, read to its
 * end and followed from then on; the YAML catalogue seeds it when it
 * never held a record, and stands in for it when it cannot be read.
 * False when Kafka refuses Central the topic.
 */
static bool catalogue_begin(struct role *r)
{
	enum bus_read res = BUS_READ_UNFOLLOWED;
	struct now now = now_is();
	struct registry reg;
	int used;

	r->cat = bus_open(r->conf, BUS_CONSUMER, NULL);
	used = r->cat ? registry_used(r->cat) : -1;
	if (used == 0 && !seed(r))
		feed_yaml(r, &now);
	registry_init(&reg);
	if (used >= 0)
		res = registry_read(r->cat, &reg, RESTORE_MS);
	if (r->cat && bus_denied(r->cat)) {
		registry_free(&reg);
		return false;
	}
	if (res == BUS_READ_TIMEOUT)
		warn("cannot read '%s' to its end: its last CPs come as it is read",
		     r->conf->topics[T_CP_CATALOGUE]);
	if (res == BUS_READ_DONE || res == BUS_READ_TIMEOUT) {
		feed_registry(r, &reg, &now);
		say_catalogue(r, used == 0);
	} else if (res != BUS_READ_STOPPED) {	/* a signal: Central stops */
		catalogue_fallback(r, &now);
	}
	registry_free(&reg);
	return true;
}

/* The settings the catalogue check cannot see. */
static int check_defaults(const struct conf_central *cc)
{
	if (strlen(cc->default_location) > MSG_TEXT_MAX)
		return error("central.default_location longer than %d bytes",
			     MSG_TEXT_MAX);
	if (!(cc->default_price >= 0 && cc->default_price <= MSG_PRICE_MAX))
		return error("central.default_price out of range: %g",
			     cc->default_price);
	return 0;
}

/*
 * After a restart, Central takes back from cp-state the sessions in
 * progress (so that their tickets still reach the drivers) and the CPs
 * it had stopped. False when Kafka refuses Central the topic.
 */
static bool restore(struct role *r)
{
	const char *topic = r->conf->topics[T_CP_STATE];
	struct bus *b = bus_open(r->conf, BUS_CONSUMER, NULL);
	enum bus_read res = BUS_READ_UNFOLLOWED;
	struct now now = now_is();
	struct cpstate cs;
	bool denied;

	cpstate_init(&cs);
	if (b)
		res = cpstate_read(b, &cs, RESTORE_MS);
	denied = b && bus_denied(b);
	if (res == BUS_READ_UNFOLLOWED && !denied)
		warn("cannot read '%s': starting afresh", topic);
	else if (res != BUS_READ_DONE && !denied)
		warn("cannot read '%s' to its end: some state may be lost",
		     topic);
	for (uint32_t i = 0; i < cs.n && !denied; i++)
		central_restore(&r->core, &cs.rows[i], &now);
	debug("restored %ld cp-state records", cs.records);
	cpstate_free(&cs);
	bus_close(b, 0);
	return !denied;
}

/* Sleeps ms, or less when a signal asks to stop; false when it did. */
static bool pause_ms(long long ms)
{
	long long end = mono_ms() + ms;

	while (!bus_stop && mono_ms() < end)
		usleep(100 * 1000);
	return !bus_stop;
}

/* Daemons wait for Kafka: a broker may come up after them. */
static bool wait_for_kafka(struct role *r)
{
	long long pause = 1000;

	while (bus_check(r->bus, CHECK_MS)) {
		if (!pause_ms(pause))
			return false;
		pause = pause * 2 < RETRY_MAX_MS ? pause * 2 : RETRY_MAX_MS;
	}
	return true;
}

/*
 * A Central that stood by and now serves writes it to the trail: its
 * host, and who held the lease meanwhile is for the trail's reader.
 */
static void audit_takeover(struct role *r)
{
	struct audit_actor who;
	struct audit_rec rec;

	audit_actor_local(&who, AUDIT_CENTRAL, r->conf);
	audit_init(&rec, &who, AUDIT_TAKEOVER, NULL, now_ms());
	audit_detail(&rec, "lease of group '%s' taken after %lld s standing by",
		     r->lease.group, r->lease.waited / 1000);
	audit_post(r->bus, &rec);
}

/* Connects and subscribes; false with *status when Central cannot serve. */
static bool start(struct role *r, int *status)
{
	struct now now;

	*status = EXIT_USAGE;	/* bus_open() fails on bad properties */
	if (!(r->bus = bus_open(r->conf, BUS_PRODUCER | BUS_GROUP | BUS_SOLE,
				r->conf->central.group)))
		return false;
	*status = EXIT_OK;	/* a signal before Kafka answered */
	if (!wait_for_kafka(r))
		return false;
	if (!lease_take(&r->lease, r->conf)) {
		*status = bus_stop ? EXIT_OK : EXIT_FAIL;
		return false;
	}
	*status = EXIT_FAIL;
	if (!catalogue_begin(r) || !restore(r) || !keys_begin(r) ||
	    bus_subscribe(r->bus, reads, NREADS))
		return false;
	say_keys(r);
	bus_seal(r->bus, sign_for, r);
	bus_trust(r->bus, r->conf->central.health_timeout_ms);
	if (r->lease.waited)
		audit_takeover(r);
	now = now_is();
	probe_init(&r->probe, r->bus, &now);
	central_serve(&r->core, &now);
	return true;
}

static void stop(struct role *r)
{
	const struct bus_stats *st;

	if (r->bus) {
		bus_flush(r->bus, FLUSH_MS);
		st = bus_stats(r->bus);
		if (r->core.started)	/* one that never served has nothing to say */
			info("stats: received %ld, rejected %ld, ignored %ld, sent %ld, failed %ld, implausible %ld, refused %ld: unsigned %ld, bad_mac %ld, unknown_kid %ld, revoked %ld",
			     st->received, st->rejected,
			     r->core.ignored + r->probe.forged, st->sent,
			     st->failed, r->core.implausible, keys_refused(r),
			     r->keys.refused[KEYRING_UNSIGNED],
			     r->keys.refused[KEYRING_BAD_MAC],
			     r->keys.refused[KEYRING_UNKNOWN_KID],
			     r->keys.refused[KEYRING_REVOKED]);
		bus_close(r->bus, FLUSH_MS);
		r->bus = NULL;
	}
	bus_close(r->cat, 0);
	r->cat = NULL;
	bus_close(r->kbus, 0);
	r->kbus = NULL;
	lease_release(&r->lease, false);
}

/* Set when the lease went to another Central while this one served. */
static bool lease_lost;

/*
 * A Central that lost the lease (frozen past the session timeout, or cut
 * off while a broker failed over) starts again as the same process, with
 * nothing of what it held: it stands by, or serves again from cp-state
 * and the committed offsets if the lease comes back to it.
 */
static void stand_by_again(char **argv)
{
	info("standing by again");
	fflush(stderr);
	execv("/proc/self/exe", argv);
	warn("cannot start again: %s", strerror(errno));
}

static int run_central(struct conf *conf, bool check_only,
		       const char *metrics_at)
{
	struct role *r = xcalloc(1, sizeof(*r));
	struct central_hooks hooks = {
		.post = on_post, .erase = on_erase, .say = on_say,
		.heard = on_heard, .ctx = r,
		.say_min = log_verbose ? SAY_DEBUG : SAY_INFO,
	};
	int ret;

	r->conf = conf;
	r->metrics_at = metrics_at ? metrics_at : conf->central.metrics;
	metrics_init(&r->metrics);
	central_init(&r->core, &conf->central, &hooks);
	keyring_init(&r->keys, conf->central.require_keys);
	if (check_defaults(&conf->central) || load_catalogue(r)) {
		ret = EXIT_USAGE;
		goto out;
	}
	if (check_only) {
		ret = EXIT_OK;
		goto out;
	}
	bus_signals();
	if (metrics_open(r)) {
		ret = EXIT_FAIL;
		goto out;
	}
	if (!start(r, &ret))
		goto out;
	metrics_begin(r);
	if ((r->panel = panel_open()))
		r->log_too = !isatty(STDERR_FILENO);
	ret = serve(r);
	lease_lost = r->lost;
	panel_close(r->panel);
	r->panel = NULL;
out:
	metrics_close(r);
	stop(r);
	probe_free(&r->probe);
	central_free(&r->core);
	keyring_free(&r->keys);
	catalogue_free(&r->yaml);
	free(r->shown);
	free(r);
	return ret;
}

/*
 * evc central stop|resume CP|all: one control message, delivered, and
 * one record in the audit trail (Central, which obeys it, does not know
 * who sent it: the command does).
 */
static int run_control(const struct conf *conf, const char *verb,
		       const char *target)
{
	bool all = !strcmp(target, "all");
	struct audit_actor who;
	struct audit_rec rec;
	struct bus *b;
	struct msg m;
	int ret = EXIT_OK;

	if (!all && !msg_name_ok(target))
		return usage_error("bad CP id: '%s'", target);
	if (!(b = bus_open(conf, BUS_PRODUCER, NULL)))
		return EXIT_USAGE;
	if (bus_check(b, CHECK_MS)) {
		bus_close(b, 0);
		return EXIT_UNREACHABLE;
	}
	msg_init(&m, MSG_CONTROL);
	m.u.ctl.cmd = !strcmp(verb, "stop") ? CMD_STOP : CMD_RESUME;
	m.u.ctl.all = all;
	if (!all)
		snprintf(m.cp, sizeof(m.cp), "%s", target);
	audit_actor_local(&who, AUDIT_CLI, conf);
	audit_init(&rec, &who, control_action(m.u.ctl.cmd, all), m.cp, m.ts);
	if (bus_send(b, T_CONTROL, &m))
		ret = EXIT_FAIL;
	else if (bus_flush(b, FLUSH_MS))
		ret = EXIT_UNREACHABLE;
	else
		debug("%s %s sent", verb, target);
	ret = audit_finish(b, &rec, ret, FLUSH_MS);
	bus_close(b, 0);
	return ret;
}

struct central_opts {
	bool check;		/* -n */
	const char *metrics;	/* -m, over central.metrics */
};

static int central_opt(void *ctx, int opt, const char *arg)
{
	struct central_opts *o = ctx;

	if (opt == 'n') {
		o->check = true;
		return 0;
	}
	if (!conf_listen_ok(arg))
		return usage_error("bad --metrics (ADDR:PORT): '%s'", arg);
	o->metrics = arg;
	return 0;
}

/* What follows the options: nothing, or "stop|resume CP|all". */
static int check_words(void *ctx, int n, char **w)
{
	if (n == 0)
		return 0;
	if (strcmp(w[0], "stop") && strcmp(w[0], "resume"))
		return usage_error("unknown action: '%s'", w[0]);
	if (n != 2)
		return usage_error("expected one CP id or 'all' after '%s'",
				   w[0]);
	if (((struct central_opts *)ctx)->check)
		return usage_error("-n does not go with '%s'", w[0]);
	if (((struct central_opts *)ctx)->metrics)
		return usage_error("-m does not go with '%s'", w[0]);
	return 0;
}

static int central_run(void *ctx, struct setup *su)
{
	struct central_opts *o = ctx;

	if (su->argc)
		return run_control(&su->conf, su->argv[0], su->argv[1]);
	return run_central(&su->conf, o->check, o->metrics);
}

int cmd_central(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'n' },
		{ "metrics", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct central_opts co = { 0 };
	struct setup_opts o = {
		.usage = usage, .shortopts = "m:n", .longopts = opts,
		.opt = central_opt, .operands = check_words, .run = central_run,
		.ctx = &co,
	};
	int ret = setup_run(&o, argc, argv);

	if (lease_lost)
		stand_by_again(argv);
	return ret;
}
