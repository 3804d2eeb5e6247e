/* sched.h: the next deadline of each of many elements, in one min-heap. */
#ifndef EVC_SCHED_H
#define EVC_SCHED_H

#include <stddef.h>
#include <stdint.h>

/*
 * A process that runs many cores (evc fleet's CPs, evc ocpp's chargers)
 * ticks each one only when it asks: one heap entry per element, at the
 * time it wants. An element's deadline changes by pushing a new entry;
 * the old one is told apart by its generation and dropped when popped,
 * rather than searched for.
 */
#define SCHED_NEVER INT64_MAX

struct sched_entry {
	int64_t at;
	uint32_t i;		/* the element */
	uint32_t gen;		/* its generation when pushed */
};

struct sched {
	struct sched_entry *heap;
	uint32_t n, cap;
};

/* What an element keeps of its place in the heap. */
struct sched_slot {
	int64_t at;		/* its live entry's time; SCHED_NEVER: none */
	uint32_t gen;
};

/*
 * Element i wants its next tick at at (SCHED_NEVER: none): a new entry
 * unless its live one says the same.
 */
void sched_set(struct sched *s, struct sched_slot *slot, uint32_t i,
	       int64_t at);

/*
 * Pops the earliest entry due at now that is still live for its
 * element (slots[i], which is then left with no entry): 1 with *i set,
 * 0 when nothing is due. slots is the elements' array of slots, stride
 * bytes apart.
 */
int sched_due(struct sched *s, void *slots, size_t stride, int64_t now,
	      uint32_t *i);

/* The time of the earliest entry (live or not); SCHED_NEVER when none. */
int64_t sched_first(const struct sched *s);

void sched_free(struct sched *s);

#endif
