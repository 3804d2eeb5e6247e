/* webapi.h: evc web's API without sockets: the CPs, sessions and tickets it follows, requests answered, SSE events written. */
#ifndef EVC_WEBAPI_H
#define EVC_WEBAPI_H

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "conf.h"
#include "http.h"
#include "index.h"
#include "msg.h"

#define WEBAPI_TICKETS 50	/* the newest kept, served and streamed */

/* One CP as cp-state and cp-catalogue tell it. */
struct webapi_cp {
	char id[MSG_NAME_MAX + 1];
	bool has_state;		/* cp-state has a record of it */
	bool in_cat;		/* cp-catalogue has an entry for it */
	char driver[MSG_NAME_MAX + 1];
	char session[MSG_UUID_LEN + 1];
	struct msg_cp_state st;
	int64_t st_ts;
	struct msg_cp_entry e;
	int64_t e_ts;
	uint64_t seq;		/* the change that touched it last */
	char *event;		/* its SSE event as of ev_seq, made once for every stream */
	size_t event_len;
	uint64_t event_seq;
	uint32_t prev, next;	/* in the order of changes; UINT32_MAX: none */
	int counted;		/* the state counted for it; -1: none */
};

struct webapi_ticket {
	char cp[MSG_NAME_MAX + 1];
	char driver[MSG_NAME_MAX + 1];
	char session[MSG_UUID_LEN + 1];
	struct msg_ticket t;
	int64_t ts;
	uint64_t seq;
};

/* What a write posts: queued, then committed (waited for). */
/* A write a request asked for: told to the audit hook once answered. */
struct webapi_act {
	bool set;
	enum audit_action action;
	char subject[MSG_NAME_MAX + 1];		/* "" for all */
	char detail[AUDIT_TEXT_MAX + 1];	/* a catalogue entry written */
};

struct webapi_req;

struct webapi_hooks {
	int (*send)(void *arg, enum topic t, const struct msg *m);
	int (*erase)(void *arg, enum topic t, const char *cp);
	int (*commit)(void *arg);	/* 0 once Kafka has them all */
	/* Optional: every write asked, allowed or not, with its answer. */
	void (*audit)(void *arg, const struct webapi_act *a,
		      const struct webapi_req *q, const struct http_resp *r);
	/* Optional: GET /metrics, Prometheus' text in a buffer to free. */
	char *(*metrics)(void *arg, size_t *len);
	void *arg;
};

struct webapi {
	/* Rows are never removed (a CP gone is a row hidden): indices stay. */
	struct webapi_cp *rows;
	uint32_t n, cap;
	struct index by_id;
	uint32_t *sorted;	/* shown rows by id */
	uint32_t nsorted;
	bool sorted_ok;
	uint32_t first, last;	/* the order of changes, oldest first */
	uint64_t seq;		/* changes so far */
	struct webapi_ticket tickets[WEBAPI_TICKETS];	/* a ring */
	uint64_t tseq;		/* tickets so far */
	long counts[CP_STATE_COUNT];
	long total;
	uint64_t counts_seq;	/* when counts last changed */
	const char *token;	/* writes need it; NULL: see open_writes */
	const char *read_token;	/* reads need it (or token); NULL: open */
	bool open_writes;	/* no token, listening on loopback only */
	double default_kw;	/* a CP whose entry names no power */
	struct webapi_act act;	/* of the request being answered */
	struct webapi_hooks hooks;
};

void webapi_init(struct webapi *w, const struct webapi_hooks *h);
void webapi_free(struct webapi *w);

/* A record of cp-state, cp-catalogue or auth-response (tickets). */
void webapi_feed(struct webapi *w, enum topic t, const struct msg *m,
		 bool gone);

/* A request: method, the path and query as sent, its token, its body. */
struct webapi_req {
	const char *method;
	const char *path;	/* without the query */
	const char *query;	/* "" when none */
	const char *auth;	/* Authorization header; NULL: none */
	const char *peer;	/* the client's address, for the trail; NULL: unknown */
	const char *body;
	size_t len;
	int64_t now;		/* ms since epoch: a catalogue entry's ts */
};

/* Answers q in r (r zeroed by the caller, r->body freed by it). */
void webapi_handle(struct webapi *w, const struct webapi_req *q,
		   struct http_resp *r);

/* Where an SSE client is: what it was sent last. */
struct webapi_cursor {
	uint64_t seq, tseq, counts_seq;
};

/* The hello event, and the cursor of a client that has just had it. */
void webapi_hello(struct webapi *w, struct jbuf *b, struct webapi_cursor *c);

/*
 * The events after c, at least one and up to about budget bytes, c moved
 * past them: true when more are waiting. A CP changed many times is sent
 * once, in its last state; tickets more than WEBAPI_TICKETS behind are
 * lost to that client.
 */
bool webapi_events(struct webapi *w, struct jbuf *b, struct webapi_cursor *c,
		   size_t budget);

/* Whether anything is waiting for a client at c. */
bool webapi_pending(const struct webapi *w, const struct webapi_cursor *c);

#endif
