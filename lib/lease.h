/* lease.h: which of several Centrals serves: the one its lease group gives the lease partition. */
#ifndef EVC_LEASE_H
#define EVC_LEASE_H

#include <stdbool.h>

#include "bus.h"
#include "conf.h"

/*
 * Several Centrals may run at once: the one the lease group gives the
 * lease topic's single partition serves, the others stand by. The group
 * notices a dead holder within its session timeout and hands the lease
 * to a waiting Central, which then reads Central's state and goes on
 * from the offsets the first one committed. Cooperative-sticky: a
 * Central that joins never takes the lease from a living holder.
 */
struct lease {
	struct bus *bus;		/* the lease group's consumer */
	char group[256];
	/* ms stood by, another Central holding the lease; 0: it came at once. */
	long long waited;
};

/*
 * Joins the lease group and waits until it gives this process the
 * lease (true), saying once why it waits (waited is set when another
 * Central held it meanwhile: a takeover); false when a signal asked to stop, Kafka refused the group or
 * failed.
 */
bool lease_take(struct lease *l, const struct conf *c);

/* Serves the lease group; false once the lease went to another Central. */
bool lease_keep(struct lease *l);

/* Leaves the group: last, so that a standby takes over only after our
 * offsets are committed. abandon: the group dropped us, leave at once. */
void lease_release(struct lease *l, bool abandon);

#endif
