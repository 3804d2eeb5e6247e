/* webapi_test.c: unit tests of lib/webapi.c: evc web's API answered and its events written, without sockets or Kafka. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/metrics.h"
#include "lib/webapi.h"
#include "test/unit/check.h"

#define TOKEN "0123456789abcdef-write"
#define RTOKEN "0123456789abcdef-read"

static struct msg sent[16];
static enum topic sent_to[16];
static int nsent, nerased, fail_commit;
static char erased[MSG_NAME_MAX + 1];

static int on_send(void *arg, enum topic t, const struct msg *m)
{
	(void)arg;
	if (nsent < 16) {
		sent[nsent] = *m;
		sent_to[nsent] = t;
	}
	nsent++;
	return 0;
}

static int on_erase(void *arg, enum topic t, const char *cp)
{
	(void)arg;
	(void)t;
	snprintf(erased, sizeof(erased), "%s", cp);
	nerased++;
	return 0;
}

static int on_commit(void *arg)
{
	(void)arg;
	return fail_commit ? -1 : 0;
}

static struct webapi_act acts[8];
static int acted[8], nacts;	/* the answer's status to each */

static void on_audit(void *arg, const struct webapi_act *a,
		     const struct webapi_req *q, const struct http_resp *r)
{
	(void)arg;
	(void)q;
	if (nacts < 8) {
		acts[nacts] = *a;
		acted[nacts] = r->status;
	}
	nacts++;
}

static char *on_metrics(void *arg, size_t *len)
{
	(void)arg;
	*len = 12;
	return strdup("evc_x 1\nok 2\n");
}

static const struct webapi_hooks hooks = {
	.send = on_send, .erase = on_erase, .commit = on_commit,
	.audit = on_audit, .metrics = on_metrics,
};

static struct http_resp resp;

/* One request; resp holds the answer (its body as a string). */
static int req(struct webapi *w, const char *method, const char *path,
	       const char *query, const char *auth, const char *body)
{
	struct webapi_req q = {
		.method = method, .path = path, .query = query ? query : "",
		.auth = auth, .body = body, .len = body ? strlen(body) : 0,
		.now = 1000,
	};

	jbuf_free(&resp.body);
	memset(&resp, 0, sizeof(resp));
	webapi_handle(w, &q, &resp);
	if (!resp.body.s)
		jbuf_str(&resp.body, "");
	return resp.status;
}

static bool has(const char *s)
{
	return resp.body.s && strstr(resp.body.s, s);
}

static void state(struct webapi *w, const char *id, enum cp_state s,
		  const char *loc, int64_t ts)
{
	struct msg m;

	msg_init_at(&m, MSG_CP_STATE, ts);
	snprintf(m.cp, sizeof(m.cp), "%s", id);
	m.u.state.state = s;
	snprintf(m.u.state.location, sizeof(m.u.state.location), "%s", loc);
	m.u.state.price = 0.35;
	m.u.state.since = ts - 10;
	if (s == CP_SUPPLYING) {
		snprintf(m.driver, sizeof(m.driver), "DRIVER001");
		snprintf(m.session, sizeof(m.session), "%032x", 7);
		m.u.state.live.kw = 11.5;
		m.u.state.live.wh = 1234;
		m.u.state.live.cents = 43;
	}
	webapi_feed(w, T_CP_STATE, &m, false);
}

static void entry(struct webapi *w, const char *id, const char *loc,
		  double price)
{
	struct msg m;

	msg_init_at(&m, MSG_CP_ENTRY, 500);
	snprintf(m.cp, sizeof(m.cp), "%s", id);
	snprintf(m.u.entry.location, sizeof(m.u.entry.location), "%s", loc);
	m.u.entry.price = price;
	webapi_feed(w, T_CP_CATALOGUE, &m, false);
}

static void gone(struct webapi *w, enum topic t, const char *id)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	snprintf(m.cp, sizeof(m.cp), "%s", id);
	webapi_feed(w, t, &m, true);
}

