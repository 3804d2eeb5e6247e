/* status.c: the status role: every CP's state, read from Central's cp-state topic. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/setup.h"
#include "lib/cpstate.h"
#include "lib/figure.h"
#include "lib/textwidth.h"
#include "lib/xalloc.h"

#define CHECK_MS 5000		/* for a broker to answer at all */
#define CATCH_UP_MS 15000	/* to read cp-state to its end */
#define POLL_MS 200		/* --watch: longest wait for a message */
#define REDRAW_MS 1000		/* --watch on a terminal: ages move on */
#define MIN_REDRAW_MS 100	/* and no faster, however busy the topic */
#define LOCATION_MAX 40		/* columns: wider locations are cut in the table */

static const char usage[] =
	"usage: evc status [-jvw] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... [CP...]\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -j, --json             print JSON instead of a table\n"
	"  -v, --verbose          print debugging output\n"
	"  -w, --watch            keep following the changes until interrupted\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

struct status {
	struct cpstate cs;
	const struct cpstate_row **view;	/* the rows shown, by id */
	size_t n;			/* rows in view */
	uint32_t viewed;		/* cs.gen when view was made */
	char **only;			/* the CP ids asked for; NULL: all */
	int nonly;
	bool json;
	bool watch;
	bool redraw;			/* --watch on a terminal: whole screens */
	bool colour;
	const char *orange;
};

static bool wanted(const struct status *s, const char *id)
{
	if (!s->only)
		return true;
	for (int i = 0; i < s->nonly; i++)
		if (!strcmp(s->only[i], id))
			return true;
	return false;
}

/*
 * The rows shown, by id: those asked for, or all. Only a CP added or
 * removed changes them (a row's figures change in place), so they are
 * made again then.
 */
static void sort_rows(struct status *s)
{
	const struct cpstate_row *const *all;

	if (s->view && s->viewed == s->cs.gen)
		return;
	all = cpstate_sorted(&s->cs);
	s->view = xreallocarray(s->view, (size_t)s->cs.n + 1,
				sizeof(*s->view));
	s->n = 0;
	for (uint32_t i = 0; i < s->cs.n; i++)
		if (wanted(s, all[i]->id))
			s->view[s->n++] = all[i];
	s->viewed = s->cs.gen;
}

/* The i-th row by id (sort_rows() first). */
static const struct cpstate_row *nth(const struct status *s, size_t i)
{
	return s->view[i];
}

/* Driver and live figures of a session, "Out of Order" when stopped. */
static void fmt_detail(const struct cpstate_row *r, char *buf, size_t len)
{
	const struct msg_progress *l = &r->st.live;

	if (r->driver[0])
		snprintf(buf, len, "%s %s kW %s kWh %s EUR session %.8s",
			 r->driver, fig_kw(l->kw).s, fig_kwh(l->wh).s,
			 fig_eur(l->cents).s, r->session);
	else if (r->st.state == CP_STOPPED)
		snprintf(buf, len, "Out of Order");
	else
		buf[0] = '\0';
}

static const char *state_sgr(const struct status *s, enum cp_state st)
{
	switch (st) {
	case CP_ACTIVE: return "32";
	case CP_SUPPLYING: return "1;32";
	case CP_STOPPED: return s->orange;
	case CP_BROKEN: return "31";
	default: return "90";
	}
}

/* t cut and padded to width columns (lib/textwidth.h). */
static void put_cell(FILE *out, const char *t, int width)
{
	char cell[MSG_TEXT_MAX * 3 + LOCATION_MAX + 1];

	text_cell(cell, sizeof(cell), t, width, true);
	fputs(cell, out);
}

struct widths {
	int id, loc;
};

static void measure(const struct status *s, struct widths *w)
{
	w->id = 2;
	w->loc = 8;
	for (size_t i = 0; i < s->n; i++) {
		int id = text_width(nth(s, i)->id);
		int loc = text_width(nth(s, i)->st.location);

		w->id = id > w->id ? id : w->id;
		w->loc = loc > w->loc ? loc : w->loc;
	}
	if (w->loc > LOCATION_MAX)
		w->loc = LOCATION_MAX;
}

static void print_row(FILE *out, const struct status *s,
		      const struct cpstate_row *r, const struct widths *w,
		      int64_t now)
{
	const char *name = cp_state_name(r->st.state);
	char updated[64], detail[256];

	snprintf(updated, sizeof(updated), "%s ago",
		 fig_span(now - r->updated).s);
	fmt_detail(r, detail, sizeof(detail));
	fprintf(out, "%-*s  ", w->id, r->id);
	if (s->colour)
		fprintf(out, "\033[%sm%s\033[0m%*s  ", state_sgr(s, r->st.state),
			name, 12 - (int)strlen(name), "");
	else
		fprintf(out, "%-12s  ", name);
	fprintf(out, "%-6s  ", fig_span(now - r->st.since).s);
	put_cell(out, r->st.location, w->loc);
	fprintf(out, "  %7s  ", fig_price(r->st.price).s);
	if (detail[0])
		fprintf(out, "%-10s  %s\n", updated, detail);
	else
		fprintf(out, "%s\n", updated);
}

