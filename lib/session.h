/* session.h: a driver's protocol core: its requests, Central's answers, the session and its ticket. */
#ifndef EVC_SESSION_H
#define EVC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "msg.h"

/*
 * The driver's rules, without I/O: lib/drive.c carries what the core
 * builds to Kafka and feeds it what comes back, for `evc driver` and
 * `evc auth`; test/unit/session_test.c feeds it by hand. Inputs are a
 * request or a cancel to build (with the time), a decoded message, the
 * news that Kafka did not take a message, and a tick for the answer's
 * deadline; outputs are the message built, the event an input meant,
 * and texts for people. Lines for the log go through the owner's say
 * hook.
 */

/* What a driver asks for: energy, time, or neither (the CP's default). */
struct session_target {
	int64_t wh;		/* 0: none */
	uint32_t s;		/* 0: none */
};

enum session_state {
	SESS_NONE,		/* no session known */
	SESS_CHARGING,		/* granted, no ticket yet */
	SESS_DONE,		/* the ticket came */
};

/* What one input meant to the driver. */
enum session_event {
	EV_NONE,		/* not ours, stale, or a duplicate */
	EV_GRANTED,		/* our request was authorised */
	EV_DENIED,		/* our request was refused */
	EV_STARTED,		/* the first figures of the session */
	EV_PROGRESS,		/* live figures */
	EV_NOTICE,		/* news of the session (CP broken...) */
	EV_TICKET,		/* the session ended */
	EV_UNSENT,		/* Kafka did not take our last message */
	EV_CANCEL_DENIED,	/* Central refused to end the session */
};

/*
 * One driver's state: the request waiting for Central's answer, and the
 * latest session granted. A new request leaves the session alone until
 * Central answers, so a refusal does not hide a charge in progress.
 */
struct session {
	char driver[MSG_NAME_MAX + 1];
	/* the request in flight */
	char request[MSG_UUID_LEN + 1];	/* "" once answered */
	char asked_cp[MSG_NAME_MAX + 1];
	bool pending;			/* false once answered or given up */
	int64_t asked_ms;		/* monotonic time it was built */
	unsigned timeout_ms;		/* how long it waits for an answer */
	enum msg_deny reason;		/* of the last refusal */
	/* the latest session */
	enum session_state state;
	char cp[MSG_NAME_MAX + 1];
	char id[MSG_UUID_LEN + 1];
	double price;			/* EUR/kWh */
	bool have_live;
	struct msg_progress live;
	struct msg_ticket ticket;	/* when SESS_DONE */
	char notice[MSG_TEXT_MAX + 1];	/* the latest notice */
	enum cp_state notice_state;
	char cancel[MSG_UUID_LEN + 1];	/* our last cancel, until answered */
	bool adopt;			/* take any grant (replaying history) */
	/* A line for the log; levels below say_min are not even formatted. */
	void (*say)(void *arg, enum say level, const char *line);
	enum say say_min;
	void *arg;
};

/* A driver without requests or sessions, and silent (no say hook). */
void session_init(struct session *s, const char *driver);

/*
 * Builds in m the auth_request to charge at cp, stamped t->wall and
 * given timeout_ms at Central; s then waits for its answer from t->mono
 * (and forgets the reason of an earlier refusal). The owner sends m.
 */
void session_request(struct session *s, const char *cp,
		     const struct session_target *tg, unsigned timeout_ms,
		     const struct now *t, struct msg *m);

/*
 * Builds in m the request to end the session in progress, stamped
 * t->wall. -1 (m untouched) when no session is in progress.
 */
int session_cancel(struct session *s, const struct now *t, struct msg *m);

/* Applies one message to s and says what it meant. */
enum session_event session_feed(struct session *s, const struct msg *m);

/*
 * Kafka did not take the message of id that s built; NULL when the bus
 * cannot say which (a delivery report counts failures only), which gives
 * up the request waiting. EV_UNSENT, or EV_NONE when id is not ours.
 */
enum session_event session_unsent(struct session *s, const char *id);

/*
 * True once, at the first t past the answer's deadline: the request is
 * no longer waited for, though a late answer is still taken.
 */
bool session_overdue(struct session *s, const struct now *t);

/* Whether a ticket ended the way a driver counts as served. */
bool session_served(enum msg_end reason);

/* The line that reports ev ("authorised: ...", "ticket at CP001: ..."). */
void session_describe(const struct session *s, enum session_event ev,
		      char *buf, size_t len);
/* "22.0 kW, 1.2 kWh, 0.42 EUR" so far, or "no figures yet" */
void session_figures(const struct session *s, char *buf, size_t len);
/* "3.2 kWh, 1.12 EUR at 0.35 EUR/kWh (finished)" */
void session_ticket_text(const struct msg_ticket *t, char *buf, size_t len);
/* "CP002 is busy": why Central refused, for people. */
void session_deny_text(const struct session *s, char *buf, size_t len);

#endif
