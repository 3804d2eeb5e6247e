/* conf.c: evc.yaml, the catalogue, the environment and the options, merged. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "conf.h"
#include "log.h"
#include "msg.h"
#include "xalloc.h"

#define CONF_SYSTEM_FILE "/etc/evc/evc.yaml"
#define CONF_DEFAULT_BROKERS "localhost:9092"
#define FILE_MAX (4 << 20)	/* bigger is a mistake, not a config */
#define DEPTH_MAX 32		/* deeper nesting is hostile or broken */
#define YPATH_MAX 512
#define DAY_MS 86400000u
#define TOPIC_NAME_MAX 249	/* Kafka's own limit */

const char *const topic_default_names[T_COUNT] = {
	[T_CP_REGISTER] = "cp-register",
	[T_CP_REGISTER_ACK] = "cp-register-ack",
	[T_AUTH_REQUEST] = "auth-request",
	[T_AUTH_RESPONSE] = "auth-response",
	[T_CP_COMMANDS] = "cp-commands",
	[T_TELEMETRY] = "telemetry",
	[T_HEALTH] = "health",
	[T_CONTROL] = "control",
	[T_CP_STATE] = "cp-state",
	[T_CENTRAL_LEASE] = "central-lease",
};

/* The schema below spells these again: a unit test keeps them in step. */
const char *const topic_keys[T_COUNT] = {
	[T_CP_REGISTER] = "cp_register",
	[T_CP_REGISTER_ACK] = "cp_register_ack",
	[T_AUTH_REQUEST] = "auth_request",
	[T_AUTH_RESPONSE] = "auth_response",
	[T_CP_COMMANDS] = "cp_commands",
	[T_TELEMETRY] = "telemetry",
	[T_HEALTH] = "health",
	[T_CONTROL] = "control",
	[T_CP_STATE] = "cp_state",
	[T_CENTRAL_LEASE] = "central_lease",
};

/* One partition makes the lease exclusive: its one holder serves. */
unsigned conf_partitions(const struct conf *c, enum topic t)
{
	return t == T_CENTRAL_LEASE ? 1 : c->partitions;
}

static void replace(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

/* A relative path in a file means relative to that file's directory. */
static char *path_near(const char *file, const char *p)
{
	const char *slash = file ? strrchr(file, '/') : NULL;

	if (p[0] == '/' || !slash)
		return xstrdup(p);
	return xasprintf("%.*s/%s", (int)(slash - file), file, p);
}

/*
 * Where an engine keeps an interrupted session: systemd's StateDirectory=
 * first (the first of its list), then the XDG base directory rules.
 */
static char *default_state_dir(void)
{
	const char *s = getenv("STATE_DIRECTORY");

	if (s && *s)
		return xstrndup(s, strcspn(s, ":"));
	s = getenv("XDG_STATE_HOME");
	if (s && *s == '/')
		return xasprintf("%s/evc", s);
	s = getenv("HOME");
	if (s && *s == '/')
		return xasprintf("%s/.local/state/evc", s);
	return xasprintf("/tmp/evc-%u/state", (unsigned)getuid());
}

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->brokers = xstrdup(CONF_DEFAULT_BROKERS);
	c->brokers_from = "default";
	for (int t = 0; t < T_COUNT; t++)
		c->topics[t] = xstrdup(topic_default_names[t]);
	c->partitions = 3;
	c->replication = 1;	/* what the default single broker can hold */
	c->central.allow_unknown = false;
	c->central.default_price = 0.30;
	c->central.default_location = xstrdup("unknown");
	c->central.health_timeout_ms = 3000;
	c->central.auth_timeout_ms = 10000;
	c->central.group = xstrdup("evc-central");
	c->cp.tick_ms = 1000;
	c->cp.power_kw = 22;
	c->cp.default_kwh = 10;
	c->cp.default_seconds = 0;
	c->cp.health_ms = 1000;
	c->cp.location = xstrdup("");
	c->cp.state_dir = default_state_dir();
	c->driver.wait_ms = 4000;
	c->driver.timeout_ms = 10000;
	c->driver.lookback_s = 3600;
}

static void props_free(struct conf_prop *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static void prop_add(struct conf_prop **p, unsigned *n, const char *name,
		     size_t name_len, const char *value)
{
	*p = xrealloc(*p, (*n + 1) * sizeof(**p));
	(*p)[*n].name = xstrndup(name, name_len);
	(*p)[*n].value = xstrdup(value);
	(*n)++;
}

void conf_free(struct conf *c)
{
	free(c->file);
	free(c->brokers);
	props_free(c->props, c->nprops);
	for (int t = 0; t < T_COUNT; t++)
		free(c->topics[t]);
	free(c->central.catalogue);
	free(c->central.default_location);
	free(c->central.group);
	free(c->cp.location);
	free(c->cp.state_dir);
	memset(c, 0, sizeof(*c));
}

/* -X name=value: kept in order, after the file's, so that the last wins. */
static int opt_prop(struct conf_args *a, const char *arg)
{
	const char *eq = arg ? strchr(arg, '=') : NULL;

	if (!eq || eq == arg)
		return error("-X expects name=value: '%s'", arg ? arg : "");
	prop_add(&a->props, &a->nprops, arg, (size_t)(eq - arg), eq + 1);
	return 1;
}

int conf_opt(struct conf_args *a, int opt, const char *arg)
{
	switch (opt) {
	case 'b':
		if (!arg || !*arg)
			return error("--brokers expects host:port,...: '%s'",
				     arg ? arg : "");
		a->brokers = arg;
		return 1;
	case 'c':
		if (!arg)
			return error("--config expects a file");
		a->config = arg;
		return 1;
	case 'v':
		log_verbose = 1;
		return 1;
	case 'X':
		return opt_prop(a, arg);
	}
	return 0;
}

void conf_args_free(struct conf_args *a)
{
	props_free(a->props, a->nprops);
	a->props = NULL;
	a->nprops = 0;
}

/*
 * Appends the comma-separated host:port items of s to *list, trimmed.
 * Returns -1 on an empty item or one with blanks inside.
 */
static int brokers_append(char **list, const char *s)
{
	const char *end;
	size_t n, len;

	for (;;) {
		end = s + strcspn(s, ",");
		while (s < end && isspace((unsigned char)*s))
			s++;
		n = (size_t)(end - s);
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (!n)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!isgraph((unsigned char)s[i]))
				return -1;
		len = *list ? strlen(*list) : 0;
		*list = xrealloc(*list, len + n + 2);
		if (len)
			(*list)[len++] = ',';
		memcpy(*list + len, s, n);
		(*list)[len + n] = '\0';
		if (!*end)
			return 0;
		s = end + 1;
	}
}

