/* engine.c: the CP engine: its core (lib/cp.c) fed from Kafka and the monitor, its session file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "cp.h"
#include "engine.h"
#include "log.h"
#include "msg.h"
#include "statefile.h"

#define RETRY_MIN_MS 500	/* first back-off while Kafka is away */
#define RETRY_MAX_MS 5000	/* longest */
#define SLICE_MS 50		/* longest wait on Kafka: the monitor waits too */
#define FLUSH_MS 5000		/* how long a supply_end may take to deliver */

/* The CP's protocol is its core (lib/cp.c); the engine is its I/O. */
struct engine {
	const struct conf *c;
	const char *id;
	int fd;			/* the monitor's socket */
	struct bus *b;
	char state[PATH_MAX];	/* the session file, "" when none can be kept */
	char kept[MSG_UUID_LEN + 1];	/* the session the file holds */
	struct cp_owner o;
	struct cp cp;
	bool lost;
	long queued;		/* messages handed to the bus */
	long failed;		/* delivery failures when the last end was kept */
	bool unsent;		/* a message posted since was not even queued */
	struct ratelimit rl_hostile, rl_state, rl_mon, rl_forged;
	int exit;		/* -1 while running */
	struct seal_key *key;	/* signs what it sends; NULL: unsigned */
	long forged;		/* messages for this CP not signed by Central */
};

static void state_init(struct engine *e)
{
	const char *dir = e->c->cp.state_dir;
	int n;

	e->state[0] = '\0';
	if (!dir || !*dir || state_mkdirs(dir)) {
		warn("cannot create state directory: '%s': %s (an interrupted"
		     " session will be lost)", dir ? dir : "", strerror(errno));
		return;
	}
	n = snprintf(e->state, sizeof(e->state), "%s/%s.session", dir, e->id);
	if (n < 0 || (size_t)n >= sizeof(e->state)) {
		warn("state directory name too long: '%s'", dir);
		e->state[0] = '\0';
	}
}

/*
 * Keeps end, the supply_end to send if the engine died now, so that a
 * restarted engine reports what was supplied: written aside and renamed,
 * so the file is always whole.
 */
static void state_save(struct engine *e, const struct msg *end)
{
	char buf[2048];
	int len;

	if (!e->state[0] || (len = msg_encode(end, buf, sizeof(buf) - 1)) < 0)
		return;
	buf[len++] = '\n';
	if (state_replace(e->state, buf, (size_t)len))
		warn_limited(&e->rl_state, "cannot write session file: '%s': %s",
			     e->state, strerror(errno));
}

static void state_remove(struct engine *e)
{
	if (e->state[0] && unlink(e->state) && errno != ENOENT)
		warn("cannot remove session file: '%s': %s", e->state,
		     strerror(errno));
}

/* A session file that cannot be used is moved aside, not lost. */
static void state_bad(struct engine *e, const char *why)
{
	char bad[PATH_MAX + 8];

	snprintf(bad, sizeof(bad), "%s.bad", e->state);
	warn("ignoring bad session file: '%s': %s (moved to '%s')", e->state,
	     why, bad);
	rename(e->state, bad);
}

