/* metrics_test.c: unit tests of lib/metrics.c: families, label escaping, order, values as Prometheus reads them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/metrics.h"
#include "test/unit/check.h"

static int same_text(const char *what, const char *got, const char *want)
{
	if (!check(!strcmp(got, want), "%s", what))
		printf("# got:\n%s# wanted:\n%s", got, want);
	return 0;
}

/* Each value as the text Prometheus' parser takes back exactly. */
static void test_numbers(void)
{
	static const struct {
		double v;
		const char *text;
	} t[] = {
		{ 0, "0" }, { -0.0, "0" }, { 1, "1" }, { -3, "-3" },
		{ 123456789012, "123456789012" }, { 0.5, "0.5" },
		{ 0.1, "0.1" }, { 12.34, "12.34" }, { 1e20, "1e+20" },
		{ 1.0 / 3, "0.33333333333333331" },
		{ NAN, "NaN" }, { INFINITY, "+Inf" }, { -INFINITY, "-Inf" },
	};
	char buf[METRICS_NUM_MAX];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		metrics_number(buf, t[i].v);
		check(!strcmp(buf, t[i].text), "%s is written %s (got %s)",
		      t[i].text, t[i].text, buf);
		if (!isnan(t[i].v))
			check(strtod(buf, NULL) == t[i].v,
			      "%s reads back as the same double", buf);
	}
}

/* HELP and TYPE once per family, series under it, in the order made. */
static void test_families(void)
{
	struct metrics m;
	struct metrics_family *cps, *read, *up;
	struct metrics_series *active, *t1, *t2;
	long received = 41;
	char *text;
	size_t len;

	metrics_init(&m);
	cps = metrics_family(&m, METRICS_GAUGE, "evc_cps", "CPs in each state",
			     "state");
	read = metrics_family(&m, METRICS_COUNTER, "evc_messages_read_total",
			      "Messages read", "topic,partition");
	up = metrics_family(&m, METRICS_GAUGE, "evc_up", "1", NULL);
	active = metrics_series(cps, "ACTIVE");
	metrics_series(cps, "BROKEN");
	t2 = metrics_series(read, "telemetry", "2");
	t1 = metrics_series(read, "health", "0");
	metrics_set(metrics_series(up), 1);
	metrics_add(active, 2);
	metrics_add(active, 1);
	metrics_add(t2, 0.25);
	metrics_watch_long(t1, &received);
	received++;
	text = metrics_render(&m, &len);
	same_text("families in the order registered, series in the order made", text,
		  "# HELP evc_cps CPs in each state\n"
		  "# TYPE evc_cps gauge\n"
		  "evc_cps{state=\"ACTIVE\"} 3\n"
		  "evc_cps{state=\"BROKEN\"} 0\n"
		  "# HELP evc_messages_read_total Messages read\n"
		  "# TYPE evc_messages_read_total counter\n"
		  "evc_messages_read_total{topic=\"telemetry\",partition=\"2\"} 0.25\n"
		  "evc_messages_read_total{topic=\"health\",partition=\"0\"} 42\n"
		  "# HELP evc_up 1\n"
		  "# TYPE evc_up gauge\n"
		  "evc_up 1\n");
	check(len == strlen(text), "the length given is the text's");
	free(text);
	metrics_clear(read);
	metrics_series(read, "control", "1");
	text = metrics_render(&m, NULL);
	check(strstr(text, "evc_messages_read_total{topic=\"control\",partition=\"1\"} 0\n") &&
	      !strstr(text, "health") && strstr(text, "# TYPE evc_messages_read_total counter\n"),
	      "a family cleared keeps its HELP and TYPE and takes new series");
	free(text);
	metrics_free(&m);
	check(!m.head, "the registry is empty once freed");
}

/* What cannot be written as is in a label value or a help line. */
static void test_escaping(void)
{
	struct metrics m;
	struct metrics_family *f;
	char *text;

	metrics_init(&m);
	f = metrics_family(&m, METRICS_COUNTER, "x_total",
			   "a \\ backslash\nand a \"quote\"", "loc,empty");
	metrics_series(f, "C:\\dir \"q\"\nnext", "");
	metrics_series(f, "Calle de Col\xc3\xb3n", NULL);
	text = metrics_render(&m, NULL);
	same_text("backslash, quote and newline escaped in label values; UTF-8 as is", text,
		  "# HELP x_total a \\\\ backslash\\nand a \"quote\"\n"
		  "# TYPE x_total counter\n"
		  "x_total{loc=\"C:\\\\dir \\\"q\\\"\\nnext\",empty=\"\"} 0\n"
		  "x_total{loc=\"Calle de Col\xc3\xb3n\",empty=\"\"} 0\n");
	free(text);
	metrics_free(&m);
}

static void test_empty(void)
{
	struct metrics m;
	size_t len = 99;
	char *text;

	metrics_init(&m);
	text = metrics_render(&m, &len);
	check(text && !*text && len == 0, "an empty registry renders nothing");
	free(text);
	metrics_family(&m, METRICS_GAUGE, "evc_lag", "Lag", "partition");
	text = metrics_render(&m, NULL);
	same_text("a family without series still says what it is", text,
		  "# HELP evc_lag Lag\n# TYPE evc_lag gauge\n");
	free(text);
	metrics_free(&m);
}

int main(void)
{
	test_numbers();
	test_families();
	test_escaping();
	test_empty();
	return check_done();
}
