/* gateway.h: the OCPP gateway's rules without I/O: every connected charger a CP of the network, OCPP 1.6 to evc messages and back. */
#ifndef EVC_GATEWAY_H
#define EVC_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "core.h"
#include "cp.h"
#include "index.h"
#include "msg.h"
#include "ocpp16.h"
#include "ocppj.h"
#include "sched.h"

/*
 * The core of `evc ocpp`. Each charger is a CP of the network: a core
 * of lib/cp.c in its metered mode (registration, the supply, stop and
 * resume, faults, replays: the same rules as `evc cp`), fed from OCPP
 * rather than from a simulated engine. The gateway core is fed a
 * charger's connection and disconnection, its frames (text, as they
 * came), the evc messages for the CPs (register_ack, command,
 * auth_response) and ticks, each with the time; it answers through its
 * hooks: frames to a connection, messages to Kafka, records for the
 * journal, pings, lines for people. A connection idle ocpp.ping_s is
 * pinged, and closed when silent twice as long: the core keeps every
 * charger's deadlines in one heap, where per-connection timers of the
 * server would cost a walk of a list per frame. No socket, clock or
 * file in here:
 * cmd/ocpp.c runs it, test/unit/gateway_test.c drives it by hand.
 *
 * Chargers are numbered in the order they first connect; a number
 * stays the charger's for the life of the core. A connection is the
 * owner's opaque pointer.
 */

#define GW_CHARGERS_MAX 200000	/* as many as Central can know */
#define GW_CALLS_QUEUED 4	/* the gateway's CALLs waiting for one in flight */
#define GW_CALL_ID_MAX 16

/* Where a supply stands on the charger's side. */
enum gw_phase {
	GW_IDLE,
	GW_ASKED,		/* RemoteStartTransaction sent, not answered */
	GW_AWAITED,		/* the start is granted: StartTransaction is due */
	GW_CHARGING,		/* a transaction is open */
};

/* What a charger's request waits for from Central. */
enum gw_wait { GW_NO_WAIT, GW_WAIT_BOOT, GW_WAIT_AUTHORIZE, GW_WAIT_START };

/* A CALL of the gateway to a charger. */
struct gw_call {
	enum ocpp16_action action;
	json_t *payload;	/* owned until sent */
	char id[GW_CALL_ID_MAX];	/* when sent */
	int64_t deadline;	/* monotonic, when sent */
};

struct gw_charger {
	struct cp cp;		/* the CP it is (cp.id is its id) */
	struct sched_slot slot;
	void *conn;		/* its connection; NULL: none */
	uint32_t conn_gen;	/* connections so far */
	int64_t heard;		/* monotonic: the last frame or pong */
	bool pinged;		/* a ping went since */
	uint32_t reg_gen;	/* the connection its registration was sent on */
	uint64_t faulted;	/* connectors Faulted (bit 63: 63 and above) */
	/* The health it sends for Central, as a CP monitor does. */
	uint32_t health_seq;
	int64_t next_health;
	int64_t offline_until;	/* gone mid-transaction: awaited until */
	/* A request of the charger waiting for Central. */
	enum gw_wait wait;
	char wait_call[OCPPJ_ID_MAX + 1];	/* its CALL, to answer */
	char wait_req[MSG_UUID_LEN + 1];	/* the auth_request sent */
	char wait_tag[MSG_NAME_MAX + 1];	/* the driver asked for */
	int64_t wait_until;
	bool wait_granted;	/* Central granted it; the start is to come */
	int connector;		/* of a StartTransaction waiting */
	int64_t meter_start;	/* ... its meter */
	/* A driver the charger authorised itself: the start is local. */
	char local[MSG_NAME_MAX + 1];
	int64_t local_until;
	/* The supply, on the charger's side. */
	enum gw_phase phase;
	int32_t tx;		/* its transaction id; 0: none */
	int tx_connector;
	int64_t tx_meter;	/* meterStart, Wh */
	int64_t target_wh;	/* the session's targets, from Central's start */
	long long limit_ms;	/* -1: none */
	int64_t start_until;	/* GW_AWAITED: the start is given up after */
	bool stop_asked;	/* RemoteStopTransaction sent ... */
	enum msg_end stop_reason;	/* ... for this reason */
	int64_t stop_until;	/* the end is made on the last figures after */
	/* The gateway's CALLs: one in flight, a few waiting. */
	struct gw_call call[GW_CALLS_QUEUED + 1];
	unsigned ncalls;	/* call[0] is in flight when it has an id */
	/* Calls from the charger: a bucket against floods. */
	double tokens;
	int64_t tokens_at;
};

