/* webapi.c: evc web's API without sockets: the CPs, sessions and tickets it follows, requests answered, SSE events written. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "figure.h"
#include "metrics.h"
#include "registry.h"
#include "webapi.h"
#include "xalloc.h"

#define NONE UINT32_MAX
#define LIMIT_MAX 1000000

/* The panel's colours (lib/panel.c), by name. */
static const char *const colours[CP_STATE_COUNT] = {
	[CP_DISCONNECTED] = "grey", [CP_ACTIVE] = "green",
	[CP_SUPPLYING] = "green", [CP_STOPPED] = "orange",
	[CP_BROKEN] = "red", [CP_REVOKED] = "grey",
};

void webapi_init(struct webapi *w, const struct webapi_hooks *h)
{
	memset(w, 0, sizeof(*w));
	index_init(&w->by_id, sizeof(struct webapi_cp),
		   offsetof(struct webapi_cp, id));
	w->first = w->last = NONE;
	if (h)
		w->hooks = *h;
}

void webapi_free(struct webapi *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		free(w->rows[i].event);
	index_free(&w->by_id);
	free(w->rows);
	free(w->sorted);
	memset(w, 0, sizeof(*w));
}

/* --- the CPs --------------------------------------------------------------- */

static bool shown(const struct webapi_cp *p)
{
	return p->has_state || p->in_cat;
}

/* A CP in the catalogue that Central has not published yet: as Central starts it. */
static enum cp_state state_of(const struct webapi_cp *p)
{
	return p->has_state ? p->st.state : CP_DISCONNECTED;
}

static struct webapi_cp *row_of(struct webapi *w, const char *id)
{
	struct webapi_cp *p = index_get(&w->by_id, w->rows, id);

	if (p)
		return p;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->rows = xreallocarray(w->rows, w->cap, sizeof(*w->rows));
	}
	p = &w->rows[w->n];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->prev = p->next = NONE;
	p->counted = -1;
	index_put(&w->by_id, w->rows, w->n++);
	return p;
}

/* Moves row i to the end of the order of changes, with a new seq. */
static void touch(struct webapi *w, uint32_t i)
{
	struct webapi_cp *p = &w->rows[i];

	if (p->prev != NONE || w->first == i) {	/* in the list: unlink */
		if (p->prev != NONE)
			w->rows[p->prev].next = p->next;
		else
			w->first = p->next;
		if (p->next != NONE)
			w->rows[p->next].prev = p->prev;
		else
			w->last = p->prev;
	}
	p->prev = w->last;
	p->next = NONE;
	if (w->last != NONE)
		w->rows[w->last].next = i;
	else
		w->first = i;
	w->last = i;
	p->seq = ++w->seq;
}

/* Counts and order after row p changed. */
static void recount(struct webapi *w, struct webapi_cp *p)
{
	int now = shown(p) ? (int)state_of(p) : -1;

	if (now == p->counted)
		return;
	if (p->counted >= 0)
		w->counts[p->counted]--;
	if (now >= 0)
		w->counts[now]++;
	if ((p->counted < 0) != (now < 0)) {
		w->total += now < 0 ? -1 : 1;
		w->sorted_ok = false;
	}
	p->counted = now;
	w->counts_seq = w->seq;
}

static void keep_ticket(struct webapi *w, const struct msg *m)
{
	struct webapi_ticket *t = &w->tickets[w->tseq % WEBAPI_TICKETS];

	memset(t, 0, sizeof(*t));
	memcpy(t->cp, m->cp, sizeof(t->cp));
	memcpy(t->driver, m->driver, sizeof(t->driver));
	memcpy(t->session, m->session, sizeof(t->session));
	t->t = m->u.ticket;
	t->ts = m->ts;
	t->seq = ++w->tseq;
}

