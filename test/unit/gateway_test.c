/* gateway_test.c: unit tests of lib/gateway.c, the OCPP gateway's core: frames and messages in, the exact frames, messages and records out. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/gateway.h"
#include "test/unit/check.h"

/*
 * Every case starts at time 0: the wall clock is then WALL0 (written
 * "2023-11-14T22:13:20.000Z" in frames) and the monotonic clock MONO0.
 * What the hooks do is logged one line each:
 *   send CP001 [3,"1",{...}]
 *   close CP001 1008 too many messages
 *   post telemetry CP001 D1 seq=0 wh=0 kw=0
 *   keep tx=1 wh=500 final=0
 * Heartbeats (health) are only counted, in r.health, with the last one's
 * engine_ok in r.engine_ok.
 */
#define WALL0 1700000000000LL
#define MONO0 5000000LL
#define T0 "2023-11-14T22:13:20"
#define LOG_MAX 64
#define LINE_LEN 512

static const char S1[] = "5e551000000000000000000000000001";

static struct {
	struct conf c;
	struct gateway g;
	char log[LOG_MAX][LINE_LEN];
	int nlog;
	int health;
	bool engine_ok;
	char req[MSG_UUID_LEN + 1];	/* the last auth_request's id */
	int conns[8];			/* the connections: their addresses */
} r;

__attribute__((format(printf, 1, 2)))
static void logline(const char *fmt, ...)
{
	va_list ap;

	if (r.nlog == LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r.log[r.nlog++], LINE_LEN, fmt, ap);
	va_end(ap);
}

static int on_post(void *arg, enum topic t, const struct msg *m)
{
	(void)arg;
	switch (m->type) {
	case MSG_HEALTH:
		r.health++;
		r.engine_ok = m->u.health.engine_ok;
		return 0;
	case MSG_REGISTER:
		logline("post register %s engine_ok=%d", m->cp,
			m->u.reg.engine_ok);
		break;
	case MSG_AUTH_REQUEST:
		memcpy(r.req, m->id, sizeof(r.req));
		logline("post auth_request %s %s", m->cp, m->driver);
		break;
	case MSG_TELEMETRY:
		logline("post telemetry %s %s seq=%u wh=%lld kw=%g", m->cp,
			m->driver, (unsigned)m->u.prog.seq,
			(long long)m->u.prog.wh, m->u.prog.kw);
		break;
	case MSG_SUPPLY_END:
		logline("post supply_end %s %s seq=%u wh=%lld %s", m->cp,
			m->driver, (unsigned)m->u.ticket.seq,
			(long long)m->u.ticket.wh,
			msg_end_name(m->u.ticket.reason));
		break;
	default:
		logline("post %s %s", topic_default_names[t],
			msg_type_name(m->type));
	}
	return 0;
}

static const char *conn_cp(uint32_t ch)
{
	return ch < r.g.n ? r.g.ch[ch].cp.id : "?";
}

static void on_send(void *arg, uint32_t ch, void *conn, const char *frame,
		    size_t len)
{
	(void)arg;
	(void)conn;
	logline("send %s %.*s", conn_cp(ch), (int)len, frame);
}

static void on_ping(void *arg, uint32_t ch, void *conn)
{
	(void)arg;
	(void)conn;
	logline("ping %s", conn_cp(ch));
}

static void on_close(void *arg, uint32_t ch, void *conn, int status,
		     const char *why)
{
	(void)arg;
	(void)conn;
	logline("close %s %d %s", conn_cp(ch), status, why);
}

static void on_keep(void *arg, const struct gw_record *k)
{
	(void)arg;
	if (k->closed)
		logline("keep closed");
	else
		logline("keep tx=%d wh=%lld final=%d", k->tx,
			(long long)k->end.u.ticket.wh, k->final);
}

static void rig(void)
{
	gw_free(&r.g);
	conf_free(&r.c);
	memset(&r, 0, sizeof(r));
	conf_defaults(&r.c);
	r.c.cp.health_ms = 1000;
	r.c.ocpp.heartbeat_s = 60;
	r.c.ocpp.retry_s = 30;
	r.c.ocpp.central_wait_ms = 3000;
	r.c.ocpp.start_timeout_s = 120;
	r.c.ocpp.stop_wait_ms = 2000;
	r.c.ocpp.offline_s = 900;
	r.c.ocpp.call_timeout_ms = 10000;
	r.c.ocpp.ping_s = 0;
	gw_init(&r.g, &r.c, &(struct gw_hooks){
		.post = on_post, .send = on_send, .ping = on_ping,
		.close = on_close,
		.keep = on_keep, .say_min = SAY_DEBUG });
}

