/* metrics.h: counters and gauges with labels, rendered in Prometheus' text format 0.0.4. */
#ifndef EVC_METRICS_H
#define EVC_METRICS_H

#include <stddef.h>

#include "conf.h"

/*
 * A registry of metric families, each a name, a help line, a type and
 * the names of its labels, and under each its series (one set of label
 * values each). No I/O here: metrics_render() writes the text a scrape
 * returns into a buffer; lib/exporter.c serves it over HTTP.
 *
 * Updating is meant for hot paths: a series is looked up once, when it
 * is made, and its owner keeps the pointer; metrics_add() is then an
 * add on a field. A series may instead read a counter its owner keeps
 * anyway (metrics_watch_long()), at render time: nothing is counted
 * twice. Families come out in the order they were registered, series
 * in the order they were made.
 *
 *	struct metrics m;
 *	metrics_init(&m);
 *	struct metrics_family *f = metrics_family(&m, METRICS_COUNTER,
 *		"evc_messages_read_total", "Messages read", "topic");
 *	struct metrics_series *s = metrics_series(f, "telemetry");
 *	metrics_add(s, 1);
 *	char *text = metrics_render(&m, &len);  ... free(text);
 *	metrics_free(&m);
 */

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE };

struct metrics_series {
	double value;			/* its own value, without a source */
	const long *from_long;		/* else the value is read here ... */
	const double *from_double;	/* ... or here, at render time */
	char *labels;			/* rendered {name="value",...}, or "" */
	struct metrics_series *next;
};

struct metrics_family {
	char *name;
	char *help;
	enum metrics_type type;
	char **label_names;
	unsigned nlabels;
	struct metrics_series *head, *tail;
	struct metrics_family *next;
};

struct metrics {
	struct metrics_family *head, *tail;
};

void metrics_init(struct metrics *m);
void metrics_free(struct metrics *m);

/*
 * A new family: labels is a comma-separated list of label names ("topic,
 * partition"), or NULL for none. A name or label name Prometheus would
 * not take, or a name registered already, is a bug: the process dies.
 */
struct metrics_family *metrics_family(struct metrics *m, enum metrics_type type,
				      const char *name, const char *help,
				      const char *labels);

/*
 * A new series of f: as many label values (any bytes but NUL; escaped
 * when rendered) as f has label names, in their order. Its value is 0.
 */
struct metrics_series *metrics_series(struct metrics_family *f, ...);
struct metrics_series *metrics_seriesv(struct metrics_family *f,
				       const char *const *values);

/* The series of f, gone: for series remade at each scrape (partitions). */
void metrics_clear(struct metrics_family *f);

static inline void metrics_add(struct metrics_series *s, double v)
{
	s->value += v;
}

static inline void metrics_set(struct metrics_series *s, double v)
{
	s->value = v;
}

/* The series' value is *p at each render, from now on. */
void metrics_watch_long(struct metrics_series *s, const long *p);
void metrics_watch_double(struct metrics_series *s, const double *p);

/* A counter family of one series, read from a long its owner keeps. */
void metrics_counter_of(struct metrics *m, const char *name,
			const char *help, const long *p);

/*
 * A counter family labelled "topic": for each topic of ts (every topic
 * when ts is NULL), a series named as the configuration names it, read
 * from counts[topic] (the bus's own counters, bus_stats()).
 */
void metrics_by_topic(struct metrics *m, const char *name, const char *help,
		      const struct conf *c, const long *counts,
		      const enum topic *ts, size_t n);

/*
 * The text of every family and series, NUL-terminated, in a buffer the
 * caller frees; *len (if not NULL) is its length. Served with the
 * content type METRICS_CONTENT_TYPE.
 */
char *metrics_render(const struct metrics *m, size_t *len);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * A sample value as Prometheus parses it: integers without exponent or
 * fraction, others as short as they stay exact, NaN, +Inf, -Inf. buf
 * holds at least METRICS_NUM_MAX bytes.
 */
#define METRICS_NUM_MAX 32
const char *metrics_number(char *buf, double v);

#endif