void webapi_feed(struct webapi *w, enum topic t, const struct msg *m,
		 bool gone)
{
	struct webapi_cp *p;

	if (t == T_AUTH_RESPONSE && !gone && m->type == MSG_TICKET)
		keep_ticket(w, m);
	if (t != T_CP_STATE && t != T_CP_CATALOGUE)
		return;
	p = row_of(w, m->cp);
	if (t == T_CP_STATE) {
		p->has_state = !gone;
		if (!gone) {
			p->st = m->u.state;
			p->st_ts = m->ts;
			memcpy(p->driver, m->driver, sizeof(p->driver));
			memcpy(p->session, m->session, sizeof(p->session));
		}
	} else {
		p->in_cat = !gone;
		if (!gone) {
			p->e = m->u.entry;
			p->e_ts = m->ts;
		}
	}
	touch(w, (uint32_t)(p - w->rows));
	recount(w, p);
}

static int by_id(const void *a, const void *b, void *arg)
{
	const struct webapi_cp *rows = arg;

	return strcmp(rows[*(const uint32_t *)a].id,
		      rows[*(const uint32_t *)b].id);
}

/* The shown rows by id: made again only when one comes or goes. */
static const uint32_t *sorted(struct webapi *w)
{
	if (w->sorted_ok)
		return w->sorted;
	w->sorted = xreallocarray(w->sorted, (size_t)w->n + 1,
				  sizeof(*w->sorted));
	w->nsorted = 0;
	for (uint32_t i = 0; i < w->n; i++)
		if (shown(&w->rows[i]))
			w->sorted[w->nsorted++] = i;
	qsort_r(w->sorted, w->nsorted, sizeof(*w->sorted), by_id, w->rows);
	w->sorted_ok = true;
	return w->sorted;
}

/* --- JSON ------------------------------------------------------------------ */

static void key_str(struct jbuf *b, const char *k, const char *v)
{
	jbuf_str(b, ",\"");
	jbuf_str(b, k);
	jbuf_str(b, "\":");
	if (v && *v)
		jbuf_quote(b, v);
	else
		jbuf_str(b, "null");
}

static void live(struct jbuf *b, const struct webapi_cp *p)
{
	if (state_of(p) != CP_SUPPLYING) {
		jbuf_str(b, ",\"kw\":null,\"kwh\":null,\"eur\":null");
		return;
	}
	jbuf_str(b, ",\"kw\":");
	jbuf_num(b, p->st.live.kw, 3);
	jbuf_str(b, ",\"kwh\":");
	jbuf_fixed(b, p->st.live.wh, 1000, 3);
	jbuf_str(b, ",\"eur\":");
	jbuf_fixed(b, p->st.live.cents, 100, 2);
}

static void cp_json(const struct webapi *w, struct jbuf *b,
		    const struct webapi_cp *p)
{
	enum cp_state s = state_of(p);
	const char *loc = p->in_cat ? p->e.location : p->st.location;
	double price = p->in_cat ? p->e.price : p->st.price;
	double kw = p->in_cat && p->e.power_kw > 0 ? p->e.power_kw :
		    w->default_kw;

	jbuf_str(b, "{\"id\":");
	jbuf_quote(b, p->id);
	jbuf_str(b, ",\"state\":\"");
	jbuf_str(b, cp_state_name(s));
	jbuf_str(b, "\",\"color\":\"");
	jbuf_str(b, colours[s]);
	jbuf_str(b, "\",\"location\":");
	jbuf_quote(b, loc);
	jbuf_str(b, ",\"price\":");
	jbuf_num(b, price, 6);
	jbuf_str(b, ",\"power_kw\":");
	jbuf_num(b, kw, 3);
	jbuf_str(b, ",\"since\":");
	jbuf_int(b, p->has_state ? p->st.since : p->e_ts);
	key_str(b, "driver", s == CP_SUPPLYING ? p->driver : NULL);
	key_str(b, "session", s == CP_SUPPLYING ? p->session : NULL);
	live(b, p);
	jbuf_str(b, ",\"updated\":");
	jbuf_int(b, p->st_ts > p->e_ts ? p->st_ts : p->e_ts);
	jbuf_str(b, p->in_cat ? ",\"registered\":true}" : ",\"registered\":false}");
}

