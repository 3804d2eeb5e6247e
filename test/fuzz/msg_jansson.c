/* msg_jansson.c: the jansson-tree msg_decode evc used before its one-pass decoder, kept for the differential fuzzer only. */
/*
 * This is lib/msg.c as it stood before the one-pass decoder, unchanged
 * but for the names of its public functions (prefixed old_), so that
 * fuzz_msg.c can hold every input against both decoders. It is built
 * into msg_fuzz alone, never into evc.
 */
#define msg_type_name old_msg_type_name
#define msg_deny_name old_msg_deny_name
#define msg_end_name old_msg_end_name
#define msg_cmd_name old_msg_cmd_name
#define cp_state_name old_cp_state_name
#define msg_deny_text old_msg_deny_text
#define msg_type_parse old_msg_type_parse
#define msg_deny_parse old_msg_deny_parse
#define msg_end_parse old_msg_end_parse
#define msg_cmd_parse old_msg_cmd_parse
#define cp_state_parse old_cp_state_parse
#define msg_name_ok old_msg_name_ok
#define msg_decode old_msg_decode
#define msg_encode old_msg_encode
#define msg_new_uuid old_msg_new_uuid
#define msg_init old_msg_init
#define msg_cents old_msg_cents
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/log.h"
#include "lib/msg.h"

/*
 * The codecs are driven by tables: each type lists its fields once, and
 * the encoder, the decoder and the validator all walk the same list, so
 * encoding and decoding stay exact inverses and evc never sends what it
 * would itself reject.
 */
enum kind {
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
};

struct field {
	const char *name;
	unsigned char kind;
	unsigned short off;	/* in the type's member of struct msg's union */
	long long max;		/* K_INT, K_REAL: largest value; K_TEXT: bytes */
};

/* Whether a type carries cp, driver and session in its envelope. */
enum { NO, OPT, REQ };

struct type {
	const char *name;
	unsigned char cp, driver, session;
	const struct field *fields;
	unsigned char nfields;
};

#define OFF(s, m) ((unsigned short)offsetof(struct s, m))
#define NFIELDS(a) ((unsigned char)(sizeof(a) / sizeof((a)[0])))

static const struct field register_fields[] = {
	{ "location", K_TEXT, OFF(msg_register, location), MSG_TEXT_MAX },
	{ "engine_ok", K_BOOL, OFF(msg_register, engine_ok), 0 },
};

static const struct field ack_fields[] = {
	{ "accepted", K_BOOL, OFF(msg_register_ack, accepted), 0 },
	{ "reason", K_DENY, OFF(msg_register_ack, reason), 0 },
	{ "price", K_REAL, OFF(msg_register_ack, price), (long long)MSG_PRICE_MAX },
	{ "location", K_TEXT, OFF(msg_register_ack, location), MSG_TEXT_MAX },
};

static const struct field request_fields[] = {
	{ "target_wh", K_INT, OFF(msg_auth_request, target_wh), MSG_WH_MAX },
	{ "target_s", K_U32, OFF(msg_auth_request, target_s), 0 },
	{ "timeout_ms", K_U32, OFF(msg_auth_request, timeout_ms), 0 },
	{ "cancel", K_BOOL, OFF(msg_auth_request, cancel), 0 },
};

static const struct field response_fields[] = {
	{ "request", K_UUID, OFF(msg_auth_response, request), 0 },
	{ "authorized", K_BOOL, OFF(msg_auth_response, authorized), 0 },
	{ "reason", K_DENY, OFF(msg_auth_response, reason), 0 },
	{ "price", K_REAL, OFF(msg_auth_response, price), (long long)MSG_PRICE_MAX },
};

static const struct field progress_fields[] = {
	{ "seq", K_U32, OFF(msg_progress, seq), 0 },
	{ "kw", K_REAL, OFF(msg_progress, kw), (long long)MSG_KW_MAX },
	{ "wh", K_INT, OFF(msg_progress, wh), MSG_WH_MAX },
	{ "cents", K_INT, OFF(msg_progress, cents), MSG_CENTS_MAX },
};

static const struct field ticket_fields[] = {
	{ "seq", K_U32, OFF(msg_ticket, seq), 0 },
	{ "wh", K_INT, OFF(msg_ticket, wh), MSG_WH_MAX },
	{ "cents", K_INT, OFF(msg_ticket, cents), MSG_CENTS_MAX },
	{ "price", K_REAL, OFF(msg_ticket, price), (long long)MSG_PRICE_MAX },
	{ "started", K_INT, OFF(msg_ticket, started), INT64_MAX },
	{ "ended", K_INT, OFF(msg_ticket, ended), INT64_MAX },
	{ "reason", K_END, OFF(msg_ticket, reason), 0 },
};

