/* audit_test.c: unit tests of lib/audit.c: records built, encoded and decoded strictly, times for --since, the line for people, no secret in a record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/audit.h"
#include "lib/conf.h"
#include "test/unit/check.h"

static const struct audit_actor alice = {
	.kind = AUDIT_CLI, .name = "alice", .host = "ops1",
	.principal = "operator",
};

static const char FULL[] =
	"{\"v\":1,\"type\":\"audit\",\"ts\":1796678376696,"
	"\"actor\":{\"kind\":\"cli\",\"name\":\"alice\",\"host\":\"ops1\","
	"\"principal\":\"operator\"},\"action\":\"cp-remove\","
	"\"subject\":\"CP9\",\"result\":\"failed\","
	"\"reason\":\"no such CP\",\"detail\":\"by hand\"}";

static void full_record(struct audit_rec *r)
{
	audit_init(r, &alice, AUDIT_CP_REMOVE, "CP9", 1796678376696LL);
	audit_result(r, AUDIT_FAILED, "no such %s", "CP");
	audit_detail(r, "by %s", "hand");
}

static int decodes(const char *json, struct audit_rec *r, char *err)
{
	return audit_decode(json, strlen(json), r, err, 160) == 0;
}

static void test_round_trip(void)
{
	struct audit_rec r, back;
	char buf[AUDIT_MAX_BYTES], err[160];
	int n;

	full_record(&r);
	n = audit_encode(&r, buf, sizeof(buf));
	check(n > 0 && !strcmp(buf, FULL),
	      "a full record encodes to the documented JSON: %s", buf);
	check(decodes(buf, &back, err) && !memcmp(&r, &back, sizeof(r)),
	      "and decodes back to the same record");
	audit_init(&r, &alice, AUDIT_STOP_ALL, NULL, 5);
	memset(r.actor.principal, 0, sizeof(r.actor.principal));
	n = audit_encode(&r, buf, sizeof(buf));
	check(n > 0 && !strcmp(buf, "{\"v\":1,\"type\":\"audit\",\"ts\":5,"
			       "\"actor\":{\"kind\":\"cli\",\"name\":\"alice\","
			       "\"host\":\"ops1\"},\"action\":\"stop-all\","
			       "\"subject\":\"\",\"result\":\"ok\"}"),
	      "empty optional fields are not written, the subject always: %s",
	      buf);
	check(decodes(buf, &back, err) && !memcmp(&r, &back, sizeof(r)),
	      "a record without its optional fields decodes");
	check(audit_encode(&r, buf, 20) == -1,
	      "a buffer too small: -1, not a cut record");
}

/* FULL with from replaced by to, once. */
static const char *edit(const char *from, const char *to)
{
	static char out[AUDIT_MAX_BYTES * 2];
	const char *at = strstr(FULL, from);

	if (!at) {
		fprintf(stderr, "no '%s' in FULL\n", from);
		exit(2);
	}
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - FULL), FULL, to,
		 at + strlen(from));
	return out;
}