static void ticket(struct webapi *w, int i)
{
	struct msg m;

	msg_init_at(&m, MSG_TICKET, 2000 + i);
	snprintf(m.cp, sizeof(m.cp), "CP%03d", i);
	snprintf(m.driver, sizeof(m.driver), "DRIVER001");
	snprintf(m.session, sizeof(m.session), "%032x", i);
	m.u.ticket.wh = 1000 * i;
	m.u.ticket.cents = 35 * i;
	m.u.ticket.price = 0.35;
	webapi_feed(w, T_AUTH_RESPONSE, &m, false);
}

static void test_reads(void)
{
	struct webapi w;

	webapi_init(&w, &hooks);
	w.default_kw = 22;
	check(req(&w, "GET", "/api/cps", NULL, NULL, NULL) == 200 &&
	      has("\"counts\":{\"DISCONNECTED\":0,\"ACTIVE\":0,\"SUPPLYING\":0,\"STOPPED\":0,\"BROKEN\":0,\"REVOKED\":0}") &&
	      has("\"cps\":[]") && has("\"total\":0"),
	      "no CP: every state counted 0, an empty list");
	entry(&w, "CP002", "Madrid", 0.4);
	check(req(&w, "GET", "/api/cps/CP002", NULL, NULL, NULL) == 200 &&
	      has("\"state\":\"DISCONNECTED\",\"color\":\"grey\"") &&
	      has("\"registered\":true") && has("\"power_kw\":22") &&
	      has("\"price\":0.4,"),
	      "a CP of the catalogue without cp-state: DISCONNECTED, grey, the default power");
	state(&w, "CP001", CP_SUPPLYING, "Alicante", 5000);
	check(req(&w, "GET", "/api/cps/CP001", NULL, NULL, NULL) == 200 &&
	      has("\"color\":\"green\"") && has("\"driver\":\"DRIVER001\"") &&
	      has("\"kw\":11.5,\"kwh\":1.234,\"eur\":0.43") &&
	      has("\"since\":4990") && has("\"registered\":false"),
	      "a CP supplying: its driver, session and figures");
	state(&w, "CP003", CP_STOPPED, "Elche", 5000);
	check(req(&w, "GET", "/api/cps/CP003", NULL, NULL, NULL) == 200 &&
	      has("\"color\":\"orange\"") && has("\"driver\":null") &&
	      has("\"kw\":null,\"kwh\":null,\"eur\":null"),
	      "a CP stopped: orange, no figures");
	state(&w, "CP004", CP_REVOKED, "Elda", 5000);
	check(req(&w, "GET", "/api/cps/CP004", NULL, NULL, NULL) == 200 &&
	      has("\"state\":\"REVOKED\",\"color\":\"grey\""),
	      "a CP whose keys were revoked: REVOKED, grey");
	gone(&w, T_CP_STATE, "CP004");
	check(req(&w, "GET", "/api/cps", NULL, NULL, NULL) == 200 &&
	      strstr(resp.body.s, "CP001") < strstr(resp.body.s, "CP002") &&
	      strstr(resp.body.s, "CP002") < strstr(resp.body.s, "CP003") &&
	      has("\"SUPPLYING\":1") && has("\"total\":3"),
	      "the list is sorted by id and counted");
	check(req(&w, "GET", "/api/cps", "state=STOPPED", NULL, NULL) == 200 &&
	      has("CP003") && !has("CP001") && has("\"total\":1"),
	      "state= filters, total counts after filtering");
	check(req(&w, "GET", "/api/cps", "q=mAd", NULL, NULL) == 200 &&
	      has("CP002") && !has("CP001") && has("\"total\":1"),
	      "q= finds a location, whatever its case");
	check(req(&w, "GET", "/api/cps", "offset=1&limit=1", NULL, NULL) == 200 &&
	      has("CP002") && !has("CP001") && !has("CP003") &&
	      has("\"total\":3"),
	      "offset= and limit= page the list");
	check(req(&w, "GET", "/api/cps", "state=NOPE", NULL, NULL) == 400 &&
	      req(&w, "GET", "/api/cps", "limit=-1", NULL, NULL) == 400 &&
	      req(&w, "GET", "/api/cps", "sort=id", NULL, NULL) == 400 &&
	      req(&w, "GET", "/api/cps", "x", NULL, NULL) == 400 &&
	      has("\"error\":") && has("\"subject\":"),
	      "a bad query: 400 with an error body");
	check(req(&w, "GET", "/api/sessions", NULL, NULL, NULL) == 200 &&
	      has("{\"cp\":\"CP001\",\"driver\":\"DRIVER001\"") &&
	      !has("CP003"), "sessions: the CPs supplying");
	check(req(&w, "GET", "/api/cps/CP009", NULL, NULL, NULL) == 404 &&
	      req(&w, "GET", "/api/cps/.probe", NULL, NULL, NULL) == 400 &&
	      req(&w, "GET", "/api/cps/CP001/x", NULL, NULL, NULL) == 404,
	      "an unknown CP is 404, a bad id 400, an unknown verb 404");
	gone(&w, T_CP_STATE, "CP003");
	check(req(&w, "GET", "/api/cps/CP003", NULL, NULL, NULL) == 404 &&
	      req(&w, "GET", "/api/cps", NULL, NULL, NULL) == 200 &&
	      has("\"total\":2") && has("\"STOPPED\":0"),
	      "a CP erased from cp-state and not in the catalogue is gone");
	webapi_free(&w);
}

