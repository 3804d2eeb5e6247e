/* audit.c: the audit trail's records: one per operator action, built, checked and coded strictly, without I/O. */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "msg_table.h"

static const char *const kind_names[AUDIT_KIND_COUNT] = {
	"panel", "cli", "console", "central", "cp",
};

static const char *const action_names[AUDIT_ACTION_COUNT] = {
	"stop", "resume", "stop-all", "resume-all", "cp-add", "cp-change",
	"cp-remove", "key-issue", "key-revoke", "key-rotate", "bad-mac",
	"login-refused", "takeover",
};

static const char *const result_names[AUDIT_RESULT_COUNT] = {
	"ok", "refused", "failed",
};

static int parse(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

const char *audit_kind_name(enum audit_kind k)
{
	return (unsigned)k < AUDIT_KIND_COUNT ? kind_names[k] : NULL;
}

const char *audit_action_name(enum audit_action a)
{
	return (unsigned)a < AUDIT_ACTION_COUNT ? action_names[a] : NULL;
}

const char *audit_result_name(enum audit_result r)
{
	return (unsigned)r < AUDIT_RESULT_COUNT ? result_names[r] : NULL;
}

int audit_kind_parse(const char *s)
{
	return parse(kind_names, AUDIT_KIND_COUNT, s);
}

int audit_action_parse(const char *s)
{
	return parse(action_names, AUDIT_ACTION_COUNT, s);
}

int audit_result_parse(const char *s)
{
	return parse(result_names, AUDIT_RESULT_COUNT, s);
}

/* s into dst[size], cut at a UTF-8 character boundary when too long. */
static void copy_cut(char *dst, size_t size, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

static void vcopy(char *dst, size_t size, const char *fmt, va_list ap)
{
	char buf[4 * AUDIT_TEXT_MAX];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	copy_cut(dst, size, buf);
}

void audit_init(struct audit_rec *r, const struct audit_actor *who,
		enum audit_action action, const char *subject, int64_t ts)
{
	memset(r, 0, sizeof(*r));
	r->ts = ts;
	r->actor = *who;
	r->action = action;
	copy_cut(r->subject, sizeof(r->subject), subject);
	r->result = AUDIT_OK;
}

void audit_result(struct audit_rec *r, enum audit_result res,
		  const char *fmt, ...)
{
	va_list ap;

	r->result = res;
	r->reason[0] = '\0';
	if (!fmt)
		return;
	va_start(ap, fmt);
	vcopy(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

void audit_detail(struct audit_rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcopy(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* The Kafka user c logs in as: the last sasl.username, or NULL. */
static const char *principal_of(const struct conf *c)
{
	const char *user = NULL;

	for (unsigned i = 0; c && i < c->nprops; i++)
		if (!strcmp(c->props[i].name, "sasl.username"))
			user = c->props[i].value;
	return user;
}

void audit_actor_local(struct audit_actor *a, enum audit_kind kind,
		       const struct conf *c)
{
	struct passwd *pw = getpwuid(getuid());
	const char *user = pw && pw->pw_name ? pw->pw_name : getenv("USER");
	const char *principal = principal_of(c);
	char host[256];

	memset(a, 0, sizeof(*a));
	a->kind = kind;
	copy_cut(a->name, sizeof(a->name), user && *user ? user : "?");
	if (gethostname(host, sizeof(host)) || !host[0])
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	copy_cut(a->host, sizeof(a->host), host);
	copy_cut(a->principal, sizeof(a->principal), principal);
}

void audit_actor_set(struct audit_actor *a, enum audit_kind kind,
		     const char *name, const char *host, const struct conf *c)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	copy_cut(a->name, sizeof(a->name), name);
	copy_cut(a->host, sizeof(a->host), host);
	copy_cut(a->principal, sizeof(a->principal), principal_of(c));
}

bool audit_limit_take(struct audit_limit *l, long long now, long *held)
{
	*held = 0;
	if (!l->window || now - l->window >= AUDIT_LIMIT_MS) {
		l->window = now ? now : 1;
		l->taken = 0;
	}
	if (l->taken >= AUDIT_LIMIT_BURST) {
		l->held++;
		return false;
	}
	l->taken++;
	*held = l->held;
	l->held = 0;
	return true;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Which subject each action takes: a CP or driver id, none, or either. */
enum subj { S_ID, S_NONE, S_ANY };

static enum subj subject_rule(enum audit_action a)
{
	switch (a) {
	case AUDIT_STOP_ALL:
	case AUDIT_RESUME_ALL:
	case AUDIT_TAKEOVER:
		return S_NONE;
	case AUDIT_BAD_MAC:
	case AUDIT_LOGIN_REFUSED:
		return S_ANY;
	default:
		return S_ID;
	}
}

static int check_actor(const struct audit_actor *a, char *err, size_t n)
{
	if (!audit_kind_name(a->kind))
		return fail(err, n, "bad actor kind");
	if (!a->name[0] || !msg_text_ok(a->name))
		return fail(err, n, "bad actor name");
	if (!a->host[0] || !msg_text_ok(a->host))
		return fail(err, n, "bad actor host");
	if (!msg_text_ok(a->principal))
		return fail(err, n, "bad actor principal");
	return 0;
}

int audit_check(const struct audit_rec *r, char *err, size_t n)
{
	enum subj rule = subject_rule(r->action);

	if (r->ts < 0)
		return fail(err, n, "bad ts");
	if (check_actor(&r->actor, err, n))
		return -1;
	if (!audit_action_name(r->action))
		return fail(err, n, "bad action");
	if (!audit_result_name(r->result))
		return fail(err, n, "bad result");
	if (rule == S_NONE && r->subject[0])
		return fail(err, n, "action '%s' takes no subject",
			    audit_action_name(r->action));
	if (rule == S_ID && !r->subject[0])
		return fail(err, n, "action '%s' needs a subject",
			    audit_action_name(r->action));
	if (r->subject[0] && !msg_name_ok(r->subject))
		return fail(err, n, "bad subject");
	if (!msg_text_ok(r->reason) || !msg_text_ok(r->detail))
		return fail(err, n, "bad reason or detail");
	if ((r->result == AUDIT_OK) != !r->reason[0])
		return fail(err, n, r->reason[0] ? "a reason for a success" :
			    "no reason for a failure");
	return 0;
}

/* Sets o[key] to the string s, unless s is "" and optional. */
static int put_str(json_t *o, const char *key, const char *s, bool opt)
{
	if (opt && !*s)
		return 0;
	return json_object_set_new(o, key, json_string(s));
}

static json_t *actor_json(const struct audit_actor *a)
{
	json_t *o = json_object();

	if (!o || put_str(o, "kind", kind_names[a->kind], false) ||
	    put_str(o, "name", a->name, false) ||
	    put_str(o, "host", a->host, false) ||
	    put_str(o, "principal", a->principal, true)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *rec_json(const struct audit_rec *r)
{
	json_t *o = json_object(), *actor = actor_json(&r->actor);

	if (!o || !actor ||
	    json_object_set_new(o, "v", json_integer(AUDIT_VERSION)) ||
	    put_str(o, "type", "audit", false) ||
	    json_object_set_new(o, "ts", json_integer(r->ts)) ||
	    json_object_set(o, "actor", actor) ||
	    put_str(o, "action", action_names[r->action], false) ||
	    put_str(o, "subject", r->subject, false) ||
	    put_str(o, "result", result_names[r->result], false) ||
	    put_str(o, "reason", r->reason, true) ||
	    put_str(o, "detail", r->detail, true)) {
		json_decref(o);
		o = NULL;
	}
	json_decref(actor);
	return o;
}

int audit_encode(const struct audit_rec *r, char *buf, size_t len)
{
	char err[80];
	json_t *o;
	size_t n;

	if (audit_check(r, err, sizeof(err)) || !(o = rec_json(r)))
		return -1;
	n = json_dumpb(o, buf, len, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (n == 0 || n >= len)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

/* The fields of a record and of its actor: name, and whether required. */
struct field {
	const char *key;
	bool req;
};

static const struct field rec_fields[] = {
	{ "v", true }, { "type", true }, { "ts", true }, { "actor", true },
	{ "action", true }, { "subject", true }, { "result", true },
	{ "reason", false }, { "detail", false },
};

static const struct field actor_fields[] = {
	{ "kind", true }, { "name", true }, { "host", true },
	{ "principal", false },
};

#define NF(a) (sizeof(a) / sizeof((a)[0]))

/* No key but the fields, every required one there; where says which object. */
static int check_keys(json_t *o, const struct field *f, size_t nf,
		      const char *where, char *err, size_t n)
{
	char q[MSG_QUOTE_BUF];
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(o, key, v) {
		for (i = 0; i < nf && strcmp(f[i].key, key); i++)
			;
		if (i == nf)
			return fail(err, n, "unknown field %s'%s'", where,
				    msg_quote(q, key, strlen(key)));
	}
	for (i = 0; i < nf; i++)
		if (f[i].req && !json_object_get(o, f[i].key))
			return fail(err, n, "missing field %s'%s'", where,
				    f[i].key);
	return 0;
}

/* The string at key (absent: ""), at most max bytes, into dst. */
static int get_str(json_t *o, const char *key, char *dst, size_t max,
		   char *err, size_t n)
{
	json_t *v = json_object_get(o, key);
	size_t len;

	dst[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(err, n, "field '%s' is not a string", key);
	len = json_string_length(v);
	if (len > max || memchr(json_string_value(v), '\0', len))
		return fail(err, n, "bad field '%s'", key);
	memcpy(dst, json_string_value(v), len);
	dst[len] = '\0';
	return 0;
}

/* The name at key, one of names; its index in *out. */
static int get_enum(json_t *o, const char *key, int (*parse_fn)(const char *),
		    int *out, char *err, size_t n)
{
	char s[32], q[MSG_QUOTE_BUF];

	if (get_str(o, key, s, sizeof(s) - 1, err, n))
		return -1;
	if ((*out = parse_fn(s)) < 0)
		return fail(err, n, "bad %s '%s'", key,
			    msg_quote(q, s, strlen(s)));
	return 0;
}

static int decode_actor(json_t *o, struct audit_actor *a, char *err,
			size_t n)
{
	int kind;

	if (!json_is_object(o))
		return fail(err, n, "field 'actor' is not an object");
	if (check_keys(o, actor_fields, NF(actor_fields), "actor.", err, n) ||
	    get_enum(o, "kind", audit_kind_parse, &kind, err, n) ||
	    get_str(o, "name", a->name, AUDIT_TEXT_MAX, err, n) ||
	    get_str(o, "host", a->host, AUDIT_TEXT_MAX, err, n) ||
	    get_str(o, "principal", a->principal, AUDIT_TEXT_MAX, err, n))
		return -1;
	a->kind = (enum audit_kind)kind;
	return 0;
}

static int decode_obj(json_t *o, struct audit_rec *r, char *err, size_t n)
{
	json_t *v = json_object_get(o, "v"), *ts = json_object_get(o, "ts");
	char type[8];
	int action, result;

	if (check_keys(o, rec_fields, NF(rec_fields), "", err, n))
		return -1;
	if (!json_is_integer(v) || json_integer_value(v) != AUDIT_VERSION)
		return fail(err, n, "unsupported version");
	if (get_str(o, "type", type, sizeof(type) - 1, err, n) ||
	    strcmp(type, "audit"))
		return fail(err, n, "not an audit record");
	if (!json_is_integer(ts) || json_integer_value(ts) < 0)
		return fail(err, n, "bad field 'ts'");
	r->ts = json_integer_value(ts);
	if (decode_actor(json_object_get(o, "actor"), &r->actor, err, n) ||
	    get_enum(o, "action", audit_action_parse, &action, err, n) ||
	    get_enum(o, "result", audit_result_parse, &result, err, n) ||
	    get_str(o, "subject", r->subject, MSG_NAME_MAX, err, n) ||
	    get_str(o, "reason", r->reason, AUDIT_TEXT_MAX, err, n) ||
	    get_str(o, "detail", r->detail, AUDIT_TEXT_MAX, err, n))
		return -1;
	r->action = (enum audit_action)action;
	r->result = (enum audit_result)result;
	return audit_check(r, err, n);
}

int audit_decode(const void *buf, size_t len, struct audit_rec *r,
		 char *err, size_t n)
{
	char q[MSG_QUOTE_BUF];
	json_error_t je;
	json_t *o;
	int ret;

	memset(r, 0, sizeof(*r));
	if (len > AUDIT_MAX_BYTES)
		return fail(err, n, "record of %zu bytes, more than %d", len,
			    AUDIT_MAX_BYTES);
	if (len && memchr(buf, '\0', len))
		return fail(err, n, "a NUL byte in the record");
	/* jansson's reason may quote the bytes read: quoted again here. */
	if (!(o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)))
		return fail(err, n, "not JSON: %s",
			    msg_quote(q, je.text, strlen(je.text)));
	ret = json_is_object(o) ? decode_obj(o, r, err, n) :
		fail(err, n, "not a JSON object");
	json_decref(o);
	if (ret)
		memset(r, 0, sizeof(*r));
	return ret;
}

/* ms since epoch as local ISO 8601 with the offset: 2026-12-07T22:30:05+01:00. */
static void iso_local(int64_t ms, char *out, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char z[8];

	if (!localtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, n, "%lld", (long long)ms);
		return;
	}
	strftime(z, sizeof(z), "%z", &tm);	/* +0100 */
	if (strlen(z) == 5)
		snprintf(out + strlen(out), n - strlen(out), "%.3s:%s", z, z + 3);
}

int audit_format(const struct audit_rec *r, char *buf, size_t len)
{
	const struct audit_actor *a = &r->actor;
	char when[48];
	int n;

	iso_local(r->ts, when, sizeof(when));
	n = snprintf(buf, len, "%s %s:%s%s%s%s %s %s %s %s%s%s%s%s", when,
		     kind_names[a->kind], a->name, a->principal[0] ? "[" : "",
		     a->principal, a->principal[0] ? "]" : "", a->host,
		     action_names[r->action], r->subject[0] ? r->subject : "-",
		     result_names[r->result], r->reason[0] ? ": " : "",
		     r->reason, r->detail[0] ? "; " : "", r->detail);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* "30m", "2d": a whole number of s, m, h, d or w back from now. */
static int span_back(const char *s, int64_t now, int64_t *ms)
{
	static const struct { char unit; int64_t ms; } units[] = {
		{ 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 },
		{ 'd', 86400000 }, { 'w', 7 * 86400000LL },
	};
	char *end;
	long long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0')
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (units[i].unit == end[0] && v <= now / units[i].ms) {
			*ms = now - v * units[i].ms;
			return 0;
		}
	return -1;
}

/* Two digits at s: their value, or -1. */
static int two_digits(const char *s)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* The zone after an ISO 8601 time: "" (local), Z, +HH:MM, +HHMM, +HH. */
static int zone(const char *z, bool *local, long *off_s)
{
	size_t n = strlen(z);
	int h, m = 0;

	*local = !*z;
	*off_s = 0;
	if (!*z || !strcmp(z, "Z"))
		return 0;
	if ((z[0] != '+' && z[0] != '-') || (h = two_digits(z + 1)) < 0)
		return -1;
	if (n == 5)
		m = two_digits(z + 3);
	else if (n == 6 && z[3] == ':')
		m = two_digits(z + 4);
	else if (n != 3)
		return -1;
	if (h > 23 || m < 0 || m > 59)
		return -1;
	*off_s = (h * 3600L + m * 60L) * (z[0] == '-' ? -1 : 1);
	return 0;
}

/* Whether s begins as pattern says: '#' a digit, anything else itself. */
static bool shaped(const char *s, const char *pattern)
{
	for (; *pattern; s++, pattern++)
		if (*pattern == '#' ? !isdigit((unsigned char)*s) : *s != *pattern)
			return false;
	return true;
}

/* 2026-12-07[THH:MM[:SS]][zone], each number with its exact digits. */
static int iso_time(const char *s, int64_t *ms)
{
	struct tm tm = { 0 };
	const char *p;
	bool local;
	long off;
	time_t t;
	int mday;

	if (!shaped(s, "####-##-##") || !(p = strptime(s, "%Y-%m-%d", &tm)) ||
	    p - s != 10)
		return -1;
	if (*p == 'T' || *p == ' ') {
		if (!shaped(p + 1, "##:##") || !strptime(p + 1, "%H:%M", &tm))
			return -1;
		p += 6;
		if (*p == ':' && (!shaped(p + 1, "##") ||
				  !strptime(p + 1, "%S", &tm) || tm.tm_sec > 59))
			return -1;
		p += *p == ':' ? 3 : 0;
	}
	if (zone(p, &local, &off))
		return -1;
	tm.tm_isdst = -1;
	mday = tm.tm_mday;
	t = local ? mktime(&tm) : timegm(&tm) - off;
	/* Both normalise tm: a day that moved was no day (02-31). */
	if (t == (time_t)-1 || t < 0 || tm.tm_mday != mday)
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}

int audit_since_parse(const char *s, int64_t now, int64_t *ms)
{
	if (!s || !*s)
		return -1;
	if (!span_back(s, now, ms))
		return 0;
	return iso_time(s, ms);
}
