/* bench_ingest.c: telemetry ingest: N telemetry messages of open sessions, queued while Central is paused, then timed. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/bus.h"
#include "lib/keyring.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xalloc.h"
#include "test/bench/bench.h"

#define RECV_MS 100
#define SETUP_NS 120000000000LL
#define WATCH_NS 600000000000LL
#define FLUSH_MS 300000
#define KW 22.0
#define WH_PER_TICK 6		/* 22 kW for 1 s is 6.1 Wh */

static const char usage[] =
	"usage: bench_ingest [-k] -c FILE -o FILE setup K\n"
	"       bench_ingest [-k] -c FILE -o FILE run -n N -p PID -q SEQ\n"
	"\n"
	"  -k       sign every message with its CP's key, as evc cp -k does\n"
	"           (setup issues the keys on cp-keys: KEY(CPTI) is derived\n"
	"           from the CP id, so that run finds the same)\n"
	"  setup K  register CPT00001..K and open a session at each (driver\n"
	"           dtI at CPTI); the sessions go to the file of -o\n"
	"  run      stop Central (PID) with SIGSTOP, queue N telemetry messages\n"
	"           for the sessions of -o (seq from SEQ), resume Central and time\n"
	"           it until cp-state shows the last figures of every session;\n"
	"           prints the offsets written, for bench_bare\n";

struct sess {
	char cp[MSG_NAME_MAX + 1];
	char driver[MSG_NAME_MAX + 1];
	char id[MSG_UUID_LEN + 1];
	double price;
	bool done;
};

struct ingest {
	const struct conf *conf;
	struct bus *b;
	struct sess *s;
	int n;
	bool keyed;		/* -k */
	struct keyring keys;
};

/* The key of CP cp in a benchmark: known to setup and run alike. */
static void bench_key(const char *cp, struct seal_key *k)
{
	static const char salt[] = "evc-bench-key";

	memset(k, 0, sizeof(*k));
	snprintf(k->kid, sizeof(k->kid), "%s.1", cp);
	seal_hmac(salt, sizeof(salt) - 1, cp, strlen(cp), k->key);
}

static struct seal_key *sign_for(void *ctx, enum topic t, const struct msg *m)
{
	(void)t;
	return keyring_key(ctx, m->cp);
}

/* -k: every CP's key in the table, signing; on cp-keys too (setup). */
static int use_keys(struct ingest *g, bool issue)
{
	struct seal_entry e = { 0 };
	char buf[SEAL_FILE_MAX];
	int len;

	keyring_init(&g->keys, true);
	for (int i = 0; i < g->n; i++) {
		bench_key(g->s[i].cp, &e.cur);
		keyring_take(&g->keys, g->s[i].cp, &e.cur);
		if (issue && ((len = seal_format(&e, buf, sizeof(buf))) < 0 ||
			      bus_send_raw(g->b, T_CP_KEYS, g->s[i].cp, buf, (size_t)len)))
			return -1;
	}
	bus_seal(g->b, sign_for, &g->keys);
	if (issue && bus_flush(g->b, FLUSH_MS))
		return -1;
	if (issue)
		sleep(2);	/* Central takes keys at its ticks: let it */
	return 0;
}

static void send_register(struct bus *b, const char *cp)
{
	struct msg m;

	msg_init(&m, MSG_REGISTER);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	snprintf(m.u.reg.location, sizeof(m.u.reg.location), "bench");
	m.u.reg.engine_ok = true;
	if (bus_send(b, T_CP_REGISTER, &m))
		die(EXIT_FAIL, "cannot send a register");
}

static void send_request(struct bus *b, const struct sess *s)
{
	struct msg m;

	msg_init(&m, MSG_AUTH_REQUEST);
	memcpy(m.cp, s->cp, sizeof(m.cp));
	memcpy(m.driver, s->driver, sizeof(m.driver));
	m.u.req.timeout_ms = 60000;
	if (bus_send(b, T_AUTH_REQUEST, &m))
		die(EXIT_FAIL, "cannot send a request");
}

static struct sess *sess_of(struct ingest *g, const char *cp)
{
	long i = bench_id_num(cp) - 1;

	if (i < 0 || i >= g->n || strcmp(g->s[i].cp, cp))
		return NULL;
	return &g->s[i];
}

/* Registered, then granted: one answer of each kind per CP. */
static int take_setup(struct ingest *g, const struct msg *m, int *acks)
{
	struct sess *s = sess_of(g, m->cp);

	if (!s)
		return 0;
	if (m->type == MSG_REGISTER_ACK && m->u.ack.accepted) {
		(*acks)++;
		send_request(g->b, s);
		return 0;
	}
	if (m->type != MSG_AUTH_RESPONSE || s->done)
		return 0;
	if (!m->u.resp.authorized)
		die(EXIT_FAIL, "%s refused at %s: %s (a fresh Central?)",
		    m->driver, m->cp, msg_deny_name(m->u.resp.reason));
	memcpy(s->id, m->session, sizeof(s->id));
	s->price = m->u.resp.price;
	s->done = true;
	return 1;
}

