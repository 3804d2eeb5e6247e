/* core.h: what every protocol core shares: the time it is given, the lines it hands out. */
#ifndef EVC_CORE_H
#define EVC_CORE_H

#include <stdint.h>

/*
 * A core (lib/central.c, lib/cp.c, lib/session.c) holds one party's
 * rules and reads no clock: every input comes with the time, wall clock
 * for what goes into messages and monotonic for deadlines, both in ms.
 * Tests give it any time they like.
 */
struct now {
	int64_t wall;		/* ms since the epoch */
	int64_t mono;		/* ms of a clock that never jumps */
};

/*
 * What a core says for people goes out through its owner's say hook,
 * never to a terminal: the owner draws it on a panel, logs it, or drops
 * it. SAY_HOSTILE is a warning that input from the bus could repeat
 * without end: the owner rate-limits it.
 */
enum say {
	SAY_DEBUG,
	SAY_INFO,
	SAY_WARN,
	SAY_HOSTILE,
};

#endif
