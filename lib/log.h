/* log.h: the error vocabulary and logging every role shares. */
#ifndef EVC_LOG_H
#define EVC_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "core.h"

/* The exit-code contract, documented in evc(1). */
enum {
	EXIT_OK = 0,		/* success */
	EXIT_FAIL = 1,		/* refused or failed at run time */
	EXIT_USAGE = 2,		/* bad usage or configuration */
	EXIT_UNREACHABLE = 3,	/* timeout, or Kafka cannot be reached */
};

/* Sets the prefix of every message: "evc ROLE". */
void log_init(const char *role);
const char *log_prog(void);

/* Debug output is printed only when verbose is set (-v, EVC_DEBUG). */
extern int log_verbose;

__attribute__((noreturn, format(printf, 2, 3)))
void die(int status, const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
int error(const char *fmt, ...);		/* always returns -1 */
__attribute__((format(printf, 1, 2)))
void warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void info(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void debug(const char *fmt, ...);

/*
 * Batching of info() and debug() lines for a busy daemon: while on, they
 * are written only by log_flush() (or when 64 KiB are waiting); turning
 * it off flushes. Errors and warnings are written at once.
 */
void log_batch(bool on);
void log_flush(void);

/*
 * A line editor's hooks around the lines written at once to stderr by
 * the thread that sets them (errors, warnings, unbatched log lines):
 * before() takes what the person types off the screen, after() puts it
 * back under the line. Lines of other threads (librdkafka's, with -v)
 * are written as they are. NULL hooks: none.
 */
void log_around(void (*before)(void *arg), void (*after)(void *arg),
		void *arg);

/*
 * Usage errors: the message, a pointer to -h, and EXIT_USAGE to return.
 * opt_error() reports what getopt_long() rejected (it runs with opterr 0).
 */
__attribute__((format(printf, 1, 2)))
int usage_error(const char *fmt, ...);
int opt_error(char **argv, int optind_, int optopt_);

/*
 * A rate limit for messages that hostile input could repeat without end:
 * at most burst messages per interval, then one line saying how many
 * were suppressed.
 */
struct ratelimit {
	long long window_start_ms;
	int printed;
	long suppressed;
};
__attribute__((format(printf, 2, 3)))
void warn_limited(struct ratelimit *rl, const char *fmt, ...);

/* Milliseconds: wall clock (for messages) and monotonic (for timers). */
long long now_ms(void);
long long mono_ms(void);
/* Both, as a core's input carries them (lib/core.h). */
struct now clock_now(void);

/*
 * A core's line logged at its level: debug, info, warn; a hostile one
 * through rl (input can repeat it without end).
 */
void log_say(struct ratelimit *rl, enum say level, const char *line);

#endif
