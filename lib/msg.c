/* msg.c: evc's JSON messages: one table of types and fields, strict codecs. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"

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

/* Every key a message can hold, at any depth: the decoder's vocabulary. */
enum key {
	KEY_V, KEY_TYPE, KEY_ID, KEY_TS, KEY_CP, KEY_DRIVER, KEY_SESSION,
	KEY_LOCATION, KEY_ENGINE_OK, KEY_ACCEPTED, KEY_REASON, KEY_PRICE,
	KEY_TARGET_WH, KEY_TARGET_S, KEY_TIMEOUT_MS, KEY_CANCEL, KEY_REQUEST,
	KEY_AUTHORIZED, KEY_SEQ, KEY_KW, KEY_WH, KEY_CENTS, KEY_STARTED,
	KEY_ENDED, KEY_CMD, KEY_ALL, KEY_STATE, KEY_TEXT, KEY_LIVE, KEY_SINCE,
	KEY_COUNT
};
_Static_assert(KEY_COUNT <= 32, "the decoder keeps the keys found in 32 bits");

#define KEY(k, name) [KEY_##k] = name
static const char *const key_names[KEY_COUNT] = {
	KEY(V, "v"), KEY(TYPE, "type"), KEY(ID, "id"), KEY(TS, "ts"),
	KEY(CP, "cp"), KEY(DRIVER, "driver"), KEY(SESSION, "session"),
	KEY(LOCATION, "location"), KEY(ENGINE_OK, "engine_ok"),
	KEY(ACCEPTED, "accepted"), KEY(REASON, "reason"), KEY(PRICE, "price"),
	KEY(TARGET_WH, "target_wh"), KEY(TARGET_S, "target_s"),
	KEY(TIMEOUT_MS, "timeout_ms"), KEY(CANCEL, "cancel"),
	KEY(REQUEST, "request"), KEY(AUTHORIZED, "authorized"),
	KEY(SEQ, "seq"), KEY(KW, "kw"), KEY(WH, "wh"), KEY(CENTS, "cents"),
	KEY(STARTED, "started"), KEY(ENDED, "ended"), KEY(CMD, "cmd"),
	KEY(ALL, "all"), KEY(STATE, "state"), KEY(TEXT, "text"),
	KEY(LIVE, "live"), KEY(SINCE, "since"),
};


struct field {
	unsigned char key;	/* its name: key_names[key] */
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

#define FNAME(f) key_names[(f)->key]
#define OFF(s, m) ((unsigned short)offsetof(struct s, m))
#define NFIELDS(a) ((unsigned char)(sizeof(a) / sizeof((a)[0])))

static const struct field register_fields[] = {
	{ KEY_LOCATION, K_TEXT, OFF(msg_register, location), MSG_TEXT_MAX },
	{ KEY_ENGINE_OK, K_BOOL, OFF(msg_register, engine_ok), 0 },
};

static const struct field ack_fields[] = {
	{ KEY_ACCEPTED, K_BOOL, OFF(msg_register_ack, accepted), 0 },
	{ KEY_REASON, K_DENY, OFF(msg_register_ack, reason), 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_register_ack, price), (long long)MSG_PRICE_MAX },
	{ KEY_LOCATION, K_TEXT, OFF(msg_register_ack, location), MSG_TEXT_MAX },
};

static const struct field request_fields[] = {
	{ KEY_TARGET_WH, K_INT, OFF(msg_auth_request, target_wh), MSG_WH_MAX },
	{ KEY_TARGET_S, K_U32, OFF(msg_auth_request, target_s), 0 },
	{ KEY_TIMEOUT_MS, K_U32, OFF(msg_auth_request, timeout_ms), 0 },
	{ KEY_CANCEL, K_BOOL, OFF(msg_auth_request, cancel), 0 },
};

static const struct field response_fields[] = {
	{ KEY_REQUEST, K_UUID, OFF(msg_auth_response, request), 0 },
	{ KEY_AUTHORIZED, K_BOOL, OFF(msg_auth_response, authorized), 0 },
	{ KEY_REASON, K_DENY, OFF(msg_auth_response, reason), 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_auth_response, price), (long long)MSG_PRICE_MAX },
};

static const struct field progress_fields[] = {
	{ KEY_SEQ, K_U32, OFF(msg_progress, seq), 0 },
	{ KEY_KW, K_REAL, OFF(msg_progress, kw), (long long)MSG_KW_MAX },
	{ KEY_WH, K_INT, OFF(msg_progress, wh), MSG_WH_MAX },
	{ KEY_CENTS, K_INT, OFF(msg_progress, cents), MSG_CENTS_MAX },
};

static const struct field ticket_fields[] = {
	{ KEY_SEQ, K_U32, OFF(msg_ticket, seq), 0 },
	{ KEY_WH, K_INT, OFF(msg_ticket, wh), MSG_WH_MAX },
	{ KEY_CENTS, K_INT, OFF(msg_ticket, cents), MSG_CENTS_MAX },
	{ KEY_PRICE, K_REAL, OFF(msg_ticket, price), (long long)MSG_PRICE_MAX },
	{ KEY_STARTED, K_INT, OFF(msg_ticket, started), INT64_MAX },
	{ KEY_ENDED, K_INT, OFF(msg_ticket, ended), INT64_MAX },
	{ KEY_REASON, K_END, OFF(msg_ticket, reason), 0 },
};

static const struct field command_fields[] = {
	{ KEY_CMD, K_CMD, OFF(msg_command, cmd), 0 },
	{ KEY_TARGET_WH, K_INT, OFF(msg_command, target_wh), MSG_WH_MAX },
	{ KEY_TARGET_S, K_U32, OFF(msg_command, target_s), 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_command, price), (long long)MSG_PRICE_MAX },
};

static const struct field health_fields[] = {
	{ KEY_ENGINE_OK, K_BOOL, OFF(msg_health, engine_ok), 0 },
	{ KEY_SEQ, K_U32, OFF(msg_health, seq), 0 },
};

