/* engine.c: the CP engine: registers, supplies energy, reports every tick. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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
#include "engine.h"
#include "log.h"
#include "msg.h"

#define REGISTER_MIN_MS 500	/* first back-off between registrations */
#define RETRY_MAX_MS 5000	/* longest back-off, registration or Kafka */
#define SLICE_MS 50		/* longest wait on Kafka: the monitor waits too */
#define FLUSH_MS 5000		/* how long a supply_end may take to deliver */
#define WMS_PER_WH 3600000LL	/* watt-milliseconds in a watt-hour */

/* The session being supplied. */
struct supply {
	char session[MSG_UUID_LEN + 1];
	char driver[MSG_NAME_MAX + 1];
	double price;		/* EUR/kWh, from the start command */
	int64_t started;	/* wall clock, ms */
	long long t0;		/* monotonic clock at the start */
	long long limit_ms;	/* the target is reached after this; -1: none */
	int64_t target_wh;	/* 0: none */
	uint32_t seq;		/* of the last telemetry sent */
	int64_t wh;		/* energy of the last telemetry sent */
	long long next_tick;	/* monotonic time of the next telemetry */
};

#define ENGINE_DONE_MAX 64

struct engine {
	const struct conf *c;
	const char *id;
	const char *location;
	int fd;			/* the monitor's socket */
	struct bus *b;
	char state[PATH_MAX];	/* the session file, "" when none can be kept */
	long long power_w;	/* cp.power_kw in watts */
	bool registered, faulted, stopped, supplying, lost;
	long long next_register;
	int register_ms;	/* current back-off */
	struct supply s;
	/* Sessions supplied lately: a replayed start must not reopen one. */
	char done[ENGINE_DONE_MAX][MSG_UUID_LEN + 1];
	unsigned ndone;
	long queued;		/* messages handed to the bus */
	long other;		/* messages for other CPs, ignored */
	struct ratelimit rl_other, rl_state, rl_mon;
	int exit;		/* -1 while running */
};

/* Creates dir and its parents (0700), as mkdir -p does. */
static int mkdirs(const char *dir)
{
	char p[PATH_MAX];
	size_t len = strlen(dir);

	if (!len || len >= sizeof(p))
		return -1;
	memcpy(p, dir, len + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) && errno != EEXIST ? -1 : 0;
}

