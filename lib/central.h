/* central.h: Central's rules without I/O: catalogue, CP states, sessions, decisions, tickets. */
#ifndef EVC_CENTRAL_H
#define EVC_CENTRAL_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "core.h"
#include "cpstate.h"
#include "index.h"
#include "msg.h"

/*
 * The core of Central: it is fed one decoded message, one tick or one
 * operator's order at a time, each with the time, and answers only by
 * posting messages through its post hook. No Kafka, clock, socket or
 * terminal in here: cmd/central.c reads the bus, feeds the core and
 * sends what it posts; test/unit/central_test.c feeds it tables of
 * events and checks what comes out.
 */

#define CENTRAL_GRANTED_MAX MSG_IDS_MAX	/* request ids remembered per CP */

/* A session as Central follows it, from the grant to the ticket. */
struct central_session {
	char id[MSG_UUID_LEN + 1];
	char driver[MSG_NAME_MAX + 1];
	char request[MSG_UUID_LEN + 1];	/* the auth_request that opened it */
	double price;			/* EUR/kWh, the CP's at the grant */
	int64_t started;		/* wall ms, at the grant */
	int64_t granted;		/* mono ms, at the grant */
	bool owed;			/* a supply_end is due ... */
	int64_t owed_since;		/* ... since this mono ms */
	enum msg_end owed_reason;	/* the ticket's reason if none comes */
	int64_t last_seq;		/* of the last telemetry; -1: none yet */
	struct msg_progress live;	/* the last plausible figures, cents
					   by the session's price */
	unsigned doubtful;		/* implausible telemetry in a row */
	bool live_dirty;		/* figures not yet on cp-state */
	bool prog_dirty;		/* figures not yet sent to the driver */
	int64_t prog_at;		/* mono ms of the last progress sent */
};

/* One CP as Central knows it. */
struct central_cp {
	char id[MSG_NAME_MAX + 1];
	char location[MSG_TEXT_MAX + 1];
	double price;			/* EUR/kWh */
	double power_kw;		/* rated; 0: rules->max_power_kw */
	bool registered;		/* the engine announced itself once */
	bool connected;			/* its monitor's heartbeats arrive */
	bool engine_ok;
	bool stopped;			/* out of order by the operator */
	bool meter_fault;		/* its figures could not be true */
	bool busy;			/* a session is open: s is valid */
	bool unsaid;			/* restored: cp-state keeps the last word */
	bool removed;			/* off the catalogue: refused from now on */
	bool forgotten;			/* removed and idle: a row kept for its id */
	enum cp_state state;
	int64_t since;			/* wall ms of the last change */
	int64_t heartbeat;		/* mono ms of the last one */
	struct central_session s;
	/* Requests granted here lately: a replay must not open a session. */
	char granted[CENTRAL_GRANTED_MAX][MSG_UUID_LEN + 1];
	unsigned ngranted;
};

/*
 * What the core needs from its owner. post sends a message, erase
 * removes a CP from cp-state (NULL: nothing is erased); say hands
 * out a line for people (levels below say_min are never formatted).
 * heard answers whether Central has read everything CP number i sent
 * lately, so that its silence is its own and not Kafka's or a backlog's:
 * no CP is judged silent, nor a session ended for want of news, until
 * it is true.
 */
struct central_hooks {
	void (*post)(void *ctx, enum topic t, const struct msg *m);
	/* A record without a value for CP id on compacted topic t. */
	void (*erase)(void *ctx, enum topic t, const char *id);
	void (*say)(void *ctx, enum say level, const char *line);
	bool (*heard)(void *ctx, uint32_t i, const char *id,
		      const struct now *now);
	void *ctx;
	enum say say_min;
};

struct central {
	const struct conf_central *rules;
	struct central_hooks hooks;
	struct central_cp *cps;
	uint32_t ncps, cap;
	uint32_t nforgotten;		/* rows of CPs removed: ncps - this are known */
	uint32_t roster;		/* bumped when a row is added, forgotten
					   or back: the owner's views of the
					   rows are then stale */
	struct index by_id, by_driver;
	long count[CP_STATE_COUNT];	/* CPs in each state */
	long ignored;			/* messages Central would not act on */
	long implausible;		/* figures refused as impossible */
	bool changed;			/* a CP changed since the owner looked */
	int64_t started;		/* wall ms it began to serve; 0: not yet */
	int64_t serving;		/* the same, mono */
	bool paused;			/* central_pause(): nothing is decided */
	int64_t paused_at;		/* mono ms, when it was */
};

