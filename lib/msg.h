/* msg.h: the JSON messages evc exchanges, their structs and codecs. */
#ifndef EVC_MSG_H
#define EVC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every message is one JSON object with the envelope
 *   {"v":1, "type":"...", "id":"<32 hex>", "ts":<ms since epoch>, ...}
 * and the fields of its type; evc-protocol(7) documents each one.
 * Decoders are strict: a missing, mistyped, oversized or unknown field,
 * a bad id, or a wrong version rejects the whole message.
 */
#define MSG_VERSION 1
#define MSG_MAX_BYTES 65536	/* larger payloads are rejected unparsed */
#define MSG_NAME_MAX 32		/* CP and driver ids: [A-Za-z0-9_.-]{1,32} */
#define MSG_UUID_LEN 32		/* message and session ids: 32 lowercase hex */
#define MSG_TEXT_MAX 128	/* free text: locations, reasons, detail */
/* Bounds of the figures, so that no product or sum of them can overflow. */
#define MSG_WH_MAX 1000000000LL		/* 1 GWh */
#define MSG_CENTS_MAX 100000000000LL	/* MSG_WH_MAX at MSG_PRICE_MAX */
#define MSG_PRICE_MAX 1000.0		/* EUR/kWh */
#define MSG_KW_MAX 100000.0
/* A list of ids: 1 to MSG_IDS_MAX of them, one space between two. */
#define MSG_IDS_MAX 4
#define MSG_IDS_LEN (MSG_IDS_MAX * (MSG_UUID_LEN + 1) - 1)

enum msg_type {
	MSG_REGISTER,		/* cp-register: an engine announces itself */
	MSG_REGISTER_ACK,	/* cp-register-ack: accepted or refused */
	MSG_AUTH_REQUEST,	/* auth-request: a driver asks to charge */
	MSG_AUTH_RESPONSE,	/* auth-response: Central's decision */
	MSG_PROGRESS,		/* auth-response: live figures of a session */
	MSG_TICKET,		/* auth-response: the end of a session */
	MSG_COMMAND,		/* cp-commands: start, stop, resume */
	MSG_TELEMETRY,		/* telemetry: one tick of a supply */
	MSG_SUPPLY_END,		/* telemetry: a supply ended, final figures */
	MSG_HEALTH,		/* health: monitor heartbeat, engine status */
	MSG_NOTICE,		/* auth-response: news of a session (CP broken...) */
	MSG_CONTROL,		/* control: operator asks Central to stop/resume */
	MSG_CP_STATE,		/* cp-state: Central's view of one CP */
	MSG_CP_ENTRY,		/* cp-catalogue: one CP of the catalogue */
	MSG_TYPE_COUNT
};

/* Why Central refused a request (MSG_AUTH_RESPONSE, MSG_REGISTER_ACK). */
enum msg_deny {
	DENY_NONE,
	DENY_UNKNOWN_CP,	/* "unknown_cp" */
	DENY_BUSY,		/* "busy": the CP is supplying */
	DENY_OUT_OF_ORDER,	/* "out_of_order": stopped by Central */
	DENY_BROKEN,		/* "broken": the engine is KO */
	DENY_DISCONNECTED,	/* "disconnected": no heartbeat, or never registered */
	DENY_DRIVER_BUSY,	/* "driver_busy": the driver is charging elsewhere */
	DENY_EXPIRED,		/* "expired": the request is older than its timeout */
	DENY_BAD_REQUEST,	/* "bad_request": e.g. an impossible target */
	DENY_COUNT
};

/* Why a supply ended (MSG_SUPPLY_END, MSG_TICKET). */
enum msg_end {
	END_FINISHED,		/* "finished": the target was reached */
	END_UNPLUGGED,		/* "unplugged": the car was unplugged */
	END_STOPPED,		/* "stopped": Central stopped the CP */
	END_BROKEN,		/* "broken": the engine failed */
	END_DISCONNECTED,	/* "disconnected": the monitor went silent */
	END_CANCELLED,		/* "cancelled": the driver stopped the charge */
	END_COUNT
};

/* CP states, as Central sees them (practice.md's table). */
enum cp_state {
	CP_DISCONNECTED,	/* "DISCONNECTED", grey */
	CP_ACTIVE,		/* "ACTIVE", green */
	CP_SUPPLYING,		/* "SUPPLYING", green with live figures */
	CP_STOPPED,		/* "STOPPED", orange "Out of Order" */
	CP_BROKEN,		/* "BROKEN", red */
	CP_REVOKED,		/* "REVOKED": its keys revoked, its messages refused */
	CP_STATE_COUNT
};

enum msg_cmd {
	CMD_START,		/* start a session for a driver */
	CMD_STOP,		/* out of order: end any supply, accept none */
	CMD_RESUME,		/* back in service */
	CMD_END,		/* end the session named (the driver cancelled) */
	CMD_COUNT
};

/* Energy is carried in watt-hours (integers), money in euro cents. */
struct msg_register {
	char location[MSG_TEXT_MAX + 1];
	bool engine_ok;
};

struct msg_register_ack {
	bool accepted;
	enum msg_deny reason;		/* when refused */
	double price;			/* EUR/kWh, when accepted */
	char location[MSG_TEXT_MAX + 1];
};