static struct now at(long long ms)
{
	return (struct now){ .wall = WALL0 + ms, .mono = MONO0 + ms };
}

static long connect_cp(long long ms, const char *id, int conn)
{
	struct now t = at(ms);

	return gw_connect(&r.g, id, &r.conns[conn], &t);
}

static void disconnect(long long ms, uint32_t ch, int conn)
{
	struct now t = at(ms);

	gw_disconnect(&r.g, ch, &r.conns[conn], &t);
}

static void frame(long long ms, uint32_t ch, int conn, const char *text)
{
	struct now t = at(ms);

	gw_frame(&r.g, ch, &r.conns[conn], text, strlen(text), &t);
}

static void tick(long long ms)
{
	struct now t = at(ms);

	gw_tick(&r.g, &t);
}

static void feed(long long ms, struct msg *m)
{
	struct now t = at(ms);

	gw_feed(&r.g, m, &t);
}

static void ack(long long ms, const char *cp, bool accepted)
{
	struct msg m;

	msg_init_at(&m, MSG_REGISTER_ACK, WALL0 + ms);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	m.u.ack.accepted = accepted;
	m.u.ack.reason = accepted ? DENY_NONE : DENY_UNKNOWN_CP;
	m.u.ack.price = 0.35;
	feed(ms, &m);
}

static void command(long long ms, const char *cp, enum msg_cmd cmd,
		    const char *driver, long long target_wh)
{
	struct msg m;

	msg_init_at(&m, MSG_COMMAND, WALL0 + ms);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	if (cmd == CMD_START || cmd == CMD_END)
		memcpy(m.session, S1, sizeof(m.session));
	if (cmd == CMD_START)
		snprintf(m.driver, sizeof(m.driver), "%s", driver);
	m.u.cmd.cmd = cmd;
	m.u.cmd.price = cmd == CMD_START ? 0.35 : 0;
	m.u.cmd.target_wh = target_wh;
	feed(ms, &m);
}

/* Central's answer to the last auth_request. */
static void decide(long long ms, const char *cp, const char *driver,
		   enum msg_deny why)
{
	struct msg m;

	msg_init_at(&m, MSG_AUTH_RESPONSE, WALL0 + ms);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	snprintf(m.driver, sizeof(m.driver), "%s", driver);
	memcpy(m.u.resp.request, r.req, sizeof(m.u.resp.request));
	m.u.resp.authorized = why == DENY_NONE;
	m.u.resp.reason = why;
	if (!why)
		memcpy(m.session, S1, sizeof(m.session));
	feed(ms, &m);
}

/* Checks that the hooks did exactly the lines given (NULL-ended), then forgets them. */
__attribute__((sentinel))
static void expect(const char *what, ...)
{
	const char *want;
	bool ok = true;
	va_list ap;
	int i = 0;

	va_start(ap, what);
	for (; (want = va_arg(ap, const char *)); i++)
		if (i >= r.nlog || strcmp(r.log[i], want)) {
			printf("#   want: %s\n#   got:  %s\n", want,
			       i < r.nlog ? r.log[i] : "(nothing)");
			ok = false;
		}
	va_end(ap);
	for (; i < r.nlog; i++, ok = false)
		printf("#   more: %s\n", r.log[i]);
	check(ok, "%s", what);
	r.nlog = 0;
}

#define BOOT "[2,\"b1\",\"BootNotification\",{\"chargePointVendor\":\"V\",\"chargePointModel\":\"M\"}]"

/* CP001 connected (number 0, connection 0), booted and accepted at 0. */
static void booted(void)
{
	rig();
	connect_cp(0, "CP001", 0);
	frame(0, 0, 0, BOOT);
	ack(10, "CP001", true);
	r.nlog = 0;
}

/* --- the cases --- */

static void test_boot(void)
{
	uint32_t conns, txs;

	rig();
	check(connect_cp(0, "CP001", 0) == 0, "a charger's connection gets its number");
	frame(0, 0, 0, BOOT);
	expect("a new charger registers when it boots, and its answer waits",
	       "post register CP001 engine_ok=1", NULL);
	ack(10, "CP001", true);
	expect("Central's ack: Accepted, with the heartbeat interval",
	       "send CP001 [3,\"b1\",{\"status\":\"Accepted\",\"currentTime\":\"" T0 ".010Z\",\"interval\":60}]",
	       NULL);
	tick(10);
	check(r.health == 1 && r.engine_ok, "its health goes to Central at once");
	tick(1009);
	check(r.health == 1, "and not again before cp.health_ms");
	tick(1010);
	check(r.health == 2, "but then");
	frame(2000, 0, 0, "[2,\"b2\",\"BootNotification\",{\"chargePointVendor\":\"V\",\"chargePointModel\":\"M\"}]");
	expect("a second boot on the same connection is Accepted at once",
	       "send CP001 [3,\"b2\",{\"status\":\"Accepted\",\"currentTime\":\"2023-11-14T22:13:22.000Z\",\"interval\":60}]",
	       NULL);
	check(r.g.st.boots[GW_BOOT_ACCEPTED] == 2, "each boot Accepted is counted");
	gw_count(&r.g, &conns, &txs);
	check(conns == 1 && txs == 0, "one charger connected, no transaction");
}

