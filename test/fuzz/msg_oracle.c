/* msg_oracle.c: the fuzzer's oracle: jansson's parse of the same bytes, held against lib/jscan.c and read by msg.c's one table. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/jscan.h"
#include "lib/msg.h"
#include "lib/msg_table.h"
#include "fuzz.h"
#include "msg_oracle.h"

json_t *oracle_parse(const uint8_t *data, size_t size)
{
	json_error_t je;

	return json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
			  &je);
}

/*
 * Part one: the scanner against jansson, on any bytes. The vocabulary is
 * the decoder's (every key of msg.c's table, "live" nesting); which of
 * its keys each object notes comes from a hash of the input, half the
 * time as the decoder asks, else any mix, so that noted keys, other
 * keys and their duplicates meet in every way.
 */
static const char *names[KEY_COUNT];
static struct jkeys keys;
static uint32_t live_keys;

static void keys_init(void)
{
	const struct msg_field *live;
	unsigned n;

	for (int k = 0; k < KEY_COUNT; k++)
		names[k] = msg_table_key((enum msg_key)k);
	jkeys_init(&keys, names, KEY_COUNT);
	live = msg_table_live(&n);
	for (unsigned i = 0; i < n; i++)
		live_keys |= UINT32_C(1) << live[i].key;
}

/* Found by a plain search, not the scanner's hash. */
static int vocabulary_index(const char *key)
{
	for (int k = 0; k < KEY_COUNT; k++)
		if (!strcmp(names[k], key))
			return k;
	return -1;
}

/* A string jscan found against jansson's, whole and cut short. */
static void same_string(const struct jval *v, const char *s, size_t len,
			const char *what)
{
	char *whole = malloc((size_t)v->len + 1), cut[8];
	size_t n;

	if (!whole)
		abort();
	n = jval_unescape(v, whole, (size_t)v->len + 1);
	if (n != len || memcmp(whole, s, len))
		fuzz_fail("%s: jscan %zu bytes, jansson %zu", what, n, len);
	if (jval_unescape(v, cut, sizeof(cut)) != n ||
	    strncmp(cut, s, sizeof(cut) - 1) || strlen(cut) > sizeof(cut) - 1)
		fuzz_fail("%s cut short: '%s'", what, cut);
	free(whole);
}

/* A value jscan noted for key against j, jansson's. */
static void same_value(const struct jval *v, const json_t *j, const char *key)
{
	static const int jansson_type[] = {
		[J_STRING] = JSON_STRING, [J_INT] = JSON_INTEGER,
		[J_REAL] = JSON_REAL, [J_TRUE] = JSON_TRUE,
		[J_FALSE] = JSON_FALSE, [J_NULL] = JSON_NULL,
		[J_OBJECT] = JSON_OBJECT, [J_ARRAY] = JSON_ARRAY,
	};
	double d = json_is_real(j) ? json_real_value(j) : 0;

	if (v->type < J_STRING || v->type > J_ARRAY ||
	    jansson_type[v->type] != (int)json_typeof(j))
		fuzz_fail("key '%s': jscan type %d, jansson %d", key, v->type,
			  (int)json_typeof(j));
	if (v->type == J_INT && v->i != json_integer_value(j))
		fuzz_fail("key '%s': jscan %lld, jansson %lld", key,
			  (long long)v->i, (long long)json_integer_value(j));
	if (v->type == J_REAL && memcmp(&v->d, &d, sizeof(d)))
		fuzz_fail("key '%s': jscan %.17g, jansson %.17g", key, v->d, d);
	if (v->type == J_STRING)
		same_string(v, json_string_value(j), json_string_length(j),
			    key);
}

/*
 * Object o as jscan noted it, keys in allowed, against j: the same
 * count of keys, each noted key at its rank with its value, and the
 * first of the others kept.
 */
static void same_object(const struct jobj *o, const json_t *j,
			uint32_t allowed, uint32_t nest_allowed)
{
	uint32_t seen = 0;
	unsigned rank = 0;
	bool other = false;
	const char *key;
	json_t *val;

	if (o->nkeys != json_object_size(j))
		fuzz_fail("jscan counts %u keys, jansson %zu", o->nkeys,
			  json_object_size(j));
	json_object_foreach((json_t *)j, key, val) {
		int k = vocabulary_index(key);

		if (k >= 0 && (allowed >> k & 1)) {
			seen |= UINT32_C(1) << k;
			if (!(o->mask >> k & 1) || o->slot[k].rank != rank)
				fuzz_fail("key '%s' not noted at %u", key,
					  rank);
			same_value(&o->slot[k], val, key);
			if (&o->slot[k] == o->nest_at && json_is_object(val))
				same_object(o->nest, val, nest_allowed, 0);
		} else if (!other) {
			other = true;
			if (!o->has_other || o->other.rank != rank)
				fuzz_fail("other key '%s' not kept", key);
			same_string(&o->other, key, strlen(key), "other key");
		}
		rank++;
	}
	if (seen != o->mask || other != o->has_other)
		fuzz_fail("jscan noted keys %#x, jansson has %#x", o->mask,
			  seen);
}

