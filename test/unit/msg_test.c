/* msg_test.c: unit tests of lib/msg.c: round trips, strict decoding, cents. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/msg.h"
#include "test/unit/check.h"

static long unprintable;	/* reasons holding bytes a terminal should not get */

/* msg_decode, counting reasons that are not plain printable ASCII. */
static int decode(const void *buf, size_t len, struct msg *m, char *err,
		  size_t errlen)
{
	int rc;

	err[0] = '\0';
	rc = msg_decode(buf, len, m, err, errlen);
	for (const char *p = err; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			unprintable++;
	if (rc && !err[0])
		unprintable++;	/* a rejection must say why */
	return rc;
}

static const char SESSION[] = "5e55105e55105e55105e55105e55105e";
static const char REQUEST[] = "4e0e57aa4e0e57aa4e0e57aa4e0e57aa";

/* A valid message of type t with every field set to something non-zero. */
static void sample(struct msg *m, enum msg_type t)
{
	msg_init(m, t);
	strcpy(m->id, "0123456789abcdef0123456789abcdef");
	m->ts = 1700000000123;
	strcpy(m->cp, "CP001");
	switch (t) {
	case MSG_REGISTER:
		strcpy(m->u.reg.location, "Calle Mayor 1, Alicante");
		m->u.reg.engine_ok = true;
		break;
	case MSG_REGISTER_ACK:
		m->u.ack.accepted = true;
		m->u.ack.price = 0.35;
		strcpy(m->u.ack.location, "Calle Mayor 1, Alicante");
		break;
	case MSG_AUTH_REQUEST:
		strcpy(m->driver, "D-42");
		m->u.req.target_wh = 10000;
		m->u.req.target_s = 600;
		m->u.req.timeout_ms = 10000;
		break;
	case MSG_AUTH_RESPONSE:
		strcpy(m->driver, "D-42");
		strcpy(m->session, SESSION);
		strcpy(m->u.resp.request, REQUEST);
		m->u.resp.authorized = true;
		m->u.resp.price = 0.35;
		break;
	case MSG_PROGRESS:
	case MSG_TELEMETRY:
		strcpy(m->driver, "D-42");
		strcpy(m->session, SESSION);
		m->u.prog.seq = 3;
		m->u.prog.kw = 22;
		m->u.prog.wh = 1834;
		m->u.prog.cents = msg_cents(1834, 0.35);
		break;
	case MSG_TICKET:
	case MSG_SUPPLY_END:
		strcpy(m->driver, "D-42");
		strcpy(m->session, SESSION);
		m->u.ticket.seq = 11;
		m->u.ticket.wh = 10000;
		m->u.ticket.cents = 350;
		m->u.ticket.price = 0.35;
		m->u.ticket.started = 1700000000000;
		m->u.ticket.ended = 1700000300000;
		m->u.ticket.reason = END_UNPLUGGED;
		break;
	case MSG_COMMAND:
		strcpy(m->driver, "D-42");
		strcpy(m->session, SESSION);
		m->u.cmd.cmd = CMD_START;
		m->u.cmd.target_wh = 10000;
		m->u.cmd.target_s = 600;
		m->u.cmd.price = 0.35;
		break;
	case MSG_HEALTH:
		m->u.health.engine_ok = true;
		m->u.health.seq = 7;
		break;
	case MSG_NOTICE:
		strcpy(m->driver, "D-42");
		strcpy(m->session, SESSION);
		m->u.notice.state = CP_BROKEN;
		strcpy(m->u.notice.text, "the CP broke down during the supply");
		break;
	case MSG_CONTROL:
		m->u.ctl.cmd = CMD_STOP;
		break;
	case MSG_CP_STATE:
		strcpy(m->driver, "D-42");
		strcpy(m->session, SESSION);
		m->u.state.state = CP_SUPPLYING;
		strcpy(m->u.state.location, "Caf\xc3\xa9 \"El Enchufe\" \\ 2\xc2\xba");
		m->u.state.price = 0.35;
		m->u.state.live.seq = 3;
		m->u.state.live.kw = 7.4;
		m->u.state.live.wh = 1834;
		m->u.state.live.cents = 64;
		m->u.state.since = 1700000000000;
		break;
	case MSG_CP_ENTRY:
		strcpy(m->u.entry.location, "Calle Mayor 1, Alicante");
		m->u.entry.price = 0.35;
		m->u.entry.power_kw = 7.4;
		break;
	default:
		break;
	}
}

/* Encodes, decodes and encodes again: same struct, same bytes. */
static int round_trip(const struct msg *m)
{
	char a[2048], b[2048], err[256];
	struct msg d;
	int n, k;

	n = msg_encode(m, a, sizeof(a));
	if (n < 0 || decode(a, (size_t)n, &d, err, sizeof(err)))
		return 0;
	if (memcmp(m, &d, sizeof(d)))
		return 0;
	k = msg_encode(&d, b, sizeof(b));
	return k == n && !memcmp(a, b, (size_t)n);
}

static void test_round_trips(void)
{
	struct msg m;

	for (int t = 0; t < MSG_TYPE_COUNT; t++) {
		sample(&m, (enum msg_type)t);
		check(round_trip(&m), "round trip of %s", msg_type_name(t));
	}
	sample(&m, MSG_TELEMETRY);
	memset(m.driver, 0, sizeof(m.driver));
	check(round_trip(&m), "round trip of telemetry without driver");
	sample(&m, MSG_REGISTER_ACK);
	m.u.ack.accepted = false;
	m.u.ack.reason = DENY_UNKNOWN_CP;
	m.u.ack.price = 0;
	check(round_trip(&m), "round trip of a refused register_ack");
	sample(&m, MSG_AUTH_RESPONSE);
	m.u.resp.authorized = false;
	m.u.resp.reason = DENY_OUT_OF_ORDER;
	memset(m.session, 0, sizeof(m.session));
	check(round_trip(&m), "round trip of a denied auth_response");
	sample(&m, MSG_AUTH_REQUEST);
	m.u.req.cancel = true;
	strcpy(m.session, SESSION);
	check(round_trip(&m), "round trip of a cancel auth_request");
	sample(&m, MSG_CONTROL);
	memset(m.cp, 0, sizeof(m.cp));
	m.u.ctl.all = true;
	m.u.ctl.cmd = CMD_RESUME;
	check(round_trip(&m), "round trip of control resume all");
	sample(&m, MSG_COMMAND);
	m.u.cmd.cmd = CMD_END;
	memset(m.driver, 0, sizeof(m.driver));
	check(round_trip(&m), "round trip of command end");
}

/* cp_state's request and granted: optional, so that older records read. */
static void test_optional_fields(void)
{
#define R1 "4e0e57aa4e0e57aa4e0e57aa4e0e57aa"
#define R2 "5e55105e55105e55105e55105e55105e"
	static const char *const bad[] = {
		"", "x", R1 " ", R1 "  " R2, R1 " " R2 " " R1 " " R2 " " R1,
		"4E0E57AA4E0E57AA4E0E57AA4E0E57AA", R1 "," R2,
	};
	char buf[1024], err[256], json[2048];
	struct msg m, d;
	int n, refused = 0;

	sample(&m, MSG_CP_STATE);
	strcpy(m.u.state.request, R1);
	strcpy(m.u.state.granted, R1 " " R2 " " R1 " " R2);
	check(round_trip(&m), "round trip of cp_state with its request and granted ids");
	sample(&m, MSG_CP_STATE);
	n = msg_encode(&m, buf, sizeof(buf));
	check(n > 0 && !strstr(buf, "request") && !strstr(buf, "granted"),
	      "empty optional fields are not written");
	check(n > 0 && !decode(buf, (size_t)n, &d, err, sizeof(err)) &&
	      !d.u.state.request[0] && !d.u.state.granted[0],
	      "a cp_state without them (an older Central's) reads, both empty");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf[n - 1] = '\0';
		snprintf(json, sizeof(json), "%s,\"granted\":\"%s\"}", buf,
			 bad[i]);
		refused += decode(json, strlen(json), &d, err, sizeof(err)) &&
			   !strncmp(err, "bad granted id", 14);
	}
	check(refused == (int)(sizeof(bad) / sizeof(bad[0])),
	      "granted holds 1 to 4 ids, one space between two, or it is refused");
	snprintf(json, sizeof(json), "%s,\"request\":\"nope\"}", buf);
	check(decode(json, strlen(json), &d, err, sizeof(err)) &&
	      !strcmp(err, "bad request id 'nope'"),
	      "a bad request id in cp_state is refused");
}