static void counts_json(const struct webapi *w, struct jbuf *b)
{
	jbuf_str(b, "\"counts\":{");
	for (int s = 0; s < CP_STATE_COUNT; s++)
		jbuf_printf(b, "%s\"%s\":%ld", s ? "," : "",
			    cp_state_name((enum cp_state)s), w->counts[s]);
	jbuf_str(b, "}");
}

static void ticket_json(struct jbuf *b, const struct webapi_ticket *t)
{
	jbuf_str(b, "{\"cp\":");
	jbuf_quote(b, t->cp);
	jbuf_str(b, ",\"driver\":");
	jbuf_quote(b, t->driver);
	jbuf_str(b, ",\"session\":");
	jbuf_quote(b, t->session);
	jbuf_str(b, ",\"kwh\":");
	jbuf_fixed(b, t->t.wh, 1000, 3);
	jbuf_str(b, ",\"eur\":");
	jbuf_fixed(b, t->t.cents, 100, 2);
	jbuf_str(b, ",\"price\":");
	jbuf_num(b, t->t.price, 6);
	jbuf_printf(b, ",\"started\":%lld,\"ended\":%lld,\"reason\":\"%s\",\"ts\":%lld}",
		    (long long)t->t.started, (long long)t->t.ended,
		    msg_end_name(t->t.reason), (long long)t->ts);
}

/* --- reads ----------------------------------------------------------------- */

static void ok_json(struct http_resp *r, int status)
{
	r->status = status;
	r->type = "application/json";
}

struct filter {
	int state;		/* -1: any */
	char q[MSG_TEXT_MAX + 1];
	unsigned long offset, limit;
};

static int number(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -1;
	*out = strtoul(s, &end, 10);
	return 0;
}

/* The query of GET /api/cps: 0, or -1 with r the 400. */
static int parse_filter(const char *query, struct filter *f,
			struct http_resp *r)
{
	char name[32], value[MSG_TEXT_MAX + 1];
	int got;

	f->state = -1;
	f->q[0] = '\0';
	f->offset = 0;
	f->limit = LIMIT_MAX;
	while ((got = http_query_next(&query, name, sizeof(name), value,
				      sizeof(value))) > 0) {
		if (!strcmp(name, "state")) {
			if ((f->state = cp_state_parse(value)) < 0)
				goto bad;
		} else if (!strcmp(name, "q")) {
			memcpy(f->q, value, sizeof(f->q));
		} else if (!strcmp(name, "offset") || !strcmp(name, "limit")) {
			if (number(value, name[0] == 'o' ? &f->offset :
				   &f->limit))
				goto bad;
		} else {
			http_error(r, 400, "unknown query parameter", name);
			return -1;
		}
	}
	if (got == 0)
		return 0;
	http_error(r, 400, "malformed query", query);
	return -1;
bad:
	http_error(r, 400, "bad value of query parameter", name);
	return -1;
}

static bool matches(const struct webapi_cp *p, const struct filter *f)
{
	if (f->state >= 0 && (int)state_of(p) != f->state)
		return false;
	if (!f->q[0])
		return true;
	return strcasestr(p->id, f->q) ||
	       strcasestr(p->in_cat ? p->e.location : p->st.location, f->q);
}

static void get_cps(struct webapi *w, const char *query, struct http_resp *r)
{
	const uint32_t *ix = sorted(w);
	struct filter f;
	unsigned long total = 0, put = 0;
	struct jbuf *b = &r->body;

	if (parse_filter(query, &f, r))
		return;
	ok_json(r, 200);
	jbuf_str(b, "{");
	counts_json(w, b);
	jbuf_str(b, ",\"cps\":[");
	for (uint32_t i = 0; i < w->nsorted; i++) {
		const struct webapi_cp *p = &w->rows[ix[i]];

		if (!matches(p, &f) || total++ < f.offset || put >= f.limit)
			continue;
		if (put++)
			jbuf_str(b, ",");
		cp_json(w, b, p);
	}
	jbuf_printf(b, "],\"total\":%lu}\n", total);
}

