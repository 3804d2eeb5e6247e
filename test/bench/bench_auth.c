/* bench_auth.c: authorisation round trips, driver -> Central -> driver, with D drivers at once. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/bus.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xalloc.h"
#include "test/bench/bench.h"

#define RECV_MS 100
#define DRAIN_NS 10000000000LL	/* answers still due after the run */
#define SETUP_NS 120000000000LL
#define REQ_TIMEOUT_MS 10000	/* the requests' own timeout_ms */
#define TARGET_WH 1000

static const char usage[] =
	"usage: bench_auth -c FILE setup N\n"
	"       bench_auth -c FILE ping [-s SECONDS]\n"
	"       bench_auth -c FILE run [-m deny|grant] [-d DRIVERS] [-s SECONDS] [-w SECONDS] [-l LABEL] [-o FILE]\n"
	"\n"
	"  setup N  register CPA, CPB and CPG 1..N and open a session for\n"
	"           driver ddI at CPAI, so that ddI at CPBI is refused as driver_busy\n"
	"  ping     one request, resent each second until answered\n"
	"  run      D drivers each ask again as soon as answered, for SECONDS;\n"
	"           deny: ddI at CPBI (every check runs, the last refuses);\n"
	"           grant: dgI at CPGI, then a supply_end and the ticket\n"
	"  -w       warm-up seconds not counted (default 1)\n"
	"  -o       write each sample counted: ms since the warm-up, round trip ms\n";

enum phase { IDLE, ASKED, ENDING };

struct driver {
	char id[MSG_NAME_MAX + 1];
	char cp[MSG_NAME_MAX + 1];
	char req[MSG_UUID_LEN + 1];	/* the request in flight */
	char session[MSG_UUID_LEN + 1];	/* granted, until its ticket */
	int64_t sent;			/* ns, when the request was sent */
	enum phase phase;
};

struct run {
	struct bus *b;
	struct driver *d;
	int n;
	bool grant;			/* end each grant and wait for its ticket */
	int64_t from, until;		/* ns: requests sent within are counted */
	int64_t *rtt;
	size_t nrtt, cap;
	long answers[DENY_COUNT];	/* by reason; DENY_NONE: granted */
	FILE *trace;			/* -o: "sent_ms rtt_ms" of each sample */
	long stray, inflight;
};

static void send_request(struct run *r, struct driver *d)
{
	struct msg m;

	msg_init(&m, MSG_AUTH_REQUEST);
	memcpy(m.cp, d->cp, sizeof(m.cp));
	memcpy(m.driver, d->id, sizeof(m.driver));
	m.u.req.target_wh = TARGET_WH;
	m.u.req.timeout_ms = REQ_TIMEOUT_MS;
	memcpy(d->req, m.id, sizeof(d->req));
	d->phase = ASKED;
	d->sent = bench_ns();
	if (bus_send(r->b, T_AUTH_REQUEST, &m))
		die(EXIT_FAIL, "cannot send a request");
}

/* What a CP engine would say at the end of a supply: here, at once. */
static void send_end(struct run *r, struct driver *d, const struct msg *resp)
{
	struct msg m;

	msg_init(&m, MSG_SUPPLY_END);
	memcpy(m.cp, d->cp, sizeof(m.cp));
	memcpy(m.driver, d->id, sizeof(m.driver));
	memcpy(m.session, resp->session, sizeof(m.session));
	memcpy(d->session, resp->session, sizeof(d->session));
	m.u.ticket.price = resp->u.resp.price;
	m.u.ticket.started = m.u.ticket.ended = m.ts;
	m.u.ticket.reason = END_FINISHED;
	d->phase = ENDING;
	if (bus_send(r->b, T_TELEMETRY, &m))
		die(EXIT_FAIL, "cannot send a supply_end");
}

/* The driver asks again, or rests once the time is up. */
static void next(struct run *r, struct driver *d, int64_t now)
{
	if (now < r->until) {
		send_request(r, d);
		return;
	}
	d->phase = IDLE;
	r->inflight--;
}

static void record(struct run *r, int64_t rtt)
{
	if (r->nrtt == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 65536;
		r->rtt = xreallocarray(r->rtt, r->cap, sizeof(*r->rtt));
	}
	r->rtt[r->nrtt++] = rtt;
}

static struct driver *driver_of(struct run *r, const struct msg *m)
{
	long i = bench_id_num(m->driver) - 1;

	if (i < 0 || i >= r->n || strcmp(r->d[i].id, m->driver))
		return NULL;
	return &r->d[i];
}

