/* lease.c: which of several Centrals serves: the one its lease group gives the lease partition. */
#include <stdio.h>
#include <string.h>

#include "lease.h"
#include "log.h"

#define SAY_MS 5000		/* a lease this slow to come: say why */
#define NOTE_MS 1000		/* between two reads of the note */
#define NOTE_MAX 128

/* The takeover note: "EPOCH ID"; false if it is not one (or none). */
static bool note_parse(const char *note, long long *epoch,
		       char id[MSG_UUID_LEN + 1])
{
	int n = 0;

	if (sscanf(note, "%lld %32[0-9a-f]%n", epoch, id, &n) != 2 ||
	    note[n] || strlen(id) != MSG_UUID_LEN || *epoch < 1)
		return false;
	return true;
}

/* Writes this Central's takeover note, after the last one's epoch. */
static bool note_write(struct lease *l)
{
	char note[NOTE_MAX], id[MSG_UUID_LEN + 1];
	long long epoch = 0;

	if (bus_noted(l->bus, T_CENTRAL_LEASE, note, sizeof(note)))
		return false;
	if (*note && !note_parse(note, &epoch, id))
		warn("the takeover note of group '%s' is not one: '%s': ignored",
		     l->group, note);
	l->epoch = epoch + 1;
	snprintf(note, sizeof(note), "%lld %s", l->epoch, l->id);
	return bus_note(l->bus, T_CENTRAL_LEASE, note) == 0;
}

/* Whether the group now gives this process the lease, its note written. */
static bool taken(struct lease *l)
{
	if (bus_held(l->bus) <= 0 || mono_ms() - l->asked < NOTE_MS)
		return false;
	l->asked = mono_ms();
	if (!note_write(l))
		return false;
	l->lost = bus_lost(l->bus);
	l->revoked = bus_revoked(l->bus);
	return true;
}

bool lease_take(struct lease *l, const struct conf *c)
{
	static const enum topic topic[] = { T_CENTRAL_LEASE };
	long long asked = mono_ms();
	bool said = false, stood = false;
	struct msg m;
	enum topic t;

	snprintf(l->group, sizeof(l->group), "%s-lease", c->central.group);
	msg_new_uuid(l->id);
	if (!(l->bus = bus_open(c, BUS_GROUP | BUS_LEASE, l->group)) ||
	    bus_subscribe(l->bus, topic, 1))
		return false;
	while (!bus_stop && !bus_denied(l->bus)) {
		if (bus_recv(l->bus, &m, &t, 100) < 0)
			return false;
		if (taken(l)) {
			l->waited = stood ? mono_ms() - asked + 1 : 0;
			if (said)
				info("taking over: the lease of group '%s' is ours",
				     l->group);
			debug("takeover %lld of group '%s'", l->epoch, l->group);
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

/*
 * The group gave the lease back after a loss: ours all along if the
 * newest takeover note is still ours; in doubt while it cannot be read.
 */
static enum lease_hold settle(struct lease *l)
{
	char note[NOTE_MAX], id[MSG_UUID_LEN + 1] = "";
	long long epoch = 0;

	if (mono_ms() - l->asked < NOTE_MS)
		return LEASE_DOUBT;
	l->asked = mono_ms();
	if (bus_noted(l->bus, T_CENTRAL_LEASE, note, sizeof(note)))
		return LEASE_DOUBT;
	if (!note_parse(note, &epoch, id) || epoch != l->epoch ||
	    strcmp(id, l->id)) {
		info("takeover %lld of group '%s' is not this Central's: another one served meanwhile",
		     epoch, l->group);
		return LEASE_GONE;
	}
	l->doubt = false;
	l->revoked = bus_revoked(l->bus);
	return LEASE_HELD;
}

enum lease_hold lease_keep(struct lease *l)
{
	struct msg m;
	enum topic t;

	if (bus_recv(l->bus, &m, &t, 0) < 0 || bus_denied(l->bus))
		return LEASE_GONE;
	if (bus_lost(l->bus) != l->lost) {	/* lost, or lost again */
		l->lost = bus_lost(l->bus);
		l->doubt = true;
		l->asked = 0;
	}
	if (!l->doubt)
		return bus_revoked(l->bus) == l->revoked &&
		       bus_held(l->bus) > 0 ? LEASE_HELD : LEASE_GONE;
	if (bus_assigns(l->bus) == 0)
		return LEASE_DOUBT;	/* the group has not assigned since */
	if (bus_held(l->bus) <= 0)
		return LEASE_GONE;	/* it gave the lease to another */
	return settle(l);
}

void lease_release(struct lease *l, bool abandon)
{
	if (abandon && l->bus)
		bus_abandon(l->bus);
	bus_close(l->bus, 0);
	l->bus = NULL;
}