static void test_boot_answers(void)
{
	rig();
	connect_cp(0, "CP404", 0);
	frame(0, 0, 0, BOOT);
	r.nlog = 0;
	ack(10, "CP404", false);
	expect("a refusal is Rejected, with the retry interval",
	       "send CP404 [3,\"b1\",{\"status\":\"Rejected\",\"currentTime\":\"" T0 ".010Z\",\"interval\":30}]",
	       NULL);
	frame(100, 0, 0, "[2,\"h1\",\"Heartbeat\",{}]");
	expect("and then every other call is a SecurityError",
	       "send CP404 [4,\"h1\",\"SecurityError\",\"the charge point is not accepted by Central\",{}]",
	       NULL);
	tick(5000);
	check(r.health == 0, "a refused charger has no health");
	check(r.g.st.boots[GW_BOOT_REJECTED] == 1 && r.g.st.boots[GW_BOOT_ACCEPTED] == 0 &&
	      r.g.st.callerrors == 1,
	      "the boot Rejected and the CALLERROR are counted");
	rig();
	connect_cp(0, "CP001", 0);
	frame(0, 0, 0, BOOT);
	r.nlog = 0;
	tick(2999);
	expect("Central silent: the boot waits, the register is sent again",
	       "post register CP001 engine_ok=1", NULL);
	tick(3000);
	expect("then is Pending, with the retry interval",
	       "send CP001 [3,\"b1\",{\"status\":\"Pending\",\"currentTime\":\"2023-11-14T22:13:23.000Z\",\"interval\":30}]",
	       NULL);
	check(r.g.st.boots[GW_BOOT_PENDING] == 1 && r.g.st.callerrors == 0,
	      "the boot Pending is counted");
}