static void on_answer(struct run *r, struct driver *d, const struct msg *m,
		      int64_t now)
{
	if (d->phase != ASKED || strcmp(m->u.resp.request, d->req)) {
		r->stray++;
		return;
	}
	if (d->sent >= r->from && d->sent < r->until) {
		record(r, now - d->sent);
		if (r->trace)
			fprintf(r->trace, "%.3f %.3f\n", (d->sent - r->from) / 1e6,
				(now - d->sent) / 1e6);
	}
	r->answers[m->u.resp.authorized ? DENY_NONE : m->u.resp.reason]++;
	if (r->grant && m->u.resp.authorized)
		send_end(r, d, m);
	else
		next(r, d, now);
}

static void handle(struct run *r, const struct msg *m)
{
	int64_t now = bench_ns();
	struct driver *d = driver_of(r, m);

	if (!d) {
		r->stray++;
	} else if (m->type == MSG_AUTH_RESPONSE) {
		on_answer(r, d, m, now);
	} else if (m->type == MSG_TICKET && d->phase == ENDING &&
		   !strcmp(m->session, d->session)) {
		next(r, d, now);
	} else {
		r->stray++;
	}
}

static void report(struct run *r, const char *mode, const char *label,
		   double secs)
{
	int64_t *v = r->rtt;
	size_t n = r->nrtt;
	long denied = 0;

	for (int i = 1; i < DENY_COUNT; i++)
		denied += r->answers[i];
	bench_sort(v, n);
	printf("auth mode=%s target=%s drivers=%d secs=%.1f count=%zu"
	       " rate=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f"
	       " granted=%ld denied=%ld driver_busy=%ld stray=%ld\n",
	       mode, label, r->n, secs, n, (double)n / secs,
	       bench_quantile(v, n, 0.50) / 1e6, bench_quantile(v, n, 0.99) / 1e6,
	       bench_quantile(v, n, 0.999) / 1e6, n ? v[n - 1] / 1e6 : 0.0,
	       r->answers[DENY_NONE], denied, r->answers[DENY_DRIVER_BUSY],
	       r->stray);
	fflush(stdout);
}

static void name_drivers(struct run *r, const char *dprefix,
			 const char *cprefix)
{
	r->d = xcalloc((size_t)r->n, sizeof(*r->d));
	for (int i = 0; i < r->n; i++) {
		snprintf(r->d[i].id, sizeof(r->d[i].id), "%s%04d", dprefix, i + 1);
		snprintf(r->d[i].cp, sizeof(r->d[i].cp), "%s%04d", cprefix, i + 1);
	}
}

/* Every driver asks at once; each asks again when answered. */
static int load(struct run *r, double secs, double warm)
{
	int64_t start = bench_ns();
	struct msg m;
	enum topic t;
	int rc;

	r->from = start + (int64_t)(warm * 1e9);
	r->until = r->from + (int64_t)(secs * 1e9);
	r->inflight = r->n;
	for (int i = 0; i < r->n; i++)
		send_request(r, &r->d[i]);
	while (r->inflight > 0 && !bus_stop) {
		if ((rc = bus_recv(r->b, &m, &t, RECV_MS)) < 0)
			return -1;
		if (rc > 0)
			handle(r, &m);
		if (bench_ns() > r->until + DRAIN_NS)
			return error("%ld answers still missing", r->inflight);
	}
	return 0;
}

static int cmd_run(struct bus *b, const char *mode, int n, double secs,
		   double warm, const char *label, const char *trace)
{
	struct run r = { .b = b, .n = n };
	int ret;

	if (strcmp(mode, "deny") && strcmp(mode, "grant"))
		return usage_error("bad mode: '%s'", mode);
	if (trace && !(r.trace = fopen(trace, "w"))) {
		error("cannot write '%s'", trace);
		return EXIT_FAIL;
	}
	r.grant = !strcmp(mode, "grant");
	name_drivers(&r, r.grant ? "dg" : "dd", r.grant ? "CPG" : "CPB");
	ret = load(&r, secs, warm);
	report(&r, mode, label, secs);
	if (r.trace)
		fclose(r.trace);
	free(r.rtt);
	free(r.d);
	return ret ? EXIT_FAIL : EXIT_OK;
}

/* Waits until done(ctx, m) has said yes `want` times, or the deadline. */
static int wait_for(struct bus *b, int want, int64_t deadline,
		    int (*done)(void *, const struct msg *), void *ctx)
{
	struct msg m;
	enum topic t;
	int got = 0, rc;

	while (got < want && !bus_stop && bench_ns() < deadline) {
		if ((rc = bus_recv(b, &m, &t, RECV_MS)) < 0)
			return -1;
		if (rc > 0)
			got += done(ctx, &m);
	}
	return got < want ? error("%d of %d answers", got, want) : 0;
}

static int acked(void *ctx, const struct msg *m)
{
	(void)ctx;
	return m->type == MSG_REGISTER_ACK && m->u.ack.accepted &&
	       !strncmp(m->cp, "CP", 2);
}