/* Reads the session file into m; 0 when there is one and it decodes. */
static int state_load(struct engine *e, struct msg *m)
{
	char buf[MSG_MAX_BYTES], why[160];
	ssize_t n;
	int fd, err;

	if (!e->state[0] || (fd = open(e->state, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	err = errno;
	close(fd);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n < 0)
		snprintf(why, sizeof(why), "%s", strerror(err));
	else if (!msg_decode(buf, (size_t)n, m, why, sizeof(why)))
		return 0;
	state_bad(e, why);
	return -1;
}

static void monitor_read(struct engine *e);

/* The core's post hook; the count tells delivered() when all is sent. */
static int on_post(void *arg, enum topic t, const struct msg *m)
{
	struct engine *e = arg;

	if (bus_send(e->b, t, m)) {
		e->unsent = true;
		return -1;
	}
	e->queued++;
	return 0;
}

/*
 * Waits until Kafka has taken everything queued so far; 0 when all that
 * was posted since the last supply_end was kept is delivered. The
 * monitor is served meanwhile: a slow acknowledgement is not a sick
 * engine.
 */
static int delivered(struct engine *e)
{
	const struct bus_stats *st = bus_stats(e->b);
	long long end = mono_ms() + FLUSH_MS;

	if (e->unsent)
		return -1;
	while (st->sent + st->failed < e->queued) {
		if (mono_ms() >= end)
			return -1;
		bus_poll(e->b, SLICE_MS);
		monitor_read(e);
	}
	return st->failed == e->failed ? 0 : -1;
}

/*
 * The core's save hook: the session file holds keep; with NULL, it goes
 * once Kafka has acknowledged the supply_end posted after it.
 */
static void on_save(void *arg, const struct cp *p, const struct msg *keep)
{
	struct engine *e = arg;

	(void)p;
	if (keep) {
		e->failed = bus_stats(e->b)->failed;
		e->unsent = false;
		memcpy(e->kept, keep->session, sizeof(e->kept));
		state_save(e, keep);
	} else if (delivered(e))
		warn("the end of session '%s' is not delivered yet: kept in '%s'",
		     e->kept, e->state);
	else
		state_remove(e);
}

/* The core's lines: hostile ones, which input can repeat, rate-limited. */
static void on_say(void *arg, const struct cp *p, enum say level,
		   const char *line)
{
	(void)p;
	log_say(&((struct engine *)arg)->rl_hostile, level, line);
}

/* A session an engine crash interrupted: its end, as the file keeps it. */
static void state_recover(struct engine *e)
{
	struct now t = clock_now();
	struct msg m;

	if (!state_load(e, &m) && cp_interrupted(&e->cp, &m, &t))
		state_bad(e, "not a supply_end of this CP");
}

static void reply(struct engine *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply(struct engine *e, const char *fmt, ...)
{
	char buf[ENGINE_PACKET_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (send(e->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != EAGAIN)
		e->lost = true;
}

/* The monitor's actions, and what the engine answers to each. */
static const struct {
	const char *name;
	enum cp_action act;
	enum cp_event did;	/* what the core says when it acted */
	bool refusable;		/* not acting is refusing */
	const char *yes, *no;
} actions[] = {
	{ "unplug", CP_UNPLUG, CP_EV_ENDED, true, "unplugged",
	  "no car is plugged in" },
	{ "fault", CP_FAULT, CP_EV_FAULTED, false, "engine faulted",
	  "already faulted" },
	{ "recover", CP_RECOVER, CP_EV_RECOVERED, false, "engine recovered",
	  "not faulted" },
};

/* An action from the monitor: keys, signals, `evc cp ID ACTION`. */
static void on_action(struct engine *e, unsigned tag, const char *what)
{
	char st[ENGINE_PACKET_MAX - 32];
	const char *text = "unknown action";
	struct now t = clock_now();
	bool ok = false, did;

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(what, actions[i].name))
			continue;
		did = cp_act(&e->cp, actions[i].act, &t) == actions[i].did;
		ok = did || !actions[i].refusable;
		text = did ? actions[i].yes : actions[i].no;
		break;
	}
	if (!strcmp(what, "status")) {
		cp_status(&e->cp, st, sizeof(st));
		ok = true;
		text = st;
	}
	reply(e, "done %u %s %s %s", tag, ok ? "ok" : "refused",
	      e->cp.faulted ? "ko" : "ok", text);
}

static void on_packet(struct engine *e, char *p)
{
	char st[ENGINE_PACKET_MAX - 32], what[16];
	unsigned n;

	if (sscanf(p, "ping %u", &n) == 1) {
		cp_status(&e->cp, st, sizeof(st));
		reply(e, "pong %u %s %s", n, e->cp.faulted ? "ko" : "ok", st);
	} else if (sscanf(p, "cmd %u %15s", &n, what) == 2)
		on_action(e, n, what);
	else
		warn_limited(&e->rl_mon, "bad request from the monitor: '%.40s'",
			     p);
}

/* Serves what the monitor sent; its EOF means the monitor is gone. */
static void monitor_read(struct engine *e)
{
	char p[ENGINE_PACKET_MAX + 1];
	ssize_t n;

	while (!e->lost) {
		n = recv(e->fd, p, sizeof(p) - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			e->lost = true;
			warn("lost the monitor: ending");
			return;
		}
		p[n] = '\0';
		on_packet(e, p);
	}
}

/* Waits ms for nothing but the monitor (Kafka back-off). */
static void monitor_wait(struct engine *e, int ms)
{
	long long end = mono_ms() + ms, left;
	struct pollfd pfd = { .fd = e->fd, .events = POLLIN };

	while (!bus_stop && !e->lost && (left = end - mono_ms()) > 0) {
		if (poll(&pfd, 1, (int)left) > 0)
			monitor_read(e);
	}
}

/* Follows the engine's two partitions, retrying while Kafka is away. */
static int connect_kafka(struct engine *e)
{
	int ms = RETRY_MIN_MS;

	for (;;) {
		monitor_read(e);
		if (bus_stop || e->lost)
			return -1;
		if (!bus_follow(e->b, T_CP_REGISTER_ACK, e->id, 0) &&
		    !bus_follow(e->b, T_CP_COMMANDS, e->id, 0))
			return 0;
		info("retrying in %.1f s", ms / 1000.0);
		monitor_wait(e, ms);
		ms = ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ms * 2;
	}
}

/*
 * With a key, a command or ack for this CP counts only when Central
 * signed it with that key: a forged stop or start is counted, said at
 * a limited rate, and ignored.
 */
static bool forged(struct engine *e, const struct msg *m)
{
	if (!e->key || strcmp(m->cp, e->id) || bus_last_sealed_by(e->b, e->key))
		return false;
	e->forged++;
	warn_limited(&e->rl_forged, "ignored %s %s: not signed with this CP's key (%ld so far)",
		     msg_type_name(m->type),
		     m->type == MSG_COMMAND ? msg_cmd_name(m->u.cmd.cmd) : "",
		     e->forged);
	return true;
}

static struct seal_key *sign_all(void *ctx, enum topic t, const struct msg *m)
{
	(void)t;
	(void)m;
	return ctx;
}

static void on_message(struct engine *e, const struct msg *m)
{
	struct now t = clock_now();

	if (forged(e, m))
		return;
	if (cp_feed(&e->cp, m, &t) != CP_EV_REFUSED)
		return;
	error("registration refused by Central: %s: '%s'",
	      msg_deny_text(e->cp.refusal), e->id);
	e->exit = EXIT_FAIL;
}

/* Ticks the core when it asks, feeds it what Kafka brings meanwhile. */
static void run_loop(struct engine *e)
{
	struct now t;
	enum topic topic;
	struct msg m;
	long long wait;
	int r;

	while (!bus_stop && !e->lost && e->exit < 0) {
		monitor_read(e);
		t = clock_now();
		cp_tick(&e->cp, &t);
		wait = cp_next(&e->cp) - mono_ms();
		wait = wait < 0 ? 0 : wait > SLICE_MS ? SLICE_MS : wait;
		r = bus_recv(e->b, &m, &topic, (int)wait);
		if (r < 0)
			e->exit = EXIT_UNREACHABLE;
		else if (r > 0)
			on_message(e, &m);
	}
}

static void engine_init(struct engine *e, const char *location)
{
	cp_owner_init(&e->o, e->c, location);
	e->o.post = on_post;
	e->o.save = on_save;
	e->o.say = on_say;
	e->o.say_min = log_verbose ? SAY_DEBUG : SAY_INFO;
	e->o.arg = e;
	cp_init(&e->cp, &e->o, e->id);
	state_init(e);
}

int engine_run(const struct conf *c, const char *id, const char *location,
	       int fd, struct seal_key *key)
{
	struct engine e = { .c = c, .id = id, .fd = fd, .exit = -1, .key = key };
	const struct bus_stats *st;
	struct now t;

	engine_init(&e, location);
	if (!(e.b = bus_open(c, BUS_PRODUCER | BUS_CONSUMER, NULL))) {
		cp_free(&e.cp);
		return EXIT_USAGE;
	}
	if (key)
		bus_seal(e.b, sign_all, key);
	if (!connect_kafka(&e)) {
		state_recover(&e);
		run_loop(&e);
	}
	t = clock_now();
	cp_act(&e.cp, CP_SHUTDOWN, &t);
	st = bus_stats(e.b);
	info("stats: received %ld, rejected %ld, ignored %ld, sent %ld, failed %ld, forged %ld",
	     st->received, st->rejected, e.cp.other, st->sent, st->failed,
	     e.forged);
	if (bus_close(e.b, FLUSH_MS) && e.exit < 0)
		e.exit = EXIT_UNREACHABLE;
	cp_free(&e.cp);
	return e.exit < 0 ? EXIT_OK : e.exit;
}
