/* driver.c: the driver role: asks to charge, at a prompt or from a file. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/cpstate.h"
#include "lib/drive.h"
#include "lib/figure.h"
#include "lib/log.h"
#include "lib/prompt.h"
#include "lib/session.h"
#include "lib/setup.h"
#include "lib/textwidth.h"
#include "lib/xalloc.h"

#define TICK_MS 100		/* longest wait before stdin is looked at */
#define REPLAY_QUIET_MS 500	/* history is read once this passes quietly */
#define CLOSE_MS 2000
#define LINE_MAX_BYTES 1024
#define ARGS_MAX 4
#define HISTORY_FILE "driver_history"	/* under $XDG_STATE_HOME/evc */

static const char usage[] =
	"usage: evc driver [-qv] [-b BROKERS] [-c FILE] [-f FILE] [-k KWH | -s SECONDS] [-t SECONDS] [-w SECONDS] [-X NAME=VALUE]... DRIVER\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -f, --file FILE        serve the CPs listed in FILE (- for stdin), then exit\n"
	"  -h, --help             show this help\n"
	"  -k, --kwh KWH          ask for this much energy (decimals allowed)\n"
	"  -q, --quiet            with --file, print only one line per service\n"
	"  -s, --seconds SECONDS  ask to charge for this long\n"
	"  -t, --timeout SECONDS  wait this long for Central (driver.timeout_ms)\n"
	"  -v, --verbose          print debugging output\n"
	"  -w, --wait SECONDS     pause between services (driver.wait_ms)\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

/* One line of --file: a CP, and the energy asked there if it says. */
struct service {
	char cp[MSG_NAME_MAX + 1];
	int64_t wh;			/* 0: the driver's target */
};

struct driver {
	const struct conf *conf;
	struct drive dr;
	struct session s;
	struct session_target target;
	unsigned timeout_ms;		/* 0 until set by -t or the config */
	int wait_ms;			/* -1 until set by -w or the config */
	const char *file;
	struct service *svs;		/* --file's services */
	int nsvs;
	bool quiet;
	bool tty;			/* a person at a terminal: prompt */
	bool edit;			/* ... with libedit (TERM allows it) */
	struct prompt *ed;		/* libedit's line, while it is open */
	int wake[2];			/* a pipe: Kafka has something */
	bool asked;			/* a request was made by this process */
	bool quit;
	bool eof;
	char in[LINE_MAX_BYTES];	/* stdin not yet split into lines */
	size_t inlen;
	struct msg held;		/* a live message met while replaying */
	bool have_held;
};

/*
 * Events may come while a person types: the prompt and what is typed
 * go off the screen, the lines are printed, and they come back under
 * them. With libedit the pairs nest; without it (TERM=dumb) the line
 * typed is the terminal's own, and only the prompt is drawn again.
 */
static void out_begin(struct driver *d)
{
	if (d->ed)
		prompt_hide(d->ed);
	else if (d->tty && !d->edit)
		fputs("\r\033[K", stdout);
}