static void test_round_trip_values(void)
{
	static const double reals[] = {
		0, 0.1, 0.3, 1.0 / 3, 7.4, 22, 999.999999, 1000, 5e-324, 1e-300,
	};
	struct msg m;
	int ok = 1;

	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		sample(&m, MSG_TICKET);
		m.u.ticket.price = reals[i];
		ok &= round_trip(&m);
	}
	check(ok, "prices round trip exactly, tiny and whole ones too");
	sample(&m, MSG_TICKET);
	m.u.ticket.seq = UINT32_MAX;
	m.u.ticket.wh = MSG_WH_MAX;
	m.u.ticket.cents = MSG_CENTS_MAX;
	m.u.ticket.price = MSG_PRICE_MAX;
	m.u.ticket.ended = INT64_MAX;
	check(round_trip(&m), "largest figures round trip");
	sample(&m, MSG_NOTICE);
	memset(m.u.notice.text, 'x', MSG_TEXT_MAX);
	m.u.notice.text[MSG_TEXT_MAX] = '\0';
	check(round_trip(&m), "a text of MSG_TEXT_MAX bytes round trips");
	sample(&m, MSG_REGISTER);
	strcpy(m.cp, "abcdefghijklmnopqrstuvwxyz_.-012");
	memset(m.u.reg.location, 0, sizeof(m.u.reg.location));
	strcpy(m.u.reg.location, "\xe2\x98\x95 \xf0\x9f\x94\x8c \\\"\\ /");
	check(round_trip(&m), "32-byte id and UTF-8, quotes, backslashes round trip");
	sample(&m, MSG_REGISTER);
	memset(m.u.reg.location, 0, sizeof(m.u.reg.location));
	check(round_trip(&m), "an empty location round trips");
}

static void test_golden(void)
{
	struct msg m;
	char buf[512];

	sample(&m, MSG_HEALTH);
	msg_encode(&m, buf, sizeof(buf));
	check(!strcmp(buf, "{\"v\":1,\"type\":\"health\",\"id\":\"0123456789abcdef0123456789abcdef\","
		     "\"ts\":1700000000123,\"cp\":\"CP001\",\"engine_ok\":true,\"seq\":7}"),
	      "health encodes as documented: %s", buf);
	sample(&m, MSG_TELEMETRY);
	msg_encode(&m, buf, sizeof(buf));
	check(strstr(buf, ",\"cp\":\"CP001\",\"driver\":\"D-42\",\"session\":\"5e55") &&
	      strstr(buf, "\"seq\":3,\"kw\":22,\"wh\":1834,\"cents\":64}"),
	      "telemetry encodes compactly, whole kw as an integer: %s", buf);
	sample(&m, MSG_CP_STATE);
	msg_encode(&m, buf, sizeof(buf));
	check(strstr(buf, "\"price\":0.35,\"live\":{\"seq\":3,\"kw\":7.4,") != NULL,
	      "cp_state nests live, prices in shortest form: %s", buf);
	sample(&m, MSG_CP_ENTRY);
	msg_encode(&m, buf, sizeof(buf));
	check(!strcmp(buf, "{\"v\":1,\"type\":\"cp_entry\",\"id\":\"0123456789abcdef0123456789abcdef\","
		     "\"ts\":1700000000123,\"cp\":\"CP001\",\"location\":\"Calle Mayor 1, Alicante\","
		     "\"price\":0.35,\"power_kw\":7.4}"),
	      "cp_entry encodes as documented: %s", buf);
}

static void test_encode_limits(void)
{
	char buf[1024], small[1024];
	struct msg m;
	int n, ok = 1;

	sample(&m, MSG_CP_STATE);
	n = msg_encode(&m, buf, sizeof(buf));
	for (int len = 0; len <= n; len++)
		ok &= msg_encode(&m, small, (size_t)len) == -1;
	check(ok, "encode fails into every buffer shorter than length + 1");
	check(msg_encode(&m, small, (size_t)n + 1) == n && small[n] == '\0' &&
	      !memcmp(small, buf, (size_t)n), "encode fits length + 1 and ends with NUL");
}

static void refuse(const struct msg *m, const char *what)
{
	char buf[1024];

	check(msg_encode(m, buf, sizeof(buf)) == -1, "encode refuses %s", what);
}

/* Each mutation makes a valid sample invalid: the encoder must refuse it. */
static void test_encode_rejects_values(void)
{
	struct msg m;

	sample(&m, MSG_HEALTH), strcpy(m.cp, "CP 1");
	refuse(&m, "a cp id with a space");
	sample(&m, MSG_HEALTH), m.cp[0] = '\0';
	refuse(&m, "an empty cp where required");
	sample(&m, MSG_HEALTH), strcpy(m.driver, "D1");
	refuse(&m, "a driver where the type has none");
	sample(&m, MSG_REGISTER), strcpy(m.session, SESSION);
	refuse(&m, "a session where the type has none");
	sample(&m, MSG_HEALTH), memset(m.cp, 'A', sizeof(m.cp));
	refuse(&m, "an unterminated cp");
	sample(&m, MSG_HEALTH), memcpy(m.id, "ABCDEF", 6);
	refuse(&m, "an uppercase id");
	sample(&m, MSG_HEALTH), m.ts = 0;
	refuse(&m, "ts 0");
	sample(&m, MSG_HEALTH), m.type = MSG_TYPE_COUNT;
	refuse(&m, "a type out of range");
	sample(&m, MSG_TICKET), m.u.ticket.price = NAN;
	refuse(&m, "a NaN price");
	sample(&m, MSG_TICKET), m.u.ticket.price = INFINITY;
	refuse(&m, "an infinite price");
	sample(&m, MSG_TICKET), m.u.ticket.price = -0.01;
	refuse(&m, "a negative price");
	sample(&m, MSG_TICKET), m.u.ticket.price = 1000.5;
	refuse(&m, "a price over MSG_PRICE_MAX");
	sample(&m, MSG_TICKET), m.u.ticket.wh = -1;
	refuse(&m, "negative energy");
	sample(&m, MSG_TICKET), m.u.ticket.wh = MSG_WH_MAX + 1;
	refuse(&m, "energy over MSG_WH_MAX");
	sample(&m, MSG_TICKET), m.u.ticket.cents = -1;
	refuse(&m, "negative cents");
	sample(&m, MSG_TICKET), m.u.ticket.reason = END_COUNT;
	refuse(&m, "an end reason out of range");
	sample(&m, MSG_NOTICE), m.u.notice.state = (enum cp_state)-1;
	refuse(&m, "a state out of range");
	sample(&m, MSG_NOTICE), strcpy(m.u.notice.text, "\x1b[2J");
	refuse(&m, "text with an escape character");
	sample(&m, MSG_NOTICE), strcpy(m.u.notice.text, "a\xc2\x9b" "b");
	refuse(&m, "text with a C1 control");
	sample(&m, MSG_NOTICE), strcpy(m.u.notice.text, "caf\xe9");
	refuse(&m, "text that is not UTF-8");
	sample(&m, MSG_NOTICE), strcpy(m.u.notice.text, "\xc0\xaf");
	refuse(&m, "overlong UTF-8");
	sample(&m, MSG_NOTICE), strcpy(m.u.notice.text, "\xed\xa0\x80");
	refuse(&m, "a UTF-8 surrogate");
	sample(&m, MSG_NOTICE), strcpy(m.u.notice.text, "ab\xe2\x98");
	refuse(&m, "truncated UTF-8");
	sample(&m, MSG_NOTICE), memset(m.u.notice.text, 'x', sizeof(m.u.notice.text));
	refuse(&m, "an unterminated text");
}