/* A record of the journal: what a restarted gateway needs of a transaction. */
struct gw_record {
	bool closed;		/* the session is over: forget it */
	bool final;		/* end is the supply's last word, maybe undelivered */
	int32_t tx;		/* 0: StartTransaction not yet */
	int connector;
	int64_t meter_start;
	int64_t target_wh;
	long long limit_ms;
	struct msg end;		/* the supply_end it would be (cp.c's keep) */
};

struct gw_hooks {
	/* Queues m on topic t: 0, or -1 when it could not be queued. */
	int (*post)(void *arg, enum topic t, const struct msg *m);
	/* A text frame to charger ch over conn. */
	void (*send)(void *arg, uint32_t ch, void *conn, const char *frame,
		     size_t len);
	/* A WebSocket ping to conn: an idle charger is asked whether it is there. */
	void (*ping)(void *arg, uint32_t ch, void *conn);
	/* Closes conn with a WebSocket status and reason; no more frames come from it. */
	void (*close)(void *arg, uint32_t ch, void *conn, int status,
		      const char *why);
	/* A record for the journal; NULL-free, kept in order. */
	void (*keep)(void *arg, const struct gw_record *r);
	/* A line for people; SAY_HOSTILE ones are the owner's to rate-limit. */
	void (*say)(void *arg, enum say level, const char *line);
	enum say say_min;
	void *arg;
};

struct gw_stats {
	long frames;		/* frames from chargers */
	long refused;		/* frames answered with a CALLERROR or dropped */
	long floods;		/* connections closed for too many calls */
	long ignored;		/* evc messages for chargers not held here */
	long callerrors;	/* CALLERRORs sent */
	long boots[3];		/* BootNotifications answered: enum gw_boot */
};

/* How a BootNotification was answered. */
enum gw_boot { GW_BOOT_ACCEPTED, GW_BOOT_REJECTED, GW_BOOT_PENDING };

struct gateway {
	const struct conf *c;
	struct gw_hooks h;
	struct cp_owner o;	/* every charger's: metered, hooks to the core */
	struct gw_charger *ch;
	uint32_t n, cap;
	struct index ids;
	struct sched timers;
	int32_t next_tx;	/* the next transaction id */
	uint32_t next_call;	/* the gateway's CALL ids */
	uint32_t held;		/* chargers connected or awaited now */
	struct gw_stats st;
	char frame[8192];	/* what is sent is built here */
};

void gw_init(struct gateway *g, const struct conf *c, const struct gw_hooks *h);
void gw_free(struct gateway *g);

/*
 * A charger's connection, its id checked (msg_cp_id_ok): its number,
 * or -1 when the core holds GW_CHARGERS_MAX chargers already. An older
 * connection of the same id is closed.
 */
long gw_connect(struct gateway *g, const char *id, void *conn,
		const struct now *t);
/* The connection is gone (closed by either side). */
void gw_disconnect(struct gateway *g, uint32_t ch, void *conn,
		   const struct now *t);
/* A pong from a charger's connection. */
void gw_pong(struct gateway *g, uint32_t ch, void *conn, const struct now *t);
/* One whole text frame from a charger's connection. */
void gw_frame(struct gateway *g, uint32_t ch, void *conn, const char *buf,
	      size_t len, const struct now *t);

/*
 * Chargers with a connection open now, and transactions in progress
 * (a charger offline mid-transaction still has one): counted, for a
 * scrape now and then, not kept.
 */
void gw_count(const struct gateway *g, uint32_t *connected,
	      uint32_t *transactions);

/* A message from Kafka: register_ack, command, auth_response; others ignored. */
void gw_feed(struct gateway *g, const struct msg *m, const struct now *t);

/* Deadlines due at t: registrations, health, answers, starts, stops. */
void gw_tick(struct gateway *g, const struct now *t);
/* The monotonic time gw_tick() is next needed; SCHED_NEVER when never. */
int64_t gw_next(const struct gateway *g);

/*
 * A record of the journal an earlier run kept, live at its end: a
 * transaction goes on (its charger awaited as if gone mid-transaction),
 * a last word not known delivered is sent again. -1 when r cannot be
 * taken (not a supply_end of a CP id, or a charger supplying already).
 */
int gw_restore(struct gateway *g, const struct gw_record *r,
	       const struct now *t);

/* The charger of id, or NULL. */
struct gw_charger *gw_find(struct gateway *g, const char *id);

/* The idTagInfo status of a decision of Central (authorized: DENY_NONE). */
const char *gw_tag_status(enum msg_deny why);
/* The end reason of a StopTransaction's reason ("" when it gave none). */
enum msg_end gw_stop_reason(const char *reason);

#endif
