/* lease.h: which of several Centrals serves: the one its lease group gives the lease partition. */
#ifndef EVC_LEASE_H
#define EVC_LEASE_H

#include <stdbool.h>

#include "bus.h"
#include "conf.h"
#include "msg.h"

/*
 * Several Centrals may run at once: the one the lease group gives the
 * lease topic's single partition serves, the others stand by. The group
 * notices a dead holder within its session timeout and hands the lease
 * to a waiting Central, which then reads Central's state and goes on
 * from the offsets the first one committed. Cooperative-sticky: a
 * Central that joins never takes the lease from a living holder.
 *
 * A Central that takes the lease writes a takeover note before it
 * serves: the group's note on the lease partition (bus_note()), "EPOCH
 * ID", one more than the last one's epoch and the id of this run. The
 * coordinator takes a note only from a member of the current
 * generation, so a Central that served has its note on the partition,
 * and a later one's note replaces it.
 *
 * The group may also lose the lease (librdkafka's session with the
 * group coordinator ran out, as when the coordinator fails over, or the
 * coordinator dropped this member): then whether another Central was
 * given it is unknown until the group assigns again. The lease is in
 * doubt till then; once the group gives it back, the note tells whether
 * another Central took it meanwhile.
 */
struct lease {
	struct bus *bus;		/* the lease group's consumer */
	char group[256];
	char id[MSG_UUID_LEN + 1];	/* this run's, in its takeover note */
	long long epoch;		/* of its takeover note */
	int lost, revoked;		/* bus_lost(), bus_revoked() seen */
	bool doubt;			/* lost, not yet settled */
	long long asked;		/* mono ms the note was last read */
	/* ms stood by, another Central holding the lease; 0: it came at once. */
	long long waited;
};

/*
 * Joins the lease group, waits until it gives this process the lease
 * and writes the takeover note (true), saying once why it waits (waited
 * is set when another Central held it meanwhile: a takeover); false
 * when a signal asked to stop, Kafka refused the group or failed.
 */
bool lease_take(struct lease *l, const struct conf *c);

enum lease_hold {
	LEASE_HELD,		/* ours, and ours all along */
	LEASE_DOUBT,		/* lost by the group: maybe another's */
	LEASE_GONE,		/* another Central's, or may have been meanwhile */
};

/* Serves the lease group: whether the lease is still this Central's. */
enum lease_hold lease_keep(struct lease *l);

/* Leaves the group: last, so that a standby takes over only after our
 * offsets are committed. abandon: the group dropped us, leave at once. */
void lease_release(struct lease *l, bool abandon);

#endif