static void test_encode_rejects_rules(void)
{
	struct msg m;

	sample(&m, MSG_CP_STATE), m.u.state.live.wh = -5;
	refuse(&m, "negative live energy");
	sample(&m, MSG_CP_STATE), m.u.state.live.kw = NAN;
	refuse(&m, "NaN live kw");
	sample(&m, MSG_AUTH_RESPONSE), strcpy(m.u.resp.request, "nope");
	refuse(&m, "a bad request id");
	sample(&m, MSG_AUTH_RESPONSE), m.session[0] = '\0';
	refuse(&m, "authorized without session");
	sample(&m, MSG_AUTH_RESPONSE), m.u.resp.reason = DENY_BUSY;
	refuse(&m, "authorized with a reason");
	sample(&m, MSG_REGISTER_ACK), m.u.ack.accepted = false;
	refuse(&m, "a refusal without reason");
	sample(&m, MSG_AUTH_REQUEST), m.u.req.cancel = true;
	refuse(&m, "cancel without session");
	sample(&m, MSG_AUTH_REQUEST), strcpy(m.session, SESSION);
	refuse(&m, "a session without cancel");
	sample(&m, MSG_COMMAND), m.driver[0] = '\0';
	refuse(&m, "start without driver");
	sample(&m, MSG_COMMAND), m.session[0] = '\0';
	refuse(&m, "start without session");
	sample(&m, MSG_CONTROL), m.u.ctl.cmd = CMD_START;
	refuse(&m, "control with cmd start");
	sample(&m, MSG_CONTROL), m.u.ctl.all = true;
	refuse(&m, "control for all with a cp");
	sample(&m, MSG_CONTROL), m.cp[0] = '\0';
	refuse(&m, "control for no cp");
	sample(&m, MSG_CP_ENTRY), strcpy(m.cp, ".probe");
	refuse(&m, "a catalogue entry for Central's probes");
	sample(&m, MSG_CP_ENTRY), m.u.entry.price = -0.01;
	refuse(&m, "a catalogue entry with a negative price");
	sample(&m, MSG_CP_ENTRY), m.u.entry.price = 1000.01;
	refuse(&m, "a catalogue entry with a price over MSG_PRICE_MAX");
	sample(&m, MSG_CP_ENTRY), m.u.entry.power_kw = MSG_KW_MAX * 2;
	refuse(&m, "a catalogue entry with a power over MSG_KW_MAX");
}

/*
 * The encoding of m with key set to value (JSON text), or removed when
 * value is NULL; "live.kw" reaches into the nested object. Caller frees.
 */
