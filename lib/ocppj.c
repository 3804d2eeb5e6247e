/* ocppj.c: OCPP-J framing: the CALL, CALLRESULT and CALLERROR arrays a charger and the gateway exchange, decoded strictly. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ocppj.h"

static const char *const error_names[OCPPJ_ERROR_COUNT] = {
	[OCPPJ_OK] = "",
	[OCPPJ_NOT_IMPLEMENTED] = "NotImplemented",
	[OCPPJ_NOT_SUPPORTED] = "NotSupported",
	[OCPPJ_INTERNAL] = "InternalError",
	[OCPPJ_PROTOCOL] = "ProtocolError",
	[OCPPJ_SECURITY] = "SecurityError",
	[OCPPJ_FORMATION] = "FormationViolation",
	[OCPPJ_PROPERTY] = "PropertyConstraintViolation",
	[OCPPJ_OCCURENCE] = "OccurenceConstraintViolation",
	[OCPPJ_TYPE] = "TypeConstraintViolation",
	[OCPPJ_GENERIC] = "GenericError",
};

const char *ocppj_error_name(enum ocppj_error e)
{
	return e > OCPPJ_OK && e < OCPPJ_ERROR_COUNT ? error_names[e] : NULL;
}

/* A code a charger sent; anything else is a GenericError to us. */
static enum ocppj_error error_parse(const char *s)
{
	for (int e = OCPPJ_OK + 1; e < OCPPJ_ERROR_COUNT; e++)
		if (!strcmp(s, error_names[e]))
			return (enum ocppj_error)e;
	return OCPPJ_GENERIC;
}

__attribute__((format(printf, 4, 5)))
static enum ocppj_error fail(enum ocppj_error code, char *err, size_t errlen,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* A string of 1 to max bytes without NUL, copied to out. */
static bool take_string(const json_t *v, char *out, size_t max)
{
	size_t n;

	if (!json_is_string(v))
		return false;
	n = json_string_length(v);
	if (!n || n > max || memchr(json_string_value(v), '\0', n))
		return false;
	memcpy(out, json_string_value(v), n + 1);
	return true;
}

/* Action names are words of letters and digits, as every 1.6 action. */
static bool action_ok(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789") == strlen(s);
}

static enum ocppj_error read_call(const json_t *a, struct ocppj_frame *f,
				  char *err, size_t errlen)
{
	const json_t *act = json_array_get(a, 2), *p = json_array_get(a, 3);

	if (json_array_size(a) != 4)
		return fail(OCPPJ_PROTOCOL, err, errlen,
			    "a CALL has 4 elements, not %zu", json_array_size(a));
	if (!take_string(act, f->action, OCPPJ_ACTION_MAX) ||
	    !action_ok(f->action))
		return fail(OCPPJ_PROTOCOL, err, errlen, "bad action");
	if (!json_is_object(p))
		return fail(OCPPJ_FORMATION, err, errlen,
			    "the payload is not an object");
	f->payload = json_incref((json_t *)p);
	return OCPPJ_OK;
}

static enum ocppj_error read_result(const json_t *a, struct ocppj_frame *f,
				    char *err, size_t errlen)
{
	const json_t *p = json_array_get(a, 2);

	if (json_array_size(a) != 3)
		return fail(OCPPJ_PROTOCOL, err, errlen,
			    "a CALLRESULT has 3 elements, not %zu",
			    json_array_size(a));
	if (!json_is_object(p))
		return fail(OCPPJ_FORMATION, err, errlen,
			    "the payload is not an object");
	f->payload = json_incref((json_t *)p);
	return OCPPJ_OK;
}

static enum ocppj_error read_error(const json_t *a, struct ocppj_frame *f,
				   char *err, size_t errlen)
{
	const json_t *code = json_array_get(a, 2), *text = json_array_get(a, 3);

	if (json_array_size(a) != 5)
		return fail(OCPPJ_PROTOCOL, err, errlen,
			    "a CALLERROR has 5 elements, not %zu",
			    json_array_size(a));
	if (!json_is_string(code) || !json_is_string(text) ||
	    !json_is_object(json_array_get(a, 4)))
		return fail(OCPPJ_FORMATION, err, errlen, "bad CALLERROR");
	f->code = error_parse(json_string_value(code));
	snprintf(f->text, sizeof(f->text), "%s", json_string_value(text));
	return OCPPJ_OK;
}

/* The array's first two elements: the type and the unique id. */
static enum ocppj_error read_head(const json_t *a, struct ocppj_frame *f,
				  char *err, size_t errlen)
{
	const json_t *t = json_array_get(a, 0);
	json_int_t type = json_is_integer(t) ? json_integer_value(t) : 0;

	if (!json_is_array(a))
		return fail(OCPPJ_PROTOCOL, err, errlen, "not a JSON array");
	if (json_array_size(a) < 3)
		return fail(OCPPJ_PROTOCOL, err, errlen, "missing elements");
	if (type < OCPPJ_CALL || type > OCPPJ_ERROR)
		return fail(OCPPJ_PROTOCOL, err, errlen, "bad message type");
	f->type = (enum ocppj_type)type;
	if (!take_string(json_array_get(a, 1), f->id, OCPPJ_ID_MAX))
		return fail(OCPPJ_PROTOCOL, err, errlen,
			    "bad unique id (1 to %d bytes)", OCPPJ_ID_MAX);
	return OCPPJ_OK;
}

enum ocppj_error ocppj_decode(const char *buf, size_t len,
			      struct ocppj_frame *f, char *err, size_t errlen)
{
	enum ocppj_error r;
	json_error_t je;
	json_t *a;

	memset(f, 0, sizeof(*f));
	err[0] = '\0';
	if (!(a = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)))
		return fail(OCPPJ_FORMATION, err, errlen,
			    "bad json at byte %d: %s", je.position, je.text);
	if ((r = read_head(a, f, err, errlen)) == OCPPJ_OK) {
		if (f->type == OCPPJ_CALL)
			r = read_call(a, f, err, errlen);
		else if (f->type == OCPPJ_RESULT)
			r = read_result(a, f, err, errlen);
		else
			r = read_error(a, f, err, errlen);
	}
	json_decref(a);
	return r;
}

void ocppj_free(struct ocppj_frame *f)
{
	json_decref(f->payload);
	f->payload = NULL;
}

/* Dumps a, NUL-terminated, then lets it go; -1 when it does not fit in len. */
static int dump(json_t *a, char *buf, size_t len)
{
	size_t n;

	if (!a)
		return -1;
	n = json_dumpb(a, buf, len, JSON_COMPACT);
	json_decref(a);
	if (!n || n >= len)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

int ocppj_call(char *buf, size_t len, const char *id, const char *action,
	       const json_t *payload)
{
	return dump(json_pack("[issO]", OCPPJ_CALL, id, action,
			      (json_t *)payload), buf, len);
}

int ocppj_result(char *buf, size_t len, const char *id, const json_t *payload)
{
	return dump(json_pack("[isO]", OCPPJ_RESULT, id,
			      (json_t *)payload), buf, len);
}

int ocppj_error(char *buf, size_t len, const char *id, enum ocppj_error code,
		const char *text)
{
	const char *name = ocppj_error_name(code);

	return dump(json_pack("[isss{}]", OCPPJ_ERROR, id,
			      name ? name : "GenericError", text), buf, len);
}