static const struct field command_fields[] = {
	{ "cmd", K_CMD, OFF(msg_command, cmd), 0 },
	{ "target_wh", K_INT, OFF(msg_command, target_wh), MSG_WH_MAX },
	{ "target_s", K_U32, OFF(msg_command, target_s), 0 },
	{ "price", K_REAL, OFF(msg_command, price), (long long)MSG_PRICE_MAX },
};

static const struct field health_fields[] = {
	{ "engine_ok", K_BOOL, OFF(msg_health, engine_ok), 0 },
	{ "seq", K_U32, OFF(msg_health, seq), 0 },
};

static const struct field notice_fields[] = {
	{ "state", K_STATE, OFF(msg_notice, state), 0 },
	{ "text", K_TEXT, OFF(msg_notice, text), MSG_TEXT_MAX },
};

static const struct field control_fields[] = {
	{ "cmd", K_CMD, OFF(msg_control, cmd), 0 },
	{ "all", K_BOOL, OFF(msg_control, all), 0 },
};

static const struct field cp_state_fields[] = {
	{ "state", K_STATE, OFF(msg_cp_state, state), 0 },
	{ "location", K_TEXT, OFF(msg_cp_state, location), MSG_TEXT_MAX },
	{ "price", K_REAL, OFF(msg_cp_state, price), (long long)MSG_PRICE_MAX },
	{ "live", K_LIVE, OFF(msg_cp_state, live), 0 },
	{ "since", K_INT, OFF(msg_cp_state, since), INT64_MAX },
};

#define FIELDS(a) a, NFIELDS(a)

/* One row per enum msg_type: its JSON name, envelope ids, fields. */
static const struct type types[MSG_TYPE_COUNT] = {
	[MSG_REGISTER] = { "register", REQ, NO, NO, FIELDS(register_fields) },
	[MSG_REGISTER_ACK] = { "register_ack", REQ, NO, NO, FIELDS(ack_fields) },
	[MSG_AUTH_REQUEST] = { "auth_request", REQ, REQ, OPT, FIELDS(request_fields) },
	[MSG_AUTH_RESPONSE] = { "auth_response", REQ, REQ, OPT, FIELDS(response_fields) },
	[MSG_PROGRESS] = { "progress", REQ, REQ, REQ, FIELDS(progress_fields) },
	[MSG_TICKET] = { "ticket", REQ, REQ, REQ, FIELDS(ticket_fields) },
	[MSG_COMMAND] = { "command", REQ, OPT, OPT, FIELDS(command_fields) },
	[MSG_TELEMETRY] = { "telemetry", REQ, OPT, REQ, FIELDS(progress_fields) },
	[MSG_SUPPLY_END] = { "supply_end", REQ, OPT, REQ, FIELDS(ticket_fields) },
	[MSG_HEALTH] = { "health", REQ, NO, NO, FIELDS(health_fields) },
	[MSG_NOTICE] = { "notice", REQ, REQ, OPT, FIELDS(notice_fields) },
	[MSG_CONTROL] = { "control", OPT, NO, NO, FIELDS(control_fields) },
	[MSG_CP_STATE] = { "cp_state", REQ, OPT, OPT, FIELDS(cp_state_fields) },
};

static const char *const deny_names[DENY_COUNT] = {
	"none", "unknown_cp", "busy", "out_of_order", "broken",
	"disconnected", "driver_busy", "expired", "bad_request",
};

static const char *const deny_texts[DENY_COUNT] = {
	[DENY_NONE] = "the request was granted",
	[DENY_UNKNOWN_CP] = "the CP is not known to Central",
	[DENY_BUSY] = "the CP is busy with another vehicle",
	[DENY_OUT_OF_ORDER] = "the CP is out of order",
	[DENY_BROKEN] = "the CP is broken",
	[DENY_DISCONNECTED] = "the CP is not connected",
	[DENY_DRIVER_BUSY] = "the driver is already charging elsewhere",
	[DENY_EXPIRED] = "the request expired before Central could answer",
	[DENY_BAD_REQUEST] = "the request is invalid",
};

static const char *const end_names[END_COUNT] = {
	"finished", "unplugged", "stopped", "broken", "disconnected",
	"cancelled",
};