static void test_calls(void)
{
	static const struct {
		const char *in, *out, *what;
	} rows[] = {
		{ "[2,\"h\",\"Heartbeat\",{}]",
		  "[3,\"h\",{\"currentTime\":\"" T0 ".500Z\"}]",
		  "Heartbeat: the time" },
		{ "[2,\"s\",\"StatusNotification\",{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Charging\"}]",
		  "[3,\"s\",{}]", "StatusNotification: an empty answer" },
		{ "[2,\"d\",\"DataTransfer\",{\"vendorId\":\"acme\"}]",
		  "[3,\"d\",{\"status\":\"UnknownVendorId\"}]",
		  "DataTransfer: no vendor known" },
		{ "[2,\"f\",\"FirmwareStatusNotification\",{\"status\":\"Idle\"}]",
		  "[3,\"f\",{}]", "FirmwareStatusNotification: noted" },
		{ "[2,\"m\",\"MeterValues\",{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2023-11-14T22:13:20Z\",\"sampledValue\":[{\"value\":\"5\"}]}]}]",
		  "[3,\"m\",{}]", "MeterValues outside a transaction: answered, nothing sent" },
		{ "[2,\"x\",\"StopTransaction\",{\"meterStop\":5,\"timestamp\":\"2023-11-14T22:13:20Z\",\"transactionId\":77,\"idTag\":\"D1\"}]",
		  "[3,\"x\",{\"idTagInfo\":{\"status\":\"Accepted\"}}]",
		  "StopTransaction of no open transaction: answered, nothing billed" },
		{ "[2,\"a\",\"Authorize\",{\"idTag\":\"bad tag\"}]",
		  "[3,\"a\",{\"idTagInfo\":{\"status\":\"Invalid\"}}]",
		  "Authorize of an idTag that is no driver id: Invalid at once" },
		{ "nonsense",
		  "[4,\"-1\",\"FormationViolation\",\"bad json at byte 8: '[' or '{' expected near 'nonsense'\",{}]",
		  "not JSON: FormationViolation, id -1" },
		{ "[2,\"u\",\"Launch\",{}]",
		  "[4,\"u\",\"NotImplemented\",\"unknown action 'Launch'\",{}]",
		  "an unknown action: NotImplemented" },
		{ "[2,\"r\",\"Reset\",{\"type\":\"Soft\"}]",
		  "[4,\"r\",\"NotSupported\",\"action 'Reset' is not taken here\",{}]",
		  "a 1.6 action not taken: NotSupported" },
		{ "[2,\"p\",\"StatusNotification\",{\"connectorId\":1,\"status\":\"Available\"}]",
		  "[4,\"p\",\"ProtocolError\",\"missing field 'errorCode'\",{}]",
		  "a required field missing: ProtocolError" },
		{ "[2,\"t\",\"Authorize\",{\"idTag\":\"D123456789012345678901\"}]",
		  "[4,\"t\",\"TypeConstraintViolation\",\"'idTag' is longer than 20\",{}]",
		  "an idTag too long: TypeConstraintViolation" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char want[LINE_LEN];

		booted();
		frame(500, 0, 0, rows[i].in);
		snprintf(want, sizeof(want), "send CP001 %s", rows[i].out);
		expect(rows[i].what, want, NULL);
	}
}

static void test_status(void)
{
	booted();
	tick(10);
	frame(100, 0, 0, "[2,\"s1\",\"StatusNotification\",{\"connectorId\":2,\"errorCode\":\"GroundFailure\",\"status\":\"Faulted\"}]");
	tick(100);
	check(!r.engine_ok && r.health == 2,
	      "a Faulted connector: the engine KO, said at once");
	frame(200, 0, 0, "[2,\"s2\",\"StatusNotification\",{\"connectorId\":0,\"errorCode\":\"OtherError\",\"status\":\"Faulted\"}]");
	frame(300, 0, 0, "[2,\"s3\",\"StatusNotification\",{\"connectorId\":2,\"errorCode\":\"NoError\",\"status\":\"Available\"}]");
	tick(300);
	check(!r.engine_ok, "KO while any connector is Faulted");
	frame(400, 0, 0, "[2,\"s4\",\"StatusNotification\",{\"connectorId\":0,\"errorCode\":\"NoError\",\"status\":\"Available\"}]");
	tick(400);
	check(r.engine_ok, "OK again when none is");
}

#define START_TX(id, tag, meter) \
	"[2,\"" id "\",\"StartTransaction\",{\"connectorId\":1,\"idTag\":\"" tag "\",\"meterStart\":" meter ",\"timestamp\":\"2023-11-14T22:13:20Z\"}]"
#define METER(id, tx, wh, w) \
	"[2,\"" id "\",\"MeterValues\",{\"connectorId\":1,\"transactionId\":" tx ",\"meterValue\":[{\"timestamp\":\"2023-11-14T22:13:20Z\",\"sampledValue\":[{\"value\":\"" wh "\"},{\"value\":\"" w "\",\"measurand\":\"Power.Active.Import\"}]}]}]"
#define STOP_TX(id, tx, meter, reason) \
	"[2,\"" id "\",\"StopTransaction\",{\"meterStop\":" meter ",\"timestamp\":\"2023-11-14T22:13:20Z\",\"transactionId\":" tx ",\"reason\":\"" reason "\"}]"

/* CP001 with transaction 1 open for D1 at meter 10000, started at 1000. */
static void charging(void)
{
	booted();
	command(1000, "CP001", CMD_START, "D1", 0);
	frame(1100, 0, 0, "[3,\"gw1\",{\"status\":\"Accepted\"}]");
	frame(1200, 0, 0, START_TX("st", "D1", "10000"));
	r.nlog = 0;
}

static void test_remote_start(void)
{
	uint32_t conns, txs;

	booted();
	command(1000, "CP001", CMD_START, "D1", 0);
	expect("Central's start: RemoteStartTransaction for the driver",
	       "send CP001 [2,\"gw1\",\"RemoteStartTransaction\",{\"idTag\":\"D1\"}]",
	       NULL);
	frame(1100, 0, 0, "[3,\"gw1\",{\"status\":\"Accepted\"}]");
	expect("accepted: telemetry of nothing yet tells the driver it began",
	       "post telemetry CP001 D1 seq=0 wh=0 kw=0",
	       "keep tx=0 wh=0 final=0", NULL);
	frame(1200, 0, 0, START_TX("st", "D2", "10000"));
	expect("a StartTransaction for another driver: Blocked, a fresh id",
	       "send CP001 [3,\"st\",{\"transactionId\":1,\"idTagInfo\":{\"status\":\"Blocked\"}}]",
	       NULL);
	frame(1300, 0, 0, START_TX("st", "D1", "10000"));
	expect("the granted driver's: Accepted with its transaction id",
	       "send CP001 [3,\"st\",{\"transactionId\":2,\"idTagInfo\":{\"status\":\"Accepted\"}}]",
	       "post telemetry CP001 D1 seq=1 wh=0 kw=0",
	       "keep tx=2 wh=0 final=0", NULL);
	frame(1400, 0, 0, START_TX("st2", "D1", "10000"));
	expect("the same StartTransaction again (an answer lost): the same id",
	       "send CP001 [3,\"st2\",{\"transactionId\":2,\"idTagInfo\":{\"status\":\"Accepted\"}}]",
	       NULL);
	gw_count(&r.g, &conns, &txs);
	check(conns == 1 && txs == 1, "one transaction in progress is counted");
	frame(2000, 0, 0, METER("m1", "2", "10500", "11000"));
	expect("MeterValues: telemetry of the energy since meterStart",
	       "post telemetry CP001 D1 seq=2 wh=500 kw=11",
	       "keep tx=2 wh=500 final=0",
	       "send CP001 [3,\"m1\",{}]", NULL);
	frame(2500, 0, 0, METER("m2", "2", "10400", "11000"));
	expect("a reading going back is refused",
	       "send CP001 [3,\"m2\",{}]", NULL);
	frame(3000, 0, 0, STOP_TX("sp", "2", "11834", "EVDisconnected"));
	expect("StopTransaction: the supply_end of meterStop - meterStart",
	       "keep tx=2 wh=1834 final=1",
	       "post supply_end CP001 D1 seq=3 wh=1834 unplugged",
	       "keep closed", "send CP001 [3,\"sp\",{}]", NULL);
	gw_count(&r.g, &conns, &txs);
	check(conns == 1 && txs == 0, "and none once it stopped");
}

static void test_remote_start_fails(void)
{
	booted();
	command(1000, "CP001", CMD_START, "D1", 0);
	r.nlog = 0;
	frame(1100, 0, 0, "[3,\"gw1\",{\"status\":\"Rejected\"}]");
	expect("a start the charger rejects ends with nothing (cancelled)",
	       "keep tx=0 wh=0 final=1",
	       "post supply_end CP001 D1 seq=0 wh=0 cancelled",
	       "keep closed", NULL);
	booted();
	command(1000, "CP001", CMD_START, "D1", 0);
	r.nlog = 0;
	frame(1100, 0, 0, "[4,\"gw1\",\"InternalError\",\"oops\",{}]");
	expect("a CALLERROR too", "keep tx=0 wh=0 final=1",
	       "post supply_end CP001 D1 seq=0 wh=0 cancelled",
	       "keep closed", NULL);
	booted();
	command(1000, "CP001", CMD_START, "D1", 0);
	r.nlog = 0;
	tick(10999);
	expect("no answer yet", NULL);
	tick(11000);
	expect("no answer in ocpp.call_timeout_ms too",
	       "keep tx=0 wh=0 final=1",
	       "post supply_end CP001 D1 seq=0 wh=0 cancelled",
	       "keep closed", NULL);
	booted();
	command(1000, "CP001", CMD_START, "D1", 0);
	frame(1100, 0, 0, "[3,\"gw1\",{\"status\":\"Accepted\"}]");
	r.nlog = 0;
	tick(121099);
	expect("accepted: StartTransaction is awaited ocpp.start_timeout_s", NULL);
	tick(121100);
	expect("then the session ends with nothing",
	       "keep tx=0 wh=0 final=1",
	       "post supply_end CP001 D1 seq=1 wh=0 cancelled",
	       "keep closed", NULL);
}

/* Central's decisions, as idTagInfo: each reason has its status. */
static void test_authorize(void)
{
	static const struct {
		enum msg_deny why;
		const char *status;
	} rows[] = {
		{ DENY_NONE, "Accepted" }, { DENY_UNKNOWN_CP, "Invalid" },
		{ DENY_BUSY, "Blocked" }, { DENY_OUT_OF_ORDER, "Blocked" },
		{ DENY_BROKEN, "Blocked" }, { DENY_DISCONNECTED, "Blocked" },
		{ DENY_DRIVER_BUSY, "ConcurrentTx" }, { DENY_EXPIRED, "Expired" },
		{ DENY_BAD_REQUEST, "Invalid" },
	};
	char want[LINE_LEN];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		booted();
		frame(100, 0, 0, "[2,\"a1\",\"Authorize\",{\"idTag\":\"D1\"}]");
		expect("Authorize: an auth_request for the idTag at the CP",
		       "post auth_request CP001 D1", NULL);
		decide(200, "CP001", "D1", rows[i].why);
		snprintf(want, sizeof(want),
			 "send CP001 [3,\"a1\",{\"idTagInfo\":{\"status\":\"%s\"}}]",
			 rows[i].status);
		expect(rows[i].why ? msg_deny_text(rows[i].why) : "authorised",
		       want, NULL);
		check(!strcmp(gw_tag_status(rows[i].why), rows[i].status),
		      "%s is %s", msg_deny_name(rows[i].why), rows[i].status);
	}
	booted();
	frame(100, 0, 0, "[2,\"a1\",\"Authorize\",{\"idTag\":\"D1\"}]");
	r.nlog = 0;
	tick(3100);
	expect("Central silent: Invalid after ocpp.central_wait_ms",
	       "send CP001 [3,\"a1\",{\"idTagInfo\":{\"status\":\"Invalid\"}}]",
	       NULL);
}

