/* cpstate.h: Central's last word on each CP, as the compacted cp-state topic keeps it. */
#ifndef EVC_CPSTATE_H
#define EVC_CPSTATE_H

#include <stdint.h>

#include "bus.h"
#include "index.h"
#include "msg.h"

struct bus;

/* The last cp_state Central published for one CP. */
struct cpstate_row {
	char id[MSG_NAME_MAX + 1];
	char driver[MSG_NAME_MAX + 1];	/* "" when no session runs */
	char session[MSG_UUID_LEN + 1];
	struct msg_cp_state st;
	int64_t updated;		/* ts of that message */
};

/*
 * Every reader of cp-state (Central at start, evc status, the driver's
 * list) keeps it in one of these: one row per CP, later messages
 * replacing earlier ones, found by id in one lookup.
 */
struct cpstate {
	struct cpstate_row *rows;	/* in the order CPs first appeared */
	uint32_t n, cap;
	struct index by_id;
	const struct cpstate_row **sorted;	/* by id, see cpstate_sorted() */
	uint32_t nsorted;
	uint32_t gen, sorted_gen;	/* rows added or dropped; when sorted */
	int64_t newest;			/* ts of the newest message; 0: none */
	long records;			/* messages kept */
};

void cpstate_init(struct cpstate *cs);
void cpstate_free(struct cpstate *cs);

/* Keeps m, a cp_state message, as the state of its CP; returns its row. */
struct cpstate_row *cpstate_keep(struct cpstate *cs, const struct msg *m);
const struct cpstate_row *cpstate_find(const struct cpstate *cs,
				       const char *id);

/*
 * Forgets CP id: Central removed it from cp-state (a record without a
 * value). Rows may move: a pointer to one is good until the next call.
 */
void cpstate_drop(struct cpstate *cs, const char *id);

/*
 * The rows ordered by id. Only a CP added or dropped moves them: the
 * order is rebuilt then, and only then, so a reader following the
 * topic pays nothing per message.
 */
const struct cpstate_row *const *cpstate_sorted(struct cpstate *cs);

/*
 * Follows every partition of cp-state on b from its beginning and keeps
 * what it reads until the end each partition had when it began, within
 * timeout_ms. b stays positioned after it, for a reader that goes on
 * following (evc status --watch).
 */
enum bus_read cpstate_read(struct bus *b, struct cpstate *cs,
			   unsigned timeout_ms);

#endif
