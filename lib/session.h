/* session.h: a driver's view of its sessions: requests, answers, tickets. */
#ifndef EVC_SESSION_H
#define EVC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bus.h"
#include "conf.h"
#include "msg.h"

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

/* What one message meant to the driver. */
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
	long long asked_ms;		/* mono_ms() when sent */
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
	long failed_base;		/* delivery failures before the request */
	bool adopt;			/* take any grant (replaying history) */
};

void session_init(struct session *s, const char *driver);

/* Argument parsers; each returns 0, or -1 after printing why. */
int session_parse_kwh(const char *arg, int64_t *wh);
int session_parse_seconds(const char *arg, uint32_t *s);
int session_parse_duration(const char *what, const char *arg, unsigned *ms);

/*
 * Opens a producer and a consumer (no group, so no join to wait for),
 * checks that Kafka answers within timeout_ms, and follows the driver's
 * partition of auth-response from from_ms (0: from now) before anything
 * is sent, so that no answer can be missed. Returns EXIT_OK with *bp
 * set, else the exit status after printing why: EXIT_USAGE for a bad
 * Kafka property, EXIT_UNREACHABLE when Kafka cannot be used.
 */
int session_open(const struct conf *c, const char *driver, int64_t from_ms,
		 unsigned timeout_ms, struct bus **bp);

/*
 * Delivers what is queued (up to timeout_ms) and closes b; with -v, says
 * how many messages were received and rejected. -1 if any was not sent.
 */
int session_close(struct bus *b, int timeout_ms);

/* Sends an auth_request for cp; -1 after printing why. */
int session_request(struct bus *b, struct session *s, const char *cp,
		    const struct session_target *t, unsigned timeout_ms);

/* Asks Central to end the session in progress; -1 after printing why. */
int session_cancel(struct bus *b, struct session *s);

/* Applies one message to s and says what it meant. */
enum session_event session_feed(struct session *s, const struct msg *m);

/*
 * Waits up to timeout_ms for the next event of s. Returns 1 with *ev
 * set, 0 on timeout or interruption (bus_stop), -1 when Kafka failed
 * (printed).
 */
int session_wait(struct bus *b, struct session *s, int timeout_ms,
		 enum session_event *ev);

/* Whether a ticket ended the way a driver counts as served. */
bool session_served(enum msg_end reason);

/* The line that reports ev ("authorised: ...", "ticket at CP001: ..."). */
void session_describe(const struct session *s, enum session_event ev,
		      char *buf, size_t len);
/* "22 kW, 1.2 kWh, 0.42 EUR" so far, or "no figures yet" */
void session_figures(const struct session *s, char *buf, size_t len);
/* "3.2 kWh, 1.12 EUR at 0.35 EUR/kWh (finished)" */
void session_ticket_text(const struct msg_ticket *t, char *buf, size_t len);
/* "CP002 is busy": why Central refused, for people. */
void session_deny_text(const struct session *s, char *buf, size_t len);

/* Figures for people: "3.2" kWh from Wh, "1.12" EUR from cents, a price. */
void session_kwh(int64_t wh, char *buf, size_t len);
void session_eur(int64_t cents, char *buf, size_t len);
void session_price(double price, char *buf, size_t len);

#endif