static uint32_t input_hash(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

/*
 * The one difference wanted (jscan.h): jansson let a raw NUL pass after
 * a number or a literal; jscan refuses any.
 */
void oracle_check_scan(const uint8_t *data, size_t size, const json_t *root)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint32_t all = MSG_KEYS_ALL;
	uint32_t h = input_hash(data, size);
	uint32_t top_keys = h & 1 ? all : h >> 2 & all;
	uint32_t nest_keys = h & 2 ? live_keys : h << 2 & all;
	struct jobj top, nest;
	struct jscan_error e;
	struct jval v;
	int rc;

	pthread_once(&once, keys_init);
	jobj_init(&top, top_keys, KEY_LIVE, &nest);
	jobj_init(&nest, nest_keys, 0, NULL);
	rc = jscan(data, size, &keys, &top, &v, &e);
	if (size && memchr(data, '\0', size)) {
		if (rc == 0)
			fuzz_fail("a raw NUL byte accepted");
		return;
	}
	if ((rc == 0) != (root != NULL))
		fuzz_fail("verdicts differ: jscan %s (byte %zu: %s), jansson %s",
			  rc ? "refuses" : "accepts", e.at, rc ? e.why : "",
			  root ? "accepts" : "refuses");
	if (rc) {
		if (e.at > size || !e.why[0])
			fuzz_fail("refused at byte %zu of %zu: '%s'", e.at,
				  size, e.why);
		return;
	}
	if (v.type != (json_is_object(root) ? J_OBJECT : J_ARRAY))
		fuzz_fail("jscan finds a document of type %d", v.type);
	if (v.type == J_OBJECT)
		same_object(&top, root, top_keys, nest_keys);
}

/*
 * Part two: a message read from jansson's tree by the table, with the
 * decoder's reasons. Only the table, the rules that tie fields together
 * (msg_check_rules) and the quoting of subjects come from msg.c; the
 * reading of each value and its checks are written here again, plainly,
 * over a tree: the thing the one-pass decoder must agree with.
 */
__attribute__((format(printf, 3, 4)))
static int say(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_bool(const json_t *j) { return json_is_boolean(j); }
static bool is_int(const json_t *j) { return json_is_integer(j); }
static bool is_number(const json_t *j) { return json_is_number(j); }
static bool is_string(const json_t *j) { return json_is_string(j); }
static bool is_object(const json_t *j) { return json_is_object(j); }

/* The JSON type a field of each kind must have, as a refusal names it. */
static const struct {
	bool (*is)(const json_t *);
	const char *what;
} takes[] = {
	[K_BOOL] = { is_bool, "a boolean" },
	[K_INT] = { is_int, "an integer" },
	[K_U32] = { is_int, "an integer" },
	[K_REAL] = { is_number, "a number" },
	[K_TEXT] = { is_string, "a string" },
	[K_UUID] = { is_string, "a string" },
	[K_DENY] = { is_string, "a string" },
	[K_END] = { is_string, "a string" },
	[K_CMD] = { is_string, "a string" },
	[K_STATE] = { is_string, "a string" },
	[K_LIVE] = { is_object, "an object" },
	[K_IDS] = { is_string, "a string" },
};

static bool in_set(const char *s, size_t len, size_t min, size_t max,
		   const char *set)
{
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr(set, s[i]))
			return false;
	return true;
}