static void test_tickets(void)
{
	struct webapi w;

	webapi_init(&w, &hooks);
	for (int i = 1; i <= 60; i++)
		ticket(&w, i);
	req(&w, "GET", "/api/tickets", NULL, NULL, NULL);
	check(resp.status == 200 && has("\"cp\":\"CP060\"") &&
	      strstr(resp.body.s, "CP060") < strstr(resp.body.s, "CP059") &&
	      has("CP011") && !has("CP010\"") && has("\"kwh\":60.000") &&
	      has("\"eur\":21.00"),
	      "tickets: the last 50, newest first");
	webapi_free(&w);
}

static void test_auth(void)
{
	struct webapi w;

	webapi_init(&w, &hooks);
	entry(&w, "CP001", "Alicante", 0.35);
	nsent = 0;
	check(req(&w, "POST", "/api/cps/CP001/stop", NULL, NULL, NULL) == 403 &&
	      nsent == 0, "no token, not on loopback: writes refused (403)");
	w.open_writes = true;
	check(req(&w, "POST", "/api/cps/CP001/stop", NULL, NULL, NULL) == 202 &&
	      has("{\"ok\":true,\"sent\":1}") && nsent == 1 &&
	      sent_to[0] == T_CONTROL && sent[0].u.ctl.cmd == CMD_STOP &&
	      !strcmp(sent[0].cp, "CP001") && !sent[0].u.ctl.all,
	      "no token, on loopback: a stop is a control message");
	w.token = TOKEN;
	nsent = 0;
	check(req(&w, "POST", "/api/cps/CP001/resume", NULL, NULL, NULL) == 401 &&
	      resp.challenge && has("missing token") && nsent == 0,
	      "a token set and none given: 401 with a challenge");
	check(req(&w, "POST", "/api/cps/CP001/resume", NULL,
		  "Bearer 0123456789abcdef-wrong", NULL) == 401 &&
	      has("wrong token") && nsent == 0, "a wrong token: 401");
	check(req(&w, "POST", "/api/cps/CP001/resume", NULL, "Basic eDp5",
		  NULL) == 401 && nsent == 0, "not a bearer: 401");
	check(req(&w, "POST", "/api/cps/CP001/resume", NULL, "Bearer " TOKEN,
		  NULL) == 202 && nsent == 1 && sent[0].u.ctl.cmd == CMD_RESUME,
	      "the token: 202, resume sent");
	check(req(&w, "POST", "/api/stop-all", NULL, "Bearer " TOKEN, NULL) == 202 &&
	      nsent == 2 && sent[1].u.ctl.all && sent[1].u.ctl.cmd == CMD_STOP &&
	      req(&w, "POST", "/api/resume-all", NULL, "Bearer " TOKEN, NULL) == 202 &&
	      sent[2].u.ctl.all && sent[2].u.ctl.cmd == CMD_RESUME,
	      "stop-all and resume-all: one control message for every CP");
	nsent = 0;
	check(req(&w, "POST", "/api/cps/CP404/stop", NULL, "Bearer " TOKEN,
		  NULL) == 404 && nsent == 0, "stopping an unknown CP: 404");
	check(req(&w, "GET", "/api/cps", NULL, NULL, NULL) == 200,
	      "reads are open without web.read_token");
	w.read_token = RTOKEN;
	check(req(&w, "GET", "/api/cps", NULL, NULL, NULL) == 401 &&
	      req(&w, "GET", "/api/events", NULL, NULL, NULL) == 401 &&
	      req(&w, "GET", "/api/cps", NULL, "Bearer " RTOKEN, NULL) == 200 &&
	      req(&w, "GET", "/api/cps", NULL, "Bearer " TOKEN, NULL) == 200,
	      "web.read_token: reads need it or the write token");
	check(req(&w, "POST", "/api/stop-all", NULL, "Bearer " RTOKEN, NULL) == 401 &&
	      nsent == 0, "the read token cannot write");
	fail_commit = 1;
	check(req(&w, "POST", "/api/stop-all", NULL, "Bearer " TOKEN, NULL) == 503,
	      "Kafka not taking it: 503");
	fail_commit = 0;
	webapi_free(&w);
}