/* Authorize, Central's grant, then the charger's own StartTransaction. */
static void test_local_start(void)
{
	booted();
	frame(100, 0, 0, "[2,\"a1\",\"Authorize\",{\"idTag\":\"D1\"}]");
	decide(200, "CP001", "D1", DENY_NONE);
	command(210, "CP001", CMD_START, "D1", 0);
	r.nlog = 0;
	command(210, "CP001", CMD_START, "D1", 0);
	expect("the start of a driver the charger authorised: no RemoteStart",
	       NULL);
	frame(300, 0, 0, START_TX("st", "D1", "500"));
	expect("its StartTransaction opens the transaction",
	       "send CP001 [3,\"st\",{\"transactionId\":1,\"idTagInfo\":{\"status\":\"Accepted\"}}]",
	       "post telemetry CP001 D1 seq=0 wh=0 kw=0",
	       "keep tx=1 wh=0 final=0", NULL);
	booted();
	frame(100, 0, 0, START_TX("st", "D1", "500"));
	expect("a StartTransaction with no grant asks Central first",
	       "post auth_request CP001 D1", NULL);
	command(150, "CP001", CMD_START, "D1", 0);
	expect("the start command opens it, whichever comes first",
	       "send CP001 [3,\"st\",{\"transactionId\":1,\"idTagInfo\":{\"status\":\"Accepted\"}}]",
	       "post telemetry CP001 D1 seq=0 wh=0 kw=0",
	       "keep tx=1 wh=0 final=0", NULL);
	decide(160, "CP001", "D1", DENY_NONE);
	expect("and the grant that follows changes nothing", NULL);
	booted();
	frame(100, 0, 0, START_TX("st", "D1", "500"));
	r.nlog = 0;
	decide(150, "CP001", "D1", DENY_DRIVER_BUSY);
	expect("a denial: its status, and a transaction id all the same",
	       "send CP001 [3,\"st\",{\"transactionId\":1,\"idTagInfo\":{\"status\":\"ConcurrentTx\"}}]",
	       NULL);
}