static void get_cp(struct webapi *w, const char *id, struct http_resp *r)
{
	const struct webapi_cp *p = index_get(&w->by_id, w->rows, id);

	if (!p || !shown(p)) {
		http_error(r, 404, "no such CP", id);
		return;
	}
	ok_json(r, 200);
	cp_json(w, &r->body, p);
	jbuf_str(&r->body, "\n");
}

static void get_sessions(struct webapi *w, struct http_resp *r)
{
	const uint32_t *ix = sorted(w);
	struct jbuf *b = &r->body;
	int n = 0;

	ok_json(r, 200);
	jbuf_str(b, "{\"sessions\":[");
	for (uint32_t i = 0; i < w->nsorted; i++) {
		const struct webapi_cp *p = &w->rows[ix[i]];

		if (state_of(p) != CP_SUPPLYING)
			continue;
		jbuf_str(b, n++ ? ",{\"cp\":" : "{\"cp\":");
		jbuf_quote(b, p->id);
		key_str(b, "driver", p->driver);
		key_str(b, "session", p->session);
		live(b, p);
		jbuf_printf(b, ",\"since\":%lld}", (long long)p->st.since);
	}
	jbuf_str(b, "]}\n");
}

static void get_tickets(struct webapi *w, struct http_resp *r)
{
	struct jbuf *b = &r->body;

	ok_json(r, 200);
	jbuf_str(b, "{\"tickets\":[");
	for (uint64_t s = w->tseq, n = 0; s > 0 && n < WEBAPI_TICKETS; s--, n++) {
		if (n)
			jbuf_str(b, ",");
		ticket_json(b, &w->tickets[(s - 1) % WEBAPI_TICKETS]);
	}
	jbuf_str(b, "]}\n");
}

/* --- writes ---------------------------------------------------------------- */

/* Kafka has what was queued: 0, or -1 with r the 503. */
static int committed(struct webapi *w, int queued, struct http_resp *r)
{
	if (queued || w->hooks.commit(w->hooks.arg)) {
		http_error(r, 503, "Kafka did not take it", "");
		return -1;
	}
	return 0;
}

static void control(struct webapi *w, enum msg_cmd cmd, const char *id,
		    struct http_resp *r)
{
	struct msg m;

	msg_init(&m, MSG_CONTROL);
	m.u.ctl.cmd = cmd;
	m.u.ctl.all = !id;
	if (id)
		snprintf(m.cp, sizeof(m.cp), "%s", id);
	if (committed(w, w->hooks.send(w->hooks.arg, T_CONTROL, &m), r))
		return;
	ok_json(r, 202);
	jbuf_str(&r->body, "{\"ok\":true,\"sent\":1}\n");
}

/* The fields of a PUT body: 0, or -1 with r the 400. */
static int entry_fields(json_t *o, const char **loc, double *price,
			double *kw, struct http_resp *r)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		bool known = !strcmp(k, "location") || !strcmp(k, "price") ||
			     !strcmp(k, "power_kw");

		if (!strcmp(k, "location") && json_is_string(v))
			*loc = json_string_value(v);
		else if (!strcmp(k, "price") && json_is_number(v))
			*price = json_number_value(v);
		else if (!strcmp(k, "power_kw") && json_is_number(v))
			*kw = json_number_value(v);
		else
			return http_error(r, 400, known ? "wrong type of field" :
					  "unknown field", k);
	}
	if (!*loc)
		return http_error(r, 400, "missing field", "location");
	if (!json_object_get(o, "price"))
		return http_error(r, 400, "missing field", "price");
	return 0;
}

static bool in_catalogue(const struct webapi *w, const char *id)
{
	const struct webapi_cp *p = index_get(&w->by_id, w->rows, id);

	return p && p->in_cat;
}