static void test_rejects(void)
{
	static const struct {
		const char *sentence, *from, *to, *why;
	} rows[] = {
		{ "an unknown field", "\"detail\"", "\"password\"",
		  "unknown field 'password'" },
		{ "an unknown field in the actor", "\"principal\"",
		  "\"token\"", "unknown field actor.'token'" },
		{ "a missing action", "\"action\":\"cp-remove\",", "",
		  "missing field 'action'" },
		{ "a missing actor host", "\"host\":\"ops1\",", "",
		  "missing field actor.'host'" },
		{ "a key twice", "\"detail\":\"by hand\"",
		  "\"detail\":\"by hand\",\"detail\":\"x\"", "not JSON" },
		{ "version 2", "\"v\":1", "\"v\":2", "unsupported version" },
		{ "version as a string", "\"v\":1", "\"v\":\"1\"",
		  "unsupported version" },
		{ "a message of another type", "\"audit\"", "\"control\"",
		  "not an audit record" },
		{ "a negative ts", "1796678376696", "-1", "bad field 'ts'" },
		{ "a real ts", "1796678376696", "1.5", "bad field 'ts'" },
		{ "an unknown action", "cp-remove", "cp-burn",
		  "bad action 'cp-burn'" },
		{ "an unknown kind", "\"cli\"", "\"robot\"",
		  "bad kind 'robot'" },
		{ "an unknown result", "\"failed\"", "\"maybe\"",
		  "bad result 'maybe'" },
		{ "a subject that is no id", "\"CP9\"", "\"CP 9\"",
		  "bad subject" },
		{ "no subject for a removal", "\"CP9\"", "\"\"",
		  "action 'cp-remove' needs a subject" },
		{ "a failure without a reason", "\"reason\":\"no such CP\",", "",
		  "no reason for a failure" },
		{ "a success with a reason", "\"failed\"", "\"ok\"",
		  "a reason for a success" },
		{ "an escape in the name", "\"alice\"", "\"al\\u001bice\"",
		  "bad actor name" },
		{ "an empty name", "\"alice\"", "\"\"", "bad actor name" },
		{ "a NUL escaped in a string", "\"ops1\"", "\"o\\u0000p\"",
		  "not JSON" },
		{ "a number as the subject", "\"CP9\"", "9",
		  "field 'subject' is not a string" },
		{ "the actor as a string", "{\"kind\":\"cli\",\"name\":\"alice\",\"host\":\"ops1\",\"principal\":\"operator\"}",
		  "\"alice\"", "field 'actor' is not an object" },
		{ "something after the object", "\"by hand\"}",
		  "\"by hand\"}x", "not JSON" },
	};
	struct audit_rec r;
	char err[160];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int ok = decodes(edit(rows[i].from, rows[i].to), &r, err);

		check(!ok && !strncmp(err, rows[i].why, strlen(rows[i].why)),
		      "rejected: %s (%s)", rows[i].sentence,
		      ok ? "accepted" : err);
	}
	check(!decodes("[1]", &r, err) && !strcmp(err, "not a JSON object"),
	      "rejected: an array");
	check(!decodes("{\"v\x1b[2J\":1 \xff}", &r, err) &&
	      !strpbrk(err, "\x1b\xff") && strstr(err, "not JSON: "),
	      "the parser's reason quotes what it read: %s", err);
	check(audit_decode("{\"v\"\0:1}", 8, &r, err, sizeof(err)) &&
	      !strcmp(err, "a NUL byte in the record"),
	      "rejected: a raw NUL byte");
}

static void test_bounds(void)
{
	char big[AUDIT_MAX_BYTES + 2], long_text[AUDIT_TEXT_MAX + 2];
	struct audit_rec r;
	char err[160], buf[AUDIT_MAX_BYTES];

	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 1] = '}';
	check(audit_decode(big, sizeof(big), &r, err, sizeof(err)) &&
	      strstr(err, "more than 4096"),
	      "rejected unparsed: a record over %d bytes", AUDIT_MAX_BYTES);
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	check(decodes(edit("\"by hand\"", "\"\""), &r, err) && !r.detail[0],
	      "an empty detail written out reads as none");
	snprintf(buf, sizeof(buf), "\"%s\"", long_text);
	check(!decodes(edit("\"by hand\"", buf), &r, err) &&
	      !strcmp(err, "bad field 'detail'"),
	      "rejected: a detail of %d bytes", AUDIT_TEXT_MAX + 1);
	long_text[AUDIT_TEXT_MAX] = '\0';
	snprintf(buf, sizeof(buf), "\"%s\"", long_text);
	check(decodes(edit("\"by hand\"", buf), &r, err),
	      "accepted: a detail of %d bytes", AUDIT_TEXT_MAX);
}