/* A session held already (an earlier setup) counts as one opened. */
static int held(void *ctx, const struct msg *m)
{
	(void)ctx;
	return m->type == MSG_AUTH_RESPONSE && !strncmp(m->driver, "dd", 2) &&
	       (m->u.resp.authorized || m->u.resp.reason == DENY_BUSY ||
		m->u.resp.reason == DENY_DRIVER_BUSY);
}

static void send_register(struct bus *b, const char *prefix, int i)
{
	struct msg m;

	msg_init(&m, MSG_REGISTER);
	snprintf(m.cp, sizeof(m.cp), "%s%04d", prefix, i);
	snprintf(m.u.reg.location, sizeof(m.u.reg.location), "bench");
	m.u.reg.engine_ok = true;
	if (bus_send(b, T_CP_REGISTER, &m))
		die(EXIT_FAIL, "cannot send a register");
}

static int cmd_setup(struct bus *b, const struct conf *c, int n)
{
	struct run r = { .b = b, .n = n };

	if (bench_follow_every(b, c, T_CP_REGISTER_ACK))
		return EXIT_FAIL;
	for (int i = 1; i <= n; i++) {
		send_register(b, "CPA", i);
		send_register(b, "CPB", i);
		send_register(b, "CPG", i);
	}
	if (wait_for(b, 3 * n, bench_ns() + SETUP_NS, acked, NULL))
		return EXIT_FAIL;
	name_drivers(&r, "dd", "CPA");
	for (int i = 0; i < n; i++)
		send_request(&r, &r.d[i]);
	free(r.d);
	if (wait_for(b, n, bench_ns() + SETUP_NS, held, NULL))
		return EXIT_FAIL;
	printf("setup: %d CPs registered, %d sessions held\n", 3 * n, n);
	return EXIT_OK;
}

static int answered(void *ctx, const struct msg *m)
{
	return m->type == MSG_AUTH_RESPONSE &&
	       !strcmp(m->u.resp.request, ((struct driver *)ctx)->req);
}

/* A server that is not yet reading its topics loses nothing: ask again. */
static int cmd_ping(struct bus *b, double secs)
{
	struct run r = { .b = b, .n = 1 };
	int64_t end = bench_ns() + (int64_t)(secs * 1e9);

	name_drivers(&r, "dping", "CPping");
	while (bench_ns() < end && !bus_stop) {
		send_request(&r, &r.d[0]);
		if (!wait_for(b, 1, bench_ns() + 1000000000LL, answered, r.d)) {
			free(r.d);
			printf("ping: answered\n");
			return EXIT_OK;
		}
	}
	free(r.d);
	return error("no answer within %g s", secs);
}

struct opts {
	const char *config, *mode, *label, *trace;
	int drivers;
	double secs, warm;
};

static int parse(int argc, char **argv, struct opts *o)
{
	int opt;

	*o = (struct opts){ NULL, "deny", "central", NULL, 1, 5, 1 };
	while ((opt = getopt(argc, argv, "c:d:hl:m:o:s:w:")) != -1) {
		switch (opt) {
		case 'c': o->config = optarg; break;
		case 'd': o->drivers = atoi(optarg); break;
		case 'h': fputs(usage, stdout); exit(EXIT_OK);
		case 'l': o->label = optarg; break;
		case 'm': o->mode = optarg; break;
		case 'o': o->trace = optarg; break;
		case 's': o->secs = atof(optarg); break;
		case 'w': o->warm = atof(optarg); break;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (!o->config || optind >= argc || o->drivers < 1 ||
	    o->drivers > 9999 || o->secs <= 0 || o->warm < 0) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct conf c;
	struct bus *b;
	const char *cmd;
	int ret;

	log_init("bench-auth");
	if ((ret = parse(argc, argv, &o)))
		return ret;
	cmd = argv[optind];
	bench_conf(&c, o.config);
	bus_signals();
	if (!(b = bus_open(&c, BUS_PRODUCER | BUS_CONSUMER, NULL)) ||
	    bus_check(b, 10000) || bench_follow_every(b, &c, T_AUTH_RESPONSE))
		return EXIT_UNREACHABLE;
	if (!strcmp(cmd, "setup") && optind + 1 < argc)
		ret = cmd_setup(b, &c, atoi(argv[optind + 1]));
	else if (!strcmp(cmd, "ping"))
		ret = cmd_ping(b, o.secs);
	else if (!strcmp(cmd, "run"))
		ret = cmd_run(b, o.mode, o.drivers, o.secs, o.warm, o.label,
			      o.trace);
	else
		ret = usage_error("unknown command: '%s'", cmd);
	if (bus_close(b, 10000) && !ret)
		ret = EXIT_FAIL;
	conf_free(&c);
	return ret;
}
