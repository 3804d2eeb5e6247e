/* probe.h: Central's probes: messages it sends itself, to know it reads its topics to their end. */
#ifndef EVC_PROBE_H
#define EVC_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "core.h"
#include "msg.h"

/* The CP id of Central's own probes; no CP may begin with a dot. */
#define PROBE_CP ".probe"

/*
 * Two kinds of probe, both under the reserved CP id PROBE_CP:
 *  - the ready probe, a control message resent until one comes back:
 *    then Central reads its topics (its group has its partitions);
 *  - health probes, written to every health partition twice a second:
 *    one read back lately shows that Kafka makes that partition's
 *    messages readable (a broker failing over can hold them all back for
 *    seconds) and that Central reads them. Everything a CP sent before
 *    the probe is read before it, so only then is a CP's silence its own.
 * They belong to the part of Central that talks to Kafka, not to its
 * rules: the core (lib/central.c) only asks probe_heard() through its
 * heard hook.
 */
struct probe {
	struct bus *bus;
	char key[MSG_UUID_LEN + 1];	/* first half: this Central's probes */
	int64_t started;		/* wall ms; older ready probes are stale */
	bool ready;			/* a ready probe came back */
	int64_t ready_sent;		/* mono ms */
	int64_t health_sent;		/* mono ms */
	int64_t *back;			/* per health partition: wall ms of the
					   newest probe read back */
	int32_t nback;
	int32_t *part;			/* per CP number: its health partition,
					   -1 until looked up */
	uint32_t npart;
	int64_t deaf_until;		/* mono ms: a stall is too recent */
	long forged;			/* probes that were not ours */
};

void probe_init(struct probe *pr, struct bus *b, const struct now *now);
void probe_free(struct probe *pr);

/* Sends the probes that are due. */
void probe_tick(struct probe *pr, const struct now *now);

enum probe_seen {
	PROBE_NONE,		/* not a probe: for the core */
	PROBE_TAKEN,		/* a probe, noted */
	PROBE_READY,		/* the first ready probe back: Central is ready */
	PROBE_FORGED,		/* a probe that is not this Central's: counted */
};

/* Looks at one message read; partition is where it was read. */
enum probe_seen probe_feed(struct probe *pr, const struct msg *m,
			   int32_t partition);

/*
 * Whether Central has read everything CP number i (id) sent lately:
 * its health and telemetry partition read to the end, and a probe of
 * this Central read back there lately.
 */
bool probe_heard(struct probe *pr, uint32_t i, const char *id,
		 const struct now *now);

/*
 * The main loop stalled (a slow disk, a frozen process) and read nothing
 * meanwhile: what it knows of partitions' ends is old until it has read
 * for ms again.
 */
void probe_stalled(struct probe *pr, int64_t ms, const struct now *now);

#endif