static void put_cp(struct webapi *w, const char *id,
		   const struct webapi_req *q, struct http_resp *r)
{
	const struct webapi_cp *p = index_get(&w->by_id, w->rows, id);
	const char *loc = NULL;
	double price = -1, kw = 0;	/* -1: none given */
	enum registry_err e;
	json_error_t jerr;
	json_t *o;
	struct msg m;

	o = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES,
		       &jerr);
	if (!o || !json_is_object(o)) {
		http_error(r, 400, o ? "not a JSON object" : "malformed JSON",
			   o ? "" : jerr.text);
		json_decref(o);
		return;
	}
	if (entry_fields(o, &loc, &price, &kw, r))
		goto out;
	snprintf(w->act.detail, sizeof(w->act.detail), "location '%s', %s EUR/kWh%s%s%s",
		 loc, fig_price(price).s, kw > 0 ? ", " : "",
		 kw > 0 ? fig_kw(kw).s : "", kw > 0 ? " kW" : "");
	e = registry_entry(&m, id, loc, price, kw, q->now);
	if (e != REGISTRY_OK) {
		http_error(r, 400, registry_err_text(e), id);
		goto out;
	}
	if (committed(w, w->hooks.send(w->hooks.arg, T_CP_CATALOGUE, &m), r))
		goto out;
	ok_json(r, p && p->in_cat ? 200 : 201);
	jbuf_str(&r->body, "{\"ok\":true}\n");
out:
	json_decref(o);
}

static void delete_cp(struct webapi *w, const char *id, struct http_resp *r)
{
	const struct webapi_cp *p = index_get(&w->by_id, w->rows, id);

	if (!p || !p->in_cat) {
		http_error(r, 404, "not in the catalogue", id);
		return;
	}
	if (committed(w, w->hooks.erase(w->hooks.arg, T_CP_CATALOGUE, id), r))
		return;
	ok_json(r, 200);
	jbuf_str(&r->body, "{\"ok\":true}\n");
}

/* --- routing --------------------------------------------------------------- */

/* q asks for a write: the trail hears of it once it is answered. */
static void asked(struct webapi *w, enum audit_action a, const char *id)
{
	w->act.set = true;
	w->act.action = a;
	snprintf(w->act.subject, sizeof(w->act.subject), "%s", id ? id : "");
	w->act.detail[0] = '\0';
}

enum access { READ, WRITE };

/* Whether q may do it: true, or false with r the 401 or 403. */
static bool allowed(const struct webapi *w, const struct webapi_req *q,
		    enum access a, struct http_resp *r)
{
	const char *t = http_bearer(q->auth);
	bool need = a == WRITE ? w->token || !w->open_writes :
					w->read_token != NULL;

	if (!need)
		return true;
	if (a == WRITE && !w->token) {
		http_error(r, 403, "writes need web.token when listening beyond loopback",
			   q->path);
		return false;
	}
	if (t && ((w->token && http_token_eq(t, w->token)) ||
		  (a == READ && http_token_eq(t, w->read_token))))
		return true;
	http_error(r, 401, t ? "wrong token" : "missing token", q->path);
	r->challenge = true;
	return false;
}

/* Whether q's method is in allow ("GET, PUT"; HEAD goes with GET), else r is the 405. */
static bool method_is(const struct webapi_req *q, const char *allow,
		      struct http_resp *r)
{
	const char *m = strcmp(q->method, "HEAD") ? q->method : "GET";
	char list[32], *save = NULL;

	snprintf(list, sizeof(list), "%s", allow);
	for (char *t = strtok_r(list, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save))
		if (!strcmp(t, m))
			return true;
	http_error(r, 405, "method not allowed", q->method);
	r->allow = allow;
	return false;
}

/* A path of safe bytes: letters, digits, "/._-"; no "..", no "//". */
static bool path_ok(const char *p)
{
	return p[0] == '/' && strlen(p) < HTTP_URI_MAX &&
	       strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789/._-") == strlen(p) &&
	       !strstr(p, "..") && !strstr(p, "//");
}

/* /api/cps/ID[/VERB]: the id and the verb ("" when none). */
static int split_cp(const char *rest, char *id, char *verb)
{
	size_t n = strcspn(rest, "/");

	if (n == 0 || n > MSG_NAME_MAX)
		return -1;
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!rest[n])
		verb[0] = '\0';
	else if (strlen(rest + n + 1) < 16 && !strchr(rest + n + 1, '/'))
		strcpy(verb, rest + n + 1);
	else
		return -1;
	return 0;
}