static const char *const cmd_names[CMD_COUNT] = {
	"start", "stop", "resume", "end",
};

static const char *const state_names[CP_STATE_COUNT] = {
	"DISCONNECTED", "ACTIVE", "SUPPLYING", "STOPPED", "BROKEN",
};

/* The name tables of the enum kinds, K_DENY..K_STATE. */
static const struct {
	const char *const *names;
	unsigned count;
} enums[] = {
	{ deny_names, DENY_COUNT },
	{ end_names, END_COUNT },
	{ cmd_names, CMD_COUNT },
	{ state_names, CP_STATE_COUNT },
};

/* Enums are read and written through unsigned in the codecs. */
_Static_assert(sizeof(enum msg_deny) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum msg_end) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum msg_cmd) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum cp_state) == sizeof(unsigned), "enum size");

/* Comparing first bytes first skips most strcmp calls. */
static int lookup(const char *const *names, unsigned n, const char *s)
{
	if (!s)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (names[i][0] == s[0] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

const char *msg_type_name(enum msg_type t)
{
	return (unsigned)t < MSG_TYPE_COUNT ? types[t].name : NULL;
}

const char *msg_deny_name(enum msg_deny r)
{
	return (unsigned)r < DENY_COUNT ? deny_names[r] : NULL;
}

const char *msg_end_name(enum msg_end r)
{
	return (unsigned)r < END_COUNT ? end_names[r] : NULL;
}

const char *msg_cmd_name(enum msg_cmd c)
{
	return (unsigned)c < CMD_COUNT ? cmd_names[c] : NULL;
}

const char *cp_state_name(enum cp_state s)
{
	return (unsigned)s < CP_STATE_COUNT ? state_names[s] : NULL;
}

const char *msg_deny_text(enum msg_deny r)
{
	return (unsigned)r < DENY_COUNT ? deny_texts[r] : NULL;
}

int msg_type_parse(const char *s)
{
	if (!s)
		return -1;
	for (unsigned i = 0; i < MSG_TYPE_COUNT; i++)
		if (types[i].name[0] == s[0] && !strcmp(types[i].name, s))
			return (int)i;
	return -1;
}

int msg_deny_parse(const char *s)
{
	return lookup(deny_names, DENY_COUNT, s);
}

int msg_end_parse(const char *s)
{
	return lookup(end_names, END_COUNT, s);
}

int msg_cmd_parse(const char *s)
{
	return lookup(cmd_names, CMD_COUNT, s);
}

int cp_state_parse(const char *s)
{
	return lookup(state_names, CP_STATE_COUNT, s);
}

static bool name_okn(const char *s, size_t len)
{
	if (len < 1 || len > MSG_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool msg_name_ok(const char *s)
{
	return s && name_okn(s, strnlen(s, MSG_NAME_MAX + 1));
}

static bool uuid_okn(const char *s, size_t len)
{
	if (len != MSG_UUID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * Free text ends up on terminals and panels: it must be valid UTF-8
 * (no overlong forms, surrogates or code points past U+10FFFF) without
 * C0, DEL or C1 control characters, which could drive a terminal.
 */
static bool text_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need, cp, min;

		if (c >= 0x20 && c < 0x7f) {
			i++;
			continue;
		}
		if (c < 0xc2 || c > 0xf4)	/* controls, DEL, stray, overlong */
			return false;
		need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
		min = need == 1 ? 0xa0 : need == 2 ? 0x800 : 0x10000;
		cp = c & (0x3f >> need);
		if (len - i <= need)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* min 0xa0 for two bytes also rules out the C1 controls */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/*
 * Error subjects come from untrusted bytes: quote() keeps printable
 * ASCII, doubles backslashes, writes any other byte as \xHH and cuts
 * long subjects short, so a reason can go to a log or a terminal as it
 * is. The parser's own messages may be longer than a subject.
 */
#define QUOTE_MAX 40
#define QUOTE_BUF (QUOTE_MAX * 4 + 4)
#define JSON_TEXT_MAX 100

static const char *quote_max(char *out, const char *s, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f) {
			if (c == '\\')
				out[o++] = '\\';
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	if (len > max)
		o += (size_t)sprintf(out + o, "...");
	out[o] = '\0';
	return out;
}

static const char *quote(char *out, const char *s, size_t len)
{
	return quote_max(out, s, len, QUOTE_MAX);
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (err && n) {
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "bad id 'x'" for the message id, "bad cp id 'x y'" for the others. */
static int bad_id(char *err, size_t n, const char *label, const char *s,
		  size_t len)
{
	char q[QUOTE_BUF];

	quote(q, s, len);
	if (!strcmp(label, "id"))
		return fail(err, n, "bad id '%s'", q);
	return fail(err, n, "bad %s id '%s'", label, q);
}

static int out_of_range(char *err, size_t n, const char *prefix,
			const char *name)
{
	return fail(err, n, "field '%s%s' out of range", prefix, name);
}

static int check_fields(const struct field *fs, unsigned nf, const char *base,
			const char *prefix, char *err, size_t n);

/*
 * The rules of one field of a decoded or about-to-be-encoded struct.
 * The decoder has already checked what the JSON type implies (string
 * lengths, integer ranges of uint32_t, enum names) and calls this only
 * for the rest.
 */
static int check_field(const struct field *f, const char *base,
		       const char *prefix, char *err, size_t n)
{
	const char *p = base + f->off;
	int64_t i;
	double d;
	size_t len;

	switch (f->kind) {
	case K_INT:
		i = *(const int64_t *)p;
		return i < 0 || i > f->max ? out_of_range(err, n, prefix, f->name) : 0;
	case K_REAL:
		d = *(const double *)p;
		if (!isfinite(d) || d < 0 || d > (double)f->max)
			return out_of_range(err, n, prefix, f->name);
		return 0;
	case K_TEXT:
		len = strnlen(p, (size_t)f->max + 1);
		if (len > (size_t)f->max)
			return fail(err, n, "field '%s%s' too long", prefix, f->name);
		if (!text_ok((const unsigned char *)p, len))
			return fail(err, n, "field '%s%s' is not printable UTF-8",
				    prefix, f->name);
		return 0;
	case K_UUID:
		len = strnlen(p, MSG_UUID_LEN + 1);
		return uuid_okn(p, len) ? 0 : bad_id(err, n, f->name, p, len);
	case K_LIVE:
		return check_fields(progress_fields, NFIELDS(progress_fields),
				    p, "live.", err, n);
	case K_DENY:
	case K_END:
	case K_CMD:
	case K_STATE:	/* only a struct to encode can hold a bad one */
		if (*(const unsigned *)p >= enums[f->kind - K_DENY].count)
			return fail(err, n, "bad %s%s %u", prefix, f->name,
				    *(const unsigned *)p);
		return 0;
	default:
		return 0;	/* booleans and uint32_t: any value */
	}
}

static int check_fields(const struct field *fs, unsigned nf, const char *base,
			const char *prefix, char *err, size_t n)
{
	for (unsigned i = 0; i < nf; i++)
		if (check_field(&fs[i], base, prefix, err, n))
			return -1;
	return 0;
}

static int verdict(bool yes, enum msg_deny reason, const char *what,
		   char *err, size_t n)
{
	if (yes && reason != DENY_NONE)
		return fail(err, n, "%s with reason '%s'", what, deny_names[reason]);
	if (!yes && reason == DENY_NONE)
		return fail(err, n, "refusal without reason");
	return 0;
}

/* The rules that tie fields together; both codecs apply them. */
static int check_rules(const struct msg *m, char *err, size_t n)
{
	bool session = m->session[0] != '\0';

	switch (m->type) {
	case MSG_REGISTER_ACK:
		return verdict(m->u.ack.accepted, m->u.ack.reason, "accepted", err, n);
	case MSG_AUTH_REQUEST:
		if (m->u.req.cancel && !session)
			return fail(err, n, "missing field 'session'");
		if (!m->u.req.cancel && session)
			return fail(err, n, "field 'session' without cancel");
		return 0;
	case MSG_AUTH_RESPONSE:
		if (m->u.resp.authorized && !session)
			return fail(err, n, "missing field 'session'");
		return verdict(m->u.resp.authorized, m->u.resp.reason,
			       "authorized", err, n);
	case MSG_COMMAND:
		if (m->u.cmd.cmd == CMD_START && !m->driver[0])
			return fail(err, n, "missing field 'driver'");
		if ((m->u.cmd.cmd == CMD_START || m->u.cmd.cmd == CMD_END) && !session)
			return fail(err, n, "missing field 'session'");
		return 0;
	case MSG_CONTROL:
		if (m->u.ctl.cmd != CMD_STOP && m->u.ctl.cmd != CMD_RESUME)
			return fail(err, n, "bad cmd '%s'", cmd_names[m->u.ctl.cmd]);
		if (m->u.ctl.all && m->cp[0])
			return fail(err, n, "field 'cp' with all");
		if (!m->u.ctl.all && !m->cp[0])
			return fail(err, n, "missing field 'cp'");
		return 0;
	default:
		return 0;
	}
}

/* An envelope id of a struct to encode, as the decoder would see it. */
static int check_ref(unsigned char presence, const char *label, const char *s,
		     size_t size, bool uuid, char *err, size_t n)
{
	size_t len = strnlen(s, size);

	if (len == 0)
		return presence == REQ ? fail(err, n, "missing field '%s'", label) : 0;
	if (presence == NO)
		return fail(err, n, "unknown field '%s'", label);
	if (uuid ? !uuid_okn(s, len) : !name_okn(s, len))
		return bad_id(err, n, label, s, len);
	return 0;
}

/* Every rule of msg_decode, applied to a struct before it is encoded. */
static int check_msg(const struct msg *m, char *err, size_t n)
{
	const char *base = (const char *)&m->u;
	const struct type *t;

	if ((unsigned)m->type >= MSG_TYPE_COUNT)
		return fail(err, n, "bad type %u", (unsigned)m->type);
	t = &types[m->type];
	if (!uuid_okn(m->id, strnlen(m->id, sizeof(m->id))))
		return bad_id(err, n, "id", m->id, strnlen(m->id, sizeof(m->id)));
	if (m->ts <= 0)
		return out_of_range(err, n, "", "ts");
	if (check_ref(t->cp, "cp", m->cp, sizeof(m->cp), false, err, n) ||
	    check_ref(t->driver, "driver", m->driver, sizeof(m->driver), false, err, n) ||
	    check_ref(t->session, "session", m->session, sizeof(m->session), true, err, n))
		return -1;
	if (check_fields(t->fields, t->nfields, base, "", err, n))
		return -1;
	return check_rules(m, err, n);
}

static int wrong_type(char *err, size_t n, const char *prefix,
		      const char *name, const char *what)
{
	return fail(err, n, "field '%s%s' must be %s", prefix, name, what);
}

static json_t *need(json_t *o, const char *prefix, const char *key,
		    char *err, size_t n)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		fail(err, n, "missing field '%s%s'", prefix, key);
	return v;
}

/* The string of v, which must hold no NUL byte; NULL after setting err. */
static const char *get_string(const json_t *v, const char *prefix,
			      const char *name, size_t *len, char *err, size_t n)
{
	const char *s;

	if (!json_is_string(v)) {
		wrong_type(err, n, prefix, name, "a string");
		return NULL;
	}
	s = json_string_value(v);
	*len = json_string_length(v);
	if (memchr(s, '\0', *len)) {
		fail(err, n, "field '%s%s' holds a NUL byte", prefix, name);
		return NULL;
	}
	return s;
}

static int decode_fields(json_t *o, const struct field *fs, unsigned nf,
			 char *base, const char *prefix, const struct type *t,
			 size_t others, char *err, size_t n);

static int decode_string(const struct field *f, const json_t *v, char *base,
			 const char *prefix, char *err, size_t n)
{
	char *p = base + f->off;
	const char *s;
	size_t len;

	if (!(s = get_string(v, prefix, f->name, &len, err, n)))
		return -1;
	if (f->kind == K_UUID && !uuid_okn(s, len))
		return bad_id(err, n, f->name, s, len);
	if (f->kind == K_TEXT && len > (size_t)f->max)
		return fail(err, n, "field '%s%s' too long", prefix, f->name);
	memcpy(p, s, len + 1);
	return f->kind == K_TEXT ? check_field(f, base, prefix, err, n) : 0;
}

static int decode_enum(const struct field *f, const json_t *v, char *base,
		       const char *prefix, char *err, size_t n)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t len;
	int i;

	if (!(s = get_string(v, prefix, f->name, &len, err, n)))
		return -1;
	i = lookup(enums[f->kind - K_DENY].names, enums[f->kind - K_DENY].count, s);
	if (i < 0)
		return fail(err, n, "bad %s '%s'", f->name, quote(q, s, len));
	*(unsigned *)(base + f->off) = (unsigned)i;
	return 0;
}

/* One field: its JSON type, then the rules check_field() shares. */
static int decode_field(const struct field *f, const json_t *v, char *base,
			const char *prefix, char *err, size_t n)
{
	char *p = base + f->off;
	json_int_t i;

	switch (f->kind) {
	case K_BOOL:
		if (!json_is_boolean(v))
			return wrong_type(err, n, prefix, f->name, "a boolean");
		*(bool *)p = json_is_true(v);
		return 0;
	case K_INT:
	case K_U32:
		if (!json_is_integer(v))
			return wrong_type(err, n, prefix, f->name, "an integer");
		i = json_integer_value(v);
		if (f->kind == K_INT) {
			*(int64_t *)p = i;
			return check_field(f, base, prefix, err, n);
		}
		if (i < 0 || i > UINT32_MAX)
			return out_of_range(err, n, prefix, f->name);
		*(uint32_t *)p = (uint32_t)i;
		return 0;
	case K_REAL:
		if (!json_is_number(v))
			return wrong_type(err, n, prefix, f->name, "a number");
		*(double *)p = json_number_value(v);
		return check_field(f, base, prefix, err, n);
	case K_TEXT:
	case K_UUID:
		return decode_string(f, v, base, prefix, err, n);
	case K_LIVE:
		if (!json_is_object(v))
			return wrong_type(err, n, prefix, f->name, "an object");
		return decode_fields((json_t *)v, progress_fields,
				     NFIELDS(progress_fields), p, "live.", NULL,
				     0, err, n);
	default:
		return decode_enum(f, v, base, prefix, err, n);
	}
}

/* Whether key belongs in an object of fields fs (of type t at the top). */
static bool known_key(const char *key, const struct field *fs, unsigned nf,
		      const struct type *t)
{
	for (unsigned i = 0; i < nf; i++)
		if (!strcmp(fs[i].name, key))
			return true;
	if (!t)
		return false;
	return !strcmp(key, "v") || !strcmp(key, "type") ||
	       !strcmp(key, "id") || !strcmp(key, "ts") ||
	       (t->cp != NO && !strcmp(key, "cp")) ||
	       (t->driver != NO && !strcmp(key, "driver")) ||
	       (t->session != NO && !strcmp(key, "session"));
}

/* Names the first key of o that is not known (the slow path of errors). */
static int unknown_field(json_t *o, const struct field *fs, unsigned nf,
			 const struct type *t, const char *prefix,
			 char *err, size_t n)
{
	char q[QUOTE_BUF];
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (!known_key(key, fs, nf, t))
			return fail(err, n, "unknown field '%s%s'", prefix,
				    quote(q, key, strlen(key)));
	}
	return fail(err, n, "unknown field");
}

/*
 * Decodes the fields fs of o into base. Each is looked up by name (a
 * hash lookup, no scan of the keys); then the count of keys tells
 * whether o holds anything else: others is the number of envelope keys
 * already found.
 */
static int decode_fields(json_t *o, const struct field *fs, unsigned nf,
			 char *base, const char *prefix, const struct type *t,
			 size_t others, char *err, size_t n)
{
	for (unsigned i = 0; i < nf; i++) {
		json_t *v = need(o, prefix, fs[i].name, err, n);

		if (!v || decode_field(&fs[i], v, base, prefix, err, n))
			return -1;
	}
	if (json_object_size(o) != nf + others)
		return unknown_field(o, fs, nf, t, prefix, err, n);
	return 0;
}

/* "v", "type", "id" and "ts": the part every message shares. */
static int decode_head(json_t *o, struct msg *m, char *err, size_t n)
{
	char q[QUOTE_BUF];
	const char *s;
	json_t *v;
	size_t len;
	int type;

	if (!(v = need(o, "", "v", err, n)))
		return -1;
	if (!json_is_integer(v))
		return wrong_type(err, n, "", "v", "an integer");
	if (json_integer_value(v) != MSG_VERSION)
		return fail(err, n, "unsupported version %lld",
			    (long long)json_integer_value(v));
	if (!(v = need(o, "", "type", err, n)) ||
	    !(s = get_string(v, "", "type", &len, err, n)))
		return -1;
	if ((type = msg_type_parse(s)) < 0)
		return fail(err, n, "unknown type '%s'", quote(q, s, len));
	m->type = (enum msg_type)type;
	if (!(v = need(o, "", "id", err, n)) ||
	    !(s = get_string(v, "", "id", &len, err, n)))
		return -1;
	if (!uuid_okn(s, len))
		return bad_id(err, n, "id", s, len);
	memcpy(m->id, s, len + 1);
	if (!(v = need(o, "", "ts", err, n)))
		return -1;
	if (!json_is_integer(v))
		return wrong_type(err, n, "", "ts", "an integer");
	if ((m->ts = json_integer_value(v)) <= 0)
		return out_of_range(err, n, "", "ts");
	return 0;
}

/* cp, driver or session: absent where the type has none (counted if found). */
static int decode_ref(json_t *o, const char *key, unsigned char presence,
		      char *out, bool uuid, size_t *found, char *err, size_t n)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t len;

	if (!v || presence == NO)	/* present where it has no place: unknown */
		return !v && presence == REQ ?
			fail(err, n, "missing field '%s'", key) : 0;
	if (!(s = get_string(v, "", key, &len, err, n)))
		return -1;
	if (uuid ? !uuid_okn(s, len) : !name_okn(s, len))
		return bad_id(err, n, key, s, len);
	memcpy(out, s, len + 1);
	(*found)++;
	return 0;
}

static int decode_msg(json_t *o, struct msg *m, char *err, size_t n)
{
	const struct type *t;
	size_t found = 4;	/* v, type, id, ts */

	if (decode_head(o, m, err, n))
		return -1;
	t = &types[m->type];
	if (decode_ref(o, "cp", t->cp, m->cp, false, &found, err, n) ||
	    decode_ref(o, "driver", t->driver, m->driver, false, &found, err, n) ||
	    decode_ref(o, "session", t->session, m->session, true, &found, err, n))
		return -1;
	if (decode_fields(o, t->fields, t->nfields, (char *)&m->u, "", t,
			  found, err, n))
		return -1;
	return check_rules(m, err, n);
}

int msg_decode(const void *buf, size_t len, struct msg *m,
	       char *err, size_t errlen)
{
	char q[JSON_TEXT_MAX * 4 + 4];
	json_error_t je;
	json_t *o;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (len > MSG_MAX_BYTES)
		return fail(err, errlen, "message too large: %zu bytes", len);
	if (!buf)
		return fail(err, errlen, "empty message");
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return fail(err, errlen, "bad json at byte %d: %s", je.position,
			    quote_max(q, je.text, strlen(je.text), JSON_TEXT_MAX));
	if (!json_is_object(o))
		fail(err, errlen, "not an object");
	else
		rc = decode_msg(o, m, err, errlen);
	json_decref(o);
	return rc;
}

/*
 * The encoder writes the JSON itself: everything it writes has passed
 * check_msg(), so strings need only '"' and '\' escaped, and writing
 * straight into the caller's buffer costs no allocation.
 */
struct out {
	char *buf;
	size_t len;
	size_t pos;	/* may pass len: the message did not fit */
};

static void put(struct out *o, const char *s, size_t len)
{
	if (o->pos + len <= o->len)
		memcpy(o->buf + o->pos, s, len);
	o->pos += len;
}

static void put_lit(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_str(struct out *o, const char *s)
{
	put(o, "\"", 1);
	for (;;) {
		size_t run = strcspn(s, "\"\\");

		put(o, s, run);
		s += run;
		if (!*s)
			break;
		put(o, "\\", 1);
		put(o, s++, 1);
	}
	put(o, "\"", 1);
}

static void put_int(struct out *o, long long v)
{
	char tmp[24];

	put(o, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%lld", v));
}

/*
 * The shortest of 15, 16 or 17 significant digits that reads back as
 * the same double: 0.35 rather than 0.34999999999999998. Whole numbers
 * come out as integers, which the decoder takes for any number field.
 */
static void put_real(struct out *o, double d)
{
	char tmp[40];
	int len = 0;

	if (d == 0)
		d = 0;		/* no "-0" */
	for (int prec = 15; prec <= 17; prec++) {
		len = snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	for (int i = 0; i < len; i++)
		if (tmp[i] == ',')	/* a locale with a decimal comma */
			tmp[i] = '.';
	put(o, tmp, (size_t)len);
}

static void encode_fields(struct out *o, const struct field *fs, unsigned nf,
			  const char *base, bool nested)
{
	for (unsigned i = 0; i < nf; i++) {
		const struct field *f = &fs[i];
		const char *p = base + f->off;

		put(o, nested && i == 0 ? "{\"" : ",\"", 2);
		put_lit(o, f->name);
		put(o, "\":", 2);
		switch (f->kind) {
		case K_BOOL:
			put_lit(o, *(const bool *)p ? "true" : "false");
			break;
		case K_INT:
			put_int(o, *(const int64_t *)p);
			break;
		case K_U32:
			put_int(o, *(const uint32_t *)p);
			break;
		case K_REAL:
			put_real(o, *(const double *)p);
			break;
		case K_TEXT:
		case K_UUID:
			put_str(o, p);
			break;
		case K_LIVE:
			encode_fields(o, progress_fields, NFIELDS(progress_fields),
				      p, true);
			break;
		default:
			put_str(o, enums[f->kind - K_DENY].names[*(const unsigned *)p]);
		}
	}
	if (nested)
		put(o, "}", 1);
}

static void put_ref(struct out *o, const char *key, const char *s)
{
	if (!*s)
		return;
	put(o, ",\"", 2);
	put_lit(o, key);
	put(o, "\":", 2);
	put_str(o, s);
}

int msg_encode(const struct msg *m, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	const struct type *t;
	char err[256];

	if (!m || !buf)
		return -1;
	if (check_msg(m, err, sizeof(err))) {
		debug("cannot encode a message of type %u: %s",
		      (unsigned)m->type, err);
		return -1;
	}
	t = &types[m->type];
	put_lit(&o, "{\"v\":");
	put_int(&o, MSG_VERSION);
	put_lit(&o, ",\"type\":");
	put_str(&o, t->name);
	put_lit(&o, ",\"id\":");
	put_str(&o, m->id);
	put_lit(&o, ",\"ts\":");
	put_int(&o, m->ts);
	put_ref(&o, "cp", m->cp);
	put_ref(&o, "driver", m->driver);
	put_ref(&o, "session", m->session);
	encode_fields(&o, t->fields, t->nfields, (const char *)&m->u, false);
	put(&o, "}", 1);
	if (o.pos >= len || o.pos > INT32_MAX)	/* room for the NUL too */
		return -1;
	buf[o.pos] = '\0';
	return (int)o.pos;
}

/* Random bytes from the kernel; getrandom(2) needs no file descriptor. */
static int random_bytes(unsigned char *p, size_t n)
{
	size_t got = 0;
	ssize_t r;
	int fd;

	while (got < n) {
		r = getrandom(p + got, n - got, 0);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	if (got == n)
		return 0;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (got = 0; got < n;) {
		r = read(fd, p + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	close(fd);
	return got == n ? 0 : -1;
}

/*
 * Without any kernel randomness (a broken sandbox), ids must still not
 * repeat: the clock, the pid and a counter, mixed by splitmix64.
 */
static void weak_bytes(unsigned char *p, size_t n)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 32 ^ ++counter * 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15u);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		z ^= z >> 31;
		memcpy(p + i, &z, n - i < 8 ? n - i : 8);
	}
}

void msg_new_uuid(char out[MSG_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	static int warned;
	unsigned char r[MSG_UUID_LEN / 2];

	if (random_bytes(r, sizeof(r))) {
		if (!warned++)
			warn("cannot read random bytes: %s", strerror(errno));
		weak_bytes(r, sizeof(r));
	}
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[MSG_UUID_LEN] = '\0';
}

void msg_init(struct msg *m, enum msg_type type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	msg_new_uuid(m->id);
	m->ts = now_ms();
}

/*
 * cents = wh * price / 10 (wh / 1000 kWh at price * 100 cents/kWh),
 * rounded half away from zero. The price is first taken to the
 * micro-euro, so that 0.35 means 0.35 and not the binary fraction next
 * to it; the rest is exact integer arithmetic, so that every part of
 * evc computes the same cents from the same figures. Within the
 * protocol's bounds wh * micro-euros stays below 2^63; beyond them the
 * result comes from doubles, clamped.
 */
int64_t msg_cents(int64_t wh, double price)
{
	uint64_t u, q, r;
	int64_t micro;
	bool neg;

	if (isnan(price))
		return 0;
	if (wh < -MSG_WH_MAX || wh > MSG_WH_MAX || fabs(price) > MSG_PRICE_MAX) {
		double c = round((double)wh * price / 10);

		if (isnan(c))	/* 0 * inf */
			return 0;
		return c >= 9.2e18 ? INT64_MAX : c <= -9.2e18 ? -INT64_MAX : (int64_t)c;
	}
	micro = llround(price * 1e6);
	neg = (wh < 0) != (micro < 0);
	u = (uint64_t)(wh < 0 ? -wh : wh) * (uint64_t)(micro < 0 ? -micro : micro);
	q = u / 10000000u;
	r = u % 10000000u;
	if (r >= 5000000u)
		q++;
	return neg ? -(int64_t)q : (int64_t)q;
}