static void test_central_stop(void)
{
	charging();
	frame(2000, 0, 0, METER("m1", "1", "10600", "11000"));
	r.nlog = 0;
	command(2500, "CP001", CMD_STOP, NULL, 0);
	expect("Central's stop: Inoperative, and the transaction stopped",
	       "send CP001 [2,\"gw2\",\"ChangeAvailability\",{\"connectorId\":0,\"type\":\"Inoperative\"}]",
	       NULL);
	frame(2600, 0, 0, "[3,\"gw2\",{\"status\":\"Accepted\"}]");
	expect("the next call goes once the first is answered",
	       "send CP001 [2,\"gw3\",\"RemoteStopTransaction\",{\"transactionId\":1}]",
	       NULL);
	frame(2700, 0, 0, "[3,\"gw3\",{\"status\":\"Accepted\"}]");
	frame(2800, 0, 0, STOP_TX("sp", "1", "10700", "Remote"));
	expect("StopTransaction ends it with its figure, for Central's reason",
	       "keep tx=1 wh=700 final=1",
	       "post supply_end CP001 D1 seq=3 wh=700 stopped",
	       "keep closed", "send CP001 [3,\"sp\",{}]", NULL);
	command(3000, "CP001", CMD_RESUME, NULL, 0);
	expect("resume: Operative",
	       "send CP001 [2,\"gw4\",\"ChangeAvailability\",{\"connectorId\":0,\"type\":\"Operative\"}]",
	       NULL);
}