static void out_end(struct driver *d)
{
	if (d->ed)
		prompt_show(d->ed);
	else if (d->tty && !d->edit && !d->quit)
		printf("evc %s> ", d->s.driver);
	fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
static void show(struct driver *d, const char *fmt, ...)
{
	va_list ap;

	out_begin(d);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	out_end(d);
}

static void show_event(struct driver *d, enum session_event ev)
{
	char line[512];

	if (ev == EV_NONE || (d->quiet && d->file))
		return;
	session_describe(&d->s, ev, line, sizeof(line));
	show(d, "%s", line);
}

/* error() between prompts, so that the prompt stays readable. */
__attribute__((format(printf, 2, 3)))
static void complain(struct driver *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out_begin(d);
	fflush(stdout);
	error("%s", msg);
	out_end(d);
}

/* What a restarted driver finds of its latest session. */
static void show_last(struct driver *d)
{
	char text[512];

	if (d->s.state == SESS_DONE) {
		session_ticket_text(&d->s.ticket, text, sizeof(text));
		show(d, "last session at %s: ticket %s", d->s.cp, text);
	} else if (d->s.state == SESS_CHARGING) {
		session_figures(&d->s, text, sizeof(text));
		show(d, "session in progress at %s: %s", d->s.cp, text);
	}
}

/*
 * Reads, without a word, what Central told this driver before it
 * started: the history ends where the partition falls quiet or where a
 * message newer than our start appears (kept for the live loop).
 */
static int replay(struct driver *d, long long started)
{
	enum topic t;
	struct msg m;
	int r;

	d->s.adopt = true;
	while ((r = bus_recv(d->dr.b, &m, &t, REPLAY_QUIET_MS)) > 0 &&
	       !bus_stop) {
		if (t != T_AUTH_RESPONSE)
			continue;
		if (m.ts >= started) {
			d->held = m;
			d->have_held = true;
			break;
		}
		session_feed(&d->s, &m);
	}
	d->s.adopt = false;
	if (r < 0)
		return error("cannot read from Kafka");
	show_last(d);
	return 0;
}

/* The next event, the held message first; as drive_wait() returns. */
static int next_event(struct driver *d, int timeout_ms,
		      enum session_event *ev)
{
	if (d->have_held) {
		d->have_held = false;
		if ((*ev = session_feed(&d->s, &d->held)) != EV_NONE)
			return 1;
	}
	return drive_wait(&d->dr, &d->s, timeout_ms, ev);
}

/* "CP [KWH]": 1 with *sv filled, 0 for a blank line, -1 (printed). */
static int parse_service(const char *path, unsigned no, char *line,
			 struct service *sv)
{
	char *cp, *kwh, *save;

	line[strcspn(line, "#")] = '\0';
	if (!(cp = strtok_r(line, " \t\r\n", &save)))
		return 0;
	kwh = strtok_r(NULL, " \t\r\n", &save);
	if (strtok_r(NULL, " \t\r\n", &save))
		return error("%s:%u: expected a CP id and maybe kWh", path, no);
	if (!msg_name_ok(cp))
		return error("%s:%u: bad CP id: '%s'", path, no, cp);
	memset(sv, 0, sizeof(*sv));
	snprintf(sv->cp, sizeof(sv->cp), "%s", cp);
	if (kwh && drive_parse_kwh(kwh, &sv->wh))
		return error("%s:%u: bad line", path, no);
	return 1;
}

static void add_service(struct service **svs, int *n, int *cap,
			const struct service *sv)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*svs = xreallocarray(*svs, (size_t)*cap, sizeof(**svs));
	}
	(*svs)[(*n)++] = *sv;
}

/* Reads every line of path first, so a bad line stops the run early. */
static int read_services(const char *path, struct service **svs)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char line[LINE_MAX_BYTES];
	int n = 0, cap = 0, r = 0;
	struct service sv;
	unsigned no = 0;

	*svs = NULL;
	if (!f)
		return error("cannot read '%s': %s", path, strerror(errno));
	while (r >= 0 && fgets(line, sizeof(line), f)) {
		no++;
		if (!strchr(line, '\n') && !feof(f))
			r = error("%s:%u: line too long", path, no);
		else if ((r = parse_service(path, no, line, &sv)) > 0)
			add_service(svs, &n, &cap, &sv);
	}
	if (r >= 0 && ferror(f))
		r = error("cannot read '%s': %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	if (r >= 0 && !n)
		r = error("no CP ids in '%s'", path);
	if (r < 0) {
		free(*svs);
		*svs = NULL;
		return -1;
	}
	return n;
}

/* Central's decision on the request just sent; as drive_wait(). */
static int await_decision(struct driver *d, enum session_event *ev)
{
	long long deadline = d->s.asked_ms + d->s.timeout_ms;
	int r;

	do {
		r = next_event(d, (int)(deadline - mono_ms()), ev);
		if (r > 0)
			show_event(d, *ev);
	} while (r > 0 && *ev != EV_GRANTED && *ev != EV_DENIED &&
		 *ev != EV_UNSENT);
	return r;
}

/*
 * Follows the session to its ticket; 0 when it went quiet too long. A
 * session given up that way is cancelled, so that Central does not hold
 * the driver busy with it (and refuse the next request: driver_busy).
 */
static int await_ticket(struct driver *d)
{
	enum session_event ev;
	int r;

	while ((r = next_event(d, (int)d->timeout_ms, &ev)) > 0) {
		show_event(d, ev);
		if (ev == EV_TICKET)
			return 1;
	}
	if (r == 0 && !bus_stop)
		drive_cancel(&d->dr, &d->s);
	return r;
}

/* Shows what comes in while the driver pauses between services. */
static int pause_for(struct driver *d, int ms)
{
	long long deadline = mono_ms() + ms;
	enum session_event ev;
	int r;

	while ((r = next_event(d, (int)(deadline - mono_ms()), &ev)) > 0)
		show_event(d, ev);
	return r;
}