static void test_building(void)
{
	struct audit_rec r;
	char text[3 * AUDIT_TEXT_MAX], err[80];

	/* "é" is 2 bytes: 127 bytes of x then é must lose the é whole. */
	memset(text, 'x', AUDIT_TEXT_MAX - 1);
	strcpy(text + AUDIT_TEXT_MAX - 1, "\xc3\xa9 and more");
	audit_init(&r, &alice, AUDIT_CP_ADD, "CP1", 1);
	audit_detail(&r, "%s", text);
	check(strlen(r.detail) == AUDIT_TEXT_MAX - 1 &&
	      !audit_check(&r, err, sizeof(err)),
	      "a detail too long is cut before a UTF-8 character, and valid");
	audit_init(&r, &alice, AUDIT_TAKEOVER, "CP1", 1);
	check(audit_check(&r, err, sizeof(err)) &&
	      !strcmp(err, "action 'takeover' takes no subject"),
	      "a takeover names no CP");
	audit_init(&r, &alice, AUDIT_BAD_MAC, NULL, 1);
	audit_result(&r, AUDIT_REFUSED, "wrong MAC");
	check(!audit_check(&r, err, sizeof(err)),
	      "a bad MAC may come with no subject");
	audit_init(&r, &alice, AUDIT_KEY_ISSUE, "driver-7", 1);
	check(!audit_check(&r, err, sizeof(err)),
	      "a key is issued to a driver id as well");
	r.action = AUDIT_ACTION_COUNT;
	check(audit_check(&r, err, sizeof(err)) &&
	      audit_encode(&r, text, sizeof(text)) == -1,
	      "an action out of range is neither valid nor encoded");
	for (int i = 0; i < AUDIT_ACTION_COUNT; i++)
		if (audit_action_parse(audit_action_name(i)) != i)
			check(0, "action %d names itself", i);
	check(audit_action_parse("takeover") == AUDIT_TAKEOVER &&
	      audit_kind_parse("console") == AUDIT_CONSOLE &&
	      audit_result_parse("refused") == AUDIT_REFUSED &&
	      audit_kind_parse("CLI") == -1,
	      "names parse back, case counts");
}

static void test_no_secret(void)
{
	struct conf_prop props[] = {
		{ "sasl.username", "operator" },
		{ "sasl.password", "s3cr3t-pw" },
		{ "sasl.username", "ops" },
	};
	struct conf c = { .props = props, .nprops = 3 };
	struct audit_actor who;
	struct audit_rec r;
	char buf[AUDIT_MAX_BYTES];

	audit_actor_local(&who, AUDIT_CLI, &c);
	audit_init(&r, &who, AUDIT_STOP, "CP1", 1);
	check(!strcmp(r.actor.principal, "ops") && r.actor.name[0] &&
	      r.actor.host[0],
	      "the principal is the last sasl.username; user and host are set");
	check(audit_encode(&r, buf, sizeof(buf)) > 0 &&
	      !strstr(buf, "s3cr3t") && !strstr(buf, "password"),
	      "the password of the configuration is not in the record");
	audit_actor_local(&who, AUDIT_PANEL, NULL);
	check(!who.principal[0], "no configuration: no principal");
	audit_actor_set(&who, AUDIT_CONSOLE, "ops-tablet", "10.0.0.7", &c);
	audit_init(&r, &who, AUDIT_RESUME_ALL, NULL, 1);
	check(audit_encode(&r, buf, sizeof(buf)) > 0 &&
	      strstr(buf, "\"actor\":{\"kind\":\"console\",\"name\":\"ops-tablet\",\"host\":\"10.0.0.7\",\"principal\":\"ops\"}"),
	      "a console's actor: its token's name and its client's address: %s",
	      buf);
}

static void test_limit(void)
{
	struct audit_limit l = { 0 };
	long held, went = 0, last_held = -1;

	for (int i = 0; i < 25; i++)
		if (audit_limit_take(&l, 5000 + i, &held))
			went++;
	check(went == AUDIT_LIMIT_BURST && l.held == 25 - AUDIT_LIMIT_BURST,
	      "a burst of 25 within a window: %d go, the rest are held back",
	      AUDIT_LIMIT_BURST);
	check(audit_limit_take(&l, 5000 + AUDIT_LIMIT_MS, &last_held) &&
	      last_held == 25 - AUDIT_LIMIT_BURST && l.held == 0,
	      "the first of the next window goes, with the number held back");
	check(audit_limit_take(&l, 5001 + AUDIT_LIMIT_MS, &held) && held == 0,
	      "and the one after it has none to tell");
}