static const struct field notice_fields[] = {
	{ KEY_STATE, K_STATE, OFF(msg_notice, state), 0 },
	{ KEY_TEXT, K_TEXT, OFF(msg_notice, text), MSG_TEXT_MAX },
};

static const struct field control_fields[] = {
	{ KEY_CMD, K_CMD, OFF(msg_control, cmd), 0 },
	{ KEY_ALL, K_BOOL, OFF(msg_control, all), 0 },
};

static const struct field cp_state_fields[] = {
	{ KEY_STATE, K_STATE, OFF(msg_cp_state, state), 0 },
	{ KEY_LOCATION, K_TEXT, OFF(msg_cp_state, location), MSG_TEXT_MAX },
	{ KEY_PRICE, K_REAL, OFF(msg_cp_state, price), (long long)MSG_PRICE_MAX },
	{ KEY_LIVE, K_LIVE, OFF(msg_cp_state, live), 0 },
	{ KEY_SINCE, K_INT, OFF(msg_cp_state, since), INT64_MAX },
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

/* msg_type_parse() of len bytes without a NUL. */
static int msg_type_parsen(const char *s, size_t len)
{
	for (unsigned i = 0; i < MSG_TYPE_COUNT && len < 16; i++)
		if (types[i].name[0] == s[0] && !strncmp(types[i].name, s, len) &&
		    types[i].name[len] == '\0')
			return (int)i;
	return -1;
}

/*
 * The id checks run on every message, two or three times: each byte is
 * looked up and the results combined without a branch, since ids are
 * random enough that a branch per byte mispredicts often (on a stream of
 * distinct messages this was a fifth of Central's time per message).
 */
#define NAME_BYTE 1	/* may be in a CP or driver id */
#define HEX_BYTE 2	/* may be in a uuid: 0-9, a-f */

#define N NAME_BYTE
#define NH (NAME_BYTE | HEX_BYTE)
static const unsigned char name_byte[256] = {
	['-'] = N, ['.'] = N, ['_'] = N,
	['0'] = NH, ['1'] = NH, ['2'] = NH, ['3'] = NH, ['4'] = NH, ['5'] = NH,
	['6'] = NH, ['7'] = NH, ['8'] = NH, ['9'] = NH,
	['A'] = N, ['B'] = N, ['C'] = N, ['D'] = N, ['E'] = N, ['F'] = N,
	['G'] = N, ['H'] = N, ['I'] = N, ['J'] = N, ['K'] = N, ['L'] = N,
	['M'] = N, ['N'] = N, ['O'] = N, ['P'] = N, ['Q'] = N, ['R'] = N,
	['S'] = N, ['T'] = N, ['U'] = N, ['V'] = N, ['W'] = N, ['X'] = N,
	['Y'] = N, ['Z'] = N,
	['a'] = NH, ['b'] = NH, ['c'] = NH, ['d'] = NH, ['e'] = NH, ['f'] = NH,
	['g'] = N, ['h'] = N, ['i'] = N, ['j'] = N, ['k'] = N, ['l'] = N,
	['m'] = N, ['n'] = N, ['o'] = N, ['p'] = N, ['q'] = N, ['r'] = N,
	['s'] = N, ['t'] = N, ['u'] = N, ['v'] = N, ['w'] = N, ['x'] = N,
	['y'] = N, ['z'] = N,
};
#undef N
#undef NH

static bool name_okn(const char *s, size_t len)
{
	unsigned ok = NAME_BYTE;

	if (len < 1 || len > MSG_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		ok &= name_byte[(unsigned char)s[i]];
	return ok;
}

bool msg_name_ok(const char *s)
{
	return s && name_okn(s, strnlen(s, MSG_NAME_MAX + 1));
}

bool msg_cp_id_ok(const char *s)
{
	return msg_name_ok(s) && s[0] != '.';
}

static bool uuid_okn(const char *s, size_t len)
{
	unsigned ok = HEX_BYTE;

	if (len != MSG_UUID_LEN)
		return false;
	for (size_t i = 0; i < MSG_UUID_LEN; i++)
		ok &= name_byte[(unsigned char)s[i]];
	return ok;
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
		return i < 0 || i > f->max ? out_of_range(err, n, prefix, FNAME(f)) : 0;
	case K_REAL:
		d = *(const double *)p;
		if (!isfinite(d) || d < 0 || d > (double)f->max)
			return out_of_range(err, n, prefix, FNAME(f));
		return 0;
	case K_TEXT:
		len = strnlen(p, (size_t)f->max + 1);
		if (len > (size_t)f->max)
			return fail(err, n, "field '%s%s' too long", prefix, FNAME(f));
		if (!text_ok((const unsigned char *)p, len))
			return fail(err, n, "field '%s%s' is not printable UTF-8",
				    prefix, FNAME(f));
		return 0;
	case K_UUID:
		len = strnlen(p, MSG_UUID_LEN + 1);
		return uuid_okn(p, len) ? 0 : bad_id(err, n, FNAME(f), p, len);
	case K_LIVE:
		return check_fields(progress_fields, NFIELDS(progress_fields),
				    p, "live.", err, n);
	case K_DENY:
	case K_END:
	case K_CMD:
	case K_STATE:	/* only a struct to encode can hold a bad one */
		if (*(const unsigned *)p >= enums[f->kind - K_DENY].count)
			return fail(err, n, "bad %s%s %u", prefix, FNAME(f),
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

/*
 * The decoder reads a message in one pass, without building a tree.
 * The scanner checks the JSON as strictly as the jansson parser evc used
 * before (RFC 8259 syntax, UTF-8, escapes and surrogate pairs, no
 * \u0000, integers within int64_t, finite reals, no duplicate key at any
 * depth, at most JSON_MAX_DEPTH levels, nothing after the value) and
 * notes where the value of each key a message can hold lies. Only then
 * do the rules run, on those values and in the order they always ran,
 * so a bad message is refused for the same reason as before.
 */
#define JSON_MAX_DEPTH 2048	/* jansson's limit: values nested deeper are refused */
#define STR_BUF 256		/* a string's first bytes: enough for every rule */

enum jtype { J_STRING = 1, J_INT, J_REAL, J_TRUE, J_FALSE, J_NULL, J_OBJECT, J_ARRAY };

/* A value the scanner found; strings are unescaped only when read. */
struct jval {
	const unsigned char *p;	/* strings: the byte after the opening quote */
	unsigned len;		/* strings: bytes up to the closing quote */
	unsigned rank;		/* of its key among the object's keys */
	unsigned char type;
	bool esc;		/* the string holds escapes */
	int64_t i;		/* J_INT */
	double d;		/* J_REAL */
};

/* An object of keys from key_names: the top one, or "live". */
struct jobj {
	struct jval slot[KEY_COUNT];	/* valid where mask has the key */
	uint32_t mask;			/* keys found */
	uint32_t allowed;		/* keys noted in slot; the others are "other" */
	unsigned nkeys;			/* every key, noted or not */
	struct jval other;		/* the first other key (a string), if any */
	bool has_other;
	struct jobj *live;		/* top: where the object under "live" goes */
};

/* Keys outside the vocabulary, unescaped, to find duplicates among them. */
struct keyref {
	size_t off, len;
};

struct keyset {
	struct keyref *key;
	size_t n, cap;
	char *bytes;
	size_t used, size;
};

struct scan {
	const unsigned char *start, *p, *end;
	unsigned depth;
	size_t at;		/* where the first syntax error is */
	char why[80];		/* what it is */
	struct keyset dups;
};

__attribute__((format(printf, 3, 4)))
static int jerr(struct scan *s, const unsigned char *at, const char *fmt, ...)
{
	va_list ap;

	s->at = (size_t)(at - s->start);
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return -1;
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
				 *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static bool is_digit(unsigned c)
{
	return c - '0' < 10;
}

static int hex_digit(unsigned c)
{
	if (c - '0' < 10)
		return (int)(c - '0');
	c |= 0x20;
	return c - 'a' < 6 ? (int)(c - 'a' + 10) : -1;
}

/* The four hex digits at p (n bytes left), or -1. */
static long hex4(const unsigned char *p, size_t n)
{
	long v = 0;

	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hex_digit(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* The length of the UTF-8 sequence at p (n bytes left), 0 when invalid. */
static unsigned utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], need, cp;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < need)
		return 0;
	cp = c & (0x7f >> need);
	for (unsigned k = 1; k < need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/* One escape at *pp (on the backslash): checks it and steps over it. */
static int scan_escape(struct scan *s, const unsigned char **pp)
{
	const unsigned char *p = *pp;
	size_t left = (size_t)(s->end - p);
	long u, u2;

	if (left < 2)
		return jerr(s, p, "premature end of input");
	if (p[1] != 'u') {
		if (!strchr("\"\\/bfnrt", p[1]) || !p[1])
			return jerr(s, p, "invalid escape");
		*pp = p + 2;
		return 0;
	}
	if ((u = hex4(p + 2, left - 2)) < 0)
		return jerr(s, p, "invalid escape");
	if (u == 0)
		return jerr(s, p, "\\u0000 is not allowed (a NUL byte)");
	if (u >= 0xdc00 && u <= 0xdfff)
		return jerr(s, p, "invalid Unicode '\\u%04lX'", u);
	if (u >= 0xd800 && u <= 0xdbff) {
		if (left < 12 || p[6] != '\\' || p[7] != 'u')
			return jerr(s, p, "invalid Unicode '\\u%04lX'", u);
		if ((u2 = hex4(p + 8, left - 8)) < 0)
			return jerr(s, p + 6, "invalid escape");
		if (u2 < 0xdc00 || u2 > 0xdfff)
			return jerr(s, p, "invalid Unicode '\\u%04lX\\u%04lX'", u, u2);
		p += 6;
	}
	*pp = p + 6;
	return 0;
}

/* String bytes that need no closer look: printable ASCII but '"' and '\\'. */
static bool plain[256];		/* filled with the key table, once */

#define BYTES(b) (UINT64_C(0x0101010101010101) * (b))

/*
 * Skips 8 bytes at a time while none of them is a quote, a backslash, a
 * control character or part of a multibyte character: ids and numbers
 * in strings are plain ASCII, and a byte at a time cost a branch each.
 */
static const unsigned char *skip_plain8(const unsigned char *p,
					const unsigned char *end)
{
	while (end - p >= 8) {
		uint64_t w, q, b, hit;

		memcpy(&w, p, 8);
		q = w ^ BYTES('"');
		b = w ^ BYTES('\\');
		/*
		 * The high bit of a byte is set in hit where q or b has a
		 * zero byte, w a byte below 0x20, or w a byte above 0x7f
		 * (exact for the first such byte; any later one just ends
		 * the fast path early).
		 */
		hit = ((q - BYTES(1)) & ~q) | ((b - BYTES(1)) & ~b) |
		      ((w - BYTES(0x20)) & ~w) | w;
		if (hit & BYTES(0x80))
			break;
		p += 8;
	}
	return p;
}

/* A string at s->p (on the quote): checked, not copied. */
static int scan_string(struct scan *s, struct jval *v)
{
	const unsigned char *p = s->p + 1, *end = s->end;

	v->type = J_STRING;
	v->p = p;
	v->esc = false;
	for (;;) {
		unsigned c, k;

		p = skip_plain8(p, end);
		while (p < end && plain[*p])
			p++;
		if (p == end)
			return jerr(s, p, "premature end of input");
		c = *p;
		if (c == '"')
			break;
		if (c == '\\') {
			v->esc = true;
			if (scan_escape(s, &p))
				return -1;
			continue;
		}
		if (c < 0x20)
			return c == '\n' ? jerr(s, p, "unexpected newline") :
			       jerr(s, p, "control character 0x%x", c);
		if (!(k = utf8_len(p, (size_t)(end - p))))
			return jerr(s, p, "unable to decode byte 0x%x", c);
		p += k;
	}
	v->len = (unsigned)(p - v->p);
	s->p = p + 1;
	return 0;
}

/* Writes code point u as UTF-8 at buf + o, within cap; returns its size. */
static size_t put_utf8(char *buf, size_t o, size_t cap, unsigned long u)
{
	unsigned char b[4];
	size_t n;

	if (u < 0x80) {
		b[0] = (unsigned char)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (unsigned char)(0xc0 | u >> 6);
		b[1] = (unsigned char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		b[0] = (unsigned char)(0xe0 | u >> 12);
		b[1] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | u >> 18);
		b[1] = (unsigned char)(0x80 | (u >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (u & 0x3f));
		n = 4;
	}
	for (size_t i = 0; i < n; i++)
		if (o + i < cap)
			buf[o + i] = (char)b[i];
	return n;
}

/*
 * The value of a string the scanner checked, unescaped: its first
 * cap - 1 bytes go to buf, NUL-terminated; returns the whole length.
 */
static size_t unescape(const struct jval *v, char *buf, size_t cap)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const unsigned char *p = v->p, *end = v->p + v->len;
	size_t o = 0;

	while (p < end) {
		unsigned long u;

		if (*p != '\\') {
			if (o < cap)
				buf[o] = (char)*p;
			o++, p++;
			continue;
		}
		if (p[1] != 'u') {
			if (o < cap)
				buf[o] = to[strchr(from, p[1]) - from];
			o++, p += 2;
			continue;
		}
		u = (unsigned long)hex4(p + 2, 4);
		p += 6;
		if (u >= 0xd800 && u <= 0xdbff) {
			u = 0x10000 + ((u - 0xd800) << 10) +
			    ((unsigned long)hex4(p + 2, 4) - 0xdc00);
			p += 6;
		}
		o += put_utf8(buf, o, cap, u);
	}
	buf[o < cap ? o : cap - 1] = '\0';
	return o;
}

/* Strings of messages rarely hold escapes: their bytes are read in place. */
static const char *str_of(const struct jval *v, char buf[STR_BUF], size_t *len)
{
	if (!v->esc) {
		*len = v->len;
		return (const char *)v->p;
	}
	*len = unescape(v, buf, STR_BUF);
	return buf;
}

/* The C locale, for strtod_l: a decimal point whatever the process's locale. */
static locale_t c_locale(void)
{
	static locale_t c;

	if (!c)
		c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	return c;
}

/* Reals strtod must read: long, or far from 1; overflow is refused. */
static int scan_real_slow(struct scan *s, struct jval *v,
			  const unsigned char *p, const unsigned char *end)
{
	size_t n = (size_t)(end - p);
	char small[64], *copy = n < sizeof(small) ? small : malloc(n + 1);
	locale_t c = c_locale();

	if (!copy)
		return jerr(s, p, "out of memory");
	memcpy(copy, p, n);
	copy[n] = '\0';
	errno = 0;
	v->d = c ? strtod_l(copy, NULL, c) : strtod(copy, NULL);
	if (copy != small)
		free(copy);
	if ((v->d == HUGE_VAL || v->d == -HUGE_VAL) && errno == ERANGE)
		return jerr(s, p, "real number overflow");
	v->type = J_REAL;
	return 0;
}

static const double pow10s[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * A real in [p, end), already checked against the grammar. Up to 2^53
 * in significant digits and 10^22 in scale, one exact operation gives
 * the nearest double (as strtod would); longer ones go to strtod, in
 * the C locale whatever the process's, as jansson made sure too.
 */
static int scan_real(struct scan *s, struct jval *v, const unsigned char *p,
		     const unsigned char *end)
{
	const unsigned char *q = p + (*p == '-');
	bool exact = true, point = false, xneg = false;
	uint64_t w = 0;
	long e = 0, x = 0;

	for (; q < end && (is_digit(*q) || *q == '.'); q++) {
		if (*q == '.') {
			point = true;
			continue;
		}
		if (w >= (UINT64_C(1) << 53) / 10) {
			exact = false;
			break;
		}
		w = w * 10 + (unsigned)(*q - '0');
		e -= point;
	}
	if (exact && q < end) {
		xneg = q[1] == '-';
		for (q += 1 + (q[1] == '-' || q[1] == '+'); q < end; q++)
			if (x < 100000)
				x = x * 10 + (*q - '0');
	}
	e += xneg ? -x : x;
	if (exact && w <= UINT64_C(1) << 53 && e >= -22 && e <= 22) {
		v->d = e < 0 ? (double)w / pow10s[-e] : (double)w * pow10s[e];
		v->d = *p == '-' ? -v->d : v->d;
		v->type = J_REAL;
		return 0;
	}
	return scan_real_slow(s, v, p, end);
}

/* An integer in [p, end): within int64_t, as strtoll would take it. */
static int scan_int(struct scan *s, struct jval *v, const unsigned char *p,
		    const unsigned char *end)
{
	bool neg = *p == '-';
	uint64_t u = 0, max = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;

	for (const unsigned char *q = p + neg; q < end; q++) {
		unsigned d = (unsigned)(*q - '0');

		if (u > (max - d) / 10)
			return jerr(s, p, neg ? "too big negative integer" :
				    "too big integer");
		u = u * 10 + d;
	}
	v->type = J_INT;
	v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else. */
static int scan_number(struct scan *s, struct jval *v)
{
	const unsigned char *p = s->p, *q = p, *end = s->end;
	bool real = false;

	q += *q == '-';
	if (q == end || !is_digit(*q))
		return jerr(s, p, "invalid token");
	if (*q == '0' && ++q < end && is_digit(*q))
		return jerr(s, p, "invalid token");
	while (q < end && is_digit(*q))
		q++;
	if (q < end && *q == '.') {
		if (++q == end || !is_digit(*q))
			return jerr(s, p, "invalid token");
		while (q < end && is_digit(*q))
			q++;
		real = true;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q += q + 1 < end && (q[1] == '+' || q[1] == '-');
		if (++q == end || !is_digit(*q))
			return jerr(s, p, "invalid token");
		while (q < end && is_digit(*q))
			q++;
		real = true;
	}
	s->p = q;
	return real ? scan_real(s, v, p, q) : scan_int(s, v, p, q);
}

/* true, false or null: a run of letters that must be one of them. */
static int scan_word(struct scan *s, struct jval *v)
{
	const unsigned char *p = s->p, *q = p;
	size_t n;

	while (q < s->end && (unsigned)((*q | 0x20) - 'a') < 26)
		q++;
	n = (size_t)(q - p);
	if (n == 4 && !memcmp(p, "true", 4))
		v->type = J_TRUE;
	else if (n == 5 && !memcmp(p, "false", 5))
		v->type = J_FALSE;
	else if (n == 4 && !memcmp(p, "null", 4))
		v->type = J_NULL;
	else
		return jerr(s, p, "invalid token");
	s->p = q;
	return 0;
}

/* The key of the vocabulary that s is, or -1. */
/*
 * The keys are found through a small hash table of their first and last
 * bytes and length, filled once: about one comparison per key read.
 */
#define KEY_HASH 64

static unsigned char key_hash[KEY_HASH];	/* key + 1; 0: free */
static unsigned char key_lens[KEY_COUNT];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static unsigned key_slot(const char *s, size_t len)
{
	return ((unsigned char)s[0] * 7u + (unsigned char)s[len - 1] * 3u +
		(unsigned)len) % KEY_HASH;
}

static void key_hash_init(void)
{
	for (unsigned c = 0x20; c < 0x80; c++)
		plain[c] = c != '"' && c != '\\';
	for (int k = 0; k < KEY_COUNT; k++) {
		unsigned h;

		key_lens[k] = (unsigned char)strlen(key_names[k]);
		h = key_slot(key_names[k], key_lens[k]);
		while (key_hash[h])
			h = (h + 1) % KEY_HASH;
		key_hash[h] = (unsigned char)(k + 1);
	}
}

/* Keys are a few bytes long: compared in line, not by a call to memcmp. */
static bool same_key(const char *name, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && name[i] == s[i])
		i++;
	return i == len;
}

static int key_lookup(const char *s, size_t len)
{
	for (unsigned h = key_slot(s, len); key_hash[h]; h = (h + 1) % KEY_HASH) {
		int k = key_hash[h] - 1;

		if (key_lens[k] == len && same_key(key_names[k], s, len))
			return k;
	}
	return -1;
}

static int key_of(const struct jval *v)
{
	char buf[16];
	size_t len;

	if (!v->esc)
		return v->len ? key_lookup((const char *)v->p, v->len) : -1;
	len = unescape(v, buf, sizeof(buf));
	return len && len < sizeof(buf) ? key_lookup(buf, len) : -1;
}

/*
 * Keys outside the vocabulary are kept, unescaped, on a stack: an object
 * pushes its own, and when it closes they are sorted to find a repeat,
 * then popped. Only messages refused anyway have any (an unknown field),
 * so the memory is taken from the heap and given back at the end.
 */
static int keyset_push(struct scan *s, const struct jval *v)
{
	struct keyset *k = &s->dups;
	size_t need = v->len + 1;	/* escapes only shorten */

	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		void *p = realloc(k->key, cap * sizeof(*k->key));

		if (!p)
			return jerr(s, v->p, "out of memory");
		k->key = p;
		k->cap = cap;
	}
	if (k->used + need > k->size) {
		size_t size = (k->used + need) * 2;
		char *p = realloc(k->bytes, size);

		if (!p)
			return jerr(s, v->p, "out of memory");
		k->bytes = p;
		k->size = size;
	}
	k->key[k->n].off = k->used;
	k->key[k->n].len = unescape(v, k->bytes + k->used, need);
	k->used += k->key[k->n++].len;
	return 0;
}

static int key_cmp(const void *a, const void *b, void *bytes)
{
	const struct keyref *x = a, *y = b;
	int c = memcmp((char *)bytes + x->off, (char *)bytes + y->off,
		       x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Closes an object whose other keys begin at base: is one there twice? */
static int keyset_pop(struct scan *s, const struct keyref *base,
		      const unsigned char *at)
{
	struct keyset *k = &s->dups;
	bool dup = false;

	if (k->n - base->off > 1) {
		qsort_r(k->key + base->off, k->n - base->off, sizeof(*k->key),
			key_cmp, k->bytes);
		for (size_t i = base->off + 1; i < k->n && !dup; i++)
			dup = !key_cmp(&k->key[i - 1], &k->key[i], k->bytes);
	}
	k->n = base->off;
	k->used = base->len;
	return dup ? jerr(s, at, "duplicate object key") : 0;
}

static int scan_value(struct scan *s, struct jval *v, struct jobj *into);

/* As jansson said it: where the key ends, and the key if it is short. */
static int dup_key(struct scan *s, const struct jval *key)
{
	const unsigned char *end = key->p + key->len + 1;

	if (key->len + 2 <= 20)
		return jerr(s, end, "duplicate object key near '\"%.*s\"'",
			    (int)key->len, (const char *)key->p);
	return jerr(s, end, "duplicate object key");
}

/* Where a key goes: its slot in o, or the stack of other keys. */
static struct jval *take_key(struct scan *s, struct jobj *o,
			     struct jval *key, struct jval *scratch)
{
	int k = o ? key_of(key) : -1;

	if (k >= 0 && (o->allowed >> k & 1)) {
		if (o->mask >> k & 1) {
			dup_key(s, key);
			return NULL;
		}
		o->mask |= UINT32_C(1) << k;
		return &o->slot[k];
	}
	if (o && !o->has_other) {
		o->other = *key;
		o->has_other = true;
	}
	return keyset_push(s, key) ? NULL : scratch;
}

/*
 * An object at s->p, its keys noted in o (NULL: an object no message
 * has, only checked). The stack of other keys is {count, bytes} at
 * its start, kept in a keyref.
 */
static int scan_object(struct scan *s, struct jobj *o)
{
	struct keyref base = { s->dups.n, s->dups.used };
	struct jval key, scratch, *v;
	unsigned n = 0;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}')
		goto out;
	for (;;) {
		if (s->p == s->end || *s->p != '"')
			return jerr(s, s->p, "string or '}' expected");
		if (scan_string(s, &key))
			return -1;
		skip_ws(s);
		if (s->p == s->end || *s->p != ':')
			return jerr(s, s->p, "':' expected");
		s->p++;
		skip_ws(s);
		key.rank = n++;
		if (!(v = take_key(s, o, &key, &scratch)))
			return -1;
		v->rank = key.rank;
		if (scan_value(s, v, o && v == &o->slot[KEY_LIVE] ? o->live : NULL))
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p == s->end || *s->p != '}')
			return jerr(s, s->p, "'}' expected");
		break;
	}
out:
	s->p++;
	if (o)
		o->nkeys = n;
	return keyset_pop(s, &base, s->p - 1);
}

static int scan_array(struct scan *s)
{
	struct jval v;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		if (scan_value(s, &v, NULL))
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p == s->end || *s->p != ']')
			return jerr(s, s->p, "']' expected");
		s->p++;
		return 0;
	}
}

/* Any value at s->p; an object goes into `into` when there is one. */
static int scan_value(struct scan *s, struct jval *v, struct jobj *into)
{
	int rc;

	if (++s->depth > JSON_MAX_DEPTH)
		return jerr(s, s->p, "maximum parsing depth reached");
	if (s->p == s->end)
		return jerr(s, s->p, "premature end of input");
	switch (*s->p) {
	case '"':
		rc = scan_string(s, v);
		break;
	case '{':
		v->type = J_OBJECT;
		rc = scan_object(s, into);
		break;
	case '[':
		v->type = J_ARRAY;
		rc = scan_array(s);
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		rc = scan_number(s, v);
		break;
	default:
		rc = scan_word(s, v);
	}
	s->depth--;
	return rc;
}

/*
 * The whole message: an object or an array (as jansson, which refused
 * anything else as bad JSON), then nothing but white space.
 */
static int scan_message(struct scan *s, struct jobj *top, struct jval *v)
{
	skip_ws(s);
	if (s->p == s->end || (*s->p != '{' && *s->p != '['))
		return jerr(s, s->p, "'[' or '{' expected");
	if (scan_value(s, v, top))
		return -1;
	skip_ws(s);
	if (s->p != s->end)
		return jerr(s, s->p, "end of file expected");
	return 0;
}

static int wrong_type(char *err, size_t n, const char *prefix,
		      const char *name, const char *what)
{
	return fail(err, n, "field '%s%s' must be %s", prefix, name, what);
}

static const struct jval *need(const struct jobj *o, const char *prefix,
			       enum key key, char *err, size_t n)
{
	if (!(o->mask >> key & 1)) {
		fail(err, n, "missing field '%s%s'", prefix, key_names[key]);
		return NULL;
	}
	return &o->slot[key];
}

/* The string of v (see str_of); NULL after setting err. */
static const char *get_string(const struct jval *v, const char *prefix,
			      const char *name, char buf[STR_BUF], size_t *len,
			      char *err, size_t n)
{
	if (v->type != J_STRING) {
		wrong_type(err, n, prefix, name, "a string");
		return NULL;
	}
	return str_of(v, buf, len);
}

/* The index of s (len bytes, no NUL) in names, or -1. */
static int lookupn(const char *const *names, unsigned n, const char *s,
		   size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (names[i][0] == s[0] && !strncmp(names[i], s, len) &&
		    names[i][len] == '\0')
			return (int)i;
	return -1;
}

static void copy_str(char *out, const char *s, size_t len)
{
	memcpy(out, s, len);
	out[len] = '\0';
}

static int decode_fields(const struct jobj *o, const struct field *fs,
			 unsigned nf, char *base, const char *prefix,
			 const struct type *t, size_t others, char *err,
			 size_t n);

static int decode_string(const struct field *f, const struct jval *v,
			 char *base, const char *prefix, char *err, size_t n)
{
	char buf[STR_BUF];
	const char *s;
	size_t len;

	if (!(s = get_string(v, prefix, FNAME(f), buf, &len, err, n)))
		return -1;
	if (f->kind == K_UUID && !uuid_okn(s, len))
		return bad_id(err, n, FNAME(f), s, len);
	if (f->kind == K_TEXT && len > (size_t)f->max)
		return fail(err, n, "field '%s%s' too long", prefix, FNAME(f));
	copy_str(base + f->off, s, len);
	return f->kind == K_TEXT ? check_field(f, base, prefix, err, n) : 0;
}

static int decode_enum(const struct field *f, const struct jval *v,
		       char *base, const char *prefix, char *err, size_t n)
{
	char q[QUOTE_BUF], buf[STR_BUF];
	const char *s;
	size_t len;
	int i;

	if (!(s = get_string(v, prefix, FNAME(f), buf, &len, err, n)))
		return -1;
	i = len < STR_BUF ? lookupn(enums[f->kind - K_DENY].names,
				    enums[f->kind - K_DENY].count, s, len) : -1;
	if (i < 0)
		return fail(err, n, "bad %s '%s'", FNAME(f), quote(q, s, len));
	*(unsigned *)(base + f->off) = (unsigned)i;
	return 0;
}

static int decode_number(const struct field *f, const struct jval *v,
			 char *base, const char *prefix, char *err, size_t n)
{
	char *p = base + f->off;

	if (f->kind == K_REAL) {
		if (v->type != J_INT && v->type != J_REAL)
			return wrong_type(err, n, prefix, FNAME(f), "a number");
		*(double *)p = v->type == J_INT ? (double)v->i : v->d;
		return check_field(f, base, prefix, err, n);
	}
	if (v->type != J_INT)
		return wrong_type(err, n, prefix, FNAME(f), "an integer");
	if (f->kind == K_INT) {
		*(int64_t *)p = v->i;
		return check_field(f, base, prefix, err, n);
	}
	if (v->i < 0 || v->i > UINT32_MAX)
		return out_of_range(err, n, prefix, FNAME(f));
	*(uint32_t *)p = (uint32_t)v->i;
	return 0;
}

/* One field: its JSON type, then the rules check_field() shares. */
static int decode_field(const struct field *f, const struct jval *v,
			const struct jobj *o, char *base, const char *prefix,
			char *err, size_t n)
{
	switch (f->kind) {
	case K_BOOL:
		if (v->type != J_TRUE && v->type != J_FALSE)
			return wrong_type(err, n, prefix, FNAME(f), "a boolean");
		*(bool *)(base + f->off) = v->type == J_TRUE;
		return 0;
	case K_INT:
	case K_U32:
	case K_REAL:
		return decode_number(f, v, base, prefix, err, n);
	case K_TEXT:
	case K_UUID:
		return decode_string(f, v, base, prefix, err, n);
	case K_LIVE:
		if (v->type != J_OBJECT)
			return wrong_type(err, n, prefix, FNAME(f), "an object");
		return decode_fields(o->live, progress_fields,
				     NFIELDS(progress_fields), base + f->off,
				     "live.", NULL, 0, err, n);
	default:
		return decode_enum(f, v, base, prefix, err, n);
	}
}

/* Whether key belongs in an object of fields fs (of type t at the top). */
static bool known_key(int key, const struct field *fs, unsigned nf,
		      const struct type *t)
{
	for (unsigned i = 0; i < nf; i++)
		if (fs[i].key == key)
			return true;
	if (!t)
		return false;
	return key == KEY_V || key == KEY_TYPE || key == KEY_ID ||
	       key == KEY_TS || (key == KEY_CP && t->cp != NO) ||
	       (key == KEY_DRIVER && t->driver != NO) ||
	       (key == KEY_SESSION && t->session != NO);
}

/* Names the first key of o (in the message's order) that is not known. */
static int unknown_field(const struct jobj *o, const struct field *fs,
			 unsigned nf, const struct type *t, const char *prefix,
			 char *err, size_t n)
{
	const struct jval *first = o->has_other ? &o->other : NULL;
	char q[QUOTE_BUF], buf[STR_BUF];
	const char *s;
	size_t len;

	for (int k = 0; k < KEY_COUNT; k++)
		if ((o->mask >> k & 1) && !known_key(k, fs, nf, t) &&
		    (!first || o->slot[k].rank < first->rank))
			first = &o->slot[k];
	if (!first)
		return fail(err, n, "unknown field");
	if (first == &o->other) {
		s = str_of(first, buf, &len);
	} else {
		s = key_names[first - o->slot];
		len = strlen(s);
	}
	return fail(err, n, "unknown field '%s%s'", prefix, quote(q, s, len));
}

/*
 * Decodes the fields fs of o into base; then the count of keys tells
 * whether o holds anything else: others is the number of envelope keys
 * already found.
 */
static int decode_fields(const struct jobj *o, const struct field *fs,
			 unsigned nf, char *base, const char *prefix,
			 const struct type *t, size_t others, char *err,
			 size_t n)
{
	for (unsigned i = 0; i < nf; i++) {
		const struct jval *v = need(o, prefix, fs[i].key, err, n);

		if (!v || decode_field(&fs[i], v, o, base, prefix, err, n))
			return -1;
	}
	if (o->nkeys != nf + others)
		return unknown_field(o, fs, nf, t, prefix, err, n);
	return 0;
}

/* "v", "type", "id" and "ts": the part every message shares. */
static int decode_head(const struct jobj *o, struct msg *m, char *err,
		       size_t n)
{
	char q[QUOTE_BUF], buf[STR_BUF];
	const struct jval *v;
	const char *s;
	size_t len;
	int type;

	if (!(v = need(o, "", KEY_V, err, n)))
		return -1;
	if (v->type != J_INT)
		return wrong_type(err, n, "", "v", "an integer");
	if (v->i != MSG_VERSION)
		return fail(err, n, "unsupported version %lld", (long long)v->i);
	if (!(v = need(o, "", KEY_TYPE, err, n)) ||
	    !(s = get_string(v, "", "type", buf, &len, err, n)))
		return -1;
	if ((type = msg_type_parsen(s, len)) < 0)
		return fail(err, n, "unknown type '%s'", quote(q, s, len));
	m->type = (enum msg_type)type;
	if (!(v = need(o, "", KEY_ID, err, n)) ||
	    !(s = get_string(v, "", "id", buf, &len, err, n)))
		return -1;
	if (!uuid_okn(s, len))
		return bad_id(err, n, "id", s, len);
	copy_str(m->id, s, len);
	if (!(v = need(o, "", KEY_TS, err, n)))
		return -1;
	if (v->type != J_INT)
		return wrong_type(err, n, "", "ts", "an integer");
	if ((m->ts = v->i) <= 0)
		return out_of_range(err, n, "", "ts");
	return 0;
}

/* cp, driver or session: absent where the type has none (counted if found). */
static int decode_ref(const struct jobj *o, enum key key,
		      unsigned char presence, char *out, bool uuid,
		      size_t *found, char *err, size_t n)
{
	const struct jval *v = o->mask >> key & 1 ? &o->slot[key] : NULL;
	const char *s, *name = key_names[key];
	char buf[STR_BUF];
	size_t len;

	if (!v || presence == NO)	/* present where it has no place: unknown */
		return !v && presence == REQ ?
			fail(err, n, "missing field '%s'", name) : 0;
	if (!(s = get_string(v, "", name, buf, &len, err, n)))
		return -1;
	if (uuid ? !uuid_okn(s, len) : !name_okn(s, len))
		return bad_id(err, n, name, s, len);
	copy_str(out, s, len);
	(*found)++;
	return 0;
}

static int decode_msg(const struct jobj *o, struct msg *m, char *err,
		      size_t n)
{
	const struct type *t;
	size_t found = 4;	/* v, type, id, ts */

	if (decode_head(o, m, err, n))
		return -1;
	t = &types[m->type];
	if (decode_ref(o, KEY_CP, t->cp, m->cp, false, &found, err, n) ||
	    decode_ref(o, KEY_DRIVER, t->driver, m->driver, false, &found, err, n) ||
	    decode_ref(o, KEY_SESSION, t->session, m->session, true, &found, err, n))
		return -1;
	if (decode_fields(o, t->fields, t->nfields, (char *)&m->u, "", t,
			  found, err, n))
		return -1;
	return check_rules(m, err, n);
}

static void jobj_init(struct jobj *o, uint32_t allowed, struct jobj *live)
{
	o->mask = 0;
	o->allowed = allowed;
	o->nkeys = 0;
	o->has_other = false;
	o->live = live;
}

int msg_decode(const void *buf, size_t len, struct msg *m,
	       char *err, size_t errlen)
{
	char q[sizeof(((struct scan *)0)->why) * 4 + 4];
	struct scan s;
	struct jobj top, live;
	struct jval v;
	int rc;

	memset(m, 0, sizeof(*m));
	s.depth = 0;
	s.at = 0;
	s.why[0] = '\0';
	memset(&s.dups, 0, sizeof(s.dups));
	if (len > MSG_MAX_BYTES)
		return fail(err, errlen, "message too large: %zu bytes", len);
	if (!buf)
		return fail(err, errlen, "empty message");
	pthread_once(&key_once, key_hash_init);
	s.start = s.p = buf;
	s.end = s.p + len;
	jobj_init(&top, (UINT32_C(1) << KEY_COUNT) - 1, &live);
	jobj_init(&live, UINT32_C(1) << KEY_SEQ | UINT32_C(1) << KEY_KW |
		  UINT32_C(1) << KEY_WH | UINT32_C(1) << KEY_CENTS, NULL);
	rc = scan_message(&s, &top, &v);
	free(s.dups.key);
	free(s.dups.bytes);
	if (rc)
		return fail(err, errlen, "bad json at byte %zu: %s", s.at,
			    quote_max(q, s.why, strlen(s.why), sizeof(s.why)));
	if (v.type != J_OBJECT)
		return fail(err, errlen, "not an object");
	return decode_msg(&top, m, err, errlen);
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

/* The decimal digits of u at out (room for 20); returns how many. */
static int format_uint(char *out, unsigned long long u)
{
	char tmp[20], *p = tmp + sizeof(tmp);
	int len;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	len = (int)(tmp + sizeof(tmp) - p);
	memcpy(out, p, (size_t)len);
	return len;
}

/* Integers are most of what a message holds: written without snprintf. */
static void put_int(struct out *o, long long v)
{
	char tmp[24];
	int len = 0;

	if (v < 0)
		tmp[len++] = '-';
	len += format_uint(tmp + len, v < 0 ? 0 - (unsigned long long)v :
			   (unsigned long long)v);
	put(o, tmp, (size_t)len);
}

/*
 * The common reals (22 kW, 0.35 EUR/kWh) without snprintf: d is n
 * millionths, written with at most 15 digits and in [1e-4, 1e9), where
 * "%.15g" writes it the same way: any decimal of 15 significant digits
 * reads back as the double nearest to it, so %.15g gives those digits
 * back, trailing zeros dropped, and no exponent in that range.
 */
static bool put_real_short(struct out *o, double d)
{
	char tmp[24];
	long long n;
	int len, frac;

	if (!(d >= 1e-4 && d < 1e9))
		return false;
	n = llround(d * 1e6);
	if ((double)n / 1e6 != d)
		return false;
	len = format_uint(tmp, (unsigned long long)(n / 1000000));
	if ((frac = (int)(n % 1000000))) {
		tmp[len++] = '.';
		for (int div = 100000; frac; div /= 10) {
			tmp[len++] = (char)('0' + frac / div);
			frac %= div;
		}
	}
	put(o, tmp, (size_t)len);
	return true;
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

	if (d == 0) {
		put(o, "0", 1);	/* no "-0" */
		return;
	}
	if (put_real_short(o, d))
		return;
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
		put_lit(o, FNAME(f));
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

/*
 * Ids take their bytes from a pool that one getrandom(2) fills for 256
 * ids, not one system call per id. Each thread has its own pool, a
 * child process forgets its parent's at fork (or parent and child would
 * hand out the same ids), and each byte is wiped once used.
 */
#define POOL_BYTES 4096

static _Thread_local struct {
	unsigned char b[POOL_BYTES];
	size_t left;
} pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
	pool.left = 0;	/* in the child, the forking thread's pool */
}

static void pool_init(void)
{
	pthread_atfork(NULL, NULL, pool_forget);
}

static int pool_take(unsigned char *p, size_t n)
{
	unsigned char *from;

	pthread_once(&pool_once, pool_init);
	if (pool.left < n) {
		if (random_bytes(pool.b, sizeof(pool.b)))
			return -1;
		pool.left = sizeof(pool.b);
	}
	from = pool.b + sizeof(pool.b) - pool.left;
	memcpy(p, from, n);
	memset(from, 0, n);
	pool.left -= n;
	return 0;
}

void msg_new_uuid(char out[MSG_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	static int warned;
	unsigned char r[MSG_UUID_LEN / 2];

	if (pool_take(r, sizeof(r))) {
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

void msg_init_at(struct msg *m, enum msg_type type, int64_t ts)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	msg_new_uuid(m->id);
	m->ts = ts;
}

void msg_init(struct msg *m, enum msg_type type)
{
	msg_init_at(m, type, now_ms());
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
