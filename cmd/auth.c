/* auth.c: the auth role: one authorisation request, for scripts. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/drive.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/setup.h"

#define CLOSE_MS 2000	/* to deliver a request nobody answered yet */

static const char usage[] =
	"usage: evc auth [-jvw] [-b BROKERS] [-c FILE] [-k KWH | -s SECONDS] [-t SECONDS] [-X NAME=VALUE]... DRIVER CP\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -j, --json             print one JSON object instead of text\n"
	"  -k, --kwh KWH          ask for this much energy (decimals allowed)\n"
	"  -s, --seconds SECONDS  ask to charge for this long\n"
	"  -t, --timeout SECONDS  wait this long for Central (driver.timeout_ms)\n"
	"  -v, --verbose          print debugging output\n"
	"  -w, --wait             follow the charge and print its ticket\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

struct auth {
	const char *driver;
	const char *cp;
	struct session_target target;
	unsigned timeout_ms;		/* 0: driver.timeout_ms */
	bool json;
	bool wait;
	/* the outcome */
	const char *reason;		/* deny name, "timeout", "unreachable" */
	char detail[256];		/* the same, for people */
	char request[MSG_UUID_LEN + 1];	/* id of the request sent */
	bool have_ticket;
};

static json_t *text_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *ticket_json(const struct session *s)
{
	const struct msg_ticket *t = &s->ticket;

	return json_pack("{s:s, s:I, s:f, s:I, s:f, s:f, s:s, s:I, s:I}",
			 "session", s->id, "wh", (json_int_t)t->wh,
			 "kwh", (double)t->wh / 1000, "cents", (json_int_t)t->cents,
			 "eur", (double)t->cents / 100, "price", t->price,
			 "reason", msg_end_name(t->reason),
			 "started", (json_int_t)t->started,
			 "ended", (json_int_t)t->ended);
}

/* The one object of --json, whatever the outcome. */
static void print_json(const struct auth *a, const struct session *s)
{
	bool granted = s->state != SESS_NONE;
	json_t *o;
	char *text;

	o = json_pack("{s:b, s:s, s:s, s:o, s:o, s:o, s:o, s:o}",
		      "authorized", granted, "driver", a->driver, "cp", a->cp,
		      "reason", text_or_null(a->reason),
		      "detail", text_or_null(a->detail),
		      "request", text_or_null(a->request),
		      "session", text_or_null(granted ? s->id : NULL),
		      "price", granted ? json_real(s->price) : json_null());
	if (o && a->wait)
		json_object_set_new(o, "ticket", a->have_ticket ?
				    ticket_json(s) : json_null());
	if (!o || !(text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15))))
		die(EXIT_FAIL, "out of memory");
	puts(text);
	free(text);
	json_decref(o);
}

static void say(const struct auth *a, const struct session *s,
		enum session_event ev)
{
	char line[512];

	if (a->json)
		return;
	session_describe(s, ev, line, sizeof(line));
	puts(line);
	fflush(stdout);
}

static void give_up(struct auth *a, const char *reason, const char *fmt,
		    unsigned ms)
{
	a->reason = reason;
	snprintf(a->detail, sizeof(a->detail), fmt, ms / 1000.0);
	error("%s", a->detail);
}

/* Central's answer to our request: EXIT_OK, EXIT_FAIL or a timeout. */
static int decision(struct drive *dr, struct auth *a, struct session *s,
		    long long deadline)
{
	enum session_event ev = EV_NONE;
	int r = 0;

	while (ev != EV_GRANTED && ev != EV_DENIED && ev != EV_UNSENT) {
		if ((r = drive_wait(dr, s, (int)(deadline - mono_ms()), &ev)) <= 0)
			break;
	}
	if (r > 0 && ev == EV_UNSENT)
		r = error("cannot send the request: Kafka did not take it");
	if (r < 0 || (r == 0 && bus_stop)) {
		a->reason = r < 0 ? "unreachable" : "interrupted";
		snprintf(a->detail, sizeof(a->detail), "%s", r < 0 ?
			 "cannot send the request" : "interrupted");
		return r < 0 ? EXIT_UNREACHABLE : EXIT_FAIL;
	}
	if (r == 0) {
		give_up(a, "timeout", "no answer from Central within %g s",
			a->timeout_ms);
		return EXIT_UNREACHABLE;
	}
	if (ev == EV_DENIED) {
		a->reason = msg_deny_name(s->reason);
		session_deny_text(s, a->detail, sizeof(a->detail));
		if (!a->json)
			error("denied: %s", a->detail);
		return EXIT_FAIL;
	}
	say(a, s, ev);
	return EXIT_OK;
}