static void route_cp(struct webapi *w, const struct webapi_req *q,
		     const char *rest, struct http_resp *r)
{
	char id[MSG_NAME_MAX + 1], verb[16];

	if (split_cp(rest, id, verb) ||
	    (*verb && strcmp(verb, "stop") && strcmp(verb, "resume"))) {
		http_error(r, 404, "no such resource", q->path);
		return;
	}
	if (!msg_cp_id_ok(id)) {
		http_error(r, 400, "not a CP id", id);
		return;
	}
	if (*verb) {
		if (!method_is(q, "POST", r))
			return;
		asked(w, verb[0] == 's' ? AUDIT_STOP : AUDIT_RESUME, id);
		if (!allowed(w, q, WRITE, r))
			return;
		if (!index_get(&w->by_id, w->rows, id) ||
		    !shown(index_get(&w->by_id, w->rows, id)))
			http_error(r, 404, "no such CP", id);
		else
			control(w, verb[0] == 's' ? CMD_STOP : CMD_RESUME, id, r);
		return;
	}
	if (!method_is(q, "GET, PUT, DELETE", r))
		return;
	if (!strcmp(q->method, "GET") || !strcmp(q->method, "HEAD")) {
		if (allowed(w, q, READ, r))
			get_cp(w, id, r);
		return;
	}
	asked(w, q->method[0] == 'D' ? AUDIT_CP_REMOVE : in_catalogue(w, id) ?
	      AUDIT_CP_CHANGE : AUDIT_CP_ADD, id);
	if (allowed(w, q, WRITE, r)) {
		if (q->method[0] == 'P')
			put_cp(w, id, q, r);
		else
			delete_cp(w, id, r);
	}
}

static bool read_route(struct webapi *w, const struct webapi_req *q,
		       struct http_resp *r)
{
	const char *p = q->path;

	if (!method_is(q, "GET", r) || !allowed(w, q, READ, r))
		return true;
	if (!strcmp(p, "/api/cps"))
		get_cps(w, q->query, r);
	else if (*q->query)
		http_error(r, 400, "no query expected", q->query);
	else if (!strcmp(p, "/api/sessions"))
		get_sessions(w, r);
	else if (!strcmp(p, "/api/tickets"))
		get_tickets(w, r);
	else if (!strcmp(p, "/api/events")) {
		ok_json(r, 200);
		r->type = "text/event-stream";
		r->stream = true;
	}
	return true;
}

static void asset(const struct webapi *w, const struct webapi_req *q,
		  struct http_resp *r)
{
	const struct http_asset *a = http_asset_find(q->path);

	if (!a) {
		http_error(r, 404, "no such resource", q->path);
		return;
	}
	if (!method_is(q, "GET", r))
		return;
	if (!strcmp(a->path, "/api/openapi.json") && !allowed(w, q, READ, r))
		return;
	r->status = 200;
	r->type = a->type;
	r->bytes = a->bytes;
	r->nbytes = a->len;
}

/* GET /metrics: a read, as the API's, in Prometheus' text format. */
static void metrics(struct webapi *w, const struct webapi_req *q,
		    struct http_resp *r)
{
	size_t len;
	char *text;

	if (!w->hooks.metrics) {
		http_error(r, 404, "no such resource", q->path);
		return;
	}
	if (!method_is(q, "GET", r) || !allowed(w, q, READ, r))
		return;
	text = w->hooks.metrics(w->hooks.arg, &len);
	r->status = 200;
	r->type = METRICS_CONTENT_TYPE;
	r->body.len = 0;
	jbuf_str(&r->body, text);
	free(text);
}

static void handle(struct webapi *w, const struct webapi_req *q,
		   struct http_resp *r)
{
	const char *p = q->path;