#define CENTRAL_MAX_CPS 200000	/* catalogue plus unknown CPs accepted */

void central_init(struct central *c, const struct conf_central *rules,
		  const struct central_hooks *hooks);
void central_free(struct central *c);

/* What central_add() made of a catalogue entry. */
enum central_add {
	CENTRAL_ADDED,
	CENTRAL_DUPLICATE,		/* that id is there already */
	CENTRAL_FULL,			/* CENTRAL_MAX_CPS reached */
	CENTRAL_BAD_LOCATION,		/* longer than MSG_TEXT_MAX */
	CENTRAL_BAD_PRICE,		/* outside 0 to MSG_PRICE_MAX */
	CENTRAL_BAD_POWER,		/* outside 0 to MSG_KW_MAX */
	CENTRAL_UPDATED,		/* central_catalogue_set(): it replaced one */
};
/* power_kw is the CP's rated power; 0: the rules' max_power_kw. */
enum central_add central_add(struct central *c, const char *id,
			     const char *location, double price,
			     double power_kw, const struct now *now);

/*
 * The catalogue changed (the cp-catalogue topic): CP id is in it, with
 * e's location, price and rated power. A CP new to Central (or removed
 * before) is DISCONNECTED until it registers; a known one keeps its
 * state, and a session in progress keeps the price it began with: a
 * new price applies to the sessions granted after it. CENTRAL_ADDED or
 * CENTRAL_UPDATED, else why e cannot be taken (as central_add()).
 */
enum central_add central_catalogue_set(struct central *c, const char *id,
				       const struct msg_cp_entry *e,
				       const struct now *now);

/*
 * CP id is off the catalogue: its registrations and the requests for
 * it are refused (unknown_cp) from now on, even with allow_unknown. An
 * idle CP is forgotten at once (erased from cp-state); a session in
 * progress runs to its end, billed at its price, and the CP is
 * forgotten then.
 */
void central_catalogue_remove(struct central *c, const char *id,
			      const struct now *now);

/*
 * One row of cp-state, as Central published it before it stopped: a
 * CP it had stopped stays stopped, a session in progress is taken back
 * (its ticket still reaches the driver; without news from the CP it
 * ends). Every CP still shows DISCONNECTED until it is heard.
 */
void central_restore(struct central *c, const struct cpstate_row *r,
		     const struct now *now);

/*
 * Central begins to serve: requests older than now are stale from here
 * on, and the CPs that cp-state does not speak for are published.
 */
void central_serve(struct central *c, const struct now *now);

/*
 * Central stops serving for a while without forgetting anything: its
 * lease is in doubt (Kafka's group coordinator does not answer), so it
 * must not decide, lest another Central serves meanwhile. The owner
 * feeds it nothing until central_resume(); central_tick() does nothing.
 */
void central_pause(struct central *c, const struct now *now);

/*
 * Central serves again, from what it held, after a pause: the time it
 * was paused counts neither as any CP's silence nor as a session's
 * wait (for a supply_end, for a start), since Central read nothing
 * then; every such deadline is moved on by the pause.
 */
void central_resume(struct central *c, const struct now *now);

/* One message read from Central's topics. */
void central_feed(struct central *c, const struct msg *m,
		  const struct now *now);

/*
 * The deadlines: heartbeats missed, supply_ends owed, starts that never
 * came, live figures held back. The owner calls it every 100 ms or so.
 */
void central_tick(struct central *c, const struct now *now);

/* The operator stops or resumes CP id, or every CP when id is NULL. */
void central_control(struct central *c, enum msg_cmd cmd, const char *id,
		     const struct now *now);

/* The CP of id, or NULL (also when it was removed and is forgotten). */
const struct central_cp *central_find(const struct central *c,
				      const char *id);

/* How many CPs Central knows: the forgotten ones are not counted. */
uint32_t central_known(const struct central *c);

#endif