/* Reads a whole (small) file; -1 with errno set when it cannot. */
static int read_file(const char *path, char **bufp, size_t *lenp)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int e;

	if (!f)
		return -1;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap + 1);
		}
		len += fread(buf + len, 1, cap - len, f);
	} while (len == cap && len <= FILE_MAX);
	e = ferror(f) ? errno : len > FILE_MAX ? EFBIG : 0;
	fclose(f);
	if (e) {
		free(buf);
		errno = e;
		return -1;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

/*
 * What a first pass over a YAML file learns, beside checking its syntax:
 * the line of every key and sequence entry (libcyaml reports the line of
 * the enclosing mapping only), the text of scalar values (libcyaml reads
 * "100abc" as 100 and "0,30" as 0), and, in evc.yaml, the parts libcyaml
 * cannot type (kafka.brokers, a list or a string; kafka.properties).
 */
struct ykey {
	char *path;		/* "cp.tick_ms", "cps.2.id" (from 1) */
	char *value;		/* a scalar value's text, else NULL */
	unsigned line;
};

struct ydoc {
	const char *file;	/* for messages */
	char *buf;
	size_t len;
	yaml_parser_t parser;
	struct ykey *keys;
	unsigned nkeys, capkeys;
	unsigned *index;	/* hash of paths -> first key + 1; 0 empty */
	unsigned nindex;	/* a power of two, over twice nkeys */
	bool conf;		/* evc.yaml rather than a catalogue */
	char *brokers;		/* kafka.brokers, joined with commas */
	struct conf_prop *props;	/* kafka.properties, in order */
	unsigned nprops;
};

static void doc_free(struct ydoc *d)
{
	for (unsigned i = 0; i < d->nkeys; i++) {
		free(d->keys[i].path);
		free(d->keys[i].value);
	}
	free(d->keys);
	free(d->index);
	free(d->buf);
	free(d->brokers);
	props_free(d->props, d->nprops);
}

/*
 * The bytes of the control character at p (C0, DEL, or C1: U+0080 to
 * U+009F, which YAML escapes such as "\u009b" make), 0 if p holds none.
 */
static size_t ctl_len(const unsigned char *p)
{
	if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
		return 2;
	return *p < 0x20 || *p == 0x7f;
}

/*
 * Messages quote keys and values of the file, which YAML escapes can
 * fill with control characters: they go out as \xHH, so that a message
 * stays on one line and cannot drive the terminal it is read on.
 */
__attribute__((format(printf, 3, 0)))
static int doc_verror(const struct ydoc *d, unsigned line, const char *fmt,
		      va_list ap)
{
	unsigned char msg[512];
	char safe[sizeof(msg) * 4];
	size_t i = 0, o = 0, n;

	vsnprintf((char *)msg, sizeof(msg), fmt, ap);
	while (msg[i]) {
		if (!(n = ctl_len(msg + i)))
			safe[o++] = (char)msg[i++];
		while (n--)
			o += (size_t)sprintf(safe + o, "\\x%02x", msg[i++]);
	}
	safe[o] = '\0';
	return error("%s:%u: %s", d->file, line ? line : 1, safe);
}

__attribute__((format(printf, 3, 4)))
static int doc_error(const struct ydoc *d, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	doc_verror(d, line, fmt, ap);
	va_end(ap);
	return -1;
}

static unsigned path_hash(const char *p)
{
	unsigned h = 2166136261u;	/* FNV-1a */

	while (*p)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

/* The slot of path in the index: where it is, or where it would go. */
static unsigned *index_slot(const struct ydoc *d, const char *path)
{
	unsigned mask = d->nindex - 1, i = path_hash(path) & mask;

	while (d->index[i] && strcmp(d->keys[d->index[i] - 1].path, path))
		i = (i + 1) & mask;
	return &d->index[i];
}

/*
 * Paths are looked up once per key: a catalogue of 50,000 CPs has
 * 150,000 of them, so they are hashed rather than scanned.
 */
static void index_grow(struct ydoc *d)
{
	unsigned *slot;

	free(d->index);
	d->nindex = d->nindex ? d->nindex * 2 : 64;
	d->index = xrealloc(NULL, d->nindex * sizeof(*d->index));
	memset(d->index, 0, d->nindex * sizeof(*d->index));
	for (unsigned i = 0; i < d->nkeys; i++)
		if (!*(slot = index_slot(d, d->keys[i].path)))
			*slot = i + 1;
}

static void key_add(struct ydoc *d, const char *path, unsigned line)
{
	unsigned *slot;

	if (d->nkeys == d->capkeys) {
		d->capkeys = d->capkeys ? d->capkeys * 2 : 32;
		d->keys = xrealloc(d->keys, d->capkeys * sizeof(*d->keys));
	}
	d->keys[d->nkeys].path = xstrdup(path);
	d->keys[d->nkeys].value = NULL;
	d->keys[d->nkeys].line = line;
	d->nkeys++;
	if (d->nkeys * 2 >= d->nindex)
		index_grow(d);
	else if (!*(slot = index_slot(d, path)))
		*slot = d->nkeys;
}

static const struct ykey *key_find(const struct ydoc *d, const char *path)
{
	unsigned k;

	if (!d->nindex || !(k = *index_slot(d, path)))
		return NULL;
	return &d->keys[k - 1];
}

/* The text of the scalar at path; NULL when there is none. */
static const char *key_value(const struct ydoc *d, const char *path)
{
	const struct ykey *k = key_find(d, path);

	return k ? k->value : NULL;
}

/* The line of the nth key at path (duplicates are errors: rare). */
static unsigned key_line(const struct ydoc *d, const char *path, int nth)
{
	const struct ykey *k = key_find(d, path);

	if (nth == 1)
		return k ? k->line : 0;
	for (unsigned i = 0; i < d->nkeys; i++)
		if (!strcmp(d->keys[i].path, path) && --nth == 0)
			return d->keys[i].line;
	return 0;
}

/* Appends ".comp" to path of length len: the new length, or -1. */
static int path_push(char *path, size_t len, const char *comp)
{
	size_t n = strlen(comp);

	if (len + n + 2 > YPATH_MAX)
		return -1;
	if (len)
		path[len++] = '.';
	memcpy(path + len, comp, n + 1);
	return (int)(len + n);
}

static unsigned ev_line(const yaml_event_t *ev)
{
	return (unsigned)ev->start_mark.line + 1;
}

static const char *ev_text(const yaml_event_t *ev)
{
	return (const char *)ev->data.scalar.value;
}

/* YAML's null: an empty plain scalar, ~ or null. */
static bool ev_null(const yaml_event_t *ev)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (ev->type != YAML_SCALAR_EVENT ||
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(ev_text(ev), nulls[i]))
			return true;
	return false;
}

static int next_event(struct ydoc *d, yaml_event_t *ev)
{
	const yaml_parser_t *p = &d->parser;

	if (yaml_parser_parse(&d->parser, ev))
		return 0;
	return doc_error(d, (unsigned)p->problem_mark.line + 1,
			 "invalid YAML: %s", p->problem ? p->problem : "?");
}

static int walk_node(struct ydoc *d, const yaml_event_t *ev, char *path,
		     size_t len, int depth);

/* kafka.brokers: a list of host:port, or one string of them with commas. */
static int walk_brokers(struct ydoc *d, const yaml_event_t *ev)
{
	yaml_event_t item;
	char *list = NULL;
	int r = 0;

	if (ev_null(ev))
		return 0;
	if (ev->type == YAML_SCALAR_EVENT) {
		if (brokers_append(&list, ev_text(ev)) < 0)
			r = doc_error(d, ev_line(ev),
				      "expected host:port,... for 'brokers': '%s'",
				      ev_text(ev));
	} else if (ev->type != YAML_SEQUENCE_START_EVENT) {
		r = doc_error(d, ev_line(ev),
			      "expected a list of host:port for 'brokers'");
	} else {
		while (r == 0 && (r = next_event(d, &item)) == 0) {
			if (item.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&item);
				break;
			}
			if (item.type != YAML_SCALAR_EVENT ||
			    brokers_append(&list, ev_text(&item)) < 0)
				r = doc_error(d, ev_line(&item),
					      "expected host:port in 'brokers'");
			yaml_event_delete(&item);
		}
		if (r == 0 && !list)
			r = doc_error(d, ev_line(ev), "no broker in 'brokers'");
	}
	if (r == 0) {
		free(d->brokers);
		d->brokers = list;
	} else {
		free(list);
	}
	return r;
}