static int write_sessions(const struct ingest *g, const char *file)
{
	FILE *f = fopen(file, "w");

	if (!f)
		return error("cannot write '%s': %s", file, strerror(errno));
	for (int i = 0; i < g->n; i++)
		fprintf(f, "%s %s %s %.17g\n", g->s[i].cp, g->s[i].driver,
			g->s[i].id, g->s[i].price);
	return fclose(f) ? error("cannot write '%s'", file) : 0;
}

static int cmd_setup(struct ingest *g, const char *file)
{
	int64_t end = bench_ns() + SETUP_NS;
	int acks = 0, granted = 0, rc;
	struct msg m;
	enum topic t;

	if (bench_follow_every(g->b, g->conf, T_CP_REGISTER_ACK) ||
	    bench_follow_every(g->b, g->conf, T_AUTH_RESPONSE))
		return EXIT_UNREACHABLE;
	if (g->keyed && use_keys(g, true))
		return EXIT_UNREACHABLE;
	for (int i = 0; i < g->n; i++)
		send_register(g->b, g->s[i].cp);
	while (granted < g->n && bench_ns() < end && !bus_stop) {
		if ((rc = bus_recv(g->b, &m, &t, RECV_MS)) < 0)
			return EXIT_UNREACHABLE;
		if (rc > 0)
			granted += take_setup(g, &m, &acks);
	}
	if (granted < g->n) {
		error("%d CPs registered, %d sessions of %d", acks, granted,
		      g->n);
		return EXIT_FAIL;
	}
	printf("setup: %d CPs registered, %d sessions open\n", acks, granted);
	return write_sessions(g, file) ? EXIT_FAIL : EXIT_OK;
}

static int read_sessions(struct ingest *g, const char *file)
{
	FILE *f = fopen(file, "r");
	struct sess s = { 0 };
	int cap = 0;

	if (!f)
		return error("cannot read '%s': %s", file, strerror(errno));
	while (fscanf(f, "%32s %32s %32s %lf", s.cp, s.driver, s.id,
		      &s.price) == 4) {
		if (g->n == cap) {
			cap = cap ? cap * 2 : 1024;
			g->s = xreallocarray(g->s, (size_t)cap, sizeof(s));
		}
		g->s[g->n++] = s;
	}
	fclose(f);
	return g->n ? 0 : error("no sessions in '%s'", file);
}

/* What a CP engine sends every tick, as cmd/cp.c's engine fills it. */
static int send_tick(struct bus *b, const struct sess *s, uint32_t seq)
{
	struct msg m;

	msg_init(&m, MSG_TELEMETRY);
	memcpy(m.cp, s->cp, sizeof(m.cp));
	memcpy(m.driver, s->driver, sizeof(m.driver));
	memcpy(m.session, s->id, sizeof(m.session));
	m.u.prog.seq = seq;
	m.u.prog.kw = KW;
	m.u.prog.wh = (int64_t)seq * WH_PER_TICK;
	m.u.prog.cents = msg_cents(m.u.prog.wh, s->price);
	return bus_send(b, T_TELEMETRY, &m);
}

/*
 * The CPs take turns, as live ones would: every partition fills evenly.
 * Failures return rather than exit: Central must not stay paused.
 */
static int generate(struct ingest *g, long per, uint32_t seq0)
{
	int64_t t0 = bench_ns();
	double secs;

	for (long j = 0; j < per && !bus_stop; j++)
		for (int i = 0; i < g->n; i++)
			if (send_tick(g->b, &g->s[i], seq0 + (uint32_t)j))
				return -1;
	if (bus_flush(g->b, FLUSH_MS))
		return -1;
	secs = (double)(bench_ns() - t0) / 1e9;
	fprintf(stderr, "bench_ingest: %ld messages queued in %.1f s\n",
		per * g->n, secs);
	return bus_stop ? -1 : 0;
}

/* The end offsets of every telemetry partition, through a handle of our own. */
static int ends(const struct conf *c, int64_t *hi)
{
	rd_kafka_conf_t *kc = bus_kafka_conf(c);
	char err[256];
	rd_kafka_t *rk;
	int64_t lo;
	int ret = 0;

	if (!kc || rd_kafka_conf_set(kc, "group.id", "bench-ingest", err,
				     sizeof(err)) != RD_KAFKA_CONF_OK)
		return error("bad Kafka configuration");
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err))))
		return error("cannot create Kafka client: %s", err);
	for (unsigned p = 0; p < c->partitions && !ret; p++)
		if (rd_kafka_query_watermark_offsets(rk, c->topics[T_TELEMETRY],
						     (int32_t)p, &lo, &hi[p],
						     10000))
			ret = error("cannot read the offsets of '%s'",
				    c->topics[T_TELEMETRY]);
	rd_kafka_destroy(rk);
	return ret;
}

/* Counts a cp_state carrying the last figures of its session. */
static int take_state(struct ingest *g, const struct msg *m, uint32_t last)
{
	struct sess *s = sess_of(g, m->cp);

	if (!s || s->done || m->type != MSG_CP_STATE ||
	    strcmp(m->session, s->id) || m->u.state.live.seq != last)
		return 0;
	s->done = true;
	return 1;
}

