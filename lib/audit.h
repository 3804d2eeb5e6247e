/* audit.h: the audit trail's records: one per operator action, built, checked and coded strictly, without I/O. */
#ifndef EVC_AUDIT_H
#define EVC_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "msg.h"

/*
 * An audit record is one JSON object on the topic audit, keyed by its
 * subject (evc-protocol(7)):
 *   {"v":1, "type":"audit", "ts":<ms>,
 *    "actor":{"kind":"cli", "name":"alice", "host":"ops1",
 *             "principal":"operator"},
 *    "action":"cp-add", "subject":"CP001", "result":"ok",
 *    "reason":"...", "detail":"..."}
 * principal, reason and detail are optional. The record has no field a
 * secret could go in: a name, a host, ids, and short texts the callers
 * build from facts that are not secret (never a key, token or password).
 *
 * Its keys are none of the messages' (lib/msg.c's vocabulary is full and
 * its envelope has an id the trail does not need): it has a codec of
 * its own, on jansson, as strict as msg_decode. lib/trail.h writes
 * records to Kafka.
 */
#define AUDIT_VERSION 1
#define AUDIT_MAX_BYTES 4096	/* larger records are rejected unparsed */
#define AUDIT_TEXT_MAX MSG_TEXT_MAX	/* name, host, principal, reason, detail */

/* Who acted. */
enum audit_kind {
	AUDIT_PANEL,		/* "panel": Central's terminal panel */
	AUDIT_CLI,		/* "cli": an evc command (evc cps, evc central stop) */
	AUDIT_CONSOLE,		/* "console": the web console */
	AUDIT_CENTRAL,		/* "central": Central itself (a takeover) */
	AUDIT_CP,		/* "cp": a CP or a gateway */
	AUDIT_KIND_COUNT
};

/* What was done. */
enum audit_action {
	AUDIT_STOP,		/* "stop": one CP out of order */
	AUDIT_RESUME,		/* "resume" */
	AUDIT_STOP_ALL,		/* "stop-all": subject "" */
	AUDIT_RESUME_ALL,	/* "resume-all": subject "" */
	AUDIT_CP_ADD,		/* "cp-add": a CP put in the catalogue */
	AUDIT_CP_CHANGE,	/* "cp-change": its entry replaced */
	AUDIT_CP_REMOVE,	/* "cp-remove": taken out */
	AUDIT_KEY_ISSUE,	/* "key-issue" */
	AUDIT_KEY_REVOKE,	/* "key-revoke" */
	AUDIT_KEY_ROTATE,	/* "key-rotate" */
	AUDIT_BAD_MAC,		/* "bad-mac": a message whose MAC is wrong */
	AUDIT_LOGIN_REFUSED,	/* "login-refused" */
	AUDIT_TAKEOVER,		/* "takeover": a standby Central serves; subject "" */
	AUDIT_ACTION_COUNT
};

/* How it ended: anything but ok has a reason. */
enum audit_result {
	AUDIT_OK,		/* "ok" */
	AUDIT_REFUSED,		/* "refused": not allowed, or no such CP */
	AUDIT_FAILED,		/* "failed": Kafka did not take it... */
	AUDIT_RESULT_COUNT
};

struct audit_actor {
	enum audit_kind kind;
	/* A unix user, a console token's name, a CP id, a Central's host. */
	char name[AUDIT_TEXT_MAX + 1];
	char host[AUDIT_TEXT_MAX + 1];	/* where it acted from */
	char principal[AUDIT_TEXT_MAX + 1];	/* Kafka's user name; "": none */
};

struct audit_rec {
	int64_t ts;				/* ms since epoch */
	struct audit_actor actor;
	enum audit_action action;
	char subject[MSG_NAME_MAX + 1];		/* a CP or driver id, or "" */
	enum audit_result result;
	char reason[AUDIT_TEXT_MAX + 1];	/* "" exactly when ok */
	char detail[AUDIT_TEXT_MAX + 1];	/* what else; "": nothing */
};