static void test_end_and_waits(void)
{
	charging();
	frame(2000, 0, 0, METER("m1", "1", "10600", "11000"));
	r.nlog = 0;
	command(2500, "CP001", CMD_END, NULL, 0);
	expect("the driver's stop: RemoteStopTransaction",
	       "send CP001 [2,\"gw2\",\"RemoteStopTransaction\",{\"transactionId\":1}]",
	       NULL);
	tick(4499);
	expect("StopTransaction is awaited ocpp.stop_wait_ms", NULL);
	tick(4500);
	expect("then the supply ends on the last reading (cancelled)",
	       "keep tx=1 wh=600 final=1",
	       "post supply_end CP001 D1 seq=3 wh=600 cancelled",
	       "keep closed", NULL);
	frame(5000, 0, 0, STOP_TX("sp", "1", "10700", "Remote"));
	expect("a StopTransaction after that is answered, nothing billed",
	       "send CP001 [3,\"sp\",{}]", NULL);
	booted();
	command(1000, "CP001", CMD_START, "D1", 1000);
	frame(1100, 0, 0, "[3,\"gw1\",{\"status\":\"Accepted\"}]");
	frame(1200, 0, 0, START_TX("st", "D1", "0"));
	r.nlog = 0;
	frame(2000, 0, 0, METER("m1", "1", "1000", "11000"));
	expect("the target reached: the transaction is stopped",
	       "post telemetry CP001 D1 seq=2 wh=1000 kw=11",
	       "keep tx=1 wh=1000 final=0",
	       "send CP001 [2,\"gw2\",\"RemoteStopTransaction\",{\"transactionId\":1}]",
	       "send CP001 [3,\"m1\",{}]", NULL);
	frame(2100, 0, 0, "[3,\"gw2\",{\"status\":\"Accepted\"}]");
	frame(2200, 0, 0, STOP_TX("sp", "1", "1010", "Remote"));
	expect("and ends as finished",
	       "keep tx=1 wh=1010 final=1",
	       "post supply_end CP001 D1 seq=3 wh=1010 finished",
	       "keep closed", "send CP001 [3,\"sp\",{}]", NULL);
}

static void test_offline(void)
{
	int before;

	charging();
	frame(2000, 0, 0, METER("m1", "1", "10300", "11000"));
	tick(2000);
	disconnect(2500, 0, 0);
	before = r.health;
	tick(3500);
	tick(4500);
	check(r.health == before + 2,
	      "gone mid-transaction: its health goes on (awaited)");
	r.nlog = 0;
	check(connect_cp(60000, "CP001", 1) == 0, "back, on a new connection");
	frame(60100, 0, 1, METER("q1", "1", "10900", "11000"));
	frame(60200, 0, 1, STOP_TX("q2", "1", "11500", "EVDisconnected"));
	expect("what it queued offline is billed exactly",
	       "post telemetry CP001 D1 seq=3 wh=900 kw=11",
	       "keep tx=1 wh=900 final=0",
	       "send CP001 [3,\"q1\",{}]",
	       "keep tx=1 wh=1500 final=1",
	       "post supply_end CP001 D1 seq=4 wh=1500 unplugged",
	       "keep closed", "send CP001 [3,\"q2\",{}]", NULL);
	charging();
	disconnect(2000, 0, 0);
	r.nlog = 0;
	tick(901999);
	expect("not back: awaited ocpp.offline_s", NULL);
	tick(902000);
	expect("then the supply ends on the last reading (disconnected)",
	       "keep tx=1 wh=0 final=1",
	       "post supply_end CP001 D1 seq=2 wh=0 disconnected",
	       "keep closed", NULL);
	before = r.health;
	tick(910000);
	check(r.health == before, "and its health stops");
	booted();
	disconnect(1000, 0, 0);
	before = r.health;
	tick(5000);
	check(r.health == before, "an idle charger gone: no health, DISCONNECTED");
}

static void test_connections(void)
{
	booted();
	check(connect_cp(100, "CP001", 1) == 0, "a second connection takes over");
	expect("the first is closed",
	       "close CP001 1001 replaced by a new connection", NULL);
	frame(200, 0, 0, "[2,\"h\",\"Heartbeat\",{}]");
	expect("and what it still sends is ignored", NULL);
	disconnect(300, 0, 0);
	frame(400, 0, 1, "[2,\"h\",\"Heartbeat\",{}]");
	expect("its end does not touch the new one",
	       "send CP001 [3,\"h\",{\"currentTime\":\"" T0 ".400Z\"}]", NULL);
	frame(500, 0, 1, "[2,\"b3\",\"BootNotification\",{\"chargePointVendor\":\"V\",\"chargePointModel\":\"M\"}]");
	expect("a boot on a new connection of a registered charger registers it again",
	       "post register CP001 engine_ok=1", NULL);
	booted();
	for (int i = 0; i < 200; i++)
		frame(1000, 0, 0, "[2,\"h\",\"Heartbeat\",{}]");
	r.nlog = 0;
	frame(1000, 0, 0, "[2,\"h\",\"Heartbeat\",{}]");
	expect("more than 200 messages at once: the connection is closed",
	       "close CP001 1008 too many messages", NULL);
	check(r.g.st.floods == 1, "and counted");
	connect_cp(2000, "CP001", 1);
	for (int i = 0; i < 300; i++)
		frame(2000 + i * 50, 0, 1, "[2,\"h\",\"Heartbeat\",{}]");
	check(r.g.st.floods == 1, "20 a second can go on for ever");
}