static void test_since(void)
{
	static const struct {
		const char *s;
		long long want;		/* -1: refused */
	} rows[] = {
		{ "30m", 1000000000000LL - 1800000 },
		{ "90s", 1000000000000LL - 90000 },
		{ "1h", 1000000000000LL - 3600000 },
		{ "2d", 1000000000000LL - 2 * 86400000LL },
		{ "1w", 1000000000000LL - 7 * 86400000LL },
		{ "0m", 1000000000000LL },
		{ "2026-12-07T21:30:05Z", 1796679005000LL },
		{ "2026-12-07T22:30:05+01:00", 1796679005000LL },
		{ "2026-12-07T22:30:05+0100", 1796679005000LL },
		{ "2026-12-07T20:30:05-01", 1796679005000LL },
		{ "2026-12-07T21:30Z", 1796679000000LL },
		{ "2026-12-07T21:30", 1796679000000LL },	/* TZ=UTC */
		{ "2026-12-07 21:30:05", 1796679005000LL },
		{ "2026-12-07", 1796601600000LL },
		{ "", -1 }, { "m", -1 }, { "30", -1 }, { "30x", -1 },
		{ "-5m", -1 }, { "5 m", -1 }, { "30mm", -1 },
		{ "99999999999999999999d", -1 }, { "999999999d", -1 },
		{ "2026-12-7", -1 }, { "2026-12-07T25:00", -1 },
		{ "2026-02-31", -1 }, { "2026-12-07T21:30:05+25:00", -1 },
		{ "2026-12-07T21:30:05Z junk", -1 }, { "2026-12-07T21", -1 },
		{ "2026-12-07T21:30:61", -1 }, { "yesterday", -1 },
		{ "2026-12-07T 1:30", -1 }, { "+2026-12-07", -1 },
		{ "2026-12-07T21:30:5", -1 }, { "2026-12-07T21:30+1", -1 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t ms = 0;
		int ret = audit_since_parse(rows[i].s, 1000000000000LL, &ms);

		if (rows[i].want < 0)
			check(ret == -1, "--since refuses '%s'", rows[i].s);
		else
			check(ret == 0 && ms == rows[i].want,
			      "--since '%s' is %lld (got %lld)", rows[i].s,
			      rows[i].want, (long long)ms);
	}
}

static void test_format(void)
{
	struct audit_rec r;
	char line[512];

	full_record(&r);
	check(audit_format(&r, line, sizeof(line)) > 0 &&
	      !strcmp(line, "2026-12-07T21:19:36+00:00 cli:alice[operator] ops1 cp-remove CP9 failed: no such CP; by hand"),
	      "a line for people: %s", line);
	audit_init(&r, &alice, AUDIT_TAKEOVER, NULL, 0);
	r.actor.kind = AUDIT_CENTRAL;
	r.actor.principal[0] = '\0';
	check(audit_format(&r, line, sizeof(line)) > 0 &&
	      !strcmp(line, "1970-01-01T00:00:00+00:00 central:alice ops1 takeover - ok"),
	      "no subject is '-', no principal no brackets: %s", line);
	setenv("TZ", "CET-1", 1);
	tzset();
	check(audit_format(&r, line, sizeof(line)) > 0 &&
	      !strncmp(line, "1970-01-01T01:00:00+01:00 ", 26),
	      "local time with its offset: %s", line);
	setenv("TZ", "UTC", 1);
	tzset();
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_round_trip();
	test_rejects();
	test_bounds();
	test_building();
	test_no_secret();
	test_limit();
	test_since();
	test_format();
	return check_done();
}