enum outcome { SERVED, DENIED, FAILED };

static const char *const outcome_names[] = { "served", "denied", "failed" };

/* Why a wait ended without what it waited for. */
static void wait_text(const struct driver *d, int r, const char *what,
		      char *buf, size_t len)
{
	if (r < 0)
		snprintf(buf, len, "lost Kafka");
	else if (bus_stop)
		snprintf(buf, len, "interrupted");
	else
		snprintf(buf, len, "%s within %g s", what, d->timeout_ms / 1000.0);
}

/*
 * One line of --file: request, decision, ticket, and the line that
 * reports them. *lost is set when Kafka failed under it.
 */
static enum outcome serve_one(struct driver *d, const struct service *sv,
			      int i, int n, bool *lost)
{
	struct session_target t = d->target;
	enum session_event ev = EV_NONE;
	enum outcome o = FAILED;
	char text[512];
	int r;

	if (sv->wh) {
		t.wh = sv->wh;
		t.s = 0;
	}
	if (drive_request(&d->dr, &d->s, sv->cp, &t, d->timeout_ms)) {
		r = -1;
		snprintf(text, sizeof(text), "cannot send the request");
	} else if ((r = await_decision(d, &ev)) <= 0) {
		wait_text(d, r, "no answer from Central", text, sizeof(text));
	} else if (ev == EV_UNSENT) {
		snprintf(text, sizeof(text), "cannot send the request");
	} else if (ev == EV_DENIED) {
		o = DENIED;
		session_deny_text(&d->s, text, sizeof(text));
	} else if ((r = await_ticket(d)) <= 0) {
		wait_text(d, r, "no news of the session", text, sizeof(text));
	} else {
		o = session_served(d->s.ticket.reason) ? SERVED : FAILED;
		session_ticket_text(&d->s.ticket, text, sizeof(text));
	}
	show(d, "service %d/%d at %s: %s, %s", i + 1, n, sv->cp,
	     outcome_names[o], text);
	*lost = r < 0;
	return o;
}

/* A restarted driver first sees its session in progress to the end. */
static int finish_previous(struct driver *d)
{
	int r;

	if (d->s.state != SESS_CHARGING)
		return 0;
	show(d, "waiting for the session at %s to end", d->s.cp);
	if ((r = await_ticket(d)) > 0 && d->quiet)
		show_last(d);
	else if (r == 0 && !bus_stop)
		show(d, "no news of the session at %s within %g s: cancelled",
		     d->s.cp, d->timeout_ms / 1000.0);
	return r;
}

/* Exit 0 only when every line was served; 3 when Kafka failed. */
static int serve_file(struct driver *d, const struct service *svs, int n)
{
	int count[3] = { 0 }, i = 0;
	bool lost = finish_previous(d) < 0;

	for (; i < n && !lost && !bus_stop; i++) {
		if (i && pause_for(d, d->wait_ms) < 0) {
			lost = true;
			break;
		}
		if (bus_stop)
			break;
		count[serve_one(d, &svs[i], i, n, &lost)]++;
	}
	printf("%d served, %d denied, %d failed", count[SERVED],
	       count[DENIED], count[FAILED]);
	if (i < n)
		printf(" (%d not tried: %s)", n - i,
		       lost ? "lost Kafka" : "interrupted");
	printf("\n");
	fflush(stdout);
	if (lost)
		return EXIT_UNREACHABLE;
	return count[SERVED] == n ? EXIT_OK : EXIT_FAIL;
}

/* The prompt's commands; each gets the words of its line. */
struct command {
	const char *name;
	void (*fn)(struct driver *d, int argc, char **argv);
	const char *args;
	const char *help;		/* NULL: an alias, not listed */
};

static void do_charge(struct driver *d, int argc, char **argv)
{
	struct session_target t = d->target;

	if (argc < 2 || argc > 3) {
		complain(d, "usage: charge CP [KWH]");
		return;
	}
	if (!msg_name_ok(argv[1])) {
		complain(d, "bad CP id: '%s'", argv[1]);
		return;
	}
	if (argc == 3) {
		if (drive_parse_kwh(argv[2], &t.wh)) {
			out_end(d);	/* the prompt again, after the error */
			return;
		}
		t.s = 0;
	}
	if (d->s.pending) {
		complain(d, "still waiting for Central's answer for '%s'",
			 d->s.asked_cp);
		return;
	}
	if (drive_request(&d->dr, &d->s, argv[1], &t, d->timeout_ms)) {
		out_end(d);
		return;
	}
	d->asked = true;
	show(d, "asking Central to charge at %s", argv[1]);
}

