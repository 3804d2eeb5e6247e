/* cpstate.c: Central's last word on each CP, as the compacted cp-state topic keeps it. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cpstate.h"
#include "log.h"
#include "xalloc.h"

void cpstate_init(struct cpstate *cs)
{
	memset(cs, 0, sizeof(*cs));
	index_init(&cs->by_id, sizeof(struct cpstate_row),
		   offsetof(struct cpstate_row, id));
}

void cpstate_free(struct cpstate *cs)
{
	index_free(&cs->by_id);
	free(cs->rows);
	free(cs->sorted);
	memset(cs, 0, sizeof(*cs));
}

const struct cpstate_row *cpstate_find(const struct cpstate *cs,
				       const char *id)
{
	return index_get(&cs->by_id, cs->rows, id);
}

static struct cpstate_row *row_add(struct cpstate *cs, const char *id)
{
	struct cpstate_row *r = index_get(&cs->by_id, cs->rows, id);

	if (r)
		return r;
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 32;
		cs->rows = xreallocarray(cs->rows, cs->cap, sizeof(*cs->rows));
	}
	r = &cs->rows[cs->n];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	index_put(&cs->by_id, cs->rows, cs->n++);
	cs->gen++;
	return r;
}

struct cpstate_row *cpstate_keep(struct cpstate *cs, const struct msg *m)
{
	struct cpstate_row *r = row_add(cs, m->cp);

	memcpy(r->driver, m->driver, sizeof(r->driver));
	memcpy(r->session, m->session, sizeof(r->session));
	r->st = m->u.state;
	r->updated = m->ts;
	if (m->ts > cs->newest)
		cs->newest = m->ts;
	cs->records++;
	return r;
}

/*
 * The last row takes the place of the one dropped: rows are found by
 * id, and only cpstate_sorted() orders them, made again after a drop.
 */
void cpstate_drop(struct cpstate *cs, const char *id)
{
	long i = index_find(&cs->by_id, cs->rows, id);

	if (i < 0)
		return;
	index_del(&cs->by_id, cs->rows, id);
	if ((uint32_t)i != --cs->n) {
		index_del(&cs->by_id, cs->rows, cs->rows[cs->n].id);
		cs->rows[i] = cs->rows[cs->n];
		index_put(&cs->by_id, cs->rows, (uint32_t)i);
	}
	cs->records++;
	cs->gen++;
}

static int by_id(const void *a, const void *b)
{
	return strcmp((*(const struct cpstate_row *const *)a)->id,
		      (*(const struct cpstate_row *const *)b)->id);
}

const struct cpstate_row *const *cpstate_sorted(struct cpstate *cs)
{
	if (cs->sorted_gen == cs->gen && cs->sorted)
		return cs->sorted;
	cs->sorted = xreallocarray(cs->sorted, (size_t)cs->n + 1,
				   sizeof(*cs->sorted));
	for (uint32_t i = 0; i < cs->n; i++)
		cs->sorted[i] = &cs->rows[i];
	qsort(cs->sorted, cs->n, sizeof(*cs->sorted), by_id);
	cs->nsorted = cs->n;
	cs->sorted_gen = cs->gen;
	return cs->sorted;
}

/* cp-state's decoding: a state kept, a CP dropped; other topics not. */
static void on_state(void *arg, enum topic t, const struct msg *m, bool gone)
{
	if (t != T_CP_STATE)
		return;
	if (gone)
		cpstate_drop(arg, m->cp);
	else
		cpstate_keep(arg, m);
}

enum bus_read cpstate_read(struct bus *b, struct cpstate *cs,
			   unsigned timeout_ms)
{
	return bus_read_compacted(b, T_CP_STATE, on_state, cs, timeout_ms);
}