/* The footer says how old the newest news is: Central may be down. */
static void print_footer(FILE *out, const struct status *s, int64_t now)
{
	int avail = 0;

	for (size_t i = 0; i < s->n; i++)
		avail += nth(s, i)->st.state == CP_ACTIVE;
	fprintf(out, "%zu CP%s, %d available; state as of %s, %s ago\n", s->n,
		s->n == 1 ? "" : "s", avail, fig_clock(s->cs.newest, now).s,
		fig_span(now - s->cs.newest).s);
}

static void print_table(FILE *out, const struct status *s)
{
	int64_t now = now_ms();
	struct widths w;

	if (!s->cs.newest) {
		fprintf(out, "no CP has reported yet\n");
		return;
	}
	measure(s, &w);
	if (s->n) {
		fprintf(out, "%-*s  %-12s  %-6s  %-*s  %7s  %-10s  %s\n", w.id,
			"CP", "STATE", "FOR", w.loc, "LOCATION", "EUR/KWH",
			"UPDATED", "DETAIL");
		for (size_t i = 0; i < s->n; i++)
			print_row(out, s, nth(s, i), &w, now);
	}
	print_footer(out, s, now);
}

static json_t *text_or_null(const char *t)
{
	return t[0] ? json_string(t) : json_null();
}

static json_t *live_json(const struct cpstate_row *r)
{
	const struct msg_progress *l = &r->st.live;

	if (!r->driver[0])
		return json_null();
	return json_pack("{s:I, s:f, s:I, s:f, s:I, s:f}", "seq",
			 (json_int_t)l->seq, "kw", l->kw, "wh", (json_int_t)l->wh,
			 "kwh", (double)l->wh / 1000, "cents",
			 (json_int_t)l->cents, "eur", (double)l->cents / 100);
}

static json_t *row_json(const struct cpstate_row *r)
{
	return json_pack("{s:s, s:s, s:s, s:f, s:I, s:I, s:o, s:o, s:o}",
			 "cp", r->id, "state", cp_state_name(r->st.state),
			 "location", r->st.location, "price", r->st.price,
			 "since", (json_int_t)r->st.since,
			 "updated", (json_int_t)r->updated,
			 "driver", text_or_null(r->driver),
			 "session", text_or_null(r->session),
			 "live", live_json(r));
}

static void put_json(FILE *out, json_t *o)
{
	char *text;

	if (!o || !(text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15))))
		die(EXIT_FAIL, "out of memory");
	fprintf(out, "%s\n", text);
	free(text);
	json_decref(o);
}

/* {"cps":[...], "updated": ms of the newest message, or null}. */
static void print_json(FILE *out, const struct status *s)
{
	json_t *cps = json_array(), *o;

	for (size_t i = 0; cps && i < s->n; i++)
		json_array_append_new(cps, row_json(nth(s, i)));
	o = json_pack("{s:o, s:o}", "cps", cps, "updated", s->cs.newest ?
		      json_integer((json_int_t)s->cs.newest) : json_null());
	put_json(out, o);
}

/* --watch, not on a terminal: one line per message, as it comes. */
static void print_change(FILE *out, const struct status *s,
			 const struct cpstate_row *r)
{
	char detail[256];

	if (s->json) {
		put_json(out, row_json(r));
	} else {
		fmt_detail(r, detail, sizeof(detail));
		fprintf(out, "%s %s %s %s EUR/kWh%s%s\n",
			fig_clock(r->updated, now_ms()).s, r->id,
			cp_state_name(r->st.state), fig_price(r->st.price).s,
			detail[0] ? " " : "", detail);
	}
	fflush(out);
}

/* --watch, not on a terminal: Central forgot CP id (off the catalogue). */
static void print_removal(FILE *out, const struct status *s, const char *id)
{
	if (s->json)
		put_json(out, json_pack("{s:s, s:b}", "cp", id, "removed", 1));
	else
		fprintf(out, "%s %s removed\n", fig_clock(now_ms(), now_ms()).s,
			id);
	fflush(out);
}

/* Home, clear, the table: a whole screen at a time. */
static void redraw(struct status *s)
{
	sort_rows(s);
	fputs("\033[H\033[2J", stdout);
	print_table(stdout, s);
	fflush(stdout);
}

