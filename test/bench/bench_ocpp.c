/* bench_ocpp.c: the load of BENCHMARKS.md's OCPP section: thousands of OCPP 1.6J chargers on libwebsockets' client side against evc ocpp, with the latencies they see. */
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>
#include <libwebsockets.h>

#include "lib/bus.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xalloc.h"
#include "test/bench/bench.h"

/*
 * usage: bench_ocpp -c CONF -p PORT -g GATEWAY_PID [-n 10000] [-m 1000]
 *                   [-s SECONDS] [-w WARMUP] [-a AUTHORIZE_PER_S]
 *
 * N chargers BENCH00001... connect to the gateway on 127.0.0.1:PORT
 * (CONNECT_RATE a second) and boot; each then sends a Heartbeat every
 * 60 s, their times spread evenly. Once all are accepted, the program
 * asks Central (auth_request, as a driver would) for a session for
 * driver BDnnnnn at each of the first M: the gateway sends
 * RemoteStartTransaction, the charger accepts and starts a transaction,
 * then sends MeterValues every second (11 kW), the M of them spread over
 * the second. Idle chargers send Authorize for a driver that is charging
 * (Central refuses it: driver_busy, ConcurrentTx), A a second.
 *
 * After WARMUP seconds, SECONDS are measured: the gateway's CPU (all its
 * threads, /proc) and resident memory, this program's own CPU, the delay
 * from each MeterValues written to the progress Central derives from it
 * read on auth-response, and the Authorize round trips (written to
 * answered). One line of key=value goes to stdout.
 */

#define CONNECT_RATE 1000	/* connections a second */
#define HEARTBEAT_MS 60000
#define METER_MS 1000
#define WATTS 11000
#define RING 8			/* MeterValues remembered per charger */
#define OUTQ 4
#define FRAME_MAX 640
#define SLICE_US (5 * LWS_US_PER_MS)

enum bstate { B_NONE, B_CONNECTING, B_BOOTING, B_IDLE, B_STARTING, B_CHARGING, B_DOWN };
enum bcall { C_NONE, C_BOOT, C_HEARTBEAT, C_AUTHORIZE, C_START, C_METER };

struct bch {
	struct lws *wsi;
	int idx;
	enum bstate state;
	int32_t tx;
	long long wh;
	char out[OUTQ][FRAME_MAX];
	int outlen[OUTQ], nout;
	enum bcall call;	/* the CALL in flight */
	int64_t call_ns;
	unsigned calls;
	int64_t mv_wh[RING], mv_ns[RING], mv_wall[RING];
	unsigned mv_n;
};

static struct {
	struct lws_context *ctx;
	uv_loop_t loop;		/* epoll: 10,000 sockets cost nothing idle */
	lws_sorted_usec_list_t sul;
	struct bch *ch;
	int n, m, port, gw_pid;
	int secs, warmup, auth_rate;
	struct bus *b;
	struct conf c;
	int connected, booted, charging, down;
	long rss_base;			/* the gateway's before any charger */
	bool measuring;
	int64_t *mv_lat, *auth_lat, *central_lat;
	size_t nmv, nauth, ncentral, cap;
	long mv_sent, mv_unmatched, auth_sent;
} B;