/* One name: value of kafka.properties; librdkafka judges the value. */
static int walk_prop(struct ydoc *d, const yaml_event_t *k,
		     const yaml_event_t *v)
{
	const char *name = ev_text(k);

	if (!*name)
		return doc_error(d, ev_line(k), "empty property name");
	for (unsigned i = 0; i < d->nprops; i++)
		if (!strcmp(d->props[i].name, name))
			return doc_error(d, ev_line(k),
					 "duplicate property '%s'", name);
	if (v->type != YAML_SCALAR_EVENT)
		return doc_error(d, ev_line(v),
				 "expected a single value for property '%s'",
				 name);
	if (ev_null(v))
		return doc_error(d, ev_line(v),
				 "no value for property '%s'", name);
	prop_add(&d->props, &d->nprops, name, strlen(name), ev_text(v));
	return 0;
}

/* kafka.properties: a free-form mapping of names to scalars, in order. */
static int walk_props(struct ydoc *d, const yaml_event_t *ev)
{
	yaml_event_t k, v;
	int r = 0;

	if (ev_null(ev))
		return 0;
	if (ev->type != YAML_MAPPING_START_EVENT)
		return doc_error(d, ev_line(ev),
				 "expected a mapping for 'properties'");
	while (r == 0) {
		if (next_event(d, &k) < 0)
			return -1;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			break;
		}
		if (k.type != YAML_SCALAR_EVENT)
			r = doc_error(d, ev_line(&k),
				      "expected a property name");
		else if ((r = next_event(d, &v)) == 0) {
			r = walk_prop(d, &k, &v);
			yaml_event_delete(&v);
		}
		yaml_event_delete(&k);
	}
	return r;
}

static int walk_seq(struct ydoc *d, char *path, size_t len, int depth)
{
	yaml_event_t ev;
	char idx[16];
	int n, r = 0;

	for (unsigned i = 1; r == 0; i++) {
		if (next_event(d, &ev) < 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		snprintf(idx, sizeof(idx), "%u", i);
		if ((n = path_push(path, len, idx)) < 0) {
			r = doc_error(d, ev_line(&ev), "nested too deeply");
		} else {
			key_add(d, path, ev_line(&ev));
			r = walk_node(d, &ev, path, (size_t)n, depth + 1);
		}
		path[len] = '\0';
		yaml_event_delete(&ev);
	}
	return r;
}

/* One key: value of a mapping; evc.yaml's kafka section is read here. */
static int walk_pair(struct ydoc *d, const yaml_event_t *key, char *path,
		     size_t len, int depth)
{
	yaml_event_t val;
	int n, r;

	if (key->type != YAML_SCALAR_EVENT)
		return doc_error(d, ev_line(key), "expected a plain key");
	if ((n = path_push(path, len, ev_text(key))) < 0)
		return doc_error(d, ev_line(key),
				 "key too long or nested too deeply");
	key_add(d, path, ev_line(key));
	if ((r = next_event(d, &val)) == 0) {
		if (val.type == YAML_SCALAR_EVENT)
			d->keys[d->nkeys - 1].value = xstrdup(ev_text(&val));
		if (d->conf && !strcmp(path, "kafka.brokers"))
			r = walk_brokers(d, &val);
		else if (d->conf && !strcmp(path, "kafka.properties"))
			r = walk_props(d, &val);
		else
			r = walk_node(d, &val, path, (size_t)n, depth + 1);
		yaml_event_delete(&val);
	}
	path[len] = '\0';
	return r;
}

static int walk_map(struct ydoc *d, char *path, size_t len, int depth)
{
	yaml_event_t key;
	int r = 0;

	while (r == 0) {
		if (next_event(d, &key) < 0)
			return -1;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			break;
		}
		r = walk_pair(d, &key, path, len, depth);
		yaml_event_delete(&key);
	}
	return r;
}

