/* drive.h: a driver's exchange with Central over the bus, for evc driver and evc auth. */
#ifndef EVC_DRIVE_H
#define EVC_DRIVE_H

#include <stdint.h>

#include "bus.h"
#include "conf.h"
#include "core.h"
#include "session.h"

/*
 * The I/O half of a driver: it sends what lib/session.c builds, feeds
 * it what Kafka brings back and tells it what Kafka did not take. Both
 * roles that play a driver (evc driver, evc auth) run their session
 * through one of these.
 */
struct drive {
	struct bus *b;
	long failed_base;	/* delivery failures already told the session */
};

/*
 * Takes b, a producer and consumer (no group, so no join to wait for;
 * NULL when it could not be opened), checks that Kafka answers within
 * timeout_ms, and follows the partition
 * of auth-response of s's driver from from_ms (0: from now) before
 * anything is sent, so that no answer can be missed; s's lines go to
 * the log. Returns EXIT_OK, else the exit status after printing why:
 * EXIT_USAGE for a bad Kafka property, EXIT_UNREACHABLE when Kafka
 * cannot be used.
 */
int drive_open(struct drive *dr, struct bus *b, struct session *s,
	       int64_t from_ms, unsigned timeout_ms);

/*
 * Delivers what is queued (up to timeout_ms) and closes; with -v, says
 * how many messages were received and rejected. -1 if any was not sent.
 */
int drive_close(struct drive *dr, int timeout_ms);

/* The clocks now, for the session's inputs. */
struct now drive_now(void);

/* Sends s's auth_request for cp; -1 after printing why. */
int drive_request(struct drive *dr, struct session *s, const char *cp,
		  const struct session_target *t, unsigned timeout_ms);

/* Asks Central to end s's session in progress; -1 after printing why. */
int drive_cancel(struct drive *dr, struct session *s);

/*
 * Waits up to timeout_ms for the next event of s. Returns 1 with *ev
 * set, 0 on timeout or interruption (bus_stop), -1 when Kafka failed
 * (printed).
 */
int drive_wait(struct drive *dr, struct session *s, int timeout_ms,
	       enum session_event *ev);

/*
 * The options evc driver and evc auth share: -k KWH and -s SECONDS (the
 * target of a request, one or the other), -t SECONDS (how long to wait
 * for Central). drive_opt() returns 0 when it took opt, EXIT_USAGE after
 * saying why its argument is bad, -1 when opt is not one of them;
 * drive_opts_check(), once all are read, 0 or EXIT_USAGE.
 */
int drive_opt(int opt, const char *arg, struct session_target *t,
	      unsigned *timeout_ms);
int drive_opts_check(const struct session_target *t);

/* The parsers behind them; each returns 0, or -1 after printing why. */
int drive_parse_kwh(const char *arg, int64_t *wh);
int drive_parse_seconds(const char *arg, uint32_t *s);
int drive_parse_duration(const char *what, const char *arg, unsigned *ms);

#endif
