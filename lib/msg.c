/* msg.c: evc's JSON messages: one table of types and fields, strict codecs. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jscan.h"
#include "log.h"
#include "msg.h"
#include "msg_table.h"
#include "numfmt.h"

/*
 * The codecs are driven by tables: each type lists its fields once, and
 * the encoder, the decoder and the validator all walk the same list, so
 * encoding and decoding stay exact inverses and evc never sends what it
 * would itself reject. The kinds of field and the keys are in
 * msg_table.h, which lets the fuzzer's oracle read this table too.
 */
_Static_assert(KEY_COUNT <= JSCAN_KEYS_MAX, "the scanner notes 32 keys at most");

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
	KEY(LIVE, "live"), KEY(SINCE, "since"), KEY(GRANTED, "granted"),
	KEY(POWER_KW, "power_kw"),
};

#define FNAME(f) key_names[(f)->key]
#define OFF(s, m) ((unsigned short)offsetof(struct s, m))
#define NFIELDS(a) ((unsigned char)(sizeof(a) / sizeof((a)[0])))

static const struct msg_field register_fields[] = {
	{ KEY_LOCATION, K_TEXT, OFF(msg_register, location), MSG_TEXT_MAX, 0 },
	{ KEY_ENGINE_OK, K_BOOL, OFF(msg_register, engine_ok), 0, 0 },
};

static const struct msg_field ack_fields[] = {
	{ KEY_ACCEPTED, K_BOOL, OFF(msg_register_ack, accepted), 0, 0 },
	{ KEY_REASON, K_DENY, OFF(msg_register_ack, reason), 0, 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_register_ack, price), (long long)MSG_PRICE_MAX, 0 },
	{ KEY_LOCATION, K_TEXT, OFF(msg_register_ack, location), MSG_TEXT_MAX, 0 },
};

static const struct msg_field request_fields[] = {
	{ KEY_TARGET_WH, K_INT, OFF(msg_auth_request, target_wh), MSG_WH_MAX, 0 },
	{ KEY_TARGET_S, K_U32, OFF(msg_auth_request, target_s), 0, 0 },
	{ KEY_TIMEOUT_MS, K_U32, OFF(msg_auth_request, timeout_ms), 0, 0 },
	{ KEY_CANCEL, K_BOOL, OFF(msg_auth_request, cancel), 0, 0 },
};

static const struct msg_field response_fields[] = {
	{ KEY_REQUEST, K_UUID, OFF(msg_auth_response, request), 0, 0 },
	{ KEY_AUTHORIZED, K_BOOL, OFF(msg_auth_response, authorized), 0, 0 },
	{ KEY_REASON, K_DENY, OFF(msg_auth_response, reason), 0, 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_auth_response, price), (long long)MSG_PRICE_MAX, 0 },
};

static const struct msg_field progress_fields[] = {
	{ KEY_SEQ, K_U32, OFF(msg_progress, seq), 0, 0 },
	{ KEY_KW, K_REAL, OFF(msg_progress, kw), (long long)MSG_KW_MAX, 0 },
	{ KEY_WH, K_INT, OFF(msg_progress, wh), MSG_WH_MAX, 0 },
	{ KEY_CENTS, K_INT, OFF(msg_progress, cents), MSG_CENTS_MAX, 0 },
};

static const struct msg_field ticket_fields[] = {
	{ KEY_SEQ, K_U32, OFF(msg_ticket, seq), 0, 0 },
	{ KEY_WH, K_INT, OFF(msg_ticket, wh), MSG_WH_MAX, 0 },
	{ KEY_CENTS, K_INT, OFF(msg_ticket, cents), MSG_CENTS_MAX, 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_ticket, price), (long long)MSG_PRICE_MAX, 0 },
	{ KEY_STARTED, K_INT, OFF(msg_ticket, started), INT64_MAX, 0 },
	{ KEY_ENDED, K_INT, OFF(msg_ticket, ended), INT64_MAX, 0 },
	{ KEY_REASON, K_END, OFF(msg_ticket, reason), 0, 0 },
};

static const struct msg_field command_fields[] = {
	{ KEY_CMD, K_CMD, OFF(msg_command, cmd), 0, 0 },
	{ KEY_TARGET_WH, K_INT, OFF(msg_command, target_wh), MSG_WH_MAX, 0 },
	{ KEY_TARGET_S, K_U32, OFF(msg_command, target_s), 0, 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_command, price), (long long)MSG_PRICE_MAX, 0 },
};

static const struct msg_field health_fields[] = {
	{ KEY_ENGINE_OK, K_BOOL, OFF(msg_health, engine_ok), 0, 0 },
	{ KEY_SEQ, K_U32, OFF(msg_health, seq), 0, 0 },
};

