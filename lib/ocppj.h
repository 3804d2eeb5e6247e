/* ocppj.h: OCPP-J framing: the CALL, CALLRESULT and CALLERROR arrays a charger and the gateway exchange, decoded strictly. */
#ifndef EVC_OCPPJ_H
#define EVC_OCPPJ_H

#include <stddef.h>

#include <jansson.h>

/*
 * OCPP-J (OCPP 1.6's JSON over WebSocket) sends one JSON array per
 * text frame:
 *   [2, "<unique id>", "<Action>", {payload}]          CALL
 *   [3, "<unique id>", {payload}]                      CALLRESULT
 *   [4, "<unique id>", "<code>", "<text>", {details}]  CALLERROR
 * Nothing read from a charger is trusted: a frame that is not exactly
 * one of these is refused with the error code OCPP-J prescribes, which
 * the gateway answers with when the frame was a CALL. The payload is
 * checked by lib/ocpp16.c.
 */
#define OCPPJ_ID_MAX 36		/* OCPP-J's longest unique id */
#define OCPPJ_ACTION_MAX 64	/* longer than any action of 1.6 */
#define OCPPJ_TEXT_MAX 255	/* a CALLERROR's description, as kept */

enum ocppj_type {
	OCPPJ_CALL = 2,
	OCPPJ_RESULT = 3,
	OCPPJ_ERROR = 4,
};

/* OCPP 1.6J's error codes (the spelling of OccurenceConstraintViolation is 1.6's). */
enum ocppj_error {
	OCPPJ_OK,
	OCPPJ_NOT_IMPLEMENTED,	/* NotImplemented: the action is unknown */
	OCPPJ_NOT_SUPPORTED,	/* NotSupported: known, not taken here */
	OCPPJ_INTERNAL,		/* InternalError */
	OCPPJ_PROTOCOL,		/* ProtocolError: incomplete */
	OCPPJ_SECURITY,		/* SecurityError */
	OCPPJ_FORMATION,	/* FormationViolation: not the PDU's shape */
	OCPPJ_PROPERTY,		/* PropertyConstraintViolation: a bad value */
	OCPPJ_OCCURENCE,	/* OccurenceConstraintViolation */
	OCPPJ_TYPE,		/* TypeConstraintViolation: a wrong type */
	OCPPJ_GENERIC,		/* GenericError */
	OCPPJ_ERROR_COUNT
};

struct ocppj_frame {
	enum ocppj_type type;	/* 0 until the frame's first element was read */
	char id[OCPPJ_ID_MAX + 1];	/* "" until read */
	char action[OCPPJ_ACTION_MAX + 1];	/* CALL */
	json_t *payload;	/* CALL, CALLRESULT: the object; owned */
	enum ocppj_error code;	/* CALLERROR */
	char text[OCPPJ_TEXT_MAX + 1];	/* CALLERROR, cut short */
};

/*
 * Decodes len bytes (not NUL-terminated). OCPPJ_OK, or the code to
 * answer with and why in err; f->type and f->id say how far it was read
 * (an answer needs the id of a CALL). ocppj_free() in both cases.
 */
enum ocppj_error ocppj_decode(const char *buf, size_t len,
			      struct ocppj_frame *f, char *err, size_t errlen);
void ocppj_free(struct ocppj_frame *f);

/*
 * The frames, as compact JSON in buf: their length, or -1 when they do
 * not fit (or a string is not UTF-8). The payload is only read.
 */
int ocppj_call(char *buf, size_t len, const char *id, const char *action,
	       const json_t *payload);
int ocppj_result(char *buf, size_t len, const char *id, const json_t *payload);
int ocppj_error(char *buf, size_t len, const char *id, enum ocppj_error code,
		const char *text);

const char *ocppj_error_name(enum ocppj_error e);

#endif