/* Central's commands for a charger this gateway does not hold. */
static void test_not_mine(void)
{
	booted();
	command(1000, "CP002", CMD_START, "D1", 0);
	ack(1000, "CP002", true);
	expect("are ignored", NULL);
	check(r.g.st.ignored == 2, "and counted");
	disconnect(1500, 0, 0);
	command(2000, "CP001", CMD_START, "D1", 0);
	expect("so are those of a charger gone idle (another gateway may hold it)",
	       NULL);
}

static void test_restore(void)
{
	struct gw_record k = { .tx = 7, .connector = 1, .meter_start = 10000,
			       .limit_ms = -1 };
	struct now t = at(0);

	rig();
	msg_init_at(&k.end, MSG_SUPPLY_END, WALL0 - 5000);
	strcpy(k.end.cp, "CP001");
	strcpy(k.end.driver, "D1");
	strcpy(k.end.session, S1);
	k.end.u.ticket = (struct msg_ticket){ .seq = 4, .wh = 300, .cents = 11,
		.price = 0.35, .started = WALL0 - 60000,
		.ended = WALL0 - 5000, .reason = END_BROKEN };
	check(gw_restore(&r.g, &k, &t) == 0 && r.g.next_tx == 8,
	      "a journal's open transaction is taken back; ids go on after it");
	tick(0);
	check(r.health == 1, "its charger is awaited: its health goes to Central");
	check(connect_cp(1000, "CP001", 0) == 0, "it reconnects");
	frame(1100, 0, 0, METER("m", "7", "10450", "7000"));
	expect("and its transaction goes on where it was",
	       "post telemetry CP001 D1 seq=4 wh=450 kw=7",
	       "keep tx=7 wh=450 final=0",
	       "send CP001 [3,\"m\",{}]", NULL);
	rig();
	k.final = true;
	check(gw_restore(&r.g, &k, &t) == 0, "a last word not known delivered");
	expect("is sent again", "keep tx=0 wh=300 final=1",
	       "post supply_end CP001 D1 seq=4 wh=300 broken", "keep closed",
	       NULL);
	k.end.type = MSG_TELEMETRY;
	check(gw_restore(&r.g, &k, &t) == -1, "anything else is refused");
}

static void pong(long long ms, uint32_t ch, int conn)
{
	struct now t = at(ms);

	gw_pong(&r.g, ch, &r.conns[conn], &t);
}

static void test_pings(void)
{
	int before;

	rig();
	r.c.ocpp.ping_s = 30;
	connect_cp(0, "CP001", 0);
	frame(0, 0, 0, BOOT);
	ack(10, "CP001", true);
	r.nlog = 0;
	tick(29999);
	expect("a connection heard from is not pinged", NULL);
	tick(30000);
	expect("idle ocpp.ping_s: a ping", "ping CP001", NULL);
	pong(30100, 0, 0);
	tick(60099);
	expect("its pong counts as heard", NULL);
	tick(60100);
	expect("idle again: another ping", "ping CP001", NULL);
	frame(70000, 0, 0, "[2,\"h\",\"Heartbeat\",{}]");
	r.nlog = 0;
	tick(99999);
	expect("a frame counts as heard too", NULL);
	tick(100000);
	expect("a ping", "ping CP001", NULL);
	tick(129999);
	expect("no answer yet", NULL);
	tick(130000);
	expect("silent twice ocpp.ping_s since it was heard: closed",
	       "close CP001 1001 silent", NULL);
	before = r.health;
	tick(140000);
	check(r.health == before, "and its health stops");
}

int main(void)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_boot();
	test_boot_answers();
	test_calls();
	test_status();
	test_remote_start();
	test_remote_start_fails();
	test_authorize();
	test_local_start();
	test_central_stop();
	test_end_and_waits();
	test_offline();
	test_connections();
	test_not_mine();
	test_restore();
	test_pings();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	gw_free(&r.g);
	conf_free(&r.c);
	printf("# %d cases in %ld us\n", check_passed + check_failed,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000000 +
		      (t1.tv_nsec - t0.tv_nsec) / 1000));
	return check_done();
}