static volatile sig_atomic_t stop;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static void push_frame(struct bch *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void push_frame(struct bch *c, const char *fmt, ...)
{
	va_list ap;

	if (c->nout == OUTQ)
		return;
	va_start(ap, fmt);
	c->outlen[c->nout] = vsnprintf(c->out[c->nout], FRAME_MAX, fmt, ap);
	va_end(ap);
	c->nout++;
	lws_callback_on_writable(c->wsi);
}

/* A CALL of the charger; one at a time, as OCPP-J says. */
static bool call(struct bch *c, enum bcall kind, const char *action,
		 const char *payload)
{
	if (c->call || !c->wsi)
		return false;
	c->call = kind;
	c->call_ns = bench_ns();
	push_frame(c, "[2,\"c%u\",\"%s\",%s]", ++c->calls, action, payload);
	return true;
}

static void record(int64_t **v, size_t *n, int64_t x)
{
	if (!B.measuring)
		return;
	if (B.nmv == B.cap || B.nauth == B.cap || B.ncentral == B.cap) {
		B.cap = B.cap ? B.cap * 2 : 65536;
		B.mv_lat = xreallocarray(B.mv_lat, B.cap, sizeof(int64_t));
		B.auth_lat = xreallocarray(B.auth_lat, B.cap, sizeof(int64_t));
		B.central_lat = xreallocarray(B.central_lat, B.cap,
					      sizeof(int64_t));
	}
	(*v)[(*n)++] = x;
}

static void meter(struct bch *c)
{
	char p[FRAME_MAX - 64];

	c->wh += WATTS / 3600 + 1;	/* about 11 kW over a second */
	snprintf(p, sizeof(p), "{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"2026-01-01T00:00:00Z\",\"sampledValue\":[{\"value\":\"%lld\",\"measurand\":\"Energy.Active.Import.Register\",\"unit\":\"Wh\"},{\"value\":\"%d\",\"measurand\":\"Power.Active.Import\",\"unit\":\"W\"}]}]}",
		 c->tx, c->wh, WATTS);
	if (!call(c, C_METER, "MeterValues", p))
		return;
	c->mv_wh[c->mv_n % RING] = c->wh;
	c->mv_wall[c->mv_n % RING] = now_ms();
	c->mv_ns[c->mv_n++ % RING] = c->call_ns;
	if (B.measuring)
		B.mv_sent++;
}

/* An answer to the charger's CALL in flight. */
static void answered(struct bch *c, const json_t *p)
{
	const json_t *info = json_object_get(p, "idTagInfo");
	enum bcall kind = c->call;

	c->call = C_NONE;
	if (kind == C_BOOT) {
		c->state = B_IDLE;
		B.booted++;
	} else if (kind == C_AUTHORIZE) {
		record(&B.auth_lat, &B.nauth, bench_ns() - c->call_ns);
	} else if (kind == C_START && json_string_value(json_object_get(info,
			"status")) && !strcmp(json_string_value(json_object_get(
			info, "status")), "Accepted")) {
		c->tx = (int32_t)json_integer_value(json_object_get(p, "transactionId"));
		c->state = B_CHARGING;
		B.charging++;
	}
}

/* The transaction Central's session asked for, at once. */
static void start(struct bch *c)
{
	char p[160];

	snprintf(p, sizeof(p), "{\"connectorId\":1,\"idTag\":\"BD%05d\",\"meterStart\":0,\"timestamp\":\"2026-01-01T00:00:00Z\"}",
		 c->idx + 1);
	c->state = B_STARTING;
	c->call = C_NONE;	/* a Heartbeat unanswered does not hold it */
	call(c, C_START, "StartTransaction", p);
}

static void on_frame(struct bch *c, const char *in, size_t len)
{
	json_t *a = json_loadb(in, len, 0, NULL);
	const char *id = json_string_value(json_array_get(a, 1));
	json_int_t type = json_integer_value(json_array_get(a, 0));
	const char *action = json_string_value(json_array_get(a, 2));

	if (type == 3)
		answered(c, json_array_get(a, 2));
	else if (type == 4)
		c->call = C_NONE;
	else if (type == 2 && id && action &&
		 !strcmp(action, "RemoteStartTransaction")) {
		push_frame(c, "[3,\"%s\",{\"status\":\"Accepted\"}]", id);
		start(c);
	} else if (type == 2 && id) {
		push_frame(c, "[3,\"%s\",{\"status\":\"Accepted\"}]", id);
	}
	json_decref(a);
}

static int writeable(struct bch *c)
{
	unsigned char buf[LWS_PRE + FRAME_MAX];

	if (!c->nout)
		return 0;
	memcpy(buf + LWS_PRE, c->out[0], (size_t)c->outlen[0]);
	if (lws_write(c->wsi, buf + LWS_PRE, (size_t)c->outlen[0],
		      LWS_WRITE_TEXT) < c->outlen[0])
		return -1;
	memmove(c->out[0], c->out[1], sizeof(c->out[0]) * (OUTQ - 1));
	memmove(c->outlen, c->outlen + 1, sizeof(c->outlen[0]) * (OUTQ - 1));
	if (--c->nout)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct bch *c = user;

	(void)wsi;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		B.connected++;
		c->state = B_BOOTING;
		call(c, C_BOOT, "BootNotification",
		     "{\"chargePointVendor\":\"evc\",\"chargePointModel\":\"bench\"}");
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		on_frame(c, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return writeable(c);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c && c->state != B_DOWN) {
			c->state = B_DOWN;
			c->wsi = NULL;
			B.down++;
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "ocpp1.6", callback, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void connect_one(struct bch *c)
{
	char path[64];
	struct lws_client_connect_info ci;

	snprintf(path, sizeof(path), "/ocpp/BENCH%05d", c->idx + 1);
	memset(&ci, 0, sizeof(ci));
	ci.context = B.ctx;
	ci.address = "127.0.0.1";
	ci.port = B.port;
	ci.path = path;
	ci.host = "127.0.0.1";
	ci.origin = "127.0.0.1";
	ci.protocol = "ocpp1.6";
	ci.userdata = c;
	ci.pwsi = &c->wsi;
	c->state = B_CONNECTING;
	if (!lws_client_connect_via_info(&ci)) {
		c->state = B_DOWN;
		B.down++;
	}
}

/* Central's progress for driver BDnnnnn: matched to its MeterValues. */
static void on_progress(const struct msg *m)
{
	long i = bench_id_num(m->driver) - 1;
	struct bch *c;

	if (m->type != MSG_PROGRESS || i < 0 || i >= B.m)
		return;
	c = &B.ch[i];
	for (unsigned k = 0; k < RING && k < c->mv_n; k++) {
		unsigned j = (c->mv_n - 1 - k) % RING;

		if (c->mv_wh[j] == m->u.prog.wh) {
			/* and how much of it was Central's making the progress */
			record(&B.central_lat, &B.ncentral,
			       (m->ts - c->mv_wall[j]) * 1000000);
			record(&B.mv_lat, &B.nmv, bench_ns() - c->mv_ns[j]);
			return;
		}
	}
	if (B.measuring)
		B.mv_unmatched++;
}

static void drain_kafka(void)
{
	struct msg m;
	enum topic t;

	for (int k = 0; k < 5000 && bus_recv(B.b, &m, &t, 0) > 0; k++)
		on_progress(&m);
}

static void wake(void *arg)
{
	(void)arg;
	lws_cancel_service(B.ctx);
}

static void tick_sul(lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(B.ctx, 0, sul, tick_sul, SLICE_US);
}

/* Runs the sockets and Kafka for ms, calling due(now) every turn. */
static void run_for(int64_t ms, void (*due)(int64_t now_ms))
{
	int64_t end = mono_ms() + ms;

	while (!stop && mono_ms() < end) {
		uv_run(&B.loop, UV_RUN_ONCE);
		drain_kafka();
		if (due)
			due(mono_ms());
	}
}

static int64_t t_start;
static uint64_t beats_done, meters_done, auths_done;

/*
 * What is due at now: heartbeat k at k * 60 s / N, meter k at
 * k * 1 s / M within each period, Authorize at a steady rate.
 */
static void load_due(int64_t now)
{
	int64_t el = now - t_start;
	uint64_t beats = (uint64_t)el * (uint64_t)B.n / HEARTBEAT_MS;
	uint64_t meters = (uint64_t)el * (uint64_t)B.m / METER_MS;
	uint64_t auths = (uint64_t)el * (uint64_t)B.auth_rate / 1000;

	for (; beats_done < beats; beats_done++) {
		struct bch *c = &B.ch[beats_done % (uint64_t)B.n];

		if (c->state == B_IDLE || c->state == B_CHARGING)
			call(c, C_HEARTBEAT, "Heartbeat", "{}");
	}
	for (; meters_done < meters; meters_done++) {
		struct bch *c = &B.ch[meters_done % (uint64_t)B.m];

		if (c->state == B_CHARGING)
			meter(c);
	}
	for (; auths_done < auths && B.n > B.m; auths_done++) {
		struct bch *c = &B.ch[B.m + (int)(auths_done % (uint64_t)(B.n - B.m))];
		char p[64];

		snprintf(p, sizeof(p), "{\"idTag\":\"BD%05d\"}",
			 (int)(auths_done % (uint64_t)B.m) + 1);
		if (c->state == B_IDLE && call(c, C_AUTHORIZE, "Authorize", p) &&
		    B.measuring)
			B.auth_sent++;
	}
}

static int connected_next;

static void connect_due(int64_t now)
{
	int want = (int)((now - t_start) * CONNECT_RATE / 1000);

	for (; connected_next < want && connected_next < B.n; connected_next++)
		connect_one(&B.ch[connected_next]);
}

static void ask_sessions(void)
{
	struct msg m;

	for (int i = 0; i < B.m; i++) {
		msg_init(&m, MSG_AUTH_REQUEST);
		snprintf(m.cp, sizeof(m.cp), "BENCH%05d", i + 1);
		snprintf(m.driver, sizeof(m.driver), "BD%05d", i + 1);
		m.u.req.timeout_ms = 60000;
		bus_send(B.b, T_AUTH_REQUEST, &m);
	}
}

static long rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void report(double gw_cpu, double own_cpu, double secs, long rss0,
		   long rss1)
{
	bench_sort(B.mv_lat, B.nmv);
	bench_sort(B.auth_lat, B.nauth);
	bench_sort(B.central_lat, B.ncentral);
	printf("ocpp n=%d m=%d connected=%d booted=%d charging=%d down=%d "
	       "secs=%.1f gw_cpu_pct=%.1f gen_cpu_pct=%.1f gw_rss_kib_idle=%ld "
	       "gw_rss_kib=%ld mv_sent=%ld mv_measured=%zu mv_unmatched=%ld "
	       "mv_p50_ms=%.1f mv_p99_ms=%.1f mv_max_ms=%.1f "
	       "to_progress_p50_ms=%.0f to_progress_p99_ms=%.0f auth_sent=%ld "
	       "auth_measured=%zu auth_p50_ms=%.2f auth_p99_ms=%.2f auth_max_ms=%.2f\n",
	       B.n, B.m, B.connected, B.booted, B.charging, B.down, secs,
	       gw_cpu * 100 / secs, own_cpu * 100 / secs, rss0, rss1,
	       B.mv_sent, B.nmv, B.mv_unmatched,
	       bench_quantile(B.mv_lat, B.nmv, 0.5) / 1e6,
	       bench_quantile(B.mv_lat, B.nmv, 0.99) / 1e6,
	       bench_quantile(B.mv_lat, B.nmv, 1) / 1e6,
	       bench_quantile(B.central_lat, B.ncentral, 0.5) / 1e6,
	       bench_quantile(B.central_lat, B.ncentral, 0.99) / 1e6,
	       B.auth_sent, B.nauth,
	       bench_quantile(B.auth_lat, B.nauth, 0.5) / 1e6,
	       bench_quantile(B.auth_lat, B.nauth, 0.99) / 1e6,
	       bench_quantile(B.auth_lat, B.nauth, 1) / 1e6);
	fflush(stdout);
}

static void measure(void)
{
	long rss0 = B.rss_base, rss1;
	double gw0, own0, gw1, own1;
	int64_t t0, t1;

	run_for(B.warmup * 1000LL, load_due);
	B.measuring = true;
	gw0 = bench_cpu_of(B.gw_pid, 0);
	own0 = bench_cpu_of(getpid(), 0);
	t0 = bench_ns();
	run_for(B.secs * 1000LL, load_due);
	t1 = bench_ns();
	gw1 = bench_cpu_of(B.gw_pid, 0);
	own1 = bench_cpu_of(getpid(), 0);
	rss1 = rss_kib(B.gw_pid);
	B.measuring = false;
	run_for(2000, NULL);	/* the last progresses */
	report(gw1 - gw0, own1 - own0, (double)(t1 - t0) / 1e9, rss0, rss1);
}

static int setup(void)
{
	struct lws_context_creation_info ci;
	void *loops[] = { &B.loop, NULL };
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&ci, 0, sizeof(ci));
	uv_loop_init(&B.loop);
	ci.foreign_loops = loops;
	ci.options = LWS_SERVER_OPTION_LIBUV;
	ci.port = CONTEXT_PORT_NO_LISTEN;
	ci.protocols = protocols;
	ci.fd_limit_per_thread = (unsigned)rl.rlim_cur;
	lws_set_log_level(LLL_ERR, NULL);
	if (!(B.ctx = lws_create_context(&ci)))
		return error("cannot create the lws context");
	lws_sul_schedule(B.ctx, 0, &B.sul, tick_sul, SLICE_US);
	if (!(B.b = bus_open(&B.c, BUS_PRODUCER | BUS_CONSUMER, NULL)) ||
	    bench_follow_every(B.b, &B.c, T_AUTH_RESPONSE))
		return -1;
	bus_wakeup(B.b, wake, NULL);
	B.ch = xcalloc((size_t)B.n, sizeof(*B.ch));
	for (int i = 0; i < B.n; i++)
		B.ch[i].idx = i;
	return 0;
}

/* Connects and boots every charger, then opens the M sessions. */
static long rss_kib(int pid);

static int start_load(void)
{
	int64_t deadline;

	B.rss_base = rss_kib(B.gw_pid);
	t_start = mono_ms();
	deadline = t_start + B.n * 1000LL / CONNECT_RATE + 60000;
	while (!stop && B.booted < B.n && mono_ms() < deadline)
		run_for(100, connect_due);
	fprintf(stderr, "bench_ocpp: %d of %d chargers booted in %.1f s (%d down)\n",
		B.booted, B.n, (double)(mono_ms() - t_start) / 1000, B.down);
	ask_sessions();
	deadline = mono_ms() + 60000;
	while (!stop && B.charging < B.m && mono_ms() < deadline)
		run_for(100, NULL);
	fprintf(stderr, "bench_ocpp: %d of %d sessions charging\n", B.charging,
		B.m);
	t_start = mono_ms();
	return B.booted == B.n && B.charging == B.m ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	int opt, ok;

	B.n = 10000, B.m = 1000, B.secs = 60, B.warmup = 10, B.auth_rate = 20;
	log_init("bench_ocpp");
	while ((opt = getopt(argc, argv, "a:c:g:m:n:p:s:w:")) != -1) {
		switch (opt) {
		case 'a': B.auth_rate = atoi(optarg); break;
		case 'c': conf = optarg; break;
		case 'g': B.gw_pid = atoi(optarg); break;
		case 'm': B.m = atoi(optarg); break;
		case 'n': B.n = atoi(optarg); break;
		case 'p': B.port = atoi(optarg); break;
		case 's': B.secs = atoi(optarg); break;
		case 'w': B.warmup = atoi(optarg); break;
		default: return EXIT_USAGE;
		}
	}
	if (!conf || !B.port || !B.gw_pid || B.m > B.n || B.n < 1)
		return usage_error("usage: bench_ocpp -c CONF -p PORT -g GATEWAY_PID [-n N] [-m M] [-s SECS] [-w WARMUP] [-a AUTH_PER_S]");
	bench_conf(&B.c, conf);
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	if (setup())
		return EXIT_UNREACHABLE;
	ok = !start_load();
	if (ok)
		measure();
	bus_wakeup(B.b, NULL, NULL);
	lws_context_destroy(B.ctx);
	while (uv_run(&B.loop, UV_RUN_NOWAIT))
		;
	uv_loop_close(&B.loop);
	bus_close(B.b, 2000);
	return ok ? EXIT_OK : EXIT_FAIL;
}