/* --wait: every event of the session up to its ticket. */
static int follow(struct drive *dr, struct auth *a, struct session *s)
{
	enum session_event ev;
	int r;

	while ((r = drive_wait(dr, s, (int)a->timeout_ms, &ev)) > 0) {
		say(a, s, ev);
		if (ev == EV_TICKET)
			break;
	}
	if (r < 0)
		return EXIT_UNREACHABLE;
	if (r == 0 && bus_stop) {
		snprintf(a->detail, sizeof(a->detail), "interrupted");
		return EXIT_FAIL;
	}
	if (r == 0) {
		give_up(a, NULL, "no news of the session for %g s", a->timeout_ms);
		return EXIT_UNREACHABLE;
	}
	a->have_ticket = true;
	if (session_served(s->ticket.reason))
		return EXIT_OK;
	snprintf(a->detail, sizeof(a->detail), "the charge at %s ended early (%s)",
		 s->cp, msg_end_name(s->ticket.reason));
	if (!a->json)
		error("%s", a->detail);
	return EXIT_FAIL;
}

static int run(struct setup *su, struct auth *a)
{
	const struct conf *c = &su->conf;
	long long deadline = mono_ms() + a->timeout_ms;
	struct session s;
	struct drive dr;
	int ret;

	session_init(&s, a->driver);
	bus_signals();
	ret = drive_open(&dr, setup_bus(su), &s, 0, a->timeout_ms);
	if (ret == EXIT_UNREACHABLE) {
		a->reason = "unreachable";
		snprintf(a->detail, sizeof(a->detail), "cannot reach Kafka at '%s'",
			 c->brokers);
	}
	if (ret)
		goto out;
	if (drive_request(&dr, &s, a->cp, &a->target, a->timeout_ms)) {
		ret = EXIT_UNREACHABLE;
	} else {
		memcpy(a->request, s.request, sizeof(a->request));
		ret = decision(&dr, a, &s, deadline);
	}
	if (ret == EXIT_OK && a->wait)
		ret = follow(&dr, a, &s);
	if (drive_close(&dr, CLOSE_MS) && ret == EXIT_OK)
		ret = EXIT_UNREACHABLE;
out:
	if (a->json && ret != EXIT_USAGE)
		print_json(a, &s);
	return ret;
}

/* One option of the role: 1 taken, 0 not ours, -1 bad (printed). */
static int auth_opt(void *ctx, int opt, const char *arg)
{
	struct auth *a = ctx;
	int r = drive_opt(opt, arg, &a->target, &a->timeout_ms);

	if (r >= 0)
		return r;
	if (opt == 'j')
		a->json = true;
	else
		a->wait = true;
	return 0;
}

static int check_args(void *ctx, int argc, char **argv)
{
	struct auth *a = ctx;

	if (drive_opts_check(&a->target))
		return EXIT_USAGE;
	if (argc != 2)
		return usage_error("expected a driver id and a CP id");
	a->driver = argv[0];
	a->cp = argv[1];
	if (!msg_name_ok(a->driver))
		return usage_error("bad driver id: '%s'", a->driver);
	if (!msg_name_ok(a->cp))
		return usage_error("bad CP id: '%s'", a->cp);
	return EXIT_OK;
}

static int auth_run(void *ctx, struct setup *su)
{
	struct auth *a = ctx;

	if (!a->timeout_ms)
		a->timeout_ms = su->conf.driver.timeout_ms;
	return run(su, a);
}

int cmd_auth(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "kwh", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct auth a = { 0 };
	struct setup_opts o = {
		.usage = usage, .shortopts = "jk:s:t:w", .longopts = opts,
		.opt = auth_opt, .operands = check_args, .run = auth_run,
		.ctx = &a,
	};

	return setup_run(&o, argc, argv);
}