/* The CPs asked for by name that Central never reported, each named. */
static int missing(const struct status *s)
{
	int n = 0;

	for (int i = 0; i < s->nonly; i++)
		if (!cpstate_find(&s->cs, s->only[i])) {
			error("no state for CP '%s'", s->only[i]);
			n++;
		}
	return n;
}

/* Reads cp-state from its beginning to its end as it was at the start. */
static int catch_up(struct bus *b, struct status *s)
{
	switch (cpstate_read(b, &s->cs, CATCH_UP_MS)) {
	case BUS_READ_DONE:
		return EXIT_OK;
	case BUS_READ_STOPPED:
		return EXIT_FAIL;
	case BUS_READ_TIMEOUT:
		error("cannot read '%s' to its end within %d s",
		      bus_topic_name(b, T_CP_STATE), CATCH_UP_MS / 1000);
		return EXIT_UNREACHABLE;
	case BUS_READ_UNFOLLOWED:
		return EXIT_FAIL;
	default:
		return EXIT_UNREACHABLE;
	}
}

static void show(struct status *s)
{
	sort_rows(s);
	if (s->redraw)
		redraw(s);
	else if (s->json && s->watch)
		for (size_t i = 0; i < s->n; i++)
			put_json(stdout, row_json(nth(s, i)));
	else if (s->json)
		print_json(stdout, s);
	else
		print_table(stdout, s);
	fflush(stdout);
}

/* Follows cp-state until a signal; exit 0 then, as asked. */
static int watch(struct bus *b, struct status *s)
{
	long long last = mono_ms(), now;
	bool dirty = false;
	const struct cpstate_row *row;
	enum topic t;
	struct msg m;
	int r;

	while (!bus_stop) {
		if ((r = bus_recv(b, &m, &t, POLL_MS)) < 0)
			return EXIT_UNREACHABLE;
		if (r == 1 && t == T_CP_STATE &&
		    (row = cpstate_keep(&s->cs, &m)) && wanted(s, row->id)) {
			if (!s->redraw)
				print_change(stdout, s, row);
			dirty = true;
		} else if (r == BUS_GONE && t == T_CP_STATE &&
			   cpstate_find(&s->cs, m.cp) && wanted(s, m.cp)) {
			cpstate_drop(&s->cs, m.cp);
			if (!s->redraw)
				print_removal(stdout, s, m.cp);
			dirty = true;
		}
		now = mono_ms();
		if (s->redraw && ((dirty && now - last >= MIN_REDRAW_MS) ||
				  now - last >= REDRAW_MS)) {
			redraw(s);
			last = now;
			dirty = false;
		}
	}
	return EXIT_OK;
}

static int run(struct setup *su, struct status *s)
{
	struct bus *b;
	int ret;

	bus_signals();
	if (!(b = setup_bus(su)))
		return EXIT_USAGE;
	if (bus_check(b, CHECK_MS))
		ret = EXIT_UNREACHABLE;
	else
		ret = catch_up(b, s);
	if (ret == EXIT_OK) {
		show(s);
		if (missing(s) && !s->watch)
			ret = EXIT_FAIL;
		else if (s->watch)
			ret = watch(b, s);
	}
	bus_close(b, 0);
	return ret;
}

/* Colours as Central's panel has them, on a terminal, unless NO_COLOR. */
static void set_output(struct status *s)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");
	const char *ct = getenv("COLORTERM");
	bool tty = isatty(STDOUT_FILENO) && !(term && !strcmp(term, "dumb"));

	s->redraw = tty && s->watch && !s->json;
	s->colour = tty && !s->json && !(nc && *nc);
	if ((ct && *ct) || (term && strstr(term, "256")))
		s->orange = "38;5;208";
	else
		s->orange = "33";
}

/* One option of the role. */
static int status_opt(void *ctx, int opt, const char *arg)
{
	struct status *s = ctx;

	(void)arg;
	if (opt == 'j')
		s->json = true;
	else
		s->watch = true;
	return 0;
}

/* The CP ids on the command line; a bad one is a usage error. */
static int check_args(void *ctx, int argc, char **argv)
{
	struct status *s = ctx;

	for (int i = 0; i < argc; i++)
		if (!msg_name_ok(argv[i]))
			return usage_error("bad CP id: '%s'", argv[i]);
	if (argc) {
		s->only = argv;
		s->nonly = argc;
	}
	return EXIT_OK;
}

static int status_run(void *ctx, struct setup *su)
{
	set_output(ctx);
	return run(su, ctx);
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct status s = { 0 };
	struct setup_opts o = {
		.usage = usage, .shortopts = "jw", .longopts = opts,
		.opt = status_opt, .operands = check_args, .run = status_run,
		.ctx = &s,
	};
	int ret;

	cpstate_init(&s.cs);
	ret = setup_run(&o, argc, argv);
	cpstate_free(&s.cs);
	free(s.view);
	return ret;
}
