/* log.c: error, warning and log lines in one style, "evc ROLE: ...". */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define RL_INTERVAL_MS 10000
#define RL_BURST 5

static char prog[64] = "evc";
int log_verbose;

void log_init(const char *role)
{
	if (role && *role)
		snprintf(prog, sizeof(prog), "evc %s", role);
	else
		snprintf(prog, sizeof(prog), "evc");
	if (getenv("EVC_DEBUG"))
		log_verbose = 1;
}

const char *log_prog(void)
{
	return prog;
}

/*
 * Under systemd the journal stamps each line itself; elsewhere a daemon's
 * log lines carry the time so that a terminal or a file can be read later.
 * A busy Central logs tens of thousands of lines a second: the time of
 * day is worked out once a second (per thread: librdkafka's threads log
 * too), and the environment read once.
 */
static size_t stamp(char *buf, size_t len)
{
	static _Thread_local time_t sec = -1;
	static _Thread_local char hms[16];
	static _Thread_local int journal = -1;
	struct timespec ts;
	struct tm tm;
	int n;

	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID");
	if (journal)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != sec) {
		localtime_r(&ts.tv_sec, &tm);
		strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
		sec = ts.tv_sec;
	}
	n = snprintf(buf, len, "%s.%03ld ", hms, ts.tv_nsec / 1000000);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/*
 * Log lines of a busy daemon, batched: written by log_flush() (Central
 * calls it every tick, and when it has nothing to read) in one write,
 * rather than one write each. librdkafka's threads log too, hence the
 * lock. Errors and warnings are never held back: they flush the batch
 * first, so that the order of lines stays.
 */
static struct {
	pthread_mutex_t lock;
	bool on;
	size_t used;
	char buf[1 << 16];
} batch = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void flush_locked(void)
{
	if (batch.used)
		fwrite(batch.buf, 1, batch.used, stderr);
	batch.used = 0;
}

void log_flush(void)
{
	pthread_mutex_lock(&batch.lock);
	flush_locked();
	pthread_mutex_unlock(&batch.lock);
}

void log_batch(bool on)
{
	pthread_mutex_lock(&batch.lock);
	flush_locked();
	batch.on = on;
	pthread_mutex_unlock(&batch.lock);
}

static struct {
	void (*before)(void *arg), (*after)(void *arg);
	void *arg;
	pthread_t thread;
} around;

void log_around(void (*before)(void *arg), void (*after)(void *arg),
		void *arg)
{
	pthread_mutex_lock(&batch.lock);
	around.before = before;
	around.after = after;
	around.arg = arg;
	around.thread = pthread_self();
	pthread_mutex_unlock(&batch.lock);
}

/* Writes what is waiting and line, inside the hooks of log_around(). */
static void write_locked(const char *line, size_t n)
{
	bool hooked = around.before && pthread_equal(around.thread,
						     pthread_self());

	if (hooked)
		around.before(around.arg);
	flush_locked();
	fwrite(line, 1, n, stderr);
	if (hooked)
		around.after(around.arg);
}

/*
 * One line, whole: lines of processes sharing a file never mix. A line
 * not to be held back (now) goes after what is waiting, under the same
 * lock, so that lines keep their order whatever thread writes them.
 */
static void put_line(const char *line, size_t n, bool now)
{
	pthread_mutex_lock(&batch.lock);
	if (batch.on && !now) {
		if (batch.used + n > sizeof(batch.buf))
			flush_locked();
		memcpy(batch.buf + batch.used, line, n);
		batch.used += n;
	} else {
		write_locked(line, n);
	}
	pthread_mutex_unlock(&batch.lock);
}

/* Appends what snprintf wrote (k) to a line of n bytes, within cap. */
static size_t grown(size_t n, size_t cap, int k)
{
	if (k < 0)
		return n;
	return (size_t)k < cap - n ? n + (size_t)k : cap - 1;
}

/* "evc ROLE: KIND...": a line of its own, without a time stamp. */
static void vreport(const char *kind, const char *fmt, va_list ap)
{
	char line[1024 + 128];
	size_t cap = sizeof(line) - 1, n;	/* room for the newline */

	n = grown(0, cap, snprintf(line, cap, "%s: %s", prog, kind));
	n = grown(n, cap, vsnprintf(line + n, cap - n, fmt, ap));
	line[n++] = '\n';
	put_line(line, n, true);
}

void die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	exit(status);
}

int error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	return -1;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: run '%s -h' for usage\n", prog, prog);
	return EXIT_USAGE;
}

int opt_error(char **argv, int optind_, int optopt_)
{
	const char *arg = argv[optind_ - 1];

	if (optopt_ && arg && arg[0] == '-' && arg[1] != '-')
		return usage_error("unknown option or missing argument: '-%c'",
				   optopt_);
	return usage_error("unknown option or missing argument: '%s'",
			   arg ? arg : "?");
}

void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("warning: ", fmt, ap);
	va_end(ap);
}

static void vlog(const char *fmt, va_list ap)
{
	char line[1024 + 128];
	size_t cap = sizeof(line) - 1, n;	/* room for the newline */

	n = stamp(line, cap);
	n = grown(n, cap, snprintf(line + n, cap - n, "%s: ", prog));
	n = grown(n, cap, vsnprintf(line + n, cap - n, fmt, ap));
	line[n++] = '\n';
	put_line(line, n, false);
}

void info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void warn_limited(struct ratelimit *rl, const char *fmt, ...)
{
	long long now = mono_ms();
	va_list ap;

	if (now - rl->window_start_ms >= RL_INTERVAL_MS) {
		if (rl->suppressed)
			warn("%ld similar messages suppressed", rl->suppressed);
		rl->window_start_ms = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= RL_BURST) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	vreport("warning: ", fmt, ap);
	va_end(ap);
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct now clock_now(void)
{
	return (struct now){ .wall = now_ms(), .mono = mono_ms() };
}

void log_say(struct ratelimit *rl, enum say level, const char *line)
{
	switch (level) {
	case SAY_DEBUG: debug("%s", line); break;
	case SAY_INFO: info("%s", line); break;
	case SAY_WARN: warn("%s", line); break;
	case SAY_HOSTILE: warn_limited(rl, "%s", line); break;
	}
}
