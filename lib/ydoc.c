/* ydoc.c: evc's YAML files: libcyaml's typed load, and the line of every key from that same parse. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "log.h"
#include "xalloc.h"
#include "ydoc.h"

typedef int parse_fn(yaml_parser_t *parser, yaml_event_t *event);
typedef void delete_fn(yaml_parser_t *parser);

static parse_fn *libyaml_parse;
static delete_fn *libyaml_delete;
static pthread_once_t libyaml_once = PTHREAD_ONCE_INIT;
/* The document whose load runs in this thread, if any. */
static _Thread_local struct ydoc *tap;

static void libyaml_find(void)
{
	libyaml_parse = (parse_fn *)dlsym(RTLD_NEXT, "yaml_parser_parse");
	libyaml_delete = (delete_fn *)dlsym(RTLD_NEXT, "yaml_parser_delete");
}

static int feed(struct ydoc *d, const yaml_event_t *ev);

/*
 * Why evc defines libyaml's yaml_parser_parse(): libcyaml parses with
 * libyaml itself and has no API to say where it stopped: only log lines
 * meant for people, whose wording no release promises. Nor does it say
 * on which line a value it accepted was (the range checks after the load
 * need it), nor hand over kafka.properties, which no schema can type.
 * This definition in the executable comes before libyaml's in the order
 * the dynamic linker binds libcyaml's calls, so every event libcyaml
 * pulls passes here on its way (forwarded to libyaml's own, found with
 * RTLD_NEXT) and is fed to the nodes of the document being loaded: one
 * parse, and the node of the last event libcyaml pulled says where it
 * stopped. An event the nodes refuse (an alias, a second document, ...)
 * fails the parse as bad syntax would, and libcyaml stops there. Outside
 * a load (tap NULL: other threads, other times) it only forwards. With a
 * static libyaml the link fails (two definitions); a libcyaml that
 * reaches libyaml another way sends no event here, and ydoc_load()
 * refuses to go on without them.
 */
int yaml_parser_parse(yaml_parser_t *parser, yaml_event_t *event)
{
	struct ydoc *d = tap;

	pthread_once(&libyaml_once, libyaml_find);
	if (!libyaml_parse) {
		parser->error = YAML_PARSER_ERROR;
		parser->problem = "libyaml's parser not found";
		return 0;
	}
	if (!libyaml_parse(parser, event)) {
		if (d && !d->err) {
			d->err = "invalid YAML";
			d->err_detail = parser->problem ? parser->problem : "?";
			d->err_line = (unsigned)parser->problem_mark.line + 1;
		}
		return 0;
	}
	if (!d || feed(d, event) == 0)
		return 1;
	yaml_event_delete(event);
	parser->error = YAML_PARSER_ERROR;
	parser->problem = d->err;
	return 0;
}

/*
 * libcyaml deletes its parser as a load ends, failed or not. Where it
 * failed on a value, the same parser first parses on to the end of the
 * file, through the tap and without libcyaml: what evc refuses in any
 * YAML (bad syntax, an alias, a second document) outranks a wrong value
 * met before it, as it did when a first pass read the whole file.
 */
void yaml_parser_delete(yaml_parser_t *parser)
{
	struct ydoc *d = tap;
	unsigned at = d ? d->at : 0;
	bool at_key = d && d->at_key, end = false;
	yaml_event_t ev;

	while (d && !d->err && !end && yaml_parser_parse(parser, &ev)) {
		end = ev.type == YAML_STREAM_END_EVENT ||
		      ev.type == YAML_NO_EVENT;
		yaml_event_delete(&ev);
	}
	if (d) {
		d->at = at;	/* where libcyaml stopped */
		d->at_key = at_key;
	}
	pthread_once(&libyaml_once, libyaml_find);
	if (libyaml_delete)
		libyaml_delete(parser);
}

static int refuse(struct ydoc *d, unsigned line, const char *what)
{
	d->err = what;
	d->err_line = line;
	return -1;
}