/* act I was ACTION on SUBJECT, answered STATUS. */
static bool act_is(int i, enum audit_action action, const char *subject,
		   int status)
{
	return i < nacts && acts[i].set && acts[i].action == action &&
	       !strcmp(acts[i].subject, subject) && acted[i] == status;
}

/* Every write asked goes to the audit hook with its answer; reads do not. */
static void test_audit(void)
{
	struct webapi w;

	webapi_init(&w, &hooks);
	entry(&w, "CP001", "Alicante", 0.35);
	w.token = TOKEN;
	nacts = 0;
	req(&w, "GET", "/api/cps", NULL, NULL, NULL);
	req(&w, "GET", "/api/cps/CP001", NULL, NULL, NULL);
	req(&w, "GET", "/api/cps/CP001/stop", NULL, NULL, NULL);
	check(nacts == 0, "audit: reads and a wrong method are no writes");
	req(&w, "POST", "/api/cps/CP001/stop", NULL, NULL, NULL);
	req(&w, "POST", "/api/resume-all", NULL, "Bearer " TOKEN, NULL);
	req(&w, "POST", "/api/cps/CP404/resume", NULL, "Bearer " TOKEN, NULL);
	check(nacts == 3 && act_is(0, AUDIT_STOP, "CP001", 401) &&
	      act_is(1, AUDIT_RESUME_ALL, "", 202) &&
	      act_is(2, AUDIT_RESUME, "CP404", 404),
	      "audit: a refused stop, resume-all, a resume of an unknown CP");
	nacts = 0;
	req(&w, "PUT", "/api/cps/CP002", NULL, "Bearer " TOKEN,
	    "{\"location\":\"Elche\",\"price\":0.5}");
	req(&w, "PUT", "/api/cps/CP001", NULL, "Bearer " TOKEN,
	    "{\"location\":\"Alicante\",\"price\":0.45}");
	req(&w, "DELETE", "/api/cps/CP404", NULL, "Bearer " TOKEN, NULL);
	check(nacts == 3 && act_is(0, AUDIT_CP_ADD, "CP002", 201) &&
	      !strcmp(acts[0].detail, "location 'Elche', 0.50 EUR/kWh") &&
	      act_is(1, AUDIT_CP_CHANGE, "CP001", 200) &&
	      act_is(2, AUDIT_CP_REMOVE, "CP404", 404) && !*acts[2].detail,
	      "audit: a CP added, one changed, an unknown one removed");
	webapi_free(&w);
}

/* GET /metrics: the hook's text, a read as the API's. */
static void test_metrics(void)
{
	struct webapi w;

	webapi_init(&w, &hooks);
	check(req(&w, "GET", "/metrics", NULL, NULL, NULL) == 200 &&
	      !strcmp(resp.type, METRICS_CONTENT_TYPE) &&
	      !strcmp(resp.body.s, "evc_x 1\nok 2\n"),
	      "GET /metrics: the text of the hook, Prometheus' content type");
	check(req(&w, "POST", "/metrics", NULL, NULL, NULL) == 405 &&
	      req(&w, "GET", "/metrics", "x=1", NULL, NULL) == 200,
	      "POST /metrics: 405");
	w.read_token = RTOKEN;
	check(req(&w, "GET", "/metrics", NULL, NULL, NULL) == 401 &&
	      req(&w, "GET", "/metrics", NULL, "Bearer " RTOKEN, NULL) == 200,
	      "web.read_token: /metrics needs it as the API does");
	webapi_free(&w);
}

