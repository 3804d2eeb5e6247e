/* lease.c: which of several Centrals serves: the one its lease group gives the lease partition. */
#include <stdio.h>

#include "lease.h"
#include "log.h"

#define SAY_MS 5000		/* a lease this slow to come: say why */

bool lease_take(struct lease *l, const struct conf *c)
{
	static const enum topic topic[] = { T_CENTRAL_LEASE };
	long long asked = mono_ms();
	bool said = false, stood = false;
	struct msg m;
	enum topic t;

	snprintf(l->group, sizeof(l->group), "%s-lease", c->central.group);
	if (!(l->bus = bus_open(c, BUS_GROUP | BUS_LEASE, l->group)) ||
	    bus_subscribe(l->bus, topic, 1))
		return false;
	while (!bus_stop && !bus_denied(l->bus)) {
		if (bus_recv(l->bus, &m, &t, 100) < 0)
			return false;
		if (bus_held(l->bus) > 0) {
			l->waited = stood ? mono_ms() - asked + 1 : 0;
			if (said)
				info("taking over: the lease of group '%s' is ours",
				     l->group);
			return true;
		}
		/* The group gave the lease to another: this one stands by. */
		stood = stood || bus_held(l->bus) == 0;
		/* No answer yet after a while: say why Central waits. */
		if (!said && (bus_held(l->bus) == 0 ||
			      mono_ms() - asked > SAY_MS)) {
			info("standing by: another Central holds the lease of group '%s'",
			     l->group);
			said = true;
		}
	}
	if (bus_denied(l->bus))
		bus_abandon(l->bus);
	return false;
}

bool lease_keep(struct lease *l)
{
	struct msg m;
	enum topic t;

	return bus_recv(l->bus, &m, &t, 0) >= 0 && bus_revoked(l->bus) <= 0 &&
	       bus_held(l->bus) != 0;
}

void lease_release(struct lease *l, bool abandon)
{
	if (abandon && l->bus)
		bus_abandon(l->bus);
	bus_close(l->bus, 0);
	l->bus = NULL;
}