static const struct msg_field notice_fields[] = {
	{ KEY_STATE, K_STATE, OFF(msg_notice, state), 0, 0 },
	{ KEY_TEXT, K_TEXT, OFF(msg_notice, text), MSG_TEXT_MAX, 0 },
};

static const struct msg_field control_fields[] = {
	{ KEY_CMD, K_CMD, OFF(msg_control, cmd), 0, 0 },
	{ KEY_ALL, K_BOOL, OFF(msg_control, all), 0, 0 },
};

static const struct msg_field cp_state_fields[] = {
	{ KEY_STATE, K_STATE, OFF(msg_cp_state, state), 0, 0 },
	{ KEY_LOCATION, K_TEXT, OFF(msg_cp_state, location), MSG_TEXT_MAX, 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_cp_state, price), (long long)MSG_PRICE_MAX, 0 },
	{ KEY_LIVE, K_LIVE, OFF(msg_cp_state, live), 0, 0 },
	{ KEY_SINCE, K_INT, OFF(msg_cp_state, since), INT64_MAX, 0 },
	{ KEY_REQUEST, K_UUID, OFF(msg_cp_state, request), 0, 1 },
	{ KEY_GRANTED, K_IDS, OFF(msg_cp_state, granted), MSG_IDS_LEN, 1 },
};

static const struct msg_field cp_entry_fields[] = {
	{ KEY_LOCATION, K_TEXT, OFF(msg_cp_entry, location), MSG_TEXT_MAX, 0 },
	{ KEY_PRICE, K_REAL, OFF(msg_cp_entry, price), (long long)MSG_PRICE_MAX, 0 },
	{ KEY_POWER_KW, K_REAL, OFF(msg_cp_entry, power_kw), (long long)MSG_KW_MAX, 0 },
};

#define FIELDS(a) a, NFIELDS(a)