/* A new node, the last child of parent (the root has none). */
static unsigned node_add(struct ydoc *d, unsigned parent, unsigned line)
{
	unsigned n = d->nnodes;
	struct ynode *p;

	if (n == d->capnodes) {
		d->capnodes = n ? n * 2 : 64;
		d->nodes = xreallocarray(d->nodes, d->capnodes,
					 sizeof(*d->nodes));
	}
	memset(&d->nodes[n], 0, sizeof(d->nodes[n]));
	d->nodes[n].line = d->nodes[n].vline = line;
	d->nodes[n].parent = parent;
	d->nnodes++;
	if (n == 0)
		return n;
	p = &d->nodes[parent];
	if (p->last)
		d->nodes[p->last].next = n;
	else
		p->child = n;
	p->last = n;
	return n;
}

static const char *ev_text(const yaml_event_t *ev)
{
	return (const char *)ev->data.scalar.value;
}

/* YAML's null: an empty plain scalar, ~ or null. */
static bool ev_null(const yaml_event_t *ev)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(ev_text(ev), nulls[i]))
			return true;
	return false;
}

/* The value of node n begins: a scalar, or a container to descend into. */
static int node_value(struct ydoc *d, unsigned n, const yaml_event_t *ev,
		      unsigned line)
{
	struct ynode *y = &d->nodes[n];

	y->vline = line;
	if (ev->type == YAML_SCALAR_EVENT) {
		y->type = ev_null(ev) ? YN_NULL : YN_SCALAR;
		y->text = xstrdup(ev_text(ev));
		return 0;
	}
	if (d->depth == YDOC_DEPTH_MAX)
		return refuse(d, line, "nested too deeply");
	y->type = ev->type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ;
	d->frame[d->depth++] = (struct yframe){ .node = n,
						.map = y->type == YN_MAP };
	return 0;
}

/* A scalar, or the start of a mapping or a sequence: a key or a value. */
static int feed_node(struct ydoc *d, const yaml_event_t *ev, unsigned line)
{
	struct yframe *f = d->depth ? &d->frame[d->depth - 1] : NULL;
	unsigned n;

	if (f && f->map && !f->want_value) {
		if (ev->type != YAML_SCALAR_EVENT)
			return refuse(d, line, "expected a plain key");
		n = node_add(d, f->node, line);
		d->nodes[n].key = xstrdup(ev_text(ev));
		f->want_value = true;
		d->at = n;
		d->at_key = true;
		return 0;
	}
	if (f && f->map) {
		n = d->nodes[f->node].last;
		f->want_value = false;
	} else {
		n = node_add(d, f ? f->node : 0, line);
	}
	d->at = n;
	d->at_key = false;
	return node_value(d, n, ev, line);
}

/* One event of the parse, as libyaml gives it to libcyaml. */
static int feed(struct ydoc *d, const yaml_event_t *ev)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;

	d->events++;
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++d->docs > 1)
			return refuse(d, line, "more than one document");
		return 0;
	case YAML_ALIAS_EVENT:
		return refuse(d, line, "aliases are not supported");
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return feed_node(d, ev, line);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		d->at = d->frame[--d->depth].node;
		d->at_key = false;
		return 0;
	default:
		return 0;	/* the stream's start and end, a document's end */
	}
}

const struct ynode *ydoc_first(const struct ydoc *d, const struct ynode *n)
{
	return n && n->child ? &d->nodes[n->child] : NULL;
}

const struct ynode *ydoc_next(const struct ydoc *d, const struct ynode *n)
{
	return n->next ? &d->nodes[n->next] : NULL;
}

/* The child of n whose key is the len bytes at key. */
static const struct ynode *child_n(const struct ydoc *d,
				   const struct ynode *n, const char *key,
				   size_t len)
{
	const struct ynode *c;

	for (c = ydoc_first(d, n); c; c = ydoc_next(d, c))
		if (c->key && !strncmp(c->key, key, len) && !c->key[len])
			return c;
	return NULL;
}