static void do_stop(struct driver *d, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (d->s.state != SESS_CHARGING) {
		show(d, "no session in progress");
		return;
	}
	if (drive_cancel(&d->dr, &d->s)) {
		out_end(d);
		return;
	}
	show(d, "asking Central to stop the charge at %s", d->s.cp);
}

static void do_status(struct driver *d, int argc, char **argv)
{
	char text[512];

	(void)argc;
	(void)argv;
	if (d->s.pending)
		show(d, "waiting for Central's answer for %s (%g s)",
		     d->s.asked_cp, (mono_ms() - d->s.asked_ms) / 1000.0);
	if (d->s.state == SESS_CHARGING) {
		session_figures(&d->s, text, sizeof(text));
		show(d, "charging at %s, session %s: %s", d->s.cp, d->s.id, text);
	} else if (d->s.state == SESS_DONE) {
		session_ticket_text(&d->s.ticket, text, sizeof(text));
		show(d, "last session at %s: ticket %s", d->s.cp, text);
	} else if (!d->s.pending) {
		show(d, "no session");
	}
}

/*
 * One line per CP as Central last published it, by id; the location
 * last, whole, shown as lib/textwidth.h shows text.
 */
static void print_list(FILE *out, struct cpstate *cs)
{
	const struct cpstate_row *const *row = cpstate_sorted(cs);
	char loc[MSG_TEXT_MAX * 3 + 1];
	uint32_t avail = 0;

	if (!cs->n) {
		fprintf(out, "no CPs known to Central yet\n");
		return;
	}
	for (uint32_t i = 0; i < cs->n; i++) {
		text_cell(loc, sizeof(loc), row[i]->st.location, MSG_TEXT_MAX,
			  false);
		fprintf(out, "%-12s %-12s %6s EUR/kWh  %s\n", row[i]->id,
			cp_state_name(row[i]->st.state),
			fig_price(row[i]->st.price).s, loc);
		avail += row[i]->st.state == CP_ACTIVE;
	}
	fprintf(out, "%u CP%s, %u available\n", cs->n, cs->n == 1 ? "" : "s",
		avail);
}

/*
 * A handle of its own, closed at the end: keeping cp-state assigned to
 * the driver's consumer would bring it every tick of every CP.
 */
static void do_list(struct driver *d, int argc, char **argv)
{
	struct bus *b = bus_open(d->conf, BUS_CONSUMER, NULL);
	enum bus_read r = BUS_READ_FAILED;
	struct cpstate cs;

	(void)argc;
	(void)argv;
	cpstate_init(&cs);
	out_begin(d);
	fflush(stdout);
	if (b && (r = cpstate_read(b, &cs, d->timeout_ms)) == BUS_READ_TIMEOUT)
		error("cannot read '%s' to its end within %u ms",
		      bus_topic_name(b, T_CP_STATE), d->timeout_ms);
	if (r == BUS_READ_DONE)
		print_list(stdout, &cs);
	bus_close(b, 0);
	cpstate_free(&cs);
	out_end(d);
}

static void do_quit(struct driver *d, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	d->quit = true;
}

static void do_help(struct driver *d, int argc, char **argv);

static const struct command commands[] = {
	{ "charge", do_charge, "CP [KWH]", "ask to charge at CP (alias: auth)" },
	{ "auth", do_charge, NULL, NULL },
	{ "stop", do_stop, "", "stop the charge in progress" },
	{ "status", do_status, "", "the session in progress and its figures" },
	{ "list", do_list, "", "the CPs and their state" },
	{ "help", do_help, "", "this list" },
	{ "quit", do_quit, "", "leave (a charge in progress goes on)" },
	{ "exit", do_quit, NULL, NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void do_help(struct driver *d, int argc, char **argv)
{
	char left[32];

	(void)argc;
	(void)argv;
	out_begin(d);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!commands[i].help)
			continue;
		snprintf(left, sizeof(left), "%s %s", commands[i].name,
			 commands[i].args);
		printf("  %-16s %s\n", left, commands[i].help);
	}
	out_end(d);
}

