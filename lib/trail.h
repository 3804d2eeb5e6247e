/* trail.h: the audit trail on Kafka: a record of lib/audit.h written to the topic audit. */
#ifndef EVC_TRAIL_H
#define EVC_TRAIL_H

#include "audit.h"
#include "bus.h"

/*
 * Queues r on the topic audit of bus b (which must produce), keyed by
 * its subject; -1 after saying why when r is invalid or cannot be
 * queued. The caller flushes (bus_flush) as it does for its messages.
 */
int audit_post(struct bus *b, const struct audit_rec *r);

/*
 * The end of an operator's action, for a command that exits with status
 * (log.h's EXIT_*): a record still ok takes its result from it (refused
 * when Kafka's ACLs refused b something, failed else), is posted and
 * flushed within flush_ms. Returns status, or EXIT_FAIL after saying so
 * when the action went well but its record did not reach the trail (a
 * failed action has said why already: the record's failure is not said
 * again, with -v only).
 */
int audit_finish(struct bus *b, struct audit_rec *r, int status,
		 int flush_ms);

/*
 * audit_post() within the rate limit l (lib/audit.h), for the records a
 * stranger can cause (bad-mac, login-refused): 0 when posted, or held
 * back and counted; the next one posted says in its detail how many
 * like it were not written. -1 as audit_post().
 */
int audit_post_limited(struct bus *b, struct audit_limit *l,
		       struct audit_rec *r);

#endif
