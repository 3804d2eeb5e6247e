/* sched.c: the next deadline of each of many elements, in one min-heap. */
#include <stdlib.h>

#include "sched.h"
#include "xalloc.h"

#define SCHED_FIRST 1024	/* entries, the first time the heap grows */

/* Sift up after a push. */
static void push(struct sched *s, int64_t at, uint32_t i, uint32_t gen)
{
	uint32_t k = s->n++;

	if (s->n > s->cap) {
		s->cap = s->cap ? s->cap * 2 : SCHED_FIRST;
		s->heap = xreallocarray(s->heap, s->cap, sizeof(*s->heap));
	}
	while (k && s->heap[(k - 1) / 2].at > at) {
		s->heap[k] = s->heap[(k - 1) / 2];
		k = (k - 1) / 2;
	}
	s->heap[k] = (struct sched_entry){ at, i, gen };
}

/* Sift down after a pop. */
static struct sched_entry pop(struct sched *s)
{
	struct sched_entry top = s->heap[0], last = s->heap[--s->n];
	uint32_t i = 0, k;

	while ((k = 2 * i + 1) < s->n) {
		if (k + 1 < s->n && s->heap[k + 1].at < s->heap[k].at)
			k++;
		if (s->heap[k].at >= last.at)
			break;
		s->heap[i] = s->heap[k];
		i = k;
	}
	if (s->n)
		s->heap[i] = last;
	return top;
}

void sched_set(struct sched *s, struct sched_slot *slot, uint32_t i,
	       int64_t at)
{
	if (at == slot->at)
		return;
	slot->gen++;
	slot->at = at;
	if (at != SCHED_NEVER)
		push(s, at, i, slot->gen);
}

int sched_due(struct sched *s, void *slots, size_t stride, int64_t now,
	      uint32_t *i)
{
	struct sched_slot *slot;
	struct sched_entry e;

	while (s->n && s->heap[0].at <= now) {
		e = pop(s);
		slot = (struct sched_slot *)((char *)slots + e.i * stride);
		if (e.gen != slot->gen)
			continue;	/* rescheduled since */
		slot->at = SCHED_NEVER;
		*i = e.i;
		return 1;
	}
	return 0;
}

int64_t sched_first(const struct sched *s)
{
	return s->n ? s->heap[0].at : SCHED_NEVER;
}

void sched_free(struct sched *s)
{
	free(s->heap);
	s->heap = NULL;
	s->n = s->cap = 0;
}
