/* msg_table.h: a read-only view of msg.c's one table of message types and fields, for code that checks the codecs against it. */
#ifndef EVC_MSG_TABLE_H
#define EVC_MSG_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * Callers of the codecs need only msg.h. This header is for msg.c, which
 * holds the table, and for what must read the protocol from that same
 * table rather than from a copy of it: the fuzzer's oracle
 * (test/fuzz/msg_oracle.c), so that a new type, field or bound is
 * written once.
 */
enum msg_kind {
	K_BOOL,		/* true/false */
	K_INT,		/* int64_t, integer 0..max */
	K_U32,		/* uint32_t, integer 0..UINT32_MAX */
	K_REAL,		/* double, number 0..max, finite */
	K_TEXT,		/* char[max + 1], printable UTF-8 */
	K_UUID,		/* char[MSG_UUID_LEN + 1], 32 lowercase hex */
	K_DENY,		/* enum msg_deny, by name */
	K_END,		/* enum msg_end, by name */
	K_CMD,		/* enum msg_cmd, by name */
	K_STATE,	/* enum cp_state, by name */
	K_LIVE,		/* struct msg_progress as a nested object */
	K_IDS,		/* char[MSG_IDS_LEN + 1], 1 to MSG_IDS_MAX uuids, ' ' between */
};

/* Every key a message can hold, at any depth: the decoder's vocabulary. */
enum msg_key {
	KEY_V, KEY_TYPE, KEY_ID, KEY_TS, KEY_CP, KEY_DRIVER, KEY_SESSION,
	KEY_LOCATION, KEY_ENGINE_OK, KEY_ACCEPTED, KEY_REASON, KEY_PRICE,
	KEY_TARGET_WH, KEY_TARGET_S, KEY_TIMEOUT_MS, KEY_CANCEL, KEY_REQUEST,
	KEY_AUTHORIZED, KEY_SEQ, KEY_KW, KEY_WH, KEY_CENTS, KEY_STARTED,
	KEY_ENDED, KEY_CMD, KEY_ALL, KEY_STATE, KEY_TEXT, KEY_LIVE, KEY_SINCE,
	KEY_GRANTED, KEY_POWER_KW, KEY_COUNT
};

/* Every key of the vocabulary, one bit each (KEY_COUNT is 1 to 32). */
#define MSG_KEYS_ALL (UINT32_MAX >> (32 - KEY_COUNT))

struct msg_field {
	unsigned char key;	/* enum msg_key: its name */
	unsigned char kind;	/* enum msg_kind */
	unsigned short off;	/* in the type's member of struct msg's union */
	long long max;		/* K_INT, K_REAL: largest value; K_TEXT: bytes */
	/*
	 * Optional, strings only: absent reads as "", and "" is not written.
	 * A field added to a type later is optional, so that what an older
	 * evc wrote (cp-state keeps it) still reads.
	 */
	unsigned char opt;
};

/* Whether a type carries cp, driver and session in its envelope. */
enum msg_ref { NO, OPT, REQ };

/* One row of the table: a type's JSON name, envelope ids, fields. */
struct msg_row {
	const char *name;
	unsigned char cp, driver, session;	/* enum msg_ref */
	const struct msg_field *fields;
	unsigned char nfields;
};

/* The row of type t, or NULL when t is out of range. */
const struct msg_row *msg_table_row(enum msg_type t);

/* The fields of the object under "live" (K_LIVE), *n of them. */
const struct msg_field *msg_table_live(unsigned *n);

/* The JSON name of key k. */
const char *msg_table_key(enum msg_key k);

/* The names of an enum kind (K_DENY..K_STATE), *n of them; NULL else. */
const char *const *msg_table_names(enum msg_kind kind, unsigned *n);

/*
 * The rules that tie the fields of m together (a refusal has a reason,
 * a start names its driver...), with the reason msg_decode gives.
 */
int msg_check_rules(const struct msg *m, char *err, size_t n);

/*
 * A subject for an error from untrusted bytes, as msg_decode writes it:
 * printable ASCII kept, backslashes doubled, any other byte as \xHH,
 * cut after MSG_QUOTE_MAX bytes with "...".
 */
#define MSG_QUOTE_MAX 40
#define MSG_QUOTE_BUF (MSG_QUOTE_MAX * 4 + 4)
const char *msg_quote(char out[MSG_QUOTE_BUF], const char *s, size_t len);

#endif