/* One line typed or piped: words, then the command they name. */
static void run_line(struct driver *d, char *line)
{
	char *argv[ARGS_MAX + 1], *save, *w;
	int argc = 0;

	line[strcspn(line, "#")] = '\0';
	for (w = strtok_r(line, " \t\r", &save); w && argc <= ARGS_MAX;
	     w = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = w;
	if (!argc) {
		out_end(d);
		return;
	}
	if (argc > ARGS_MAX) {
		complain(d, "too many words: '%s ...'", argv[0]);
		return;
	}
	argv[argc] = NULL;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!strcmp(commands[i].name, argv[0])) {
			commands[i].fn(d, argc, argv);
			return;
		}
	}
	complain(d, "unknown command: '%s' (try 'help')", argv[0]);
}

/* Runs the complete lines of what stdin gave so far. */
static void take_lines(struct driver *d)
{
	char *nl;

	while (!d->quit && (nl = memchr(d->in, '\n', d->inlen))) {
		size_t used = (size_t)(nl - d->in) + 1;

		*nl = '\0';
		run_line(d, d->in);
		memmove(d->in, d->in + used, d->inlen - used);
		d->inlen -= used;
	}
	if (d->inlen == sizeof(d->in) - 1) {	/* no newline in sight */
		d->inlen = 0;
		complain(d, "line too long");
	}
}

/* Reads what stdin has, without waiting; at its end, runs the rest. */
static void read_input(struct driver *d)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	ssize_t r;

	if (poll(&p, 1, 0) <= 0)
		return;
	r = read(STDIN_FILENO, d->in + d->inlen, sizeof(d->in) - 1 - d->inlen);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r > 0) {
		d->inlen += (size_t)r;
		take_lines(d);
		return;
	}
	d->eof = true;
	if (d->inlen) {
		d->in[d->inlen] = '\0';
		d->inlen = 0;
		run_line(d, d->in);
	}
	if (d->tty)
		d->quit = true;
}

/* Piped commands end the run once their charges and answers are done. */
static bool busy(const struct driver *d)
{
	return d->s.pending || (d->asked && d->s.state == SESS_CHARGING);
}

static void check_answer_time(struct driver *d)
{
	struct now now = drive_now();

	if (session_overdue(&d->s, &now))
		complain(d, "no answer from Central for %s within %g s",
			 d->s.asked_cp, d->s.timeout_ms / 1000.0);
}

/* Kafka has something (from a librdkafka thread): edit_loop()'s poll ends. */
static void wake(void *arg)
{
	struct driver *d = arg;
	char c = 0;
	ssize_t r = write(d->wake[1], &c, 1);	/* full: a wake is pending */

	(void)r;
}

static void hide_prompt(void *ed)
{
	prompt_hide(ed);
}

static void show_prompt(void *ed)
{
	prompt_show(ed);
}

/*
 * At a terminal, with libedit: one poll() waits for a key and for
 * Kafka, whose thread writes to the wake pipe when a message comes
 * (and TICK_MS bounds the wait for the rest: timeouts, delivery
 * failures). Keys are taken without waiting for more (lib/prompt.c),
 * then what Kafka brought is shown, above the line being typed.
 */
static int edit_loop(struct driver *d)
{
	struct pollfd fds[2] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = d->wake[0], .events = POLLIN },
	};
	enum session_event ev;
	char buf[64], *line;
	int r;

	while (!d->quit && !bus_stop) {
		if (poll(fds, 2, TICK_MS) > 0 && fds[1].revents)
			while (read(d->wake[0], buf, sizeof(buf)) > 0)
				;
		if ((r = prompt_read(d->ed, &line)) < 0)
			break;		/* ^D, or the terminal is gone */
		if (r > 0)
			run_line(d, line);
		while ((r = next_event(d, 1, &ev)) > 0)
			show_event(d, ev);
		if (r < 0)
			return EXIT_UNREACHABLE;
		check_answer_time(d);
	}
	return EXIT_OK;
}

/*
 * libedit's prompt, its history file, the wake pipe and the hooks that
 * keep error lines off the line typed; EXIT_OK from edit_loop() when
 * it ends, -1 when libedit cannot be used here. The pipe is closed
 * only once Kafka's handle is (run()): no librdkafka thread writes to
 * it then.
 */