static int watch(struct ingest *g, uint32_t last)
{
	int64_t end = bench_ns() + WATCH_NS;
	int done = 0, rc;
	struct msg m;
	enum topic t;

	for (int i = 0; i < g->n; i++)
		g->s[i].done = false;
	while (done < g->n && bench_ns() < end && !bus_stop) {
		if ((rc = bus_recv(g->b, &m, &t, RECV_MS)) < 0)
			return -1;
		if (rc > 0)
			done += take_state(g, &m, last);
	}
	return done < g->n ? error("%d of %d CPs show their last figures",
				   done, g->n) : 0;
}

struct cpu {
	int64_t ns;
	double all, main;
	long hwm_kib;		/* Central's peak resident memory so far */
};

static long peak_rss_kib(int pid)
{
	char path[64], line[128];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void sample(struct cpu *x, int pid)
{
	x->ns = bench_ns();
	x->all = bench_cpu_of(pid, 0);
	x->main = bench_cpu_of(pid, pid);
	x->hwm_kib = peak_rss_kib(pid);
}

static void report(const struct conf *c, bool signed_, long n, int cps,
		   const struct cpu *a, const struct cpu *b,
		   const int64_t *lo, const int64_t *hi)
{
	double secs = (double)(b->ns - a->ns) / 1e9;
	double all = b->all - a->all, main = b->main - a->main;

	printf("%s n=%ld cps=%d secs=%.3f rate=%.0f cpu=%.3f main_cpu=%.3f"
	       " rate_per_cpu=%.0f rate_per_main=%.0f rss_peak_kib=%ld range=",
	       signed_ ? "ingest_signed" : "ingest", n, cps, secs, n / secs, all,
	       main, n / all, n / main, b->hwm_kib);
	for (unsigned p = 0; p < c->partitions; p++)
		printf("%s%u:%lld-%lld", p ? "," : "", p, (long long)lo[p],
		       (long long)hi[p]);
	putchar('\n');
	fflush(stdout);
}

/* Paused, Central cannot read what is queued: resumed, it finds it all. */
static int cmd_run(struct ingest *g, long n, int pid, uint32_t seq0)
{
	int64_t lo[256], hi[256];
	long per = n / g->n;
	struct cpu a, b;
	int ret;

	if (per < 1 || g->conf->partitions > 256)
		return usage_error("N must be at least the number of sessions");
	if (g->keyed)
		use_keys(g, false);
	if (bench_follow_every(g->b, g->conf, T_CP_STATE) || ends(g->conf, lo))
		return EXIT_UNREACHABLE;
	if (kill(pid, SIGSTOP)) {
		error("cannot stop Central: %s", strerror(errno));
		return EXIT_FAIL;
	}
	ret = generate(g, per, seq0) || ends(g->conf, hi);
	sample(&a, pid);
	kill(pid, SIGCONT);
	if (ret || watch(g, seq0 + (uint32_t)per - 1))
		return EXIT_FAIL;
	sample(&b, pid);
	report(g->conf, g->keyed, per * g->n, g->n, &a, &b, lo, hi);
	return EXIT_OK;
}

static void name_sessions(struct ingest *g, int n)
{
	g->n = n;
	g->s = xcalloc((size_t)n, sizeof(*g->s));
	for (int i = 0; i < n; i++) {
		snprintf(g->s[i].cp, sizeof(g->s[i].cp), "CPT%05d", i + 1);
		snprintf(g->s[i].driver, sizeof(g->s[i].driver), "dt%05d", i + 1);
	}
}

int main(int argc, char **argv)
{
	const char *config = NULL, *file = NULL, *cmd;
	struct ingest g = { 0 };
	long n = 0, seq = 0;
	int pid = 0, opt, ret;
	struct conf c;

	log_init("bench-ingest");
	while ((opt = getopt(argc, argv, "c:hkn:o:p:q:")) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		case 'k': g.keyed = true; break;
		case 'n': n = atol(optarg); break;
		case 'o': file = optarg; break;
		case 'p': pid = atoi(optarg); break;
		case 'q': seq = atol(optarg); break;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (!config || !file || optind >= argc) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	bench_conf(&c, config);
	g.conf = &c;
	bus_signals();
	if (!(g.b = bus_open(&c, BUS_PRODUCER | BUS_CONSUMER, NULL)) ||
	    bus_check(g.b, 10000))
		return EXIT_UNREACHABLE;
	if (!strcmp(cmd, "setup") && optind + 1 < argc) {
		name_sessions(&g, atoi(argv[optind + 1]));
		ret = g.n > 0 ? cmd_setup(&g, file) : EXIT_USAGE;
	} else if (!strcmp(cmd, "run") && pid > 1 && n > 0 && seq >= 0) {
		ret = read_sessions(&g, file) ? EXIT_USAGE :
		      cmd_run(&g, n, pid, (uint32_t)seq);
	} else {
		ret = usage_error("bad command line");
	}
	bus_close(g.b, 10000);
	if (g.keyed)
		keyring_free(&g.keys);
	free(g.s);
	conf_free(&c);
	return ret;
}
