/* cp.h: the protocol core of one charging point: registration, supply, faults, what a crash must not lose. */
#ifndef EVC_CP_H
#define EVC_CP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "core.h"
#include "msg.h"

/*
 * One CP's rules, fed and never reading a clock, a socket or a file:
 * lib/engine.c runs one core for `evc cp`, cmd/fleet.c thousands for
 * `evc fleet`, and test/unit/cp_test.c drives one by hand. Inputs are a
 * decoded message (cp_feed), a tick (cp_tick: registrations and
 * telemetry due), a local action (cp_act) and, at start, the end of a
 * session an earlier run left unreported (cp_interrupted); each comes
 * with the time. Outputs go through the owner's hooks, called only
 * once the core's state is whole again: a hook may feed the core again
 * (the engine serves its monitor while Kafka takes a supply_end, and
 * the monitor may unplug meanwhile).
 *
 * A metered CP (cp_owner.metered: a real charger behind `evc ocpp`)
 * supplies what its own meter says rather than power times time: the
 * owner reports each reading with cp_meter(), ticks send no telemetry
 * and reach no target, and an end the core decides (stop, end command,
 * fault) is only asked for (cp_supply.ending) until the owner has the
 * meter's last figure for cp_meter_end().
 */

#define CP_NEVER INT64_MAX	/* cp_next(): nothing due, ever */
#define CP_DONE_MAX 64		/* sessions remembered against replays */
#define CP_SID_BYTES (MSG_UUID_LEN / 2)

struct cp;

/* What every CP of one owner shares: its settings and its hooks. */
struct cp_owner {
	const struct conf *c;	/* cp.tick_ms, power_kw, default_kwh/_seconds */
	const char *location;	/* sent at registration */
	long long power_w;	/* cp.power_kw in watts */
	bool metered;		/* energy from cp_meter(), not simulated */
	/* Queues m on topic t: 0, or -1 when it could not be queued. */
	int (*post)(void *arg, enum topic t, const struct msg *m);
	/*
	 * The session file. keep is the supply_end to send if the CP died
	 * now; NULL says that nothing needs keeping once everything posted
	 * so far is delivered. A NULL hook keeps nothing (evc fleet).
	 */
	void (*save)(void *arg, const struct cp *p, const struct msg *keep);
	/* A line for people; levels below say_min are not even formatted. */
	void (*say)(void *arg, const struct cp *p, enum say level,
		    const char *line);
	enum say say_min;
	void *arg;
};

/* The session being supplied. */
struct cp_supply {
	char session[MSG_UUID_LEN + 1];
	char driver[MSG_NAME_MAX + 1];
	double price;		/* EUR/kWh, from the start command */
	int64_t started;	/* wall clock, ms */
	int64_t t0;		/* monotonic clock at the start */
	long long limit_ms;	/* the target is reached after this; -1: none */
	int64_t target_wh;	/* 0: none */
	int64_t wh;		/* energy of the last telemetry sent */
	int64_t next_tick;	/* monotonic time of the next telemetry */
	uint32_t seq;		/* of the last telemetry sent */
	bool told;		/* a telemetry was sent: seq is its */
	double kw;		/* metered: the power of the last reading */
	bool ending;		/* metered: an end is asked for ... */
	enum msg_end end_reason;	/* ... for this reason */
};

/* One CP; owners read its fields, only cp_*() change them. */
struct cp {
	char id[MSG_NAME_MAX + 1];
	const struct cp_owner *o;
	bool registered, refused, faulted, stopped, supplying;
	enum msg_deny refusal;	/* Central's reason, once refused */
	int register_ms;	/* the next back-off */
	int64_t next_register;	/* monotonic; 0: at the first tick */
	struct cp_supply s;
	/*
	 * The last CP_DONE_MAX sessions supplied, a replayed start must not
	 * reopen one: a ring that grows as sessions end, so that the many
	 * idle CPs of a fleet do not pay for it.
	 */
	unsigned char (*done)[CP_SID_BYTES];
	unsigned ndone, done_cap;
	long other;		/* messages for other CPs, ignored */
};