struct msg_auth_request {
	int64_t target_wh;		/* 0: none */
	uint32_t target_s;		/* 0: none */
	uint32_t timeout_ms;		/* the driver gives up after this */
	bool cancel;			/* end the driver's session instead */
};

struct msg_auth_response {
	char request[MSG_UUID_LEN + 1];	/* id of the auth_request */
	bool authorized;
	enum msg_deny reason;
	double price;			/* EUR/kWh, when authorized */
};

struct msg_progress {			/* MSG_TELEMETRY and MSG_PROGRESS */
	uint32_t seq;			/* 0 for the first tick of a session */
	double kw;
	int64_t wh;			/* energy so far */
	int64_t cents;			/* cost so far */
};

struct msg_ticket {			/* MSG_SUPPLY_END and MSG_TICKET */
	uint32_t seq;			/* after the last telemetry seq */
	int64_t wh;
	int64_t cents;
	double price;
	int64_t started;		/* ms since epoch */
	int64_t ended;
	enum msg_end reason;
};

struct msg_command {
	enum msg_cmd cmd;
	int64_t target_wh;		/* CMD_START */
	uint32_t target_s;		/* CMD_START */
	double price;			/* CMD_START */
};

struct msg_health {
	bool engine_ok;
	uint32_t seq;			/* heartbeat counter of this monitor */
};

struct msg_notice {
	enum cp_state state;		/* the CP's state now */
	char text[MSG_TEXT_MAX + 1];
};

struct msg_control {
	enum msg_cmd cmd;		/* CMD_STOP or CMD_RESUME */
	bool all;			/* every CP (cp is then empty) */
};

struct msg_cp_state {
	enum cp_state state;
	char location[MSG_TEXT_MAX + 1];
	double price;
	struct msg_progress live;	/* while SUPPLYING */
	int64_t since;			/* ms since epoch of the last change */
	/*
	 * Optional (a record of an older Central has neither): the
	 * auth_request that opened the session in progress, and the
	 * requests granted at this CP lately, space-separated; "" for none.
	 */
	char request[MSG_UUID_LEN + 1];
	char granted[MSG_IDS_LEN + 1];
};

/* A CP as the catalogue knows it; its removal is a record without value. */
struct msg_cp_entry {
	char location[MSG_TEXT_MAX + 1];
	double price;			/* EUR/kWh */
	double power_kw;		/* rated; 0: central.max_power_kw */
};

struct msg {
	enum msg_type type;
	char id[MSG_UUID_LEN + 1];
	int64_t ts;			/* ms since epoch */
	char cp[MSG_NAME_MAX + 1];	/* "" where the type has none */
	char driver[MSG_NAME_MAX + 1];	/* "" where the type has none */
	char session[MSG_UUID_LEN + 1];	/* "" where the type has none */
	union {
		struct msg_register reg;
		struct msg_register_ack ack;
		struct msg_auth_request req;
		struct msg_auth_response resp;
		struct msg_progress prog;
		struct msg_ticket ticket;
		struct msg_command cmd;
		struct msg_control ctl;
		struct msg_cp_state state;
		struct msg_health health;
		struct msg_notice notice;
		struct msg_cp_entry entry;
	} u;
};

/* Which of cp, driver and session each type carries is in msg.c's table. */

/* Zeroes m, sets type, a fresh random id and the current time. */
void msg_init(struct msg *m, enum msg_type type);
/* The same with the time given: the cores, which read no clock, use it. */
void msg_init_at(struct msg *m, enum msg_type type, int64_t ts);

/*
 * Encodes m as compact JSON into buf. Returns the length, or -1 when m is
 * invalid (the same checks as msg_decode) or buf too small.
 */
int msg_encode(const struct msg *m, char *buf, size_t len);

/*
 * Decodes len bytes (not NUL-terminated) into m. Returns 0, or -1 with a
 * short reason in err ("missing field 'cp'", "bad id 'x y'", ...).
 */
int msg_decode(const void *buf, size_t len, struct msg *m,
	       char *err, size_t errlen);

/* Names, for JSON and for people; NULL or -1 when out of range/unknown. */
const char *msg_type_name(enum msg_type t);
const char *msg_deny_name(enum msg_deny r);
const char *msg_end_name(enum msg_end r);
const char *msg_cmd_name(enum msg_cmd c);
const char *cp_state_name(enum cp_state s);
int msg_type_parse(const char *s);
int msg_deny_parse(const char *s);
int msg_end_parse(const char *s);
int msg_cmd_parse(const char *s);
int cp_state_parse(const char *s);

/* A human sentence for a denial ("the CP is out of order"). */
const char *msg_deny_text(enum msg_deny r);

/*
 * True when s may be the free text of a message (a location): at most
 * MSG_TEXT_MAX bytes of UTF-8 without control characters.
 */
bool msg_text_ok(const char *s);

/* True when s is a valid CP or driver id. */
bool msg_name_ok(const char *s);

/*
 * True when s may name a CP: a valid id not beginning with '.', which
 * marks Central's own probes (".probe") on the topics CPs write.
 */
bool msg_cp_id_ok(const char *s);

/* Fills out with 32 lowercase hex characters from a good random source. */
void msg_new_uuid(char out[MSG_UUID_LEN + 1]);

/* Cents for wh at price EUR/kWh, rounded half away from zero. */
int64_t msg_cents(int64_t wh, double price);

#endif