const struct ynode *ydoc_child(const struct ydoc *d, const struct ynode *n,
			       const char *key)
{
	return child_n(d, n, key, strlen(key));
}

/*
 * Keys are few in a mapping libcyaml typed (it refuses any other), so a
 * path is walked rather than hashed.
 */
const struct ynode *ydoc_find(const struct ydoc *d, const char *path)
{
	const struct ynode *n = d->nnodes ? &d->nodes[0] : NULL;
	size_t len;

	for (;;) {
		len = strcspn(path, ".");
		if (!(n = child_n(d, n, path, len)) || !path[len])
			return n;
		path += len + 1;
	}
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

bool ydoc_text_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (ctl_len(p))
			return false;
	return true;
}

/* s with its control characters as \xHH; out holds four times s. */
static void escape(char *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p) {
		if (!(n = ctl_len(p)))
			*out++ = (char)*p++;
		while (n--)
			out += sprintf(out, "\\x%02x", *p++);
	}
	*out = '\0';
}

int ydoc_verror(const struct ydoc *d, unsigned line, const char *fmt,
		va_list ap)
{
	char msg[512], safe[sizeof(msg) * 4];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	escape(safe, msg);
	return error("%s:%u: %s", d->file, line ? line : 1, safe);
}

int ydoc_error(const struct ydoc *d, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ydoc_verror(d, line, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * libcyaml's own lines go to debug output (-v) as they are, control
 * characters shown: they are for a person, and nothing here reads them.
 */
static void cy_log(cyaml_log_t level, void *ctx, const char *fmt,
		   va_list ap)
{
	char line[512], safe[sizeof(line) * 4];

	(void)level;
	(void)ctx;
	if (!log_verbose)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	escape(safe, line);
	debug("libcyaml: %s", safe);
}

static const cyaml_config_t cy_cfg = {
	.log_fn = cy_log,
	.mem_fn = cyaml_mem,
	.log_level = CYAML_LOG_WARNING,
	.flags = CYAML_CFG_NO_ALIAS,
};

/* The schema of the value of node n: the root's, a field's, an entry's. */
static const cyaml_schema_value_t *schema_at(const struct ydoc *d, unsigned n)
{
	const struct ynode *y = &d->nodes[n];
	const cyaml_schema_value_t *s;
	const cyaml_schema_field_t *f;

	if (n == 0)
		return d->schema;
	if (!(s = schema_at(d, y->parent)))
		return NULL;
	if (s->type == CYAML_SEQUENCE || s->type == CYAML_SEQUENCE_FIXED)
		return y->key ? NULL : s->sequence.entry;
	if (s->type != CYAML_MAPPING || !y->key)
		return NULL;
	for (f = s->mapping.fields; f->key; f++)
		if (!strcmp(f->key, y->key))
			return &f->value;
	return NULL;
}

/* What a value of type t must be, in words. */
static const char *type_words(enum cyaml_type t)
{
	switch (t) {
	case CYAML_INT:
		return "an integer";
	case CYAML_UINT:
		return "an unsigned integer";
	case CYAML_BOOL:
	case CYAML_ENUM:	/* evc's only enumeration: YAML's booleans */
		return "true or false";
	case CYAML_FLOAT:
		return "a number";
	case CYAML_STRING:
		return "a string";
	case CYAML_MAPPING:
		return "a mapping";
	case CYAML_SEQUENCE:
	case CYAML_SEQUENCE_FIXED:
		return "a list";
	default:
		return NULL;
	}
}

/* Who holds the value of node n: "'tick_ms'", "entry 2 of 'cps'". */
static void subject(const struct ydoc *d, unsigned n, char *buf, size_t size)
{
	const struct ynode *y = &d->nodes[n], *p = &d->nodes[y->parent];
	unsigned nth = 1;

	if (n == 0) {
		snprintf(buf, size, "the top level");
	} else if (y->key) {
		snprintf(buf, size, "'%s'", y->key);
	} else {
		for (unsigned i = p->child; i != n; i = d->nodes[i].next)
			nth++;
		if (p->key)
			snprintf(buf, size, "entry %u of '%s'", nth, p->key);
		else
			snprintf(buf, size, "entry %u of the top level", nth);
	}
}

/* The first key that mapping n lacks and its schema s requires. */
static const char *missing_key(const struct ydoc *d, unsigned n,
			       const cyaml_schema_value_t *s)
{
	const cyaml_schema_field_t *f;

	for (f = s->mapping.fields; f->key; f++)
		if (!(f->value.flags & CYAML_FLAG_OPTIONAL) &&
		    !ydoc_child(d, &d->nodes[n], f->key))
			return f->key;
	return NULL;
}

/*
 * libcyaml stopped with err at the last event it pulled: that event's
 * node says where and whose, the error code and the schema at the node
 * say what was wrong. At a key, libcyaml refuses one its schema lacks
 * (INVALID_KEY) or one seen before in the mapping (UNEXPECTED_EVENT); at
 * the end of a mapping, one that lacks a required key, the first in
 * the schema's order.
 */
static int cy_report(const struct ydoc *d, cyaml_err_t err)
{
	const struct ynode *y = d->nnodes ? &d->nodes[d->at] : NULL;
	const cyaml_schema_value_t *s = y ? schema_at(d, d->at) : NULL;
	const char *what;
	char who[512];

	if (!y)
		return ydoc_error(d, 1, "invalid document (%s)",
				  cyaml_strerror(err));
	if (d->at_key && err == CYAML_ERR_INVALID_KEY)
		return ydoc_error(d, y->line, "unknown key '%s'", y->key);
	if (d->at_key && err == CYAML_ERR_UNEXPECTED_EVENT)
		return ydoc_error(d, y->line, "duplicate key '%s'", y->key);
	if (err == CYAML_ERR_MAPPING_FIELD_MISSING && s &&
	    s->type == CYAML_MAPPING && (what = missing_key(d, d->at, s)))
		return ydoc_error(d, y->line, "missing key '%s'", what);
	subject(d, d->at, who, sizeof(who));
	if (s && (what = type_words(s->type)))
		return ydoc_error(d, y->line, "expected %s for %s", what, who);
	return ydoc_error(d, y->line, "invalid value for %s (%s)", who,
			  cyaml_strerror(err));
}

int ydoc_load(struct ydoc *d, const char *file, const char *buf, size_t len,
	      const cyaml_schema_value_t *schema, void **out)
{
	cyaml_err_t err;

	memset(d, 0, sizeof(*d));
	d->file = file;
	d->schema = schema;
	*out = NULL;
	tap = d;
	err = cyaml_load_data((const uint8_t *)buf, len, &cy_cfg, schema,
			      &d->data, NULL);
	tap = NULL;
	if (err == CYAML_ERR_OOM)
		die(EXIT_FAIL, "out of memory");
	if (d->err && d->err_detail)
		return ydoc_error(d, d->err_line, "%s: %s", d->err,
				  d->err_detail);
	if (d->err)
		return ydoc_error(d, d->err_line, "%s", d->err);
	/* Without the events, kafka.properties would be lost in silence. */
	if (!d->events)
		return error("cannot follow libcyaml's parse of '%s': link evc with the shared libyaml",
			     file);
	if (err != CYAML_OK)
		return cy_report(d, err);
	*out = d->data;
	return 0;
}

void ydoc_free(struct ydoc *d)
{
	for (unsigned i = 0; i < d->nnodes; i++) {
		free(d->nodes[i].key);
		free(d->nodes[i].text);
	}
	free(d->nodes);
	cyaml_free(&cy_cfg, d->schema, d->data, 0);
	memset(d, 0, sizeof(*d));
}