/* What an input meant, for the owner's own bookkeeping. */
enum cp_event {
	CP_EV_NONE,		/* nothing changed: idle, repeated, or not due */
	CP_EV_OTHER,		/* a message for another CP: ignored, counted */
	CP_EV_REGISTERED,	/* Central accepted the registration */
	CP_EV_REFUSED,		/* Central refused it (p->refusal): nothing more to do */
	CP_EV_STARTED,		/* a supply began */
	CP_EV_DECLINED,		/* a start that could not be served ended at once */
	CP_EV_ENDED,		/* the supply ended: target, end command, unplug */
	CP_EV_STOPPED,		/* Central stopped the CP (any supply ended) */
	CP_EV_RESUMED,		/* Central put it back in service */
	CP_EV_FAULTED,		/* the engine failed (any supply ended) */
	CP_EV_RECOVERED,	/* the fault is over */
	CP_EV_ENDING,		/* metered: the end command asks for the end */
};

/* Local actions: the monitor's keys and control commands, the owner's end. */
enum cp_action {
	CP_UNPLUG,		/* the car is unplugged */
	CP_FAULT,		/* the engine fails until CP_RECOVER */
	CP_RECOVER,
	CP_SHUTDOWN,		/* the CP goes away: a supply ends, disconnected */
	CP_REBOOT,		/* the CP started over: it registers again */
};

/* The settings of o from c; the hooks are the caller's to set. */
void cp_owner_init(struct cp_owner *o, const struct conf *c,
		   const char *location);

/* A CP named id (a valid CP id), not registered; it registers at its first tick. */
void cp_init(struct cp *p, const struct cp_owner *o, const char *id);
/* Frees what p holds; it needs cp_init() again to be used. */
void cp_free(struct cp *p);

/* Applies a register_ack or a command. */
enum cp_event cp_feed(struct cp *p, const struct msg *m, const struct now *t);
/* Sends what is due at t: a registration, telemetry, the end at the target. */
enum cp_event cp_tick(struct cp *p, const struct now *t);
enum cp_event cp_act(struct cp *p, enum cp_action a, const struct now *t);

/*
 * Sends end, the supply_end an earlier run kept and did not see
 * delivered, with a fresh id and time. -1 when it is not a supply_end
 * of this CP (nothing sent).
 */
int cp_interrupted(struct cp *p, const struct msg *end, const struct now *t);

/*
 * Metered CPs. cp_meter() sends the telemetry of a reading: wh since
 * the start, kw now (seq 0 for the first of the session); cp_meter_end()
 * ends the supply on the meter's last figure, for the reason asked
 * (cp_supply.ending) or else for reason. -1 when nothing is supplied.
 */
int cp_meter(struct cp *p, int64_t wh, double kw, const struct now *t);
int cp_meter_end(struct cp *p, int64_t wh, enum msg_end reason,
		 const struct now *t);

/*
 * Takes back the supply an earlier run of a metered owner kept (the
 * supply_end it would have sent, as the save hook had it): the session
 * goes on where it was, the CP counted as registered. -1 (nothing
 * changed) when keep is not a supply_end of this CP or p supplies.
 */
int cp_resume(struct cp *p, const struct msg *keep, const struct now *t);

/* The monotonic time cp_tick() is next needed; CP_NEVER when never. */
int64_t cp_next(const struct cp *p);

/*
 * One line of key=value words for the monitor and `evc cp ID status`:
 * "CP001 state=supplying engine=ok registered=yes driver=D1 ...".
 */
void cp_status(const struct cp *p, char *buf, size_t len);

/*
 * The accounting of a supply. supply_limits() sets the energy target
 * (Wh, 0: none) and the duration (ms, -1: none) of a start, the
 * configured defaults when it names neither; the supply ends at the
 * sooner. supply_energy() is the energy after ms of supply at power_w,
 * bounded by both.
 */
void supply_limits(const struct conf *c, long long power_w,
		   const struct msg_command *cmd, int64_t *target_wh,
		   long long *limit_ms);
int64_t supply_energy(long long power_w, int64_t target_wh,
		      long long limit_ms, long long ms);

#endif