static void test_catalogue(void)
{
	static const struct {
		const char *sentence, *body, *error;
	} bad[] = {
		{ "malformed JSON", "{\"location\":", "malformed JSON" },
		{ "not an object", "[1]", "not a JSON object" },
		{ "an unknown field", "{\"location\":\"x\",\"price\":1,\"owner\":1}",
		  "unknown field" },
		{ "a price as a string", "{\"location\":\"x\",\"price\":\"1\"}",
		  "wrong type of field" },
		{ "no location", "{\"price\":1}", "missing field" },
		{ "no price", "{\"location\":\"x\"}", "missing field" },
		{ "a negative price", "{\"location\":\"x\",\"price\":-0.1}",
		  "price not from" },
		{ "an absurd price", "{\"location\":\"x\",\"price\":1e9}",
		  "price not from" },
		{ "an absurd power", "{\"location\":\"x\",\"price\":1,\"power_kw\":1e9}",
		  "power not from" },
		{ "a field twice", "{\"location\":\"x\",\"location\":\"y\",\"price\":1}",
		  "malformed JSON" },
		{ "an escape in the location", "{\"location\":\"\\u001b[2J\",\"price\":1}",
		  "location not printable" },
		{ "an empty body", "", "malformed JSON" },
	};
	struct webapi w;

	webapi_init(&w, &hooks);
	w.token = TOKEN;
	nsent = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check(req(&w, "PUT", "/api/cps/CP001", NULL, "Bearer " TOKEN,
			  bad[i].body) == 400 && has(bad[i].error) && nsent == 0,
		      "PUT with %s: 400 '%s', nothing sent", bad[i].sentence,
		      bad[i].error);
	check(req(&w, "PUT", "/api/cps/CP001", NULL, "Bearer " TOKEN,
		  "{\"location\":\"Alicante\",\"price\":0.35,\"power_kw\":11}") == 201 &&
	      nsent == 1 && sent_to[0] == T_CP_CATALOGUE &&
	      sent[0].type == MSG_CP_ENTRY && sent[0].u.entry.power_kw == 11 &&
	      sent[0].ts == 1000, "PUT of a new CP: 201, its entry sent");
	entry(&w, "CP001", "Alicante", 0.35);
	check(req(&w, "PUT", "/api/cps/CP001", NULL, "Bearer " TOKEN,
		  "{\"location\":\"Alicante\",\"price\":0.5}") == 200 &&
	      nsent == 2 && sent[1].u.entry.price == 0.5,
	      "PUT of a CP in the catalogue: 200");
	check(req(&w, "PUT", "/api/cps/CP%201", NULL, "Bearer " TOKEN,
		  "{\"location\":\"x\",\"price\":1}") == 400 && nsent == 2,
	      "PUT of a path that is no CP id: 400");
	check(req(&w, "DELETE", "/api/cps/CP001", NULL, "Bearer " TOKEN, NULL) == 200 &&
	      nerased == 1 && !strcmp(erased, "CP001"),
	      "DELETE of a CP in the catalogue: 200, erased");
	gone(&w, T_CP_CATALOGUE, "CP001");
	check(req(&w, "DELETE", "/api/cps/CP001", NULL, "Bearer " TOKEN, NULL) == 404 &&
	      nerased == 1, "DELETE of a CP not in the catalogue: 404");
	check(req(&w, "DELETE", "/api/cps/CP001", NULL, NULL, NULL) == 401 &&
	      nerased == 1, "DELETE without the token: 401");
	webapi_free(&w);
}