static int walk_node(struct ydoc *d, const yaml_event_t *ev, char *path,
		     size_t len, int depth)
{
	if (depth > DEPTH_MAX)
		return doc_error(d, ev_line(ev), "nested too deeply");
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return doc_error(d, ev_line(ev), "aliases are not supported");
	case YAML_SEQUENCE_START_EVENT:
		return walk_seq(d, path, len, depth);
	case YAML_MAPPING_START_EVENT:
		return walk_map(d, path, len, depth);
	default:
		return 0;	/* a scalar: the typed pass reads it */
	}
}

/* The first pass: syntax, one document at most, and what struct ydoc keeps. */
static int doc_walk(struct ydoc *d)
{
	char path[YPATH_MAX] = "";
	yaml_event_t ev;
	int docs = 0, r = 0;

	if (!yaml_parser_initialize(&d->parser))
		die(EXIT_FAIL, "out of memory");
	yaml_parser_set_input_string(&d->parser,
				     (const unsigned char *)d->buf, d->len);
	while (r == 0 && (r = next_event(d, &ev)) == 0) {
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
			r = doc_error(d, ev_line(&ev),
				      "more than one document");
		else if (ev.type != YAML_STREAM_START_EVENT &&
			 ev.type != YAML_DOCUMENT_START_EVENT &&
			 ev.type != YAML_DOCUMENT_END_EVENT)
			r = walk_node(d, &ev, path, 0, 0);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&d->parser);
	return r;
}

/*
 * libcyaml's messages on a failed load: one line naming the problem, then
 * a backtrace, innermost first, of "in mapping field 'x' (line: N, ...)",
 * "in sequence entry 'N' (...)" and "in mapping (...)" lines. They are
 * kept and turned into one "FILE:LINE: what was expected" line of ours.
 */
struct cylog {
	char text[4096];
	size_t len;
};

static void cy_log(cyaml_log_t level, void *ctx, const char *fmt, va_list ap)
{
	struct cylog *l = ctx;
	int n;

	if (!l || level < CYAML_LOG_ERROR || l->len >= sizeof(l->text) - 1)
		return;
	n = vsnprintf(l->text + l->len, sizeof(l->text) - l->len, fmt, ap);
	if (n > 0)
		l->len += (size_t)n < sizeof(l->text) - l->len ? (size_t)n
				: sizeof(l->text) - l->len - 1;
}

/* For cyaml_free(), which logs nothing worth keeping. */
static const cyaml_config_t cy_free_cfg = {
	.log_fn = cy_log,
	.mem_fn = cyaml_mem,
	.log_level = CYAML_LOG_ERROR,
	.flags = CYAML_CFG_NO_ALIAS,
};

enum { FR_FIELD, FR_ENTRY, FR_MAP };

struct cyframe {
	int kind;
	char name[64];		/* field name, or entry number */
	unsigned line;
};

struct cyerr {
	char msg[256];		/* "Unexpected key: x", without "Load:" */
	struct cyframe fr[16];	/* innermost first */
	int nfr;
};

static void cy_line(struct cyerr *e, const char *s)
{
	struct cyframe *f = &e->fr[e->nfr];

	if (!strncmp(s, "Load: ", 6)) {
		if (!e->msg[0] && strcmp(s + 6, "Backtrace:"))
			snprintf(e->msg, sizeof(e->msg), "%.*s",
				 (int)sizeof(e->msg) - 1, s + 6);
		return;
	}
	if (e->nfr == (int)(sizeof(e->fr) / sizeof(e->fr[0])))
		return;
	if (sscanf(s, "  in mapping field '%63[^']' (line: %u",
		   f->name, &f->line) >= 1 ||
	    sscanf(s, "  in mapping field: %63s", f->name) == 1)
		f->kind = FR_FIELD;
	else if (sscanf(s, "  in sequence entry '%63[^']' (line: %u",
			f->name, &f->line) >= 1 ||
		 sscanf(s, "  in sequence entry: %63s", f->name) == 1)
		f->kind = FR_ENTRY;
	else if (!strncmp(s, "  in mapping", 12))
		f->kind = FR_MAP;
	else
		return;
	e->nfr++;
}

static void cy_parse(const char *text, struct cyerr *e)
{
	char s[512];
	size_t n;

	memset(e, 0, sizeof(*e));
	while (*text) {
		n = strcspn(text, "\n");
		snprintf(s, sizeof(s), "%.*s", (int)n, text);
		cy_line(e, s);
		text += n + (text[n] == '\n');
	}
}

/*
 * The path ("cps.2.price") the backtrace leads to. For an error about a
 * key of a mapping (unknown, missing), the innermost field is only the
 * last one read there: skip_field leaves it out.
 */
static void cy_path(const struct cyerr *e, bool skip_field, char *path)
{
	int len = 0;

	path[0] = '\0';
	for (int i = e->nfr - 1; i >= 0; i--) {
		if (e->fr[i].kind == FR_MAP ||
		    (i == 0 && skip_field && e->fr[i].kind == FR_FIELD))
			continue;
		if ((len = path_push(path, (size_t)len, e->fr[i].name)) < 0)
			return;
	}
}