static char *edit(const struct msg *m, const char *key, const char *value)
{
	char buf[2048];
	json_t *o, *target;
	const char *dot = strchr(key, '.');
	char *s;

	if (msg_encode(m, buf, sizeof(buf)) < 0)
		return NULL;
	o = json_loads(buf, 0, NULL);
	target = dot ? json_object_get(o, "live") : o;
	key = dot ? dot + 1 : key;
	if (value)
		json_object_set_new(target, key, json_loads(value, JSON_DECODE_ANY, NULL));
	else
		json_object_del(target, key);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/*
 * Text replacement for what jansson itself would not write (NaN, 1e400);
 * frees s.
 */
static char *replace(char *s, const char *from, const char *to)
{
	const char *at = s ? strstr(s, from) : NULL;
	char *r = NULL;

	if (at) {
		r = malloc(strlen(s) + strlen(to) + 1);
		sprintf(r, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	}
	free(s);
	return r;
}

/* Decoding text must fail with a reason containing want. */
static void reject_len(const char *title, const char *text, size_t len,
		       const char *want)
{
	char err[256];
	struct msg m;
	int rc;

	if (!text) {
		check(0, "%s (test setup failed)", title);
		return;
	}
	rc = decode(text, len, &m, err, sizeof(err));
	check(rc == -1 && strstr(err, want), "rejects %s: %s", title, err);
}

static void reject(const char *title, char *text, const char *want)
{
	reject_len(title, text, text ? strlen(text) : 0, want);
	free(text);
}

static void accept(const char *title, char *text)
{
	char err[256];
	struct msg m;

	if (!check(text && !decode(text, strlen(text), &m, err, sizeof(err)),
		   "accepts %s", title))
		printf("# %s\n", text ? err : "test setup failed");
	free(text);
}

/* The keys a sample may lose and stay valid. */
static bool optional(enum msg_type t, const char *key)
{
	if (!strcmp(key, "driver"))
		return t == MSG_TELEMETRY || t == MSG_SUPPLY_END || t == MSG_CP_STATE;
	if (!strcmp(key, "session"))
		return t == MSG_NOTICE || t == MSG_CP_STATE;
	return false;
}

/* Values of the wrong JSON type for a value like v. */
static const char *const *wrong_values(const json_t *v)
{
	static const char *const for_bool[] = { "1", "\"true\"", "null", NULL };
	static const char *const for_number[] = { "\"1\"", "true", "null", "[]", NULL };
	static const char *const for_string[] = { "5", "null", "[]", "{}", "true", NULL };
	static const char *const for_object[] = { "[]", "5", "\"x\"", NULL };

	if (json_is_boolean(v))
		return for_bool;
	if (json_is_number(v))
		return for_number;
	if (json_is_string(v))
		return for_string;
	return for_object;
}

/* For every key of one object of a sample: missing, and wrong types. */
static void test_keys(const struct msg *m, json_t *o, const char *prefix)
{
	const char *tn = msg_type_name(m->type), *key;
	char name[64], want[96];
	json_t *v;

	json_object_foreach(o, key, v) {
		const char *const *bad = wrong_values(v);
		int ok = 1;

		snprintf(name, sizeof(name), "%s%s", prefix, key);
		if (json_is_object(v))
			test_keys(m, v, "live.");
		if (optional(m->type, name)) {
			snprintf(want, sizeof(want), "%s without '%s'", tn, name);
			accept(want, edit(m, name, NULL));
		} else {
			snprintf(want, sizeof(want), "missing field '%s'", name);
			reject(tn, edit(m, name, NULL), want);
		}
		snprintf(want, sizeof(want), "field '%s' must be", name);
		for (int i = 0; bad[i]; i++) {
			char err[256], *text = edit(m, name, bad[i]);
			struct msg d;

			ok &= text && decode(text, strlen(text), &d, err, sizeof(err)) &&
			      strstr(err, want);
			free(text);
		}
		check(ok, "%s: wrong JSON types for '%s' rejected", tn, name);
	}
}

static void test_fields(void)
{
	char buf[2048];
	struct msg m;

	for (int t = 0; t < MSG_TYPE_COUNT; t++) {
		json_t *o;

		sample(&m, (enum msg_type)t);
		msg_encode(&m, buf, sizeof(buf));
		o = json_loads(buf, 0, NULL);
		test_keys(&m, o, "");
		json_decref(o);
		reject(msg_type_name(t), edit(&m, "foo", "1"), "unknown field 'foo'");
		if (t == MSG_REGISTER || t == MSG_HEALTH || t == MSG_CONTROL)
			reject("a driver where the type has none",
			       edit(&m, "driver", "\"D1\""), "unknown field 'driver'");
	}
	sample(&m, MSG_CP_STATE);
	reject("an unknown nested field", edit(&m, "live.extra", "0"),
	       "unknown field 'live.extra'");
}

static void test_envelope(void)
{
	struct msg m;

	sample(&m, MSG_HEALTH);
	reject("version 2", edit(&m, "v", "2"), "unsupported version 2");
	reject("version 0", edit(&m, "v", "0"), "unsupported version 0");
	reject("version 1.0", edit(&m, "v", "1.0"), "field 'v' must be an integer");
	reject("an unknown type", edit(&m, "type", "\"heath\""), "unknown type 'heath'");
	reject("an empty type", edit(&m, "type", "\"\""), "unknown type ''");
	reject("a type in capitals", edit(&m, "type", "\"HEALTH\""), "unknown type");
	reject("ts 0", edit(&m, "ts", "0"), "field 'ts' out of range");
	reject("a negative ts", edit(&m, "ts", "-5"), "field 'ts' out of range");
	reject("a ts in seconds with a fraction", edit(&m, "ts", "1700000000.5"),
	       "field 'ts' must be an integer");
	reject("an uppercase id", edit(&m, "id", "\"0123456789ABCDEF0123456789ABCDEF\""),
	       "bad id '0123456789ABCDEF0123456789ABCDEF'");
	reject("an id of 31 hex", edit(&m, "id", "\"0123456789abcdef0123456789abcde\""),
	       "bad id");
	reject("an id of 33 hex", edit(&m, "id", "\"0123456789abcdef0123456789abcdef0\""),
	       "bad id");
	reject("an id with a dash", edit(&m, "id", "\"01234567-89ab-cdef-0123-456789abcdef\""),
	       "bad id");
	reject("an empty id", edit(&m, "id", "\"\""), "bad id ''");
}

/*
 * Every byte value in an id, a session and a CP id, against the rules
 * written out plainly: the decoder checks ids with a lookup table.
 */
static bool plain_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool plain_name(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Decodes the encoding of m with byte c written at offset at of value. */
static bool takes_byte(const struct msg *m, const char *value, size_t at,
		       int c)
{
	char buf[2048], err[256];
	struct msg out;
	char *p;
	int len = msg_encode(m, buf, sizeof(buf));

	if (len < 0 || !(p = strstr(buf, value)))
		return false;
	p[at] = (char)c;
	return !decode(buf, (size_t)len, &out, err, sizeof(err));
}

static void test_id_bytes(void)
{
	int wrong_id = 0, wrong_session = 0, wrong_cp = 0, wrong_name = 0;
	char name[4] = "a?b";
	struct msg m, t;

	sample(&m, MSG_HEALTH);
	sample(&t, MSG_TELEMETRY);
	for (int c = 1; c < 256; c++) {
		wrong_id += takes_byte(&m, m.id, 5, c) != plain_hex(c);
		wrong_session += takes_byte(&t, SESSION, 31, c) != plain_hex(c);
		wrong_cp += takes_byte(&t, "\"CP001\"", 3, c) != plain_name(c);
		name[1] = (char)c;
		wrong_name += msg_name_ok(name) != plain_name(c);
	}
	check(!wrong_id && !wrong_session,
	      "ids and sessions: exactly 0-9 and a-f taken, of 255 byte values "
	      "(%d and %d wrong)", wrong_id, wrong_session);
	check(!wrong_cp && !wrong_name,
	      "CP ids and names: exactly letters, digits, '_', '.', '-' taken, "
	      "of 255 byte values (%d and %d wrong)", wrong_cp, wrong_name);
}

static void test_ids(void)
{
	struct msg m;

	sample(&m, MSG_AUTH_REQUEST);
	reject("a cp id with a space", edit(&m, "cp", "\"x y\""), "bad cp id 'x y'");
	reject("an empty cp id", edit(&m, "cp", "\"\""), "bad cp id ''");
	reject("a cp id of 33 characters",
	       edit(&m, "cp", "\"abcdefghijklmnopqrstuvwxyz0123456\""), "bad cp id");
	reject("a cp id in unicode", edit(&m, "cp", "\"CP\\u00e9\""),
	       "bad cp id 'CP\\xc3\\xa9'");
	reject("a cp id with a slash", edit(&m, "cp", "\"a/b\""), "bad cp id 'a/b'");
	reject("a cp id with a quote", edit(&m, "cp", "\"a'b\""), "bad cp id");
	reject("a cp id with a newline", edit(&m, "cp", "\"a\\nb\""), "bad cp id 'a\\x0ab'");
	reject("a driver id with a space", edit(&m, "driver", "\" D1\""),
	       "bad driver id ' D1'");
	reject("a driver id with an escape", edit(&m, "driver", "\"\\u001b[31m\""),
	       "bad driver id '\\x1b[31m'");
	sample(&m, MSG_TELEMETRY);
	reject("an uppercase session", edit(&m, "session", "\"5E55105E55105E55105E55105E55105E\""),
	       "bad session id");
	reject("a short session", edit(&m, "session", "\"5e55\""), "bad session id '5e55'");
	reject("a non-hex session", edit(&m, "session", "\"5e55105e55105e55105e55105e55105g\""),
	       "bad session id");
	sample(&m, MSG_AUTH_RESPONSE);
	reject("a bad request id", edit(&m, "request", "\"r1\""), "bad request id 'r1'");
	check(msg_name_ok("CP001") && msg_name_ok("a.b-c_D") && msg_name_ok("x"),
	      "msg_name_ok takes letters, digits, dot, dash, underscore");
	check(!msg_name_ok("") && !msg_name_ok("a b") && !msg_name_ok("*") &&
	      !msg_name_ok("abcdefghijklmnopqrstuvwxyz0123456") && !msg_name_ok(NULL) &&
	      !msg_name_ok("\xc3\xa9"), "msg_name_ok refuses empty, spaces, *, 33 bytes, NULL, UTF-8");
	check(msg_name_ok("abcdefghijklmnopqrstuvwxyz012345"), "msg_name_ok takes 32 bytes");
	check(msg_cp_id_ok("CP.001") && !msg_cp_id_ok(".probe") &&
	      !msg_cp_id_ok(".x") && !msg_cp_id_ok("a b") && !msg_cp_id_ok(NULL),
	      "msg_cp_id_ok: a valid id, not beginning with the probes' dot");
}

static void test_strings(void)
{
	char long_text[MSG_TEXT_MAX + 8], buf[512];
	struct msg m;
	int n;

	sample(&m, MSG_REGISTER);
	snprintf(long_text, sizeof(long_text), "\"%0*d\"", MSG_TEXT_MAX + 1, 0);
	reject("a location of 129 bytes", edit(&m, "location", long_text),
	       "field 'location' too long");
	snprintf(long_text, sizeof(long_text), "\"%0*d\"", MSG_TEXT_MAX, 0);
	accept("a location of 128 bytes", edit(&m, "location", long_text));
	reject("a location with a bell", edit(&m, "location", "\"a\\u0007b\""),
	       "field 'location' is not printable UTF-8");
	reject("a location with a C1 CSI", edit(&m, "location", "\"a\\u009bb\""),
	       "field 'location' is not printable UTF-8");
	reject("a location with DEL", edit(&m, "location", "\"a\\u007fb\""),
	       "not printable");
	accept("a location in UTF-8", edit(&m, "location", "\"Pla\\u00e7a \\u2615 \\ud83d\\udd0c\""));
	sample(&m, MSG_NOTICE);
	reject("an embedded NUL in text", replace(edit(&m, "text", "\"a\""), "\"a\"", "\"a\\u0000b\""),
	       "NUL");
	sample(&m, MSG_HEALTH);
	reject("an embedded NUL in an id", replace(edit(&m, "cp", "\"a\""), "\"a\"", "\"CP\\u0000x\""),
	       "NUL");
	reject_len("a raw NUL byte", "{\"v\":1,\0}", 9, "bad json");
	reject_len("a raw NUL byte in a string", "{\"v\":1,\"cp\":\"a\0b\"}", 17,
		   "control character 0x0");
	sample(&m, MSG_HEALTH);
	n = msg_encode(&m, buf, sizeof(buf));
	reject_len("a NUL byte after the object", buf, (size_t)n + 1, "bad json");
	sample(&m, MSG_NOTICE);
	reject("a lowercase state", edit(&m, "state", "\"broken\""), "bad state 'broken'");
	sample(&m, MSG_TICKET);
	reject("an unknown end reason", edit(&m, "reason", "\"exploded\""),
	       "bad reason 'exploded'");
	sample(&m, MSG_COMMAND);
	reject("a command in capitals", edit(&m, "cmd", "\"START\""), "bad cmd 'START'");
	sample(&m, MSG_AUTH_RESPONSE);
	reject("an unknown deny reason", edit(&m, "reason", "\"\""), "bad reason ''");
}

static void test_numbers(void)
{
	struct msg m;
	char *t;

	sample(&m, MSG_TICKET);
	reject("negative energy", edit(&m, "wh", "-1"), "field 'wh' out of range");
	reject("energy over MSG_WH_MAX", edit(&m, "wh", "1000000001"), "field 'wh' out of range");
	reject("negative cents", edit(&m, "cents", "-1"), "field 'cents' out of range");
	reject("a negative price", edit(&m, "price", "-0.01"), "field 'price' out of range");
	reject("a price over MSG_PRICE_MAX", edit(&m, "price", "1000.01"), "field 'price' out of range");
	reject("a price as a string", edit(&m, "price", "\"0.35\""), "field 'price' must be a number");
	reject("energy with a fraction", edit(&m, "wh", "1.5"), "field 'wh' must be an integer");
	reject("energy in exponent form", edit(&m, "wh", "1e3"), "field 'wh' must be an integer");
	reject("a negative start", edit(&m, "started", "-1"), "field 'started' out of range");
	reject("seq -1", edit(&m, "seq", "-1"), "field 'seq' out of range");
	reject("seq beyond uint32", edit(&m, "seq", "4294967296"), "field 'seq' out of range");
	accept("seq 4294967295", edit(&m, "seq", "4294967295"));
	accept("an integer price", edit(&m, "price", "1"));
	accept("a price in exponent form", edit(&m, "price", "3.5e-1"));
	t = edit(&m, "price", "0.5");
	reject("a NaN price", replace(strdup(t), "0.5", "NaN"), "bad json");
	reject("an infinite price", replace(strdup(t), "0.5", "Infinity"), "bad json");
	reject("a negative infinite price", replace(strdup(t), "0.5", "-Infinity"), "bad json");
	reject("a price of 1e400", replace(strdup(t), "0.5", "1e400"), "bad json");
	reject("a price of -1e400", replace(strdup(t), "0.5", "-1e400"), "bad json");
	reject("a hex price", replace(strdup(t), "0.5", "0x10"), "bad json");
	reject("an integer beyond int64", replace(strdup(t), "0.5", "99999999999999999999"), "bad json");
	reject("a price with a leading plus", replace(strdup(t), "0.5", "+1"), "bad json");
	free(t);
	sample(&m, MSG_TELEMETRY);
	reject("a negative kw", edit(&m, "kw", "-0.5"), "field 'kw' out of range");
	sample(&m, MSG_CP_STATE);
	reject("negative live energy", edit(&m, "live.wh", "-3"), "field 'live.wh' out of range");
	reject("a missing live field", edit(&m, "live.kw", NULL), "missing field 'live.kw'");
	reject("live as an array", edit(&m, "live", "[]"), "field 'live' must be an object");
	sample(&m, MSG_AUTH_REQUEST);
	reject("a negative timeout", edit(&m, "timeout_ms", "-1"), "field 'timeout_ms' out of range");
	reject("a negative target", edit(&m, "target_wh", "-10"), "field 'target_wh' out of range");
}

static void test_rules(void)
{
	struct msg m;

	sample(&m, MSG_REGISTER_ACK);
	reject("an acceptance with a reason", edit(&m, "reason", "\"busy\""),
	       "accepted with reason 'busy'");
	reject("a refusal without reason", edit(&m, "accepted", "false"), "refusal without reason");
	sample(&m, MSG_AUTH_RESPONSE);
	reject("an authorization with a reason", edit(&m, "reason", "\"broken\""),
	       "authorized with reason 'broken'");
	sample(&m, MSG_AUTH_REQUEST);
	reject("a cancel without session", edit(&m, "cancel", "true"), "missing field 'session'");
	reject("a session without cancel", edit(&m, "session", "\"5e55105e55105e55105e55105e55105e\""),
	       "field 'session' without cancel");
	sample(&m, MSG_COMMAND);
	m.u.cmd.cmd = CMD_END;
	reject("an end without session", edit(&m, "session", NULL), "missing field 'session'");
	sample(&m, MSG_CONTROL);
	reject("a control start", edit(&m, "cmd", "\"start\""), "bad cmd 'start'");
	reject("a control for all with a cp", edit(&m, "all", "true"), "field 'cp' with all");
	reject("a control for no cp", edit(&m, "cp", NULL), "missing field 'cp'");
	sample(&m, MSG_REGISTER);
	reject("a duplicate key",
	       replace(edit(&m, "engine_ok", "true"), "\"engine_ok\":true",
		       "\"engine_ok\":true,\"engine_ok\":true"), "duplicate");
	reject("a duplicate v", replace(edit(&m, "v", "1"), "{", "{\"v\":1,"), "duplicate");
	sample(&m, MSG_CP_ENTRY);
	reject("a catalogue entry for a probe", edit(&m, "cp", "\".probe\""),
	       "bad cp id '.probe'");
	reject("a catalogue entry with a negative price", edit(&m, "price", "-1"),
	       "field 'price' out of range");
	reject("a catalogue entry with a driver", edit(&m, "driver", "\"D1\""),
	       "unknown field 'driver'");
}

static void test_structure(void)
{
	static const char *const not_objects[] = {
		"[]", "[{\"v\":1}]", "1", "\"x\"", "null", "true", "", " ", "{", "}",
		"{\"v\":1,}", "{'v':1}", "{\"v\":1}x", "{\"v\":1}{}", "\xef\xbb\xbf{}",
	};
	char buf[2048], err[256], *big;
	struct msg m;
	int n, ok = 1;

	for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++)
		ok &= decode(not_objects[i], strlen(not_objects[i]), &m, err, sizeof(err)) == -1;
	check(ok, "rejects scalars, arrays, broken and trailing JSON");
	reject_len("an array", "[1,2]", 5, "not an object");
	check(msg_decode(NULL, 0, &m, err, sizeof(err)) == -1, "rejects a NULL buffer");
	for (int t = 0; t < MSG_TYPE_COUNT; t++) {
		sample(&m, (enum msg_type)t);
		n = msg_encode(&m, buf, sizeof(buf));
		ok = 1;
		for (int len = 0; len < n; len++)
			ok &= decode(buf, (size_t)len, &m, err, sizeof(err)) == -1;
		check(ok, "rejects %s cut at each of its %d prefix lengths", msg_type_name(t), n);
	}
	big = malloc(MSG_MAX_BYTES + 2);
	sample(&m, MSG_HEALTH);
	n = msg_encode(&m, buf, sizeof(buf));
	memset(big, ' ', MSG_MAX_BYTES + 1);
	memcpy(big, buf, (size_t)n);
	check(!decode(big, MSG_MAX_BYTES, &m, err, sizeof(err)),
	      "accepts a message padded to MSG_MAX_BYTES");
	reject_len("a message of MSG_MAX_BYTES + 1", big, MSG_MAX_BYTES + 1, "message too large");
	memset(big, '[', MSG_MAX_BYTES);
	reject_len("arrays nested 65536 deep", big, MSG_MAX_BYTES, "bad json");
	for (int i = 0; i + 5 <= MSG_MAX_BYTES; i += 5)
		memcpy(big + i, "{\"a\":", 5);
	reject_len("objects nested 13107 deep", big, MSG_MAX_BYTES, "bad json");
	n = snprintf(big, MSG_MAX_BYTES, "%.*s,\"x\":", n - 1, buf);
	for (int i = 0; i < 100; i++)
		big[n++] = '[';
	for (int i = 0; i < 100; i++)
		big[n++] = ']';
	big[n++] = '}';
	reject_len("nested arrays in a field", big, (size_t)n, "unknown field 'x'");
	free(big);
}

/* A fixed-seed generator, so that a failure can be replayed. */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void test_random(void)
{
	static const char alphabet[] = "{}[]\":,0123456789.-+eE tfalsnru\\v\"type\"";
	char buf[512], err[256];
	struct msg m;
	int ok = 1, ok2 = 1;

	for (int i = 0; i < 3000; i++) {
		size_t len = next() % sizeof(buf);

		for (size_t k = 0; k < len; k++)
			buf[k] = (char)next();
		ok &= decode(buf, len, &m, err, sizeof(err)) == -1;
		for (size_t k = 0; k < len; k++)
			buf[k] = alphabet[next() % (sizeof(alphabet) - 1)];
		ok2 &= decode(buf, len, &m, err, sizeof(err)) == -1;
	}
	check(ok, "rejects 3000 buffers of random bytes");
	check(ok2, "rejects 3000 buffers of random JSON characters");
}

/*
 * Flips, drops and inserts bytes of valid messages: whatever decodes
 * must encode again and decode to the same struct.
 */
static void test_mutations(void)
{
	char orig[2048], buf[2048], again[2048], err[256];
	long decoded = 0, bad = 0;
	struct msg m, d;

	for (int i = 0; i < 20000; i++) {
		int n, k;

		sample(&m, (enum msg_type)(i % MSG_TYPE_COUNT));
		n = msg_encode(&m, orig, sizeof(orig));
		memcpy(buf, orig, (size_t)n);
		for (int j = 0, muts = 1 + next() % 3; j < muts; j++) {
			int at = (int)(next() % (uint32_t)n);

			switch (next() % 3) {
			case 0:
				buf[at] = (char)next();
				break;
			case 1:
				memmove(buf + at, buf + at + 1, (size_t)(n - at - 1));
				n--;
				break;
			default:
				memmove(buf + at + 1, buf + at, (size_t)(n - at));
				/* 17: the string's NUL too */
				buf[at] = "{}[]\",:0-9.aeE\\ "[next() % 17];
				n++;
			}
		}
		if (decode(buf, (size_t)n, &m, err, sizeof(err)))
			continue;
		decoded++;
		k = msg_encode(&m, again, sizeof(again));
		if (k < 0 || decode(again, (size_t)k, &d, err, sizeof(err)) ||
		    memcmp(&m, &d, sizeof(d)))
			bad++;
	}
	check(bad == 0, "every mutated message that decodes encodes back the same "
	      "(%ld decoded, %ld bad)", decoded, bad);
}

static void test_cents(void)
{
	static const struct {
		int64_t wh;
		double price;
		int64_t cents;
	} cases[] = {
		{ 0, 0.35, 0 },
		{ 10000, 0.30, 300 },		/* 10 kWh at 0.30 EUR */
		{ 100, 0.35, 4 },		/* 3.5 cents: half rounds up */
		{ 10, 0.35, 0 },		/* 0.35 cents */
		{ 20, 0.25, 1 },		/* 0.5 cents */
		{ 19, 0.25, 0 },		/* 0.475 cents */
		{ 1834, 0.35, 64 },		/* 64.19 */
		{ 1, 0.5, 0 },			/* 0.05 */
		{ 700, 0.35, 25 },		/* 24.5: plain doubles make it 24.4999... */
		{ 1500, 0.29, 44 },		/* 43.5, the same trap */
		{ 1, 5.0, 1 },			/* 0.5 */
		{ 3, 0.1, 0 },			/* 0.03 */
		{ 1000, 0.333333, 33 },		/* 33.3333 */
		{ 15, 0.333333, 0 },		/* 0.4999995 */
		{ 1000, 0.0000005, 0 },		/* price taken to the micro-euro: 0.000001 */
		{ -100, 0.35, -4 },		/* away from zero on the negative side too */
		{ 100, -0.35, -4 },
		{ MSG_WH_MAX, MSG_PRICE_MAX, MSG_CENTS_MAX },
		{ 5000000000, 1.0, 500000000 },	/* beyond the bounds: doubles */
	};
	int ok = 1;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t c = msg_cents(cases[i].wh, cases[i].price);

		if (!check(c == cases[i].cents, "msg_cents(%lld, %g) = %lld",
			   (long long)cases[i].wh, cases[i].price, (long long)cases[i].cents))
			printf("# got %lld\n", (long long)c);
	}
	for (int64_t wh = 0; wh <= 20000; wh++)
		ok &= msg_cents(wh, 0.30) == (wh * 3 + 50) / 100;
	check(ok, "msg_cents(wh, 0.30) is wh * 3 / 100 rounded, for wh up to 20000");
	check(msg_cents(100, NAN) == 0 && msg_cents(0, INFINITY) == 0 &&
	      msg_cents(1, INFINITY) == INT64_MAX, "msg_cents survives NaN and infinity");
}

static void test_names(void)
{
	int ok = 1;

	for (int i = 0; i < MSG_TYPE_COUNT; i++)
		ok &= msg_type_parse(msg_type_name(i)) == i;
	for (int i = 0; i < DENY_COUNT; i++)
		ok &= msg_deny_parse(msg_deny_name(i)) == i && msg_deny_text(i) != NULL;
	for (int i = 0; i < END_COUNT; i++)
		ok &= msg_end_parse(msg_end_name(i)) == i;
	for (int i = 0; i < CMD_COUNT; i++)
		ok &= msg_cmd_parse(msg_cmd_name(i)) == i;
	for (int i = 0; i < CP_STATE_COUNT; i++)
		ok &= cp_state_parse(cp_state_name(i)) == i;
	check(ok, "every name parses back to its value");
	check(!msg_type_name(MSG_TYPE_COUNT) && !msg_deny_name(DENY_COUNT) &&
	      !msg_end_name(END_COUNT) && !msg_cmd_name(CMD_COUNT) &&
	      !cp_state_name(CP_STATE_COUNT) && !msg_deny_text(-1) &&
	      !msg_type_name(-1), "names out of range are NULL");
	check(msg_type_parse("nope") == -1 && msg_deny_parse("") == -1 &&
	      msg_end_parse("FINISHED") == -1 && msg_cmd_parse(NULL) == -1 &&
	      cp_state_parse("active") == -1, "unknown names parse to -1");
	check(!strcmp(msg_deny_name(DENY_NONE), "none") &&
	      !strcmp(msg_deny_name(DENY_OUT_OF_ORDER), "out_of_order") &&
	      !strcmp(msg_deny_text(DENY_OUT_OF_ORDER), "the CP is out of order") &&
	      !strcmp(msg_type_name(MSG_SUPPLY_END), "supply_end") &&
	      !strcmp(cp_state_name(CP_STOPPED), "STOPPED"), "names as documented");
}

static void test_ids_and_init(void)
{
	char a[MSG_UUID_LEN + 1], b[MSG_UUID_LEN + 1];
	struct msg m;
	int ok = 1;

	msg_new_uuid(a);
	msg_new_uuid(b);
	for (int i = 0; i < MSG_UUID_LEN; i++)
		ok &= (a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f');
	check(ok && strlen(a) == MSG_UUID_LEN && strcmp(a, b),
	      "msg_new_uuid gives 32 lowercase hex, fresh each time");
	msg_init(&m, MSG_NOTICE);
	check(m.type == MSG_NOTICE && strlen(m.id) == MSG_UUID_LEN &&
	      m.ts > 1600000000000 && !m.cp[0] && !m.u.notice.text[0],
	      "msg_init sets type, id and time, zeroes the rest");
}

static void test_reasons(void)
{
	char err[8], text[] = "{\"v\":1,\"type\":\"health\",\"id\":\"x\"}";
	struct msg m;

	check(msg_decode(text, strlen(text), &m, err, sizeof(err)) == -1 &&
	      strlen(err) == sizeof(err) - 1, "a short err buffer gets a cut reason");
	check(msg_decode(text, strlen(text), &m, NULL, 0) == -1, "err may be NULL");
	check(unprintable == 0, "every reason given was printable ASCII (%ld not)",
	      unprintable);
}

/* Messages written out, for what edit() cannot say (escaped keys, raw bytes). */
#define HEAD(type) "{\"v\":1,\"type\":\"" type "\",\"id\":\"0123456789abcdef" \
	"0123456789abcdef\",\"ts\":1700000000123,\"cp\":\"CP001\""
#define HEALTH(seq, more) HEAD("health") ",\"engine_ok\":true,\"seq\":" seq more "}"
#define REGISTER(loc) HEAD("register") ",\"location\":" loc ",\"engine_ok\":true}"
#define ACK(price) HEAD("register_ack") ",\"accepted\":true,\"reason\":\"none\"," \
	"\"price\":" price ",\"location\":\"x\"}"

/* Decodes text, which must be accepted, to m. */
static bool decodes(const char *text, struct msg *m)
{
	char err[256];

	if (decode(text, strlen(text), m, err, sizeof(err))) {
		printf("# %s: %s\n", text, err);
		return false;
	}
	return true;
}

/* JSON the one-pass decoder must read exactly as the jansson tree did. */
static void test_json_syntax(void)
{
	struct msg a, b;

	check(decodes(HEALTH("7", ""), &a) &&
	      decodes("{\"\\u0076\":1,\"t\\u0079pe\":\"health\",\"id\":\"0123456789"
		      "abcdef0123456789abcdef\",\"ts\":1700000000123,\"cp\":\"CP\\u0030"
		      "01\",\"engine_ok\":true,\"seq\":7}", &b) &&
	      !strcmp(b.cp, "CP001") && !memcmp(&a, &b, sizeof(a)),
	      "escaped keys and values decode as the plain ones");
	check(decodes(" \t\r\n{ \"v\" : 1 ,\"type\":\"health\",\"id\":\"0123456789abcdef"
		      "0123456789abcdef\" ,\"ts\":\n1700000000123,\"cp\":\"CP001\","
		      "\"engine_ok\":\ttrue,\"seq\":7 }\r\n", &b) && !memcmp(&a, &b, sizeof(a)),
	      "white space between every token");
	reject("a key twice through an escape", strdup(HEALTH("7", ",\"\\u0076\":1")),
	       "duplicate object key near '\"\\\\u0076\"'");
	reject_len("a key twice, named as jansson named it", "{\"v\":1, \"v\" :1}", 15,
		   "bad json at byte 11: duplicate object key near '\"v\"'");
	reject("a key twice in an object of an unknown field",
	       strdup(HEALTH("7", ",\"x\":{\"a\":1,\"b\":[{\"c\":1,\"c\":2}]}")),
	       "duplicate object key");
	reject("a key twice in live", strdup(HEAD("cp_state") ",\"state\":\"ACTIVE\","
		"\"location\":\"x\",\"price\":1,\"live\":{\"seq\":1,\"kw\":1,\"seq\":1,"
		"\"wh\":1,\"cents\":1},\"since\":1}"), "duplicate object key");
	reject("keys of unknown fields twice", strdup(HEALTH("7", ",\"x\":1,\"x\":1")),
	       "duplicate object key");
	reject("the same key in sibling objects of an unknown field",
	       strdup(HEALTH("7", ",\"x\":[{\"a\":1},{\"a\":1}]")), "unknown field 'x'");
	/* found by fuzzing: the first unknown key is named, escaped or not */
	reject("unknown keys, the first escaped",
	       strdup(HEALTH("7", ",\"\\\\iver\":1,\"wh\":2")), "unknown field '\\\\iver'");
	reject("unknown keys, the first known elsewhere",
	       strdup(HEALTH("7", ",\"wh\":2,\"\\\\iver\":1")), "unknown field 'wh'");
	reject("a lone high surrogate", strdup(REGISTER("\"\\ud83d\"")), "invalid Unicode");
	reject("a lone low surrogate", strdup(REGISTER("\"\\udd0c\"")), "invalid Unicode");
	reject("a high surrogate and a letter", strdup(REGISTER("\"\\ud83d\\u0041\"")),
	       "invalid Unicode");
	reject("surrogates the wrong way round", strdup(REGISTER("\"\\udd0c\\ud83d\"")),
	       "invalid Unicode");
	reject("an unknown escape", strdup(REGISTER("\"a\\xb\"")), "invalid escape");
	reject("a short \\u escape", strdup(REGISTER("\"a\\u12\"")), "invalid escape");
	reject("a bad byte of UTF-8", strdup(REGISTER("\"\xc3\x28\"")), "bad json");
	reject("an overlong slash", strdup(REGISTER("\"\xc0\xaf\"")), "bad json");
	reject("a surrogate in raw UTF-8", strdup(REGISTER("\"\xed\xa0\x80\"")), "bad json");
	reject("a code point past U+10FFFF", strdup(REGISTER("\"\xf4\x90\x80\x80\"")),
	       "bad json");
	reject("a raw DEL in a location", strdup(REGISTER("\"a\x7f\"")), "not printable");
	reject("a raw tab in a string", strdup(REGISTER("\"a\tb\"")), "control character 0x9");
	reject("a literal in capitals", strdup(HEALTH("7", ",\"x\":True")), "bad json");
	reject("a cut literal", strdup(HEALTH("7", ",\"x\":tru")), "bad json");
	reject("a literal run on", strdup(HEALTH("7", ",\"x\":nullx")), "bad json");
	reject("a comma before the brace", strdup(HEALTH("7", ",")), "bad json");
	reject_len("an array cut short", "[1,2", 4, "bad json");
}

/* Found by fuzzing: jansson skipped a raw NUL byte that ended a number or a literal. */
static void nul_before_brace(const char *title, const char *msg)
{
	char text[512];
	size_t n = strlen(msg);

	memcpy(text, msg, n - 1);	/* ...,"seq":7\0} */
	text[n - 1] = '\0';
	text[n] = '}';
	reject_len(title, text, n + 1, "bad json");
}

/* Numbers: the grammar of RFC 8259, int64_t integers, finite doubles. */
static void test_json_numbers(void)
{
	static const char *const bad[] = {
		"01", "1.", ".5", "1e", "1e+", "-", "--1", "1.e5", "0x1", "1_0",
		"9223372036854775808", "-9223372036854775809",
	};
	struct msg m;
	int ok = 1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512], err[256];

		snprintf(text, sizeof(text), HEALTH("%s", ""), bad[i]);
		ok &= decode(text, strlen(text), &m, err, sizeof(err)) == -1 &&
		      !strncmp(err, "bad json", 8);
	}
	check(ok, "numbers outside the grammar or int64_t are bad json");
	check(decodes(ACK("0.35"), &m) && m.u.ack.price == 0.35, "0.35 is the double 0.35");
	check(decodes(ACK("1e-400"), &m) && m.u.ack.price == 0,
	      "a price that underflows is 0, as strtod makes it");
	check(decodes(ACK("-0.0"), &m) && m.u.ack.price == 0 && signbit(m.u.ack.price),
	      "-0.0 is taken as it is (the encoder writes 0)");
	check(decodes(ACK("-0"), &m) && !signbit(m.u.ack.price), "-0 is the integer 0");
	check(decodes(ACK("0.35000000000000000000000001"), &m) && m.u.ack.price == 0.35,
	      "a price of 27 significant digits rounds as strtod does");
	check(decodes(ACK("999.99999999999999999"), &m) && m.u.ack.price == 1000,
	      "999.99999999999999999 is 1000");
	check(decodes(ACK("3.5E-1"), &m) && m.u.ack.price == 0.35 &&
	      decodes(ACK("0.0035e+2"), &m) && m.u.ack.price == 0.35,
	      "exponents in either case and sign");
	check(decodes(HEALTH("4294967295", ""), &m) && m.u.health.seq == 4294967295u,
	      "the largest seq");
	reject("the smallest int64_t as a seq", strdup(HEALTH("-9223372036854775808", "")),
	       "field 'seq' out of range");
	nul_before_brace("a raw NUL byte after a number", HEALTH("7", ""));
	nul_before_brace("a raw NUL byte after a literal", REGISTER("\"x\""));
}