static int edit(struct driver *d)
{
	char text[MSG_NAME_MAX + 8];
	int ret;

	snprintf(text, sizeof(text), "evc %s> ", d->s.driver);
	if (!(d->ed = prompt_open(text, HISTORY_FILE))) {
		d->edit = false;
		return -1;
	}
	log_around(hide_prompt, show_prompt, d->ed);
	if (pipe2(d->wake, O_NONBLOCK | O_CLOEXEC) == 0)
		bus_wakeup(d->dr.b, wake, d);
	else
		d->wake[0] = d->wake[1] = -1;
	show(d, "driver %s: type 'help' for the commands", d->s.driver);
	ret = edit_loop(d);
	bus_wakeup(d->dr.b, NULL, NULL);
	log_around(NULL, NULL, NULL);
	prompt_close(d->ed);
	d->ed = NULL;
	return ret;
}

static int prompt_loop(struct driver *d)
{
	enum session_event ev;
	int r;

	if (d->edit && (r = edit(d)) >= 0)
		return r;
	if (d->tty)
		show(d, "driver %s: type 'help' for the commands", d->s.driver);
	while (!d->quit && !bus_stop) {
		if (!d->eof)
			read_input(d);
		if (d->quit || (d->eof && !busy(d)))
			break;
		if ((r = next_event(d, TICK_MS, &ev)) < 0)
			return EXIT_UNREACHABLE;
		if (r > 0)
			show_event(d, ev);
		check_answer_time(d);
	}
	if (d->tty)
		printf("\n");
	return EXIT_OK;
}

static int run(struct driver *d, struct setup *su)
{
	int64_t from = 0;
	long long started = now_ms();
	int ret;

	if (d->conf->driver.lookback_s)
		from = started - (int64_t)d->conf->driver.lookback_s * 1000;
	bus_signals();
	if ((ret = drive_open(&d->dr, setup_bus(su), &d->s, from,
			      d->timeout_ms)))
		return ret;
	if (from && replay(d, started) < 0)
		ret = EXIT_UNREACHABLE;
	else if (d->svs)
		ret = serve_file(d, d->svs, d->nsvs);
	else
		ret = prompt_loop(d);
	drive_close(&d->dr, CLOSE_MS);
	if (d->wake[0] >= 0) {
		close(d->wake[0]);
		close(d->wake[1]);
	}
	return ret;
}

/* One option of the role: 0, or EXIT_USAGE after saying why. */
static int driver_opt(void *ctx, int opt, const char *arg)
{
	struct driver *d = ctx;
	int r = drive_opt(opt, arg, &d->target, &d->timeout_ms);
	unsigned ms;

	if (r >= 0)
		return r;
	if (opt == 'f') {
		d->file = arg;
	} else if (opt == 'q') {
		d->quiet = true;
	} else {
		if (drive_parse_duration("pause", arg, &ms))
			return EXIT_USAGE;
		d->wait_ms = (int)ms;
	}
	return 0;
}

/* The driver id, and the file of services (read before Kafka is tried). */
static int check_args(void *ctx, int argc, char **argv)
{
	struct driver *d = ctx;

	if (drive_opts_check(&d->target))
		return EXIT_USAGE;
	if (argc != 1)
		return usage_error("expected one driver id");
	if (!msg_name_ok(argv[0]))
		return usage_error("bad driver id: '%s'", argv[0]);
	session_init(&d->s, argv[0]);
	if (d->file && (d->nsvs = read_services(d->file, &d->svs)) < 0)
		return EXIT_USAGE;
	return EXIT_OK;
}

/* libedit needs a terminal that can move its cursor: not "dumb" or unknown. */
static bool edit_term(void)
{
	const char *term = getenv("TERM");

	return term && *term && strcmp(term, "dumb");
}

static int driver_run(void *ctx, struct setup *su)
{
	struct driver *d = ctx;

	d->conf = &su->conf;
	if (!d->timeout_ms)
		d->timeout_ms = su->conf.driver.timeout_ms;
	if (d->wait_ms < 0)
		d->wait_ms = (int)su->conf.driver.wait_ms;
	d->tty = !d->file && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	d->edit = d->tty && edit_term();
	return run(d, su);
}

int cmd_driver(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "kwh", required_argument, NULL, 'k' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "seconds", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct driver d = { .wait_ms = -1, .wake = { -1, -1 } };
	struct setup_opts o = {
		.usage = usage, .shortopts = "f:k:qs:t:w:", .longopts = opts,
		.opt = driver_opt, .operands = check_args, .run = driver_run,
		.ctx = &d,
	};
	int ret = setup_run(&o, argc, argv);

	free(d.svs);
	return ret;
}