/* One row per enum msg_type: its JSON name, envelope ids, fields. */
static const struct msg_row types[MSG_TYPE_COUNT] = {
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
	[MSG_CP_ENTRY] = { "cp_entry", REQ, NO, NO, FIELDS(cp_entry_fields) },
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
	"DISCONNECTED", "ACTIVE", "SUPPLYING", "STOPPED", "BROKEN", "REVOKED",
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

const struct msg_row *msg_table_row(enum msg_type t)
{
	return (unsigned)t < MSG_TYPE_COUNT ? &types[t] : NULL;
}

const struct msg_field *msg_table_live(unsigned *n)
{
	*n = NFIELDS(progress_fields);
	return progress_fields;
}

const char *msg_table_key(enum msg_key k)
{
	return (unsigned)k < KEY_COUNT ? key_names[k] : NULL;
}

const char *const *msg_table_names(enum msg_kind kind, unsigned *n)
{
	if (kind < K_DENY || kind > K_STATE)
		return NULL;
	*n = enums[kind - K_DENY].count;
	return enums[kind - K_DENY].names;
}

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

/* 1 to MSG_IDS_MAX uuids, one space between two, nothing else. */
static bool ids_okn(const char *s, size_t len)
{
	unsigned n = 0;

	while (len >= MSG_UUID_LEN && n < MSG_IDS_MAX &&
	       uuid_okn(s, MSG_UUID_LEN)) {
		n++;
		if (len == MSG_UUID_LEN)
			return true;
		if (s[MSG_UUID_LEN] != ' ')
			return false;
		s += MSG_UUID_LEN + 1;
		len -= MSG_UUID_LEN + 1;
	}
	return false;
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

bool msg_text_ok(const char *s)
{
	size_t len = strnlen(s, MSG_TEXT_MAX + 1);

	return len <= MSG_TEXT_MAX && text_ok((const unsigned char *)s, len);
}

/*
 * Error subjects come from untrusted bytes: msg_quote() keeps printable
 * ASCII, doubles backslashes, writes any other byte as \xHH and cuts
 * long subjects short, so a reason can go to a log or a terminal as it
 * is. The scanner's own messages may be longer than a subject.
 */

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

const char *msg_quote(char out[MSG_QUOTE_BUF], const char *s, size_t len)
{
	return quote_max(out, s, len, MSG_QUOTE_MAX);
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
	char q[MSG_QUOTE_BUF];

	msg_quote(q, s, len);
	if (!strcmp(label, "id"))
		return fail(err, n, "bad id '%s'", q);
	return fail(err, n, "bad %s id '%s'", label, q);
}

static int out_of_range(char *err, size_t n, const char *prefix,
			const char *name)
{
	return fail(err, n, "field '%s%s' out of range", prefix, name);
}

static int check_fields(const struct msg_field *fs, unsigned nf,
			const char *base, const char *prefix, char *err,
			size_t n);

/*
 * The rules of one field of a decoded or about-to-be-encoded struct.
 * The decoder has already checked what the JSON type implies (string
 * lengths, integer ranges of uint32_t, enum names) and calls this only
 * for the rest.
 */
static int check_field(const struct msg_field *f, const char *base,
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
		if (!len && f->opt)
			return 0;
		return uuid_okn(p, len) ? 0 : bad_id(err, n, FNAME(f), p, len);
	case K_IDS:
		len = strnlen(p, MSG_IDS_LEN + 1);
		if (!len && f->opt)
			return 0;
		return ids_okn(p, len) ? 0 : bad_id(err, n, FNAME(f), p, len);
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

static int check_fields(const struct msg_field *fs, unsigned nf,
			const char *base, const char *prefix, char *err,
			size_t n)
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
int msg_check_rules(const struct msg *m, char *err, size_t n)
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
	case MSG_CP_ENTRY:	/* a catalogue has no room for probes */
		if (m->cp[0] == '.')
			return bad_id(err, n, "cp", m->cp, strlen(m->cp));
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
	const struct msg_row *t;

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
	return msg_check_rules(m, err, n);
}

/*
 * The decoder reads a message in one pass, without building a tree.
 * The scanner (jscan.c) checks the JSON as strictly as the jansson
 * parser evc used before and notes where the value of each key a
 * message can hold lies. Only then do the rules run, on those values
 * and in the order they always ran, so a bad message is refused for
 * the same reason as before.
 */
#define STR_BUF 256		/* a string's first bytes: enough for every rule */

static struct jkeys keys;	/* key_names, for the scanner */
static uint32_t live_keys;	/* those of progress_fields, under "live" */
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void keys_init(void)
{
	jkeys_init(&keys, key_names, KEY_COUNT);
	for (unsigned i = 0; i < NFIELDS(progress_fields); i++)
		live_keys |= UINT32_C(1) << progress_fields[i].key;
}

static int wrong_type(char *err, size_t n, const char *prefix,
		      const char *name, const char *what)
{
	return fail(err, n, "field '%s%s' must be %s", prefix, name, what);
}

static const struct jval *need(const struct jobj *o, const char *prefix,
			       enum msg_key key, char *err, size_t n)
{
	if (!(o->mask >> key & 1)) {
		fail(err, n, "missing field '%s%s'", prefix, key_names[key]);
		return NULL;
	}
	return &o->slot[key];
}

/* The string of v (see jval_str); NULL after setting err. */
static const char *get_string(const struct jval *v, const char *prefix,
			      const char *name, char buf[STR_BUF], size_t *len,
			      char *err, size_t n)
{
	if (v->type != J_STRING) {
		wrong_type(err, n, prefix, name, "a string");
		return NULL;
	}
	return jval_str(v, buf, STR_BUF, len);
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

static int decode_fields(const struct jobj *o, const struct msg_field *fs,
			 unsigned nf, char *base, const char *prefix,
			 const struct msg_row *t, size_t others, char *err,
			 size_t n);

static int decode_string(const struct msg_field *f, const struct jval *v,
			 char *base, const char *prefix, char *err, size_t n)
{
	char buf[STR_BUF];
	const char *s;
	size_t len;

	if (!(s = get_string(v, prefix, FNAME(f), buf, &len, err, n)))
		return -1;
	if (f->kind == K_UUID && !uuid_okn(s, len))
		return bad_id(err, n, FNAME(f), s, len);
	if (f->kind == K_IDS && (len > (size_t)f->max || !ids_okn(s, len)))
		return bad_id(err, n, FNAME(f), s, len);
	if (f->kind == K_TEXT && len > (size_t)f->max)
		return fail(err, n, "field '%s%s' too long", prefix, FNAME(f));
	copy_str(base + f->off, s, len);
	return f->kind == K_TEXT ? check_field(f, base, prefix, err, n) : 0;
}

static int decode_enum(const struct msg_field *f, const struct jval *v,
		       char *base, const char *prefix, char *err, size_t n)
{
	char q[MSG_QUOTE_BUF], buf[STR_BUF];
	const char *s;
	size_t len;
	int i;

	if (!(s = get_string(v, prefix, FNAME(f), buf, &len, err, n)))
		return -1;
	i = len < STR_BUF ? lookupn(enums[f->kind - K_DENY].names,
				    enums[f->kind - K_DENY].count, s, len) : -1;
	if (i < 0)
		return fail(err, n, "bad %s '%s'", FNAME(f),
			    msg_quote(q, s, len));
	*(unsigned *)(base + f->off) = (unsigned)i;
	return 0;
}

static int decode_number(const struct msg_field *f, const struct jval *v,
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
static int decode_field(const struct msg_field *f, const struct jval *v,
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
	case K_IDS:
		return decode_string(f, v, base, prefix, err, n);
	case K_LIVE:
		if (v->type != J_OBJECT)
			return wrong_type(err, n, prefix, FNAME(f), "an object");
		return decode_fields(o->nest, progress_fields,
				     NFIELDS(progress_fields), base + f->off,
				     "live.", NULL, 0, err, n);
	default:
		return decode_enum(f, v, base, prefix, err, n);
	}
}

/* Whether key belongs in an object of fields fs (of type t at the top). */
static bool known_key(int key, const struct msg_field *fs, unsigned nf,
		      const struct msg_row *t)
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
static int unknown_field(const struct jobj *o, const struct msg_field *fs,
			 unsigned nf, const struct msg_row *t,
			 const char *prefix, char *err, size_t n)
{
	const struct jval *first = o->has_other ? &o->other : NULL;
	char q[MSG_QUOTE_BUF], buf[STR_BUF];
	const char *s;
	size_t len;

	for (int k = 0; k < KEY_COUNT; k++)
		if ((o->mask >> k & 1) && !known_key(k, fs, nf, t) &&
		    (!first || o->slot[k].rank < first->rank))
			first = &o->slot[k];
	if (!first)
		return fail(err, n, "unknown field");
	if (first == &o->other) {
		s = jval_str(first, buf, STR_BUF, &len);
	} else {
		s = key_names[first - o->slot];
		len = strlen(s);
	}
	return fail(err, n, "unknown field '%s%s'", prefix,
		    msg_quote(q, s, len));
}

/*
 * Decodes the fields fs of o into base; then the count of keys tells
 * whether o holds anything else: others is the number of envelope keys
 * already found.
 */
static int decode_fields(const struct jobj *o, const struct msg_field *fs,
			 unsigned nf, char *base, const char *prefix,
			 const struct msg_row *t, size_t others, char *err,
			 size_t n)
{
	unsigned absent = 0;

	for (unsigned i = 0; i < nf; i++) {
		const struct jval *v;

		if (fs[i].opt && !(o->mask >> fs[i].key & 1)) {
			absent++;	/* msg_decode() zeroed it: "" */
			continue;
		}
		v = need(o, prefix, fs[i].key, err, n);
		if (!v || decode_field(&fs[i], v, o, base, prefix, err, n))
			return -1;
	}
	if (o->nkeys != nf - absent + others)
		return unknown_field(o, fs, nf, t, prefix, err, n);
	return 0;
}

/* "v", "type", "id" and "ts": the part every message shares. */
static int decode_head(const struct jobj *o, struct msg *m, char *err,
		       size_t n)
{
	char q[MSG_QUOTE_BUF], buf[STR_BUF];
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
		return fail(err, n, "unknown type '%s'", msg_quote(q, s, len));
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
static int decode_ref(const struct jobj *o, enum msg_key key,
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
	const struct msg_row *t;
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
	return msg_check_rules(m, err, n);
}

/*
 * hot, as msg_encode and jscan: the codecs' entry points go together at
 * the head of the text section. Without it their speed hung on where
 * the linker happened to lay out the objects of lib/: bench_codec moved
 * by 5% with their order alone.
 */
__attribute__((hot))
int msg_decode(const void *buf, size_t len, struct msg *m,
	       char *err, size_t errlen)
{
	char q[JSCAN_WHY_MAX * 4 + 4];
	struct jscan_error e;
	struct jobj top, live;
	struct jval v;

	memset(m, 0, sizeof(*m));
	if (len > MSG_MAX_BYTES)
		return fail(err, errlen, "message too large: %zu bytes", len);
	if (!buf)
		return fail(err, errlen, "empty message");
	pthread_once(&keys_once, keys_init);
	jobj_init(&top, MSG_KEYS_ALL, KEY_LIVE, &live);
	jobj_init(&live, live_keys, 0, NULL);
	if (jscan(buf, len, &keys, &top, &v, &e))
		return fail(err, errlen, "bad json at byte %zu: %s", e.at,
			    quote_max(q, e.why, strlen(e.why), sizeof(e.why)));
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

/* Integers are most of what a message holds: written without snprintf. */
static void put_int(struct out *o, long long v)
{
	char tmp[NUMFMT_MAX];

	put(o, tmp, (size_t)numfmt_int(tmp, v));
}

static void put_real(struct out *o, double d)
{
	char tmp[NUMFMT_MAX];

	put(o, tmp, (size_t)numfmt_real(tmp, d));
}

static void encode_fields(struct out *o, const struct msg_field *fs,
			  unsigned nf, const char *base, bool nested)
{
	for (unsigned i = 0; i < nf; i++) {
		const struct msg_field *f = &fs[i];
		const char *p = base + f->off;

		if (f->opt && !*p)
			continue;	/* an optional string: "" is absent */
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
		case K_IDS:
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

__attribute__((hot))	/* see msg_decode */
int msg_encode(const struct msg *m, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	const struct msg_row *t;
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