	if (!path_ok(p)) {
		http_error(r, 400, "bad path", p);
		return;
	}
	if (!strncmp(p, "/api/cps/", 9)) {
		route_cp(w, q, p + 9, r);
	} else if (!strcmp(p, "/api/stop-all") ||
		   !strcmp(p, "/api/resume-all")) {
		if (!method_is(q, "POST", r))
			return;
		asked(w, p[5] == 's' ? AUDIT_STOP_ALL : AUDIT_RESUME_ALL, NULL);
		if (allowed(w, q, WRITE, r))
			control(w, p[5] == 's' ? CMD_STOP : CMD_RESUME, NULL, r);
	} else if (!strcmp(p, "/metrics")) {
		metrics(w, q, r);
	} else if (!strcmp(p, "/api/cps") || !strcmp(p, "/api/sessions") ||
		   !strcmp(p, "/api/tickets") || !strcmp(p, "/api/events")) {
		read_route(w, q, r);
	} else {
		asset(w, q, r);
	}
}

void webapi_handle(struct webapi *w, const struct webapi_req *q,
		   struct http_resp *r)
{
	w->act.set = false;
	handle(w, q, r);
	if (w->act.set && w->hooks.audit)
		w->hooks.audit(w->hooks.arg, &w->act, q, r);
}

/* --- events ---------------------------------------------------------------- */

void webapi_hello(struct webapi *w, struct jbuf *b, struct webapi_cursor *c)
{
	jbuf_str(b, "event: hello\ndata: {");
	counts_json(w, b);
	jbuf_printf(b, ",\"total\":%ld}\n\n", w->total);
	c->seq = w->seq;
	c->tseq = w->tseq;
	c->counts_seq = w->counts_seq;
}

bool webapi_pending(const struct webapi *w, const struct webapi_cursor *c)
{
	return c->seq < w->seq || c->tseq < w->tseq ||
	       c->counts_seq < w->counts_seq;
}

/* The first row changed after seq: walked back from the newest. */
static uint32_t after(const struct webapi *w, uint64_t seq)
{
	uint32_t i = w->last, at = NONE;

	while (i != NONE && w->rows[i].seq > seq) {
		at = i;
		i = w->rows[i].prev;
	}
	return at;
}

/*
 * The event of a CP's last change: written once, however many streams
 * send it (10,000 CPs changing every second, 100 streams).
 */
static void cp_event(const struct webapi *w, struct jbuf *b,
		     struct webapi_cp *p)
{
	struct jbuf e = { 0 };

	if (p->event_seq != p->seq || !p->event) {
		if (shown(p)) {
			jbuf_str(&e, "event: cp\ndata: ");
			cp_json(w, &e, p);
		} else {
			jbuf_str(&e, "event: gone\ndata: {\"id\":");
			jbuf_quote(&e, p->id);
			jbuf_str(&e, "}");
		}
		jbuf_str(&e, "\n\n");
		free(p->event);
		p->event = e.s;
		p->event_len = e.len;
		p->event_seq = p->seq;
	}
	jbuf_add(b, p->event, p->event_len);
}

bool webapi_events(struct webapi *w, struct jbuf *b, struct webapi_cursor *c,
		   size_t budget)
{
	size_t start = b->len;

	if (w->tseq - c->tseq > WEBAPI_TICKETS)
		c->tseq = w->tseq - WEBAPI_TICKETS;
	while (c->tseq < w->tseq && b->len - start < budget) {
		jbuf_str(b, "event: ticket\ndata: ");
		ticket_json(b, &w->tickets[c->tseq++ % WEBAPI_TICKETS]);
		jbuf_str(b, "\n\n");
	}
	for (uint32_t i = after(w, c->seq); i != NONE &&
	     b->len - start < budget; i = w->rows[i].next) {
		cp_event(w, b, &w->rows[i]);
		c->seq = w->rows[i].seq;
	}
	if (c->seq == w->seq && c->counts_seq < w->counts_seq) {
		jbuf_str(b, "event: counts\ndata: {");
		counts_json(w, b);
		jbuf_printf(b, ",\"total\":%ld}\n\n", w->total);
		c->counts_seq = w->counts_seq;
	}
	return webapi_pending(w, c);
}