/* What libcyaml wanted, in words. */
static const char *cy_expected(const char *msg)
{
	static const char *const words[][2] = {
		{ "Invalid UINT", "an unsigned integer" },
		{ "Invalid uint64_t", "an unsigned integer" },
		{ "Invalid INT", "an integer" },
		{ "Invalid FLOAT", "a number" },
		{ "FLOAT ", "a number" },
		{ "Invalid ENUM", "true or false" },
		{ "Expecting UINT", "an unsigned integer" },
		{ "Expecting INT", "an integer" },
		{ "Expecting FLOAT", "a number" },
		{ "Expecting ENUM", "true or false" },
		{ "Expecting STRING", "a string" },
		{ "Expecting MAPPING", "a mapping" },
		{ "Expecting SEQUENCE", "a list" },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strncmp(msg, words[i][0], strlen(words[i][0])))
			return words[i][1];
	return NULL;
}

/* Who holds the bad value: "'tick_ms'", "entry 2 of 'cps'". */
static void cy_subject(const struct cyerr *e, char *buf, size_t size)
{
	if (!e->nfr)
		snprintf(buf, size, "the top level");
	else if (e->fr[0].kind == FR_ENTRY && e->nfr > 1 &&
		 e->fr[1].kind == FR_FIELD)
		snprintf(buf, size, "entry %s of '%s'",
			 e->fr[0].name, e->fr[1].name);
	else
		snprintf(buf, size, "'%s'", e->fr[0].name);
}

static unsigned cy_where(const struct ydoc *d, const char *path,
			 const struct cyerr *e, int nth)
{
	unsigned line = key_line(d, path, nth);

	return line ? line : e->nfr ? e->fr[0].line : 1;
}

/* Errors about the keys of a mapping: reported at the key's own line. */
static int cy_key_error(const struct ydoc *d, const struct cyerr *e)
{
	static const struct {
		const char *msg, *what;
		int nth;	/* occurrence of the key; 0: the mapping */
	} kinds[] = {
		{ "Unexpected key: ", "unknown key", 1 },
		{ "Mapping field already seen: ", "duplicate key", 2 },
		{ "Missing required mapping field: ", "missing key", 0 },
	};
	char path[YPATH_MAX];
	const char *key;
	unsigned line;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strncmp(e->msg, kinds[i].msg, strlen(kinds[i].msg)))
			continue;
		key = e->msg + strlen(kinds[i].msg);
		cy_path(e, true, path);
		if (kinds[i].nth)
			path_push(path, strlen(path), key);
		line = cy_where(d, path, e, kinds[i].nth ? kinds[i].nth : 1);
		return doc_error(d, line, "%s '%s'", kinds[i].what, key);
	}
	return 0;
}

static int cy_report(const struct ydoc *d, const struct cylog *l)
{
	char path[YPATH_MAX], subject[160];
	const char *what;
	struct cyerr e;
	unsigned line;

	cy_parse(l->text, &e);
	if (cy_key_error(d, &e) < 0)
		return -1;
	cy_path(&e, false, path);
	cy_subject(&e, subject, sizeof(subject));
	line = cy_where(d, path, &e, 1);
	if ((what = cy_expected(e.msg)))
		return doc_error(d, line, "expected %s for %s", what, subject);
	return doc_error(d, line, "invalid value for %s (%s)", subject,
			 e.msg[0] ? e.msg : "no detail");
}

/* The second pass: libcyaml types the document along schema. */
static int doc_load(const struct ydoc *d, const cyaml_schema_value_t *schema,
		    void **out)
{
	struct cylog log = { .len = 0 };
	cyaml_config_t cfg = cy_free_cfg;
	cyaml_err_t err;

	cfg.log_ctx = &log;
	*out = NULL;
	err = cyaml_load_data((const uint8_t *)d->buf, d->len, &cfg, schema,
			      out, NULL);
	if (err == CYAML_OK)
		return 0;
	if (err == CYAML_ERR_OOM)
		die(EXIT_FAIL, "out of memory");
	return cy_report(d, &log);
}

/* evc.yaml as libcyaml reads it: NULL pointers for absent keys. */
struct ykafka {
	char unused;		/* both keys are read by the first pass */
};

struct ynames {
	char *n[T_COUNT];
};

struct ytopics {
	unsigned *partitions;
	unsigned *replication;
	struct ynames *names;
};

struct ycentral {
	char *catalogue;
	int *allow_unknown;
	double *default_price;
	char *default_location;
	unsigned *health_timeout_ms;
	unsigned *auth_timeout_ms;
	char *group;
};

struct ycp {
	unsigned *tick_ms;
	double *power_kw;
	double *default_kwh;
	unsigned *default_seconds;
	unsigned *health_ms;
	char *location;
	char *state_dir;
};

struct ydriver {
	unsigned *wait_ms;
	unsigned *timeout_ms;
	unsigned *lookback_s;
};

struct yconf {
	struct ykafka *kafka;
	struct ytopics *topics;
	struct ycentral *central;
	struct ycp *cp;
	struct ydriver *driver;
};

#define Y_OPT CYAML_FLAG_OPTIONAL
/* An empty section ("cp:" with every line below commented) is no section. */
#define Y_SECTION (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL_STR)
#define Y_MAP(key, type, member, fields) \
	CYAML_FIELD_MAPPING_PTR(key, Y_SECTION, type, member, fields)
#define Y_STR(key, type, member) \
	CYAML_FIELD_STRING_PTR(key, Y_OPT, type, member, 0, CYAML_UNLIMITED)
#define Y_UINT(key, type, member) \
	CYAML_FIELD_UINT_PTR(key, Y_OPT, type, member)
#define Y_FLOAT(key, type, member) \
	CYAML_FIELD_FLOAT_PTR(key, Y_OPT, type, member)

/* YAML 1.1's booleans, and no others: libcyaml's BOOL takes anything. */
static const cyaml_strval_t y_bools[] = {
	{ "false", 0 }, { "true", 1 }, { "no", 0 },
	{ "yes", 1 }, { "off", 0 }, { "on", 1 },
};