/* Nesting: jansson's limit of 2048 levels, counting the message's object. */
static void test_json_depth(void)
{
	char *text = malloc(MSG_MAX_BYTES);
	size_t head = strlen(HEALTH("7", "")) - 1;

	for (int deep = 2047; deep <= 2048; deep++) {
		size_t n = head;

		memcpy(text, HEALTH("7", ""), head);
		memcpy(text + n, ",\"x\":", 5);
		n += 5;
		memset(text + n, '[', (size_t)deep);
		n += (size_t)deep;
		memset(text + n, ']', (size_t)deep);
		n += (size_t)deep;
		text[n++] = '}';
		reject_len(deep == 2047 ? "an unknown field 2048 levels deep" :
			   "an unknown field 2049 levels deep", text, n,
			   deep == 2047 ? "unknown field 'x'" : "maximum parsing depth");
	}
	free(text);
}

/* The text msg_encode writes for the price of a register_ack. */
static bool price_text(double price, const char *want)
{
	char buf[1024], key[64];
	struct msg m;

	sample(&m, MSG_REGISTER_ACK);
	m.u.ack.price = price;
	snprintf(key, sizeof(key), "\"price\":%s,", want);
	return msg_encode(&m, buf, sizeof(buf)) > 0 && strstr(buf, key);
}

