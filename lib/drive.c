/* drive.c: a driver's exchange with Central over the bus, for evc driver and evc auth. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "log.h"

#define WAIT_SLICE_MS 200	/* how often a wait looks at bus_stop */
#define DURATION_MAX_S 1000000.0

/* The session's lines, at the level it gives them. */
static void say_to_log(void *arg, enum say level, const char *line)
{
	static struct ratelimit rl;

	(void)arg;
	log_say(&rl, level, line);
}

int drive_open(struct drive *dr, struct bus *b, struct session *s,
	       int64_t from_ms, unsigned timeout_ms)
{
	memset(dr, 0, sizeof(*dr));
	s->say = say_to_log;
	s->say_min = log_verbose ? SAY_DEBUG : SAY_INFO;
	if (!(dr->b = b))
		return EXIT_USAGE;
	if (bus_check(dr->b, (int)timeout_ms) ||
	    bus_follow(dr->b, T_AUTH_RESPONSE, s->driver, from_ms)) {
		bus_close(dr->b, 0);
		dr->b = NULL;
		return EXIT_UNREACHABLE;
	}
	return EXIT_OK;
}

int drive_close(struct drive *dr, int timeout_ms)
{
	const struct bus_stats *st = bus_stats(dr->b);
	int r;

	debug("stats: received %ld, rejected %ld, sent %ld, failed %ld",
	      st->received, st->rejected, st->sent, st->failed);
	r = bus_close(dr->b, timeout_ms);
	dr->b = NULL;
	return r;
}

struct now drive_now(void)
{
	struct now t = { .wall = now_ms(), .mono = mono_ms() };

	return t;
}

/*
 * Queues m, the delivery failures before it set aside: a failure
 * counted after this is one of ours. A message not even queued is told
 * the session at once.
 */
static int post(struct drive *dr, struct session *s, const struct msg *m)
{
	dr->failed_base = bus_stats(dr->b)->failed;
	if (bus_send(dr->b, T_AUTH_REQUEST, m)) {
		session_unsent(s, m->id);
		return -1;
	}
	return 0;
}

int drive_request(struct drive *dr, struct session *s, const char *cp,
		  const struct session_target *t, unsigned timeout_ms)
{
	struct now now = drive_now();
	struct msg m;

	session_request(s, cp, t, timeout_ms, &now, &m);
	if (post(dr, s, &m))
		return -1;
	debug("request %s sent for '%s'", m.id, cp);
	return 0;
}

int drive_cancel(struct drive *dr, struct session *s)
{
	struct now now = drive_now();
	struct msg m;

	if (session_cancel(s, &now, &m))
		return error("no session in progress");
	return post(dr, s, &m);
}

int drive_wait(struct drive *dr, struct session *s, int timeout_ms,
	       enum session_event *ev)
{
	long long deadline = mono_ms() + timeout_ms, left;
	enum topic t;
	struct msg m;
	int r;

	while (!bus_stop && (left = deadline - mono_ms()) > 0) {
		if (bus_stats(dr->b)->failed > dr->failed_base) {
			dr->failed_base = bus_stats(dr->b)->failed;
			*ev = session_unsent(s, NULL);
			return 1;
		}
		r = bus_recv(dr->b, &m, &t, left < WAIT_SLICE_MS ? (int)left :
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

int drive_parse_kwh(const char *arg, int64_t *wh)
{
	double kwh;

	if (parse_number(arg, &kwh) || kwh * 1000 < 0.5 ||
	    kwh * 1000 > (double)MSG_WH_MAX)
		return error("bad energy: '%s' (kWh, e.g. 7.5)", arg);
	*wh = llround(kwh * 1000);
	return 0;
}

int drive_parse_seconds(const char *arg, uint32_t *s)
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

int drive_parse_duration(const char *what, const char *arg, unsigned *ms)
{
	double v;

	if (parse_number(arg, &v) || v > DURATION_MAX_S)
		return error("bad %s: '%s' (seconds, e.g. 2.5)", what, arg);
	*ms = (unsigned)llround(v * 1000);
	return 0;
}

int drive_opt(int opt, const char *arg, struct session_target *t,
	      unsigned *timeout_ms)
{
	switch (opt) {
	case 'k':
		return drive_parse_kwh(arg, &t->wh) ? EXIT_USAGE : 0;
	case 's':
		return drive_parse_seconds(arg, &t->s) ? EXIT_USAGE : 0;
	case 't':
		if (drive_parse_duration("timeout", arg, timeout_ms))
			return EXIT_USAGE;
		if (!*timeout_ms) {
			error("bad timeout: '%s' (more than 0 s)", arg);
			return EXIT_USAGE;
		}
		return 0;
	default:
		return -1;
	}
}

int drive_opts_check(const struct session_target *t)
{
	if (t->wh && t->s)
		return usage_error("--kwh and --seconds exclude each other");
	return 0;
}