static void state_init(struct engine *e)
{
	const char *dir = e->c->cp.state_dir;
	int n;

	e->state[0] = '\0';
	if (!dir || !*dir || mkdirs(dir)) {
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
	char buf[2048], tmp[PATH_MAX + 8];
	int len, fd;

	if (!e->state[0] || (len = msg_encode(end, buf, sizeof(buf) - 1)) < 0)
		return;
	buf[len++] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.tmp", e->state);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)len) != len || close(fd) ||
	    rename(tmp, e->state)) {
		warn_limited(&e->rl_state, "cannot write session file: '%s': %s",
			     e->state, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
}

static void state_remove(struct engine *e)
{
	if (e->state[0] && unlink(e->state) && errno != ENOENT)
		warn("cannot remove session file: '%s': %s", e->state,
		     strerror(errno));
}

/* Reads the session file into m; 0 when there is one and it is good. */
static int state_load(struct engine *e, struct msg *m)
{
	char buf[MSG_MAX_BYTES], why[160], bad[PATH_MAX + 8];
	ssize_t n;
	int fd;

	if (!e->state[0] || (fd = open(e->state, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n < 0)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	else if (!msg_decode(buf, (size_t)n, m, why, sizeof(why))) {
		if (m->type == MSG_SUPPLY_END && !strcmp(m->cp, e->id))
			return 0;
		snprintf(why, sizeof(why), "not a supply_end of this CP");
	}
	snprintf(bad, sizeof(bad), "%s.bad", e->state);
	warn("ignoring bad session file: '%s': %s (moved to '%s')", e->state,
	     why, bad);
	rename(e->state, bad);
	return -1;
}

static void monitor_read(struct engine *e);

/* Queues m; the count lets send_now() know when all is delivered. */
static int post(struct engine *e, enum topic t, const struct msg *m)
{
	if (bus_send(e->b, t, m))
		return -1;
	e->queued++;
	return 0;
}

/*
 * Sends m and waits until Kafka has taken everything queued so far; 0
 * when none of it failed. The monitor is served meanwhile: a slow
 * acknowledgement is not a sick engine.
 */
static int send_now(struct engine *e, enum topic t, const struct msg *m)
{
	const struct bus_stats *st = bus_stats(e->b);
	long failed = st->failed;
	long long end = mono_ms() + FLUSH_MS;

	if (post(e, t, m))
		return -1;
	while (st->sent + st->failed < e->queued) {
		if (mono_ms() >= end)
			return -1;
		bus_poll(e->b, SLICE_MS);
		monitor_read(e);
	}
	return st->failed == failed ? 0 : -1;
}

/* A session an engine crash interrupted: its end, as the file keeps it. */
static void state_recover(struct engine *e)
{
	struct msg m;

	if (state_load(e, &m))
		return;
	msg_new_uuid(m.id);
	m.ts = now_ms();
	info("reporting the end of an interrupted session for '%s': %lld Wh,"
	     " %lld cents (%s)", m.driver, (long long)m.u.ticket.wh,
	     (long long)m.u.ticket.cents, msg_end_name(m.u.ticket.reason));
	if (send_now(e, T_TELEMETRY, &m))
		warn("the end of session '%s' is not delivered yet: kept in '%s'",
		     m.session, e->state);
	else
		state_remove(e);
}

static const char *state_word(const struct engine *e)
{
	if (e->faulted)
		return "faulted";
	if (e->supplying)
		return "supplying";
	if (e->stopped)
		return "stopped";
	return e->registered ? "idle" : "registering";
}

/* One line for the monitor's status display and `evc cp ID status`. */
static void status_text(const struct engine *e, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s state=%s engine=%s registered=%s",
			 e->id, state_word(e), e->faulted ? "ko" : "ok",
			 e->registered ? "yes" : "no");

	if (e->supplying && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n,
			 " driver=%s session=%s seq=%u wh=%lld cents=%lld",
			 e->s.driver, e->s.session, (unsigned)e->s.seq,
			 (long long)e->s.wh,
			 (long long)msg_cents(e->s.wh, e->s.price));
}

/* Energy supplied at monotonic time now, bounded by the target. */
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

static int64_t energy_at(const struct engine *e, long long now)
{
	return supply_energy(e->power_w, e->s.target_wh, e->s.limit_ms,
			     now - e->s.t0);
}

/*
 * A supply_end of the current session with figures wh at monotonic time
 * now, seq after the last telemetry. Its times come from one clock, so
 * that ended - started is the time the supply took.
 */
static void end_msg(const struct engine *e, struct msg *m, long long now,
		    int64_t wh, enum msg_end reason)
{
	msg_init(m, MSG_SUPPLY_END);
	snprintf(m->cp, sizeof(m->cp), "%s", e->id);
	snprintf(m->driver, sizeof(m->driver), "%s", e->s.driver);
	snprintf(m->session, sizeof(m->session), "%s", e->s.session);
	m->u.ticket.seq = e->s.seq + 1;
	m->u.ticket.wh = wh;
	m->u.ticket.cents = msg_cents(wh, e->s.price);
	m->u.ticket.price = e->s.price;
	m->u.ticket.started = e->s.started;
	m->u.ticket.ended = e->s.started + (now - e->s.t0);
	m->u.ticket.reason = reason;
}

/*
 * Ends the supply: its final figures go to the session file first, so
 * that they survive a crash before Kafka has them, and the file goes once
 * Kafka has acknowledged the supply_end.
 */
static void supply_end(struct engine *e, enum msg_end reason)
{
	long long now = mono_ms();
	int64_t wh = energy_at(e, now);
	struct msg m;

	if (!e->supplying)
		return;
	end_msg(e, &m, now, wh, reason);
	state_save(e, &m);
	e->supplying = false;
	memcpy(e->done[e->ndone++ % ENGINE_DONE_MAX], e->s.session,
	       sizeof(e->done[0]));
	info("supply ended for '%s': %lld Wh, %lld cents at %.4g EUR/kWh in"
	     " %.1f s (%s)", m.driver, (long long)wh,
	     (long long)m.u.ticket.cents, m.u.ticket.price,
	     (double)(m.u.ticket.ended - m.u.ticket.started) / 1000,
	     msg_end_name(reason));
	if (send_now(e, T_TELEMETRY, &m))
		warn("the end of session '%s' is not delivered yet: kept in '%s'",
		     m.session, e->state);
	else
		state_remove(e);
}

/* Sends telemetry seq with the energy at now, then keeps the session. */
static void telemetry(struct engine *e, long long now)
{
	struct msg m, end;

	e->s.wh = energy_at(e, now);
	msg_init(&m, MSG_TELEMETRY);
	snprintf(m.cp, sizeof(m.cp), "%s", e->id);
	snprintf(m.driver, sizeof(m.driver), "%s", e->s.driver);
	snprintf(m.session, sizeof(m.session), "%s", e->s.session);
	m.u.prog.seq = e->s.seq;
	m.u.prog.kw = e->c->cp.power_kw;
	m.u.prog.wh = e->s.wh;
	m.u.prog.cents = msg_cents(e->s.wh, e->s.price);
	post(e, T_TELEMETRY, &m);
	debug("telemetry %u: %lld Wh, %lld cents", (unsigned)e->s.seq,
	      (long long)m.u.prog.wh, (long long)m.u.prog.cents);
	end_msg(e, &end, now, e->s.wh, END_BROKEN);
	state_save(e, &end);
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

/* The targets of a start, set and said in buf. */
static void supply_target(struct engine *e, const struct msg_command *cmd,
			  char *buf, size_t len)
{
	struct supply *s = &e->s;
	long long secs = cmd->target_wh || cmd->target_s ? cmd->target_s :
			 e->c->cp.default_seconds;
	int n = 0;

	supply_limits(e->c, e->power_w, cmd, &s->target_wh, &s->limit_ms);
	buf[0] = '\0';
	if (s->target_wh > 0)
		n = snprintf(buf, len, "%lld Wh", (long long)s->target_wh);
	if (secs && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%s%lld s", n ? " or " : "",
			 secs);
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* A start Central should not have sent: its session ends at once. */
static void refuse_start(struct engine *e, const struct msg *m)
{
	enum msg_end reason = e->supplying ? END_CANCELLED :
			      e->faulted ? END_BROKEN : END_STOPPED;
	struct msg end;

	warn("refusing session '%s' for '%s': %s", m->session, m->driver,
	     e->supplying ? "busy with another session" :
	     e->faulted ? "the engine is faulted" : "stopped by Central");
	msg_init(&end, MSG_SUPPLY_END);
	snprintf(end.cp, sizeof(end.cp), "%s", e->id);
	snprintf(end.driver, sizeof(end.driver), "%s", m->driver);
	snprintf(end.session, sizeof(end.session), "%s", m->session);
	end.u.ticket.price = m->u.cmd.price;
	end.u.ticket.started = end.u.ticket.ended = end.ts;
	end.u.ticket.reason = reason;
	post(e, T_TELEMETRY, &end);
}

static bool supplied_before(const struct engine *e, const char *session)
{
	unsigned n = e->ndone < ENGINE_DONE_MAX ? e->ndone : ENGINE_DONE_MAX;

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(e->done[i], session))
			return true;
	return false;
}

static void supply_start(struct engine *e, const struct msg *m)
{
	struct supply *s = &e->s;
	const struct msg_command *cmd = &m->u.cmd;
	char target[64];

	if ((e->supplying && !strcmp(s->session, m->session)) ||
	    supplied_before(e, m->session)) {
		warn_limited(&e->rl_other,
			     "ignoring a repeated start of session '%s'",
			     m->session);
		return;
	}
	if (e->supplying || e->faulted || e->stopped) {
		refuse_start(e, m);
		return;
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->session, sizeof(s->session), "%s", m->session);
	snprintf(s->driver, sizeof(s->driver), "%s", m->driver);
	s->price = cmd->price;
	supply_target(e, cmd, target, sizeof(target));
	s->started = now_ms();
	s->t0 = mono_ms();
	s->next_tick = s->t0 + e->c->cp.tick_ms;
	e->supplying = true;
	info("session started for '%s': session %s, %.4g EUR/kWh, target %s",
	     s->driver, s->session, s->price, target);
	telemetry(e, s->t0);
}

/* Telemetry when a tick is due; the end when the target is reached. */
static void supply_step(struct engine *e, long long now)
{
	struct supply *s = &e->s;

	if (!e->supplying)
		return;
	if (s->limit_ms >= 0 && now - s->t0 >= s->limit_ms) {
		supply_end(e, END_FINISHED);
		return;
	}
	if (now < s->next_tick)
		return;
	s->seq++;
	telemetry(e, now);
	s->next_tick += e->c->cp.tick_ms;
	if (s->next_tick <= now)	/* late: skip the ticks missed */
		s->next_tick = now + e->c->cp.tick_ms;
}

/* Milliseconds until the supply needs the engine again. */
static long long supply_wait(const struct engine *e, long long now)
{
	long long at;

	if (!e->supplying)
		return SLICE_MS;
	at = e->s.next_tick;
	if (e->s.limit_ms >= 0 && e->s.t0 + e->s.limit_ms < at)
		at = e->s.t0 + e->s.limit_ms;
	return at <= now ? 0 : at - now;
}

static void send_register(struct engine *e, long long now)
{
	struct msg m;

	msg_init(&m, MSG_REGISTER);
	snprintf(m.cp, sizeof(m.cp), "%s", e->id);
	snprintf(m.u.reg.location, sizeof(m.u.reg.location), "%s",
		 e->location);
	m.u.reg.engine_ok = !e->faulted;
	if (!post(e, T_CP_REGISTER, &m))
		debug("register sent; next try in %d ms", e->register_ms);
	e->next_register = now + e->register_ms;
	e->register_ms *= 2;
	if (e->register_ms > RETRY_MAX_MS)
		e->register_ms = RETRY_MAX_MS;
}

static void on_ack(struct engine *e, const struct msg *m)
{
	const struct msg_register_ack *a = &m->u.ack;

	if (e->registered) {
		debug("ignoring a repeated register_ack");
		return;
	}
	if (!a->accepted) {
		error("registration refused by Central: %s: '%s'",
		      msg_deny_text(a->reason), e->id);
		e->exit = EXIT_FAIL;
		return;
	}
	e->registered = true;
	info("registered as '%s' at '%s', %.4g EUR/kWh", e->id,
	     a->location[0] ? a->location : e->location, a->price);
}

static void on_command(struct engine *e, const struct msg *m)
{
	switch (m->u.cmd.cmd) {
	case CMD_START:
		supply_start(e, m);
		break;
	case CMD_STOP:
		if (!e->stopped)
			info("stopped by Central: out of order");
		e->stopped = true;
		supply_end(e, END_STOPPED);
		break;
	case CMD_RESUME:
		if (e->stopped)
			info("resumed by Central");
		e->stopped = false;
		break;
	case CMD_END:
		if (e->supplying && !strcmp(m->session, e->s.session))
			supply_end(e, END_CANCELLED);
		else
			debug("ignoring the end of session '%s': not supplied"
			      " here", m->session);
		break;
	default:
		break;
	}
}

static void on_message(struct engine *e, const struct msg *m, enum topic t)
{
	if (strcmp(m->cp, e->id)) {
		e->other++;
		warn_limited(&e->rl_other, "ignoring %s for another CP: '%s'",
			     msg_type_name(m->type), m->cp);
		return;
	}
	if (t == T_CP_REGISTER_ACK)
		on_ack(e, m);
	else if (t == T_CP_COMMANDS)
		on_command(e, m);
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

/* An action from the monitor: keys, signals, `evc cp ID ACTION`. */
static void on_action(struct engine *e, unsigned tag, const char *what)
{
	char st[ENGINE_PACKET_MAX - 32];
	bool ok = true;
	const char *text;

	if (!strcmp(what, "unplug")) {
		ok = e->supplying;
		text = ok ? "unplugged" : "no car is plugged in";
		supply_end(e, END_UNPLUGGED);
	} else if (!strcmp(what, "fault")) {
		text = e->faulted ? "already faulted" : "engine faulted";
		if (!e->faulted)
			warn("engine fault: reporting KO until recovered");
		e->faulted = true;
		supply_end(e, END_BROKEN);
	} else if (!strcmp(what, "recover")) {
		text = e->faulted ? "engine recovered" : "not faulted";
		if (e->faulted)
			info("engine recovered: reporting OK");
		e->faulted = false;
	} else if (!strcmp(what, "status")) {
		status_text(e, st, sizeof(st));
		text = st;
	} else {
		ok = false;
		text = "unknown action";
	}
	reply(e, "done %u %s %s %s", tag, ok ? "ok" : "refused",
	      e->faulted ? "ko" : "ok", text);
}

static void on_packet(struct engine *e, char *p)
{
	char st[ENGINE_PACKET_MAX - 32], what[16];
	unsigned n;

	if (sscanf(p, "ping %u", &n) == 1) {
		status_text(e, st, sizeof(st));
		reply(e, "pong %u %s %s", n, e->faulted ? "ko" : "ok", st);
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
	int ms = REGISTER_MIN_MS;

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

static void run_loop(struct engine *e)
{
	enum topic t;
	struct msg m;
	long long now, wait;
	int r;

	while (!bus_stop && !e->lost && e->exit < 0) {
		monitor_read(e);
		now = mono_ms();
		if (!e->registered && now >= e->next_register)
			send_register(e, now);
		supply_step(e, now);
		wait = supply_wait(e, mono_ms());
		r = bus_recv(e->b, &m, &t, (int)(wait < SLICE_MS ? wait : SLICE_MS));
		if (r < 0)
			e->exit = EXIT_UNREACHABLE;
		else if (r > 0)
			on_message(e, &m, t);
	}
}

int engine_run(const struct conf *c, const char *id, const char *location,
	       int fd)
{
	struct engine e = { .c = c, .id = id, .location = location, .fd = fd,
			    .register_ms = REGISTER_MIN_MS, .exit = -1 };
	const struct bus_stats *st;

	e.power_w = llround(c->cp.power_kw * 1000);
	state_init(&e);
	if (!(e.b = bus_open(c, BUS_PRODUCER | BUS_CONSUMER, NULL)))
		return EXIT_USAGE;
	if (!connect_kafka(&e)) {
		state_recover(&e);
		run_loop(&e);
	}
	supply_end(&e, END_DISCONNECTED);
	st = bus_stats(e.b);
	info("stats: received %ld, rejected %ld, ignored %ld, sent %ld, failed %ld",
	     st->received, st->rejected, e.other, st->sent, st->failed);
	if (bus_close(e.b, FLUSH_MS) && e.exit < 0)
		e.exit = EXIT_UNREACHABLE;
	return e.exit < 0 ? EXIT_OK : e.exit;
}