/* Numbers as the encoder writes them, the short ways and snprintf's. */
static void test_encode_numbers(void)
{
	char buf[1024];
	struct msg m;

	check(price_text(0.35, "0.35") && price_text(1000, "1000") &&
	      price_text(0.0001, "0.0001") && price_text(0.00005, "5e-05") &&
	      price_text(0.1 + 0.2, "0.30000000000000004") && price_text(-0.0, "0") &&
	      price_text(999.999999, "999.999999") && price_text(0.1234567, "0.1234567") &&
	      price_text(1.0 / 3, "0.3333333333333333"),
	      "prices written shortest, as %%.15g to %%.17g would");
	sample(&m, MSG_TICKET);
	m.u.ticket.started = INT64_MAX;
	m.u.ticket.wh = 0;
	m.u.ticket.seq = UINT32_MAX;
	m.u.ticket.cents = 1234567890;
	check(msg_encode(&m, buf, sizeof(buf)) > 0 &&
	      strstr(buf, "\"started\":9223372036854775807,") &&
	      strstr(buf, "\"wh\":0,") && strstr(buf, "\"seq\":4294967295,") &&
	      strstr(buf, "\"cents\":1234567890,"), "integers at their limits");
}

static int cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, MSG_UUID_LEN);
}

/* Ids come from a pool of random bytes: never the same twice, even across fork. */
static void test_id_pool(void)
{
	enum { N = 20000 };
	char (*ids)[MSG_UUID_LEN + 1] = malloc(N * sizeof(*ids));
	char parent[MSG_UUID_LEN + 1], child[MSG_UUID_LEN + 1] = "";
	int fd[2], dups = 0;
	pid_t pid;

	for (int i = 0; i < N; i++)
		msg_new_uuid(ids[i]);
	qsort(ids, N, sizeof(*ids), cmp_ids);
	for (int i = 1; i < N; i++)
		dups += !cmp_ids(ids[i - 1], ids[i]);
	check(dups == 0, "%d ids (%d pool refills) all differ", N,
	      N * (MSG_UUID_LEN / 2) / 4096);
	free(ids);
	if (pipe(fd) || (pid = fork()) < 0) {
		check(0, "fork for the id test");
		return;
	}
	if (pid == 0) {
		msg_new_uuid(child);
		_exit(write(fd[1], child, MSG_UUID_LEN) == MSG_UUID_LEN ? 0 : 1);
	}
	close(fd[1]);
	msg_new_uuid(parent);
	check(read(fd[0], child, MSG_UUID_LEN) == MSG_UUID_LEN &&
	      waitpid(pid, NULL, 0) == pid && strlen(child) == MSG_UUID_LEN &&
	      strcmp(parent, child), "a forked child does not repeat its parent's next id");
	close(fd[0]);
}

int main(void)
{
	test_names();
	test_ids_and_init();
	test_round_trips();
	test_optional_fields();
	test_round_trip_values();
	test_golden();
	test_encode_limits();
	test_encode_numbers();
	test_id_pool();
	test_encode_rejects_values();
	test_encode_rejects_rules();
	test_fields();
	test_envelope();
	test_ids();
	test_id_bytes();
	test_strings();
	test_numbers();
	test_rules();
	test_structure();
	test_json_syntax();
	test_json_numbers();
	test_json_depth();
	test_random();
	test_mutations();
	test_cents();
	test_reasons();
	return check_done();
}