static const char hex_set[] = "0123456789abcdef";
static const char name_set[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";

/* "bad id 'x'" for the message's own id, "bad cp id 'x'" for others. */
static int bad_id(const char *label, const json_t *j, char *err, size_t n)
{
	char q[MSG_QUOTE_BUF];

	msg_quote(q, json_string_value(j), json_string_length(j));
	if (!strcmp(label, "id"))
		return say(err, n, "bad id '%s'", q);
	return say(err, n, "bad %s id '%s'", label, q);
}

/* 1 to MSG_IDS_MAX uuids, one space between two: the rule, spelt out. */
static bool ids_ok(const char *s, size_t len)
{
	size_t per = MSG_UUID_LEN + 1;

	if (len < MSG_UUID_LEN || len > MSG_IDS_LEN || (len + 1) % per)
		return false;
	for (size_t i = 0; i < len; i += per)
		if (!in_set(s + i, MSG_UUID_LEN, MSG_UUID_LEN, MSG_UUID_LEN,
			    hex_set) || (i + MSG_UUID_LEN < len &&
					 s[i + MSG_UUID_LEN] != ' '))
			return false;
	return true;
}

/* A string field's own rules, once it is known to be a string. */
static int judge_string(const struct msg_field *f, const json_t *j, char *to,
			const char *prefix, char *err, size_t n)
{
	const char *name = msg_table_key(f->key), *s = json_string_value(j);
	size_t len = json_string_length(j);
	const char *const *names_of;
	char q[MSG_QUOTE_BUF];
	unsigned count, i;

	if (f->kind == K_UUID) {
		if (!in_set(s, len, MSG_UUID_LEN, MSG_UUID_LEN, hex_set))
			return bad_id(name, j, err, n);
	} else if (f->kind == K_IDS) {
		if (!ids_ok(s, len))
			return bad_id(name, j, err, n);
	} else if (f->kind == K_TEXT) {
		if (len > (size_t)f->max)
			return say(err, n, "field '%s%s' too long", prefix, name);
		if (!fuzz_text_ok(s))
			return say(err, n, "field '%s%s' is not printable UTF-8",
				   prefix, name);
	} else {
		names_of = msg_table_names(f->kind, &count);
		for (i = 0; i < count && strcmp(names_of[i], s); i++)
			;
		if (i == count)
			return say(err, n, "bad %s '%s'", name,
				   msg_quote(q, s, len));
		memcpy(to, &i, sizeof(i));
		return 0;
	}
	memcpy(to, s, len + 1);
	return 0;
}

/* A number field's range: integers from 0 to max (or to UINT32_MAX). */
static int judge_number(const struct msg_field *f, const json_t *j, char *to,
			const char *prefix, char *err, size_t n)
{
	double top = f->kind == K_U32 ? (double)UINT32_MAX : (double)f->max;
	double d = json_number_value(j);
	long long i = json_is_integer(j) ? json_integer_value(j) : 0;
	bool out = f->kind == K_REAL ? !isfinite(d) || d < 0 || d > top :
		   i < 0 || (f->kind == K_U32 ? i > UINT32_MAX : i > f->max);
	uint32_t u = (uint32_t)i;
	int64_t i64 = i;

	if (out)
		return say(err, n, "field '%s%s' out of range", prefix,
			   msg_table_key(f->key));
	if (f->kind == K_REAL)
		memcpy(to, &d, sizeof(d));
	else if (f->kind == K_U32)
		memcpy(to, &u, sizeof(u));
	else
		memcpy(to, &i64, sizeof(i64));
	return 0;
}

static int judge_object(const json_t *o, const struct msg_field *fs,
			unsigned nf, char *base, const char *prefix,
			const struct msg_row *row, size_t envelope, char *err,
			size_t n);

/* One field: first its JSON type, then the rules of its kind. */
static int judge(const struct msg_field *f, const json_t *j, char *base,
		 const char *prefix, char *err, size_t n)
{
	const struct msg_field *live;
	unsigned nlive;
	bool yes = json_is_true(j);

	if (!takes[f->kind].is(j))
		return say(err, n, "field '%s%s' must be %s", prefix,
			   msg_table_key(f->key), takes[f->kind].what);
	if (f->kind == K_BOOL) {
		memcpy(base + f->off, &yes, sizeof(yes));
		return 0;
	}
	if (f->kind == K_LIVE) {
		live = msg_table_live(&nlive);
		return judge_object(j, live, nlive, base + f->off, "live.",
				    NULL, 0, err, n);
	}
	if (f->kind == K_INT || f->kind == K_U32 || f->kind == K_REAL)
		return judge_number(f, j, base + f->off, prefix, err, n);
	return judge_string(f, j, base + f->off, prefix, err, n);
}

/* Whether key has a place in an object of fields fs (at the top: row's). */
static bool has_place(const char *key, const struct msg_field *fs,
		      unsigned nf, const struct msg_row *row)
{
	static const char *const head[] = { "v", "type", "id", "ts" };

	for (unsigned i = 0; i < nf; i++)
		if (!strcmp(msg_table_key(fs[i].key), key))
			return true;
	for (unsigned i = 0; row && i < 4; i++)
		if (!strcmp(head[i], key))
			return true;
	return row && ((!strcmp(key, "cp") && row->cp != NO) ||
		       (!strcmp(key, "driver") && row->driver != NO) ||
		       (!strcmp(key, "session") && row->session != NO));
}

/*
 * The fields fs of object o into base, in the table's order; then any
 * key beyond them and the envelope's (counted in envelope) is refused,
 * the first in the document's order named.
 */
static int judge_object(const json_t *o, const struct msg_field *fs,
			unsigned nf, char *base, const char *prefix,
			const struct msg_row *row, size_t envelope, char *err,
			size_t n)
{
	char q[MSG_QUOTE_BUF];
	const char *key;
	unsigned present = 0;
	json_t *j;

	for (unsigned i = 0; i < nf; i++) {
		const char *name = msg_table_key(fs[i].key);

		if (!(j = json_object_get(o, name)) && fs[i].opt)
			continue;	/* an optional string left "" */
		if (!j)
			return say(err, n, "missing field '%s%s'", prefix, name);
		if (judge(&fs[i], j, base, prefix, err, n))
			return -1;
		present++;
	}
	if (json_object_size(o) == present + envelope)
		return 0;
	json_object_foreach((json_t *)o, key, j)
		if (!has_place(key, fs, nf, row))
			return say(err, n, "unknown field '%s%s'", prefix,
				   msg_quote(q, key, strlen(key)));
	return say(err, n, "unknown field");
}

/* A key of the envelope: present, and of the JSON type it must have. */
static const json_t *envelope_key(const json_t *o, const char *key,
				  bool (*is)(const json_t *), const char *what,
				  char *err, size_t n)
{
	const json_t *j = json_object_get(o, key);

	if (!j)
		say(err, n, "missing field '%s'", key);
	else if (!is(j))
		say(err, n, "field '%s' must be %s", key, what);
	return j && is(j) ? j : NULL;
}

/* "v", "type", "id" and "ts", in that order. */
static int judge_head(const json_t *o, struct msg *m, char *err, size_t n)
{
	const json_t *j;
	char q[MSG_QUOTE_BUF];
	int type;

	if (!(j = envelope_key(o, "v", is_int, "an integer", err, n)))
		return -1;
	if (json_integer_value(j) != MSG_VERSION)
		return say(err, n, "unsupported version %lld",
			   (long long)json_integer_value(j));
	if (!(j = envelope_key(o, "type", is_string, "a string", err, n)))
		return -1;
	if ((type = msg_type_parse(json_string_value(j))) < 0) {
		msg_quote(q, json_string_value(j), json_string_length(j));
		return say(err, n, "unknown type '%s'", q);
	}
	m->type = (enum msg_type)type;
	if (!(j = envelope_key(o, "id", is_string, "a string", err, n)))
		return -1;
	if (!in_set(json_string_value(j), json_string_length(j),
		    MSG_UUID_LEN, MSG_UUID_LEN, hex_set))
		return bad_id("id", j, err, n);
	strcpy(m->id, json_string_value(j));
	if (!(j = envelope_key(o, "ts", is_int, "an integer", err, n)))
		return -1;
	if ((m->ts = json_integer_value(j)) <= 0)
		return say(err, n, "field 'ts' out of range");
	return 0;
}

/*
 * cp, driver and session, in that order: required, optional or without
 * a place (then left for the count of keys to refuse); each one found
 * where it has a place adds to *envelope.
 */
static int judge_ids(const json_t *o, const struct msg_row *row,
		     struct msg *m, size_t *envelope, char *err, size_t n)
{
	const struct {
		const char *key;
		unsigned char presence;
		char *to;
		size_t min, max;
		const char *set;
	} ids[] = {
		{ "cp", row->cp, m->cp, 1, MSG_NAME_MAX, name_set },
		{ "driver", row->driver, m->driver, 1, MSG_NAME_MAX, name_set },
		{ "session", row->session, m->session, MSG_UUID_LEN,
		  MSG_UUID_LEN, hex_set },
	};

	for (unsigned i = 0; i < 3; i++) {
		const json_t *j = json_object_get(o, ids[i].key);

		if (!j && ids[i].presence == REQ)
			return say(err, n, "missing field '%s'", ids[i].key);
		if (!j || ids[i].presence == NO)
			continue;
		if (!json_is_string(j))
			return say(err, n, "field '%s' must be a string",
				   ids[i].key);
		if (!in_set(json_string_value(j), json_string_length(j),
			    ids[i].min, ids[i].max, ids[i].set))
			return bad_id(ids[i].key, j, err, n);
		strcpy(ids[i].to, json_string_value(j));
		(*envelope)++;
	}
	return 0;
}

int oracle_decode(const json_t *root, struct msg *m, char *err, size_t n)
{
	const struct msg_row *row;
	size_t envelope = 4;	/* v, type, id, ts */

	memset(m, 0, sizeof(*m));
	if (!json_is_object(root))
		return say(err, n, "not an object");
	if (judge_head(root, m, err, n))
		return -1;
	row = msg_table_row(m->type);
	if (judge_ids(root, row, m, &envelope, err, n) ||
	    judge_object(root, row->fields, row->nfields, (char *)&m->u, "",
			 row, envelope, err, n))
		return -1;
	return msg_check_rules(m, err, n);
}
