/* audit.c: the audit role: the audit trail read back, one line per operator action. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmds.h"
#include "lib/audit.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/msg_table.h"
#include "lib/setup.h"

#define CHECK_MS 5000		/* for a broker to answer at all */
#define READ_MS 15000		/* longest wait for the trail's end to come */
#define POLL_MS 200		/* longest wait for one record */

static const char usage[] =
	"usage: evc audit [-fjv] [-b BROKERS] [-c FILE] [-s TIME] [-X NAME=VALUE]...\n"
	"\n"
	"  the audit trail, oldest first, one line per record, to its end\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -f, --follow           then keep printing new records until interrupted\n"
	"  -h, --help             show this help\n"
	"  -j, --json             one JSON object per line, as stored\n"
	"  -s, --since TIME       only the records from TIME on: ISO 8601\n"
	"                         (2026-12-07T21:30, local unless Z or +HH:MM),\n"
	"                         or a span back from now: 90s, 30m, 1h, 2d, 1w\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

struct audit {
	bool follow, json;
	int64_t since;			/* ms since epoch; 0: the whole trail */
	long shown, skipped;
};

static int audit_opt(void *ctx, int opt, const char *arg)
{
	struct audit *a = ctx;

	switch (opt) {
	case 'f': a->follow = true; break;
	case 'j': a->json = true; break;
	default:
		if (audit_since_parse(arg, now_ms(), &a->since))
			return usage_error("--since: not a time (ISO 8601, or a span such as 30m, 2d): '%s'",
					   arg);
		break;
	}
	return 0;
}

static int check_words(void *ctx, int n, char **w)
{
	char q[MSG_QUOTE_BUF];

	(void)ctx;
	if (n)
		return usage_error("unexpected argument: '%s'",
				   msg_quote(q, w[0], strlen(w[0])));
	return 0;
}

/* Whether the record's key is its subject, as audit_post() keys it. */
static bool keyed_right(const struct bus_record *r, const struct audit_rec *rec)
{
	size_t n = strlen(rec->subject);

	return r->key_len == n && (!n || !memcmp(r->key, rec->subject, n));
}

/* One record read: printed, skipped as older than --since, or rejected. */
static void show(struct audit *a, struct bus *b, const struct bus_record *r)
{
	char why[160], line[AUDIT_MAX_BYTES + 64];
	struct audit_rec rec;

	if (audit_decode(r->val ? r->val : "", r->len, &rec, why, sizeof(why)))
		goto bad;
	if (!keyed_right(r, &rec)) {
		snprintf(why, sizeof(why), "key is not the subject");
		goto bad;
	}
	bus_accept_raw(b);
	if (a->since && rec.ts < a->since)
		return;
	if ((a->json ? audit_encode(&rec, line, sizeof(line)) :
	     audit_format(&rec, line, sizeof(line))) < 0)
		return;
	puts(line);
	if (a->follow)
		fflush(stdout);
	a->shown++;
	return;
bad:
	bus_reject_raw(b, r, why);
	a->skipped++;
}

/* Reads to the end (and on, with --follow); the exit status. */
static int read_trail(struct audit *a, struct bus *b)
{
	long long quiet_since = mono_ms();
	struct bus_record r;
	int got;

	while (!bus_stop) {
		if (!a->follow && bus_caught_up(b))
			return EXIT_OK;
		if ((got = bus_recv_raw(b, &r, POLL_MS)) < 0)
			return EXIT_UNREACHABLE;
		if (bus_denied(b))
			return EXIT_FAIL;
		if (got > 0) {
			show(a, b, &r);
			quiet_since = mono_ms();
		} else if (!a->follow && mono_ms() - quiet_since > READ_MS) {
			error("cannot read '%s' to its end within %d s",
			      bus_topic_name(b, T_AUDIT), READ_MS / 1000);
			return EXIT_UNREACHABLE;
		}
	}
	return EXIT_OK;
}

static int audit_run(void *ctx, struct setup *su)
{
	struct audit *a = ctx;
	struct bus *b;
	int ret;

	if (!(b = bus_open(&su->conf, BUS_CONSUMER, NULL)))
		return EXIT_USAGE;
	if (bus_check(b, CHECK_MS))
		ret = EXIT_UNREACHABLE;
	else if (bus_follow_since(b, T_AUDIT, a->since))
		ret = EXIT_FAIL;
	else {
		if (a->follow)
			bus_signals();
		ret = read_trail(a, b);
	}
	fflush(stdout);
	if (a->skipped)
		warn("skipped %ld malformed record%s of '%s'", a->skipped,
		     a->skipped == 1 ? "" : "s", bus_topic_name(b, T_AUDIT));
	debug("%ld records shown", a->shown);
	bus_close(b, 0);
	return ret;
}

int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct audit a = { 0 };
	struct setup_opts o = {
		.usage = usage, .shortopts = "fjs:", .longopts = opts,
		.opt = audit_opt, .operands = check_words, .run = audit_run,
		.ctx = &a,
	};

	return setup_run(&o, argc, argv);
}