static void test_routes(void)
{
	struct webapi w;

	webapi_init(&w, &hooks);
	check(req(&w, "POST", "/api/cps", NULL, NULL, NULL) == 405 &&
	      resp.allow && !strcmp(resp.allow, "GET"),
	      "POST /api/cps: 405, Allow: GET");
	check(req(&w, "PATCH", "/api/cps/CP001", NULL, NULL, NULL) == 405 &&
	      !strcmp(resp.allow, "GET, PUT, DELETE"),
	      "PATCH /api/cps/ID: 405, Allow: GET, PUT, DELETE");
	check(req(&w, "GET", "/api/stop-all", NULL, NULL, NULL) == 405 &&
	      !strcmp(resp.allow, "POST"), "GET /api/stop-all: 405, Allow: POST");
	check(req(&w, "GET", "/api/../etc/passwd", NULL, NULL, NULL) == 400 &&
	      req(&w, "GET", "/api//cps", NULL, NULL, NULL) == 400 &&
	      req(&w, "GET", "/api/cps/CP%2F1", NULL, NULL, NULL) == 400 &&
	      req(&w, "GET", "/x y", NULL, NULL, NULL) == 400 &&
	      req(&w, "GET", "relative", NULL, NULL, NULL) == 400,
	      "paths with '..', '//', '%%' or a blank: 400");
	check(req(&w, "GET", "/nothing", NULL, NULL, NULL) == 404 &&
	      !strcmp(resp.type, "application/json") &&
	      has("{\"error\":\"no such resource\",\"subject\":\"/nothing\"}"),
	      "an unknown path: 404 with a JSON body");
	check(req(&w, "GET", "/api/sessions", "x=1", NULL, NULL) == 400,
	      "a query where none is taken: 400");
	check(req(&w, "GET", "/", NULL, NULL, NULL) == 200 && resp.bytes &&
	      !strncmp(resp.type, "text/html", 9),
	      "/ serves index.html");
	check(req(&w, "GET", "/api/openapi.json", NULL, NULL, NULL) == 200 &&
	      resp.nbytes > 100 && !strcmp(resp.type, "application/json") &&
	      strstr((const char *)resp.bytes, "\"openapi\""),
	      "/api/openapi.json serves the OpenAPI document");
	check(req(&w, "GET", "/api/events", NULL, NULL, NULL) == 200 &&
	      resp.stream && !strcmp(resp.type, "text/event-stream"),
	      "/api/events opens a stream");
	webapi_free(&w);
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

static void test_events(void)
{
	struct webapi w;
	struct webapi_cursor c;
	struct jbuf b = { 0 };

	webapi_init(&w, &hooks);
	state(&w, "CP001", CP_ACTIVE, "Alicante", 100);
	webapi_hello(&w, &b, &c);
	check(!strcmp(b.s, "event: hello\ndata: {\"counts\":{\"DISCONNECTED\":0,"
		      "\"ACTIVE\":1,\"SUPPLYING\":0,\"STOPPED\":0,\"BROKEN\":0,\"REVOKED\":0},"
		      "\"total\":1}\n\n") && !webapi_pending(&w, &c),
	      "hello: the counts and the total, nothing pending after");
	for (int i = 0; i < 1000; i++)
		state(&w, "CP002", i % 2 ? CP_SUPPLYING : CP_ACTIVE, "Madrid",
		      200 + i);
	ticket(&w, 1);
	b.len = 0;
	check(webapi_pending(&w, &c) && !webapi_events(&w, &b, &c, 65536) &&
	      count(b.s, "event: cp\n") == 1 && count(b.s, "CP002") == 1 &&
	      count(b.s, "event: ticket\n") == 1 &&
	      count(b.s, "event: counts\n") == 1 &&
	      strstr(b.s, "\"state\":\"SUPPLYING\""),
	      "a CP changed 1000 times is sent once, in its last state, with the ticket and the counts");
	state(&w, "CP001", CP_BROKEN, "Alicante", 300);
	state(&w, "CP002", CP_ACTIVE, "Madrid", 300);
	state(&w, "CP001", CP_ACTIVE, "Alicante", 400);
	b.len = 0;
	webapi_events(&w, &b, &c, 65536);
	check(count(b.s, "event: cp\n") == 2 &&
	      strstr(b.s, "\"id\":\"CP002\"") < strstr(b.s, "\"id\":\"CP001\""),
	      "changes come in the order of their last change");
	b.len = 0;
	for (int i = 0; i < 100; i++) {
		char id[16];

		snprintf(id, sizeof(id), "CP%03d", 100 + i);
		state(&w, id, CP_ACTIVE, "x", 500);
	}
	check(webapi_events(&w, &b, &c, 1000) && b.len < 2000 &&
	      webapi_events(&w, &b, &c, 1000000) == false &&
	      count(b.s, "event: cp\n") == 100,
	      "a budget cuts the events in turns, none lost");
	{
		struct webapi_cursor c2 = c;
		struct jbuf b2 = { 0 };

		state(&w, "CP002", CP_BROKEN, "Madrid", 600);
		b.len = 0;
		webapi_events(&w, &b, &c, 65536);
		webapi_events(&w, &b2, &c2, 65536);
		state(&w, "CP002", CP_ACTIVE, "Madrid", 700);
		webapi_events(&w, &b2, &c2, 65536);
		check(b.len && b.len < b2.len && !memcmp(b.s, b2.s, b.len) &&
		      strstr(b2.s + b.len, "\"state\":\"ACTIVE\""),
		      "two streams get the same event, and a new one after a new change");
		c = c2;
		jbuf_free(&b2);
	}
	gone(&w, T_CP_STATE, "CP001");
	b.len = 0;
	webapi_events(&w, &b, &c, 65536);
	check(strstr(b.s, "event: gone\ndata: {\"id\":\"CP001\"}") &&
	      count(b.s, "event: counts\n") == 1,
	      "a CP gone: a gone event and new counts");
	for (int i = 0; i < 70; i++)
		ticket(&w, i);
	b.len = 0;
	webapi_events(&w, &b, &c, 1000000);
	check(count(b.s, "event: ticket\n") == WEBAPI_TICKETS,
	      "a client far behind gets the last %d tickets", WEBAPI_TICKETS);
	jbuf_free(&b);
	webapi_free(&w);
}

/* A second of 10,000 CPs changing, to 100 streams: the events, timed. */
static void sse_second(struct webapi *w)
{
	static struct webapi_cursor c[100];
	struct jbuf b = { 0 };
	struct timespec t0, t1;
	size_t bytes = 0;
	double ms;

	for (int i = 0; i < 100; i++)
		webapi_hello(w, &b, &c[i]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10000; i++) {
		char id[16];

		snprintf(id, sizeof(id), "CP%05d", i);
		state(w, id, CP_SUPPLYING, "Calle Mayor 1, Alicante", 2000);
	}
	for (int i = 0; i < 100; i++) {
		do {
			b.len = 0;
			webapi_events(w, &b, &c[i], 32768);
			bytes += b.len;
		} while (webapi_pending(w, &c[i]));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	check(bytes > 100 * 10000 * 200 && ms < 5000,
	      "10000 CP changes to 100 streams: %zu MB of events in %.0f ms",
	      bytes >> 20, ms);
	jbuf_free(&b);
}

/* 10,000 CPs: one GET /api/cps, timed (evc-web(1)'s target: 50 ms). */
static void test_big(void)
{
	struct webapi w;
	struct timespec t0, t1;
	double ms;

	webapi_init(&w, &hooks);
	for (int i = 0; i < 10000; i++) {
		char id[16];

		snprintf(id, sizeof(id), "CP%05d", i);
		entry(&w, id, "Calle Mayor 1, Alicante", 0.35);
		state(&w, id, i % 3 ? CP_ACTIVE : CP_SUPPLYING,
		      "Calle Mayor 1, Alicante", 1000);
	}
	req(&w, "GET", "/api/cps", "limit=1", NULL, NULL);	/* sorted once */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	req(&w, "GET", "/api/cps", NULL, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	check(resp.status == 200 && has("\"total\":10000") &&
	      count(resp.body.s, "\"id\":") == 10000 && ms < 500,
	      "GET /api/cps of 10000 CPs: %zu bytes in %.1f ms",
	      resp.body.len, ms);
	sse_second(&w);
	webapi_free(&w);
}

int main(void)
{
	test_reads();
	test_tickets();
	test_auth();
	test_audit();
	test_metrics();
	test_catalogue();
	test_routes();
	test_events();
	test_big();
	jbuf_free(&resp.body);
	return check_done();
}