static const cyaml_schema_field_t y_kafka_fields[] = {
	CYAML_FIELD_IGNORE("brokers", Y_OPT),
	CYAML_FIELD_IGNORE("properties", Y_OPT),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_names_fields[] = {
	Y_STR("cp_register", struct ynames, n[T_CP_REGISTER]),
	Y_STR("cp_register_ack", struct ynames, n[T_CP_REGISTER_ACK]),
	Y_STR("auth_request", struct ynames, n[T_AUTH_REQUEST]),
	Y_STR("auth_response", struct ynames, n[T_AUTH_RESPONSE]),
	Y_STR("cp_commands", struct ynames, n[T_CP_COMMANDS]),
	Y_STR("telemetry", struct ynames, n[T_TELEMETRY]),
	Y_STR("health", struct ynames, n[T_HEALTH]),
	Y_STR("control", struct ynames, n[T_CONTROL]),
	Y_STR("cp_state", struct ynames, n[T_CP_STATE]),
	Y_STR("central_lease", struct ynames, n[T_CENTRAL_LEASE]),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_topics_fields[] = {
	Y_UINT("partitions", struct ytopics, partitions),
	Y_UINT("replication", struct ytopics, replication),
	Y_MAP("names", struct ytopics, names, y_names_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_central_fields[] = {
	Y_STR("catalogue", struct ycentral, catalogue),
	CYAML_FIELD_ENUM_PTR("allow_unknown", Y_OPT | CYAML_FLAG_STRICT |
			     CYAML_FLAG_CASE_INSENSITIVE, struct ycentral,
			     allow_unknown, y_bools, CYAML_ARRAY_LEN(y_bools)),
	Y_FLOAT("default_price", struct ycentral, default_price),
	Y_STR("default_location", struct ycentral, default_location),
	Y_UINT("health_timeout_ms", struct ycentral, health_timeout_ms),
	Y_UINT("auth_timeout_ms", struct ycentral, auth_timeout_ms),
	Y_STR("group", struct ycentral, group),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_cp_fields[] = {
	Y_UINT("tick_ms", struct ycp, tick_ms),
	Y_FLOAT("power_kw", struct ycp, power_kw),
	Y_FLOAT("default_kwh", struct ycp, default_kwh),
	Y_UINT("default_seconds", struct ycp, default_seconds),
	Y_UINT("health_ms", struct ycp, health_ms),
	Y_STR("location", struct ycp, location),
	Y_STR("state_dir", struct ycp, state_dir),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_driver_fields[] = {
	Y_UINT("wait_ms", struct ydriver, wait_ms),
	Y_UINT("timeout_ms", struct ydriver, timeout_ms),
	Y_UINT("lookback_s", struct ydriver, lookback_s),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_conf_fields[] = {
	Y_MAP("kafka", struct yconf, kafka, y_kafka_fields),
	Y_MAP("topics", struct yconf, topics, y_topics_fields),
	Y_MAP("central", struct yconf, central, y_central_fields),
	Y_MAP("cp", struct yconf, cp, y_cp_fields),
	Y_MAP("driver", struct yconf, driver, y_driver_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t y_conf = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct yconf, y_conf_fields),
};

static const char *leaf(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? dot + 1 : path;
}

/* An error about the value at path, at the line of its key. */
__attribute__((format(printf, 3, 4)))
static int path_error(const struct ydoc *d, const char *path,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	doc_verror(d, key_line(d, path, 1), fmt, ap);
	va_end(ap);
	return -1;
}

/* Decimal digits only, as the text of the file has them. */
static bool uint_text(const char *s, unsigned *out)
{
	unsigned long long v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > UINT_MAX)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

static bool double_text(const char *s, double *out)
{
	char *end;

	if (!s || !*s || !strchr("+-.0123456789", *s))
		return false;
	*out = strtod(s, &end);
	return !*end;
}

/*
 * libcyaml checked the type; the value is read again from the text,
 * strictly, and then its range is checked.
 */
static int set_uint(const struct ydoc *d, const char *path, const unsigned *v,
		    unsigned min, unsigned max, unsigned *out)
{
	unsigned u;

	if (!v)
		return 0;
	if (!uint_text(key_value(d, path), &u))
		return path_error(d, path,
				  "expected an unsigned integer for '%s'",
				  leaf(path));
	if (u < min || u > max)
		return path_error(d, path,
				  "expected an integer from %u to %u for '%s'",
				  min, max, leaf(path));
	*out = u;
	return 0;
}

static int set_double(const struct ydoc *d, const char *path, const double *v,
		      bool positive, double *out)
{
	double x;

	if (!v)
		return 0;
	if (!double_text(key_value(d, path), &x))
		return path_error(d, path, "expected a number for '%s'",
				  leaf(path));
	if (!isfinite(x) || x < 0 || (positive && x == 0))
		return path_error(d, path, "expected a number %s for '%s'",
				  positive ? "above 0" : "of at least 0",
				  leaf(path));
	*out = x;
	return 0;
}

/*
 * Text meant for a panel or a log line: no control characters, C1 ones
 * included: msg.c refuses them in a message, and a terminal may obey them.
 */
static bool text_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (ctl_len(p))
			return false;
	return true;
}

static int set_str(const struct ydoc *d, const char *path, const char *v,
		   bool nonempty, char **out)
{
	if (!v)
		return 0;
	if (nonempty && !*v)
		return path_error(d, path, "empty value for '%s'", leaf(path));
	if (!text_ok(v))
		return path_error(d, path, "control character in '%s'",
				  leaf(path));
	replace(out, v);
	return 0;
}

/* A path relative to the file; empty_keeps: "" leaves *out as it is. */
static int set_path(const struct ydoc *d, const char *path, const char *v,
		    bool empty_keeps, char **out)
{
	if (!v || (!*v && empty_keeps))
		return 0;
	if (!text_ok(v))
		return path_error(d, path, "control character in '%s'",
				  leaf(path));
	free(*out);
	*out = *v ? path_near(d->file, v) : NULL;
	return 0;
}

/* Kafka's rule for topic names. */
static bool topic_name_ok(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	size_t n = strlen(s);

	if (!n || n > TOPIC_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	return strspn(s, ok) == n;
}

static int apply_names(struct conf *c, const struct ydoc *d,
		       const struct ynames *y)
{
	char path[64];
	int t;

	for (t = 0; t < T_COUNT; t++) {
		if (!y->n[t])
			continue;
		snprintf(path, sizeof(path), "topics.names.%s", topic_keys[t]);
		if (!topic_name_ok(y->n[t]))
			return path_error(d, path,
					  "invalid topic name for '%s': '%s'",
					  topic_keys[t], y->n[t]);
		replace(&c->topics[t], y->n[t]);
	}
	/* Two roles sharing a topic would read each other's messages. */
	for (int i = 0; i < T_COUNT; i++)
		for (int j = i + 1; j < T_COUNT; j++) {
			if (strcmp(c->topics[i], c->topics[j]))
				continue;
			t = y->n[j] ? j : i;
			snprintf(path, sizeof(path), "topics.names.%s",
				 topic_keys[t]);
			return path_error(d, path,
					  "topic name used twice: '%s'",
					  c->topics[t]);
		}
	return 0;
}

static int apply_topics(struct conf *c, const struct ydoc *d,
			const struct ytopics *y)
{
	if (set_uint(d, "topics.partitions", y->partitions, 1, 10000,
		     &c->partitions) ||
	    set_uint(d, "topics.replication", y->replication, 1, 32767,
		     &c->replication))
		return -1;
	return y->names ? apply_names(c, d, y->names) : 0;
}

static int apply_central(struct conf *c, const struct ydoc *d,
			 const struct ycentral *y)
{
	struct conf_central *o = &c->central;

	if (y->allow_unknown)
		o->allow_unknown = *y->allow_unknown != 0;
	if (set_path(d, "central.catalogue", y->catalogue, false,
		     &o->catalogue) ||
	    set_double(d, "central.default_price", y->default_price, false,
		       &o->default_price) ||
	    set_str(d, "central.default_location", y->default_location, false,
		    &o->default_location) ||
	    set_uint(d, "central.health_timeout_ms", y->health_timeout_ms, 10,
		     DAY_MS, &o->health_timeout_ms) ||
	    set_uint(d, "central.auth_timeout_ms", y->auth_timeout_ms, 10,
		     DAY_MS, &o->auth_timeout_ms) ||
	    set_str(d, "central.group", y->group, true, &o->group))
		return -1;
	return 0;
}

static int apply_cp(struct conf *c, const struct ydoc *d, const struct ycp *y)
{
	struct conf_cp *o = &c->cp;

	if (set_uint(d, "cp.tick_ms", y->tick_ms, 10, DAY_MS, &o->tick_ms) ||
	    set_double(d, "cp.power_kw", y->power_kw, true, &o->power_kw) ||
	    set_double(d, "cp.default_kwh", y->default_kwh, false,
		       &o->default_kwh) ||
	    set_uint(d, "cp.default_seconds", y->default_seconds, 0, UINT_MAX,
		     &o->default_seconds) ||
	    set_uint(d, "cp.health_ms", y->health_ms, 10, DAY_MS,
		     &o->health_ms) ||
	    set_str(d, "cp.location", y->location, false, &o->location) ||
	    set_path(d, "cp.state_dir", y->state_dir, true, &o->state_dir))
		return -1;
	return 0;
}

static int apply_driver(struct conf *c, const struct ydoc *d,
			const struct ydriver *y)
{
	struct conf_driver *o = &c->driver;

	if (set_uint(d, "driver.wait_ms", y->wait_ms, 0, DAY_MS,
		     &o->wait_ms) ||
	    set_uint(d, "driver.timeout_ms", y->timeout_ms, 10, DAY_MS,
		     &o->timeout_ms) ||
	    set_uint(d, "driver.lookback_s", y->lookback_s, 0, UINT_MAX,
		     &o->lookback_s))
		return -1;
	return 0;
}

static void props_append(struct conf_prop **p, unsigned *n,
			 const struct conf_prop *from, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		prop_add(p, n, from[i].name, strlen(from[i].name),
			 from[i].value);
}

static int conf_apply(struct conf *c, const struct ydoc *d,
		      const struct yconf *y)
{
	if (d->brokers) {
		replace(&c->brokers, d->brokers);
		c->brokers_from = c->file;
	}
	props_append(&c->props, &c->nprops, d->props, d->nprops);
	if (!y)
		return 0;	/* an empty document */
	if ((y->topics && apply_topics(c, d, y->topics)) ||
	    (y->central && apply_central(c, d, y->central)) ||
	    (y->cp && apply_cp(c, d, y->cp)) ||
	    (y->driver && apply_driver(c, d, y->driver)))
		return -1;
	return 0;
}

/* evc.yaml over the defaults. A missing file is an error only when named. */
static int conf_file(struct conf *c, const char *path, bool named)
{
	struct ydoc d = { .file = path, .conf = true };
	struct yconf *y = NULL;
	int r = -1;

	if (read_file(path, &d.buf, &d.len) < 0) {
		if (errno == ENOENT && !named)
			return 0;
		return error("cannot read config: '%s': %s", path,
			     strerror(errno));
	}
	c->file = xstrdup(path);
	if (doc_walk(&d) == 0 && doc_load(&d, &y_conf, (void **)&y) == 0)
		r = conf_apply(c, &d, y);
	cyaml_free(&cy_free_cfg, &y_conf, y, 0);
	doc_free(&d);
	return r;
}

int conf_broker_file(char *buf, size_t len)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n;

	if (run && *run == '/')
		n = snprintf(buf, len, "%s/evc/broker", run);
	else
		n = snprintf(buf, len, "/tmp/evc-%u/broker",
			     (unsigned)getuid());
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * The address `evc broker` left, or NULL. /tmp is shared: a file someone
 * else owns could send our traffic to their broker, so it is ignored.
 */
static char *broker_file_read(void)
{
	char path[4096], line[1024] = "";
	char *list = NULL;
	struct stat st;
	FILE *f;

	if (conf_broker_file(path, sizeof(path)) < 0 || !(f = fopen(path, "r")))
		return NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_uid != getuid())
		warn("ignoring a broker file owned by another user: '%s'",
		     path);
	else if (fgets(line, sizeof(line), f))
		line[strcspn(line, "\n")] = '\0';
	fclose(f);
	if (*line && brokers_append(&list, line) < 0) {
		warn("ignoring a bad address in '%s': '%s'", path, line);
		free(list);
		return NULL;
	}
	return list;
}

static int set_brokers(struct conf *c, const char *s, const char *from)
{
	char *list = NULL;

	if (brokers_append(&list, s) < 0) {
		free(list);
		return error("bad broker list in %s: '%s'", from, s);
	}
	free(c->brokers);
	c->brokers = list;
	c->brokers_from = from;
	return 0;
}

/* -b > $EVC_BROKERS > evc.yaml > the file of `evc broker` > the default. */
static int conf_brokers(struct conf *c, const struct conf_args *a)
{
	const char *env = getenv("EVC_BROKERS");
	char *list;

	if (a->brokers)
		return set_brokers(c, a->brokers, "--brokers");
	if (env && *env)
		return set_brokers(c, env, "EVC_BROKERS");
	if (strcmp(c->brokers_from, "default") || !(list = broker_file_read()))
		return 0;
	free(c->brokers);
	c->brokers = list;
	c->brokers_from = "evc broker";
	return 0;
}

int conf_load(struct conf *c, const struct conf_args *a)
{
	static const struct conf_args none;
	const char *env = getenv("EVC_CONFIG");
	const char *path = CONF_SYSTEM_FILE;
	bool named = true;

	if (!a)
		a = &none;
	conf_defaults(c);
	if (a->config)
		path = a->config;
	else if (env && *env)
		path = env;
	else
		named = false;
	if (conf_file(c, path, named) < 0 || conf_brokers(c, a) < 0) {
		conf_free(c);
		return -1;
	}
	props_append(&c->props, &c->nprops, a->props, a->nprops);
	debug("config '%s', brokers '%s' from %s", c->file ? c->file : "(none)",
	      c->brokers, c->brokers_from);
	return 0;
}

/* The catalogue as libcyaml reads it. */
struct ycat_entry {
	char *id;
	char *location;
	double price;
};

struct ycat {
	struct ycat_entry *cps;
	unsigned ncps;
};

/* Every key of an entry is required. */
static const cyaml_schema_field_t y_entry_fields[] = {
	CYAML_FIELD_STRING_PTR("id", CYAML_FLAG_DEFAULT, struct ycat_entry,
			       id, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("location", CYAML_FLAG_DEFAULT,
			       struct ycat_entry, location, 0, CYAML_UNLIMITED),
	CYAML_FIELD_FLOAT("price", CYAML_FLAG_DEFAULT, struct ycat_entry,
			  price),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t y_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct ycat_entry,
			    y_entry_fields),
};

static const cyaml_schema_field_t y_cat_fields[] = {
	CYAML_FIELD_SEQUENCE_COUNT("cps", Y_SECTION, struct ycat, cps, ncps,
				   &y_entry, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t y_cat = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct ycat, y_cat_fields),
};

static int cat_entry(struct catalogue *cat, const struct ydoc *d,
		     const struct ycat_entry *e, unsigned n)
{
	struct cp_entry *o = &cat->cps[cat->ncps];
	char path[64];

	snprintf(path, sizeof(path), "cps.%u.id", n);
	if (!msg_cp_id_ok(e->id))
		return path_error(d, path, "invalid CP id: '%s'", e->id);
	snprintf(path, sizeof(path), "cps.%u.location", n);
	if (!text_ok(e->location))
		return path_error(d, path, "control character in 'location'");
	snprintf(path, sizeof(path), "cps.%u.price", n);
	if (set_double(d, path, &e->price, false, &o->price))
		return -1;
	o->id = xstrdup(e->id);
	o->location = xstrdup(e->location);
	cat->ncps++;
	return 0;
}

static const struct catalogue *sort_cat;

static int by_id(const void *a, const void *b)
{
	unsigned i = *(const unsigned *)a, j = *(const unsigned *)b;
	int c = strcmp(sort_cat->cps[i].id, sort_cat->cps[j].id);

	return c ? c : (i > j) - (i < j);
}

/*
 * Duplicate ids, found by sorting (a catalogue may list 50,000 CPs):
 * the second occurrence in the file is the one reported.
 */
static int cat_unique(const struct catalogue *cat, const struct ydoc *d)
{
	unsigned *idx = xrealloc(NULL, (cat->ncps + 1) * sizeof(*idx));
	char path[64];
	int r = 0;

	for (unsigned i = 0; i < cat->ncps; i++)
		idx[i] = i;
	sort_cat = cat;
	qsort(idx, cat->ncps, sizeof(*idx), by_id);
	for (unsigned i = 1; i < cat->ncps && !r; i++) {
		if (strcmp(cat->cps[idx[i - 1]].id, cat->cps[idx[i]].id))
			continue;
		snprintf(path, sizeof(path), "cps.%u.id", idx[i] + 1);
		r = path_error(d, path, "duplicate CP id: '%s'",
			       cat->cps[idx[i]].id);
	}
	free(idx);
	return r;
}

int catalogue_load(struct catalogue *cat, const char *path)
{
	struct ydoc d = { .file = path };
	struct ycat *y = NULL;
	int r = -1;

	memset(cat, 0, sizeof(*cat));
	if (read_file(path, &d.buf, &d.len) < 0)
		return error("cannot read catalogue: '%s': %s", path,
			     strerror(errno));
	if (doc_walk(&d) || doc_load(&d, &y_cat, (void **)&y))
		goto out;
	cat->cps = xrealloc(NULL, (y ? y->ncps : 0) * sizeof(*cat->cps));
	for (unsigned i = 0; y && i < y->ncps; i++)
		if (cat_entry(cat, &d, &y->cps[i], i + 1))
			goto out;
	if (cat_unique(cat, &d))
		goto out;
	r = 0;
out:
	if (r)
		catalogue_free(cat);
	cyaml_free(&cy_free_cfg, &y_cat, y, 0);
	doc_free(&d);
	return r;
}

void catalogue_free(struct catalogue *cat)
{
	for (unsigned i = 0; i < cat->ncps; i++) {
		free(cat->cps[i].id);
		free(cat->cps[i].location);
	}
	free(cat->cps);
	memset(cat, 0, sizeof(*cat));
}