/*
 * Zeroes r and fills what every record of this action by this actor
 * has: the time given (ms since epoch), a copy of *who, action, subject
 * (NULL: ""), result ok. Text too long for a field is cut, at a UTF-8
 * character, so that a record is still written: audit_check() then
 * judges what is left.
 */
void audit_init(struct audit_rec *r, const struct audit_actor *who,
		enum audit_action action, const char *subject, int64_t ts);

/* The result and a reason in printf style (fmt NULL: none); detail alike. */
__attribute__((format(printf, 3, 4)))
void audit_result(struct audit_rec *r, enum audit_result res,
		  const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void audit_detail(struct audit_rec *r, const char *fmt, ...);

/*
 * The actor a process of this machine is: kind, the unix user it runs
 * as, this host's name, and the Kafka user it writes as (sasl.username
 * of c, the last one set; none without). Never fails: "?" stands for
 * what cannot be told.
 */
void audit_actor_local(struct audit_actor *a, enum audit_kind kind,
		       const struct conf *c);

/*
 * An actor named from elsewhere: a console's token name and its
 * client's address, a CP id and its gateway's host. Texts too long are
 * cut as audit_init() cuts them; principal as audit_actor_local() has it.
 */
void audit_actor_set(struct audit_actor *a, enum audit_kind kind,
		     const char *name, const char *host, const struct conf *c);

/*
 * A rate limit for the records that hostile input could repeat without
 * end (bad-mac, login-refused): AUDIT_LIMIT_BURST records per
 * AUDIT_LIMIT_MS at most. audit_limit_take() says whether one more may
 * go at now (ms, on any one clock); the first that goes after some were
 * held back gets their number in *held (0 else), so the trail still
 * counts them. A zeroed struct is ready.
 */
#define AUDIT_LIMIT_BURST 10
#define AUDIT_LIMIT_MS 10000
struct audit_limit {
	long long window;		/* start of the current window */
	int taken;			/* records let go in it */
	long held;			/* records held back since the last one */
};
bool audit_limit_take(struct audit_limit *l, long long now, long *held);

/* 0 when r may be written and read back; -1 with a reason in err. */
int audit_check(const struct audit_rec *r, char *err, size_t errlen);

/*
 * Encodes r as one line of compact JSON (no newline) into buf: the
 * length, or -1 when r fails audit_check() or buf is too small.
 */
int audit_encode(const struct audit_rec *r, char *buf, size_t len);

/*
 * Decodes len bytes into r: 0, or -1 with a short reason in err
 * ("missing field 'action'", "unknown field 'password'", ...). Strict:
 * an unknown, missing, mistyped or oversized field, a key twice, a
 * wrong version or type rejects the record.
 */
int audit_decode(const void *buf, size_t len, struct audit_rec *r,
		 char *err, size_t errlen);

/* Names, as the JSON has them; NULL or -1 when out of range or unknown. */
const char *audit_kind_name(enum audit_kind k);
const char *audit_action_name(enum audit_action a);
const char *audit_result_name(enum audit_result r);
int audit_kind_parse(const char *s);
int audit_action_parse(const char *s);
int audit_result_parse(const char *s);

/*
 * r as one line for people, no newline: local time in ISO 8601, actor
 * (kind:name, [principal]), host, action, subject ("-" for none),
 * result, then ": reason" and "; detail" when there are. Control
 * characters cannot occur: audit_check() refused them.
 */
int audit_format(const struct audit_rec *r, char *buf, size_t len);

/*
 * A time for evc audit --since: ISO 8601 (2026-12-07, 2026-12-07T21:30,
 * ...:05, with Z or +HH:MM or none: local time), or a span back from
 * now_ms: a whole number and s, m, h, d or w ("30m", "2d"). 0 with *ms
 * set, -1 when s is neither.
 */
int audit_since_parse(const char *s, int64_t now_ms, int64_t *ms);

#endif
