/* metrics.c: counters and gauges with labels, rendered in Prometheus' text format 0.0.4. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#define METRICS_LABELS_MAX 8

/* A growing text. */
struct text {
	char *p;
	size_t len, cap;
};

static void add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = xrealloc(t->p, t->cap);
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void adds(struct text *t, const char *s)
{
	add(t, s, strlen(s));
}

/*
 * s with the escapes of the format: a backslash and a newline always,
 * a double quote inside a label value (quote true) only.
 */
static void add_escaped(struct text *t, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			adds(t, "\\\\");
		else if (*s == '\n')
			adds(t, "\\n");
		else if (*s == '"' && quote)
			adds(t, "\\\"");
		else
			add(t, s, 1);
	}
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for a metric, without ':' for a label. */
static bool name_ok(const char *s, size_t n, bool metric)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_";

	if (!n || !strchr(alpha, s[0]) || (!metric && s[0] == ':'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!s[i] || (!strchr(alpha, s[i]) && !(s[i] >= '0' && s[i] <= '9') &&
			      !(metric && s[i] == ':')))
			return false;
	/* labels beginning with __ are Prometheus' own */
	return metric || n < 2 || s[0] != '_' || s[1] != '_';
}

void metrics_init(struct metrics *m)
{
	m->head = m->tail = NULL;
}

static void family_free(struct metrics_family *f)
{
	metrics_clear(f);
	for (unsigned i = 0; i < f->nlabels; i++)
		free(f->label_names[i]);
	free(f->label_names);
	free(f->name);
	free(f->help);
	free(f);
}

void metrics_free(struct metrics *m)
{
	struct metrics_family *f, *next;

	for (f = m->head; f; f = next) {
		next = f->next;
		family_free(f);
	}
	m->head = m->tail = NULL;
}

/* "a,b" to f's label names; dies on a bad one. */
static void label_names(struct metrics_family *f, const char *labels)
{
	const char *p = labels;
	size_t n;

	while (p && *p) {
		n = strcspn(p, ",");
		if (!name_ok(p, n, false) || f->nlabels == METRICS_LABELS_MAX)
			die(EXIT_FAIL, "bad label names of metric '%s': '%s'",
			    f->name, labels);
		f->label_names = xreallocarray(f->label_names, f->nlabels + 1,
					       sizeof(*f->label_names));
		f->label_names[f->nlabels++] = xstrndup(p, n);
		p += n + (p[n] == ',');
	}
}

struct metrics_family *metrics_family(struct metrics *m, enum metrics_type type,
				      const char *name, const char *help,
				      const char *labels)
{
	struct metrics_family *f;

	if (!name_ok(name, strlen(name), true))
		die(EXIT_FAIL, "bad metric name: '%s'", name);
	for (f = m->head; f; f = f->next)
		if (!strcmp(f->name, name))
			die(EXIT_FAIL, "metric registered twice: '%s'", name);
	f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help ? help : "");
	f->type = type;
	label_names(f, labels);
	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	return f;
}

struct metrics_series *metrics_seriesv(struct metrics_family *f,
				       const char *const *values)
{
	struct metrics_series *s = xcalloc(1, sizeof(*s));
	struct text t = { 0 };

	adds(&t, "");
	for (unsigned i = 0; i < f->nlabels; i++) {
		adds(&t, i ? "," : "{");
		adds(&t, f->label_names[i]);
		adds(&t, "=\"");
		add_escaped(&t, values[i] ? values[i] : "", true);
		adds(&t, i + 1 == f->nlabels ? "\"}" : "\"");
	}
	s->labels = t.p;
	if (f->tail)
		f->tail->next = s;
	else
		f->head = s;
	f->tail = s;
	return s;
}

struct metrics_series *metrics_series(struct metrics_family *f, ...)
{
	const char *values[METRICS_LABELS_MAX];
	va_list ap;

	va_start(ap, f);
	for (unsigned i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return metrics_seriesv(f, values);
}

void metrics_clear(struct metrics_family *f)
{
	struct metrics_series *s, *next;

	for (s = f->head; s; s = next) {
		next = s->next;
		free(s->labels);
		free(s);
	}
	f->head = f->tail = NULL;
}

void metrics_watch_long(struct metrics_series *s, const long *p)
{
	s->from_long = p;
	s->from_double = NULL;
}

void metrics_watch_double(struct metrics_series *s, const double *p)
{
	s->from_double = p;
	s->from_long = NULL;
}

const char *metrics_number(char *buf, double v)
{
	if (isnan(v))
		return strcpy(buf, "NaN");
	if (isinf(v))
		return strcpy(buf, v > 0 ? "+Inf" : "-Inf");
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, METRICS_NUM_MAX, "%.0f", v == 0 ? 0.0 : v);
		return buf;
	}
	snprintf(buf, METRICS_NUM_MAX, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, METRICS_NUM_MAX, "%.17g", v);
	return buf;
}

static double value_of(const struct metrics_series *s)
{
	if (s->from_long)
		return (double)*s->from_long;
	if (s->from_double)
		return *s->from_double;
	return s->value;
}

static void render_family(struct text *t, const struct metrics_family *f)
{
	char num[METRICS_NUM_MAX];

	adds(t, "# HELP ");
	adds(t, f->name);
	adds(t, " ");
	add_escaped(t, f->help, false);
	adds(t, "\n# TYPE ");
	adds(t, f->name);
	adds(t, f->type == METRICS_COUNTER ? " counter\n" : " gauge\n");
	for (const struct metrics_series *s = f->head; s; s = s->next) {
		adds(t, f->name);
		adds(t, s->labels);
		adds(t, " ");
		adds(t, metrics_number(num, value_of(s)));
		adds(t, "\n");
	}
}

char *metrics_render(const struct metrics *m, size_t *len)
{
	struct text t = { 0 };

	adds(&t, "");
	for (const struct metrics_family *f = m->head; f; f = f->next)
		render_family(&t, f);
	if (len)
		*len = t.len;
	return t.p;
}

void metrics_counter_of(struct metrics *m, const char *name,
			const char *help, const long *p)
{
	metrics_watch_long(metrics_series(metrics_family(m, METRICS_COUNTER,
							 name, help, NULL)), p);
}

void metrics_by_topic(struct metrics *m, const char *name, const char *help,
		      const struct conf *c, const long *counts,
		      const enum topic *ts, size_t n)
{
	struct metrics_family *f = metrics_family(m, METRICS_COUNTER, name,
						  help, "topic");

	for (size_t i = 0; i < (ts ? n : T_COUNT); i++) {
		enum topic t = ts ? ts[i] : (enum topic)i;

		metrics_watch_long(metrics_series(f, c->topics[t]), &counts[t]);
	}
}
