/* ocpp_test.c: unit tests of lib/ocppj.c and lib/ocpp16.c: OCPP-J frames and 1.6 payloads, good and bad, and what a meter's values read as. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/ocpp16.h"
#include "lib/ocppj.h"
#include "test/unit/check.h"

static void decode(const char *s, struct ocppj_frame *f)
{
	char err[256];

	ocppj_decode(s, strlen(s), f, err, sizeof(err));
}

/* Frames as a charger may send them, and what the decoder makes of them. */
static void test_frames(void)
{
	static const struct {
		const char *frame;
		enum ocppj_error code;
		int type;		/* what was read of it */
		const char *id, *err;	/* err: its beginning */
	} rows[] = {
		{ "[2,\"19223201\",\"BootNotification\",{\"a\":1}]", OCPPJ_OK,
		  OCPPJ_CALL, "19223201", "" },
		{ "[3,\"x\",{}]", OCPPJ_OK, OCPPJ_RESULT, "x", "" },
		{ "[4,\"x\",\"NotImplemented\",\"no\",{}]", OCPPJ_OK,
		  OCPPJ_ERROR, "x", "" },
		{ " [2, \"a\", \"Heartbeat\", {}] ", OCPPJ_OK, OCPPJ_CALL, "a", "" },
		{ "hello", OCPPJ_FORMATION, 0, "", "bad json" },
		{ "[2,\"a\",\"Heartbeat\",{}] x", OCPPJ_FORMATION, 0, "",
		  "bad json" },
		{ "[2,\"a\",\"Heartbeat\",{\"k\":1,\"k\":2}]", OCPPJ_FORMATION,
		  0, "", "bad json" },
		{ "{\"a\":1}", OCPPJ_PROTOCOL, 0, "", "not a JSON array" },
		{ "[2,\"a\"]", OCPPJ_PROTOCOL, 0, "", "missing elements" },
		{ "[5,\"a\",\"Heartbeat\",{}]", OCPPJ_PROTOCOL, 0, "",
		  "bad message type" },
		{ "[2.0,\"a\",\"Heartbeat\",{}]", OCPPJ_PROTOCOL, 0, "",
		  "bad message type" },
		{ "[2,7,\"Heartbeat\",{}]", OCPPJ_PROTOCOL, OCPPJ_CALL, "",
		  "bad unique id" },
		{ "[2,\"\",\"Heartbeat\",{}]", OCPPJ_PROTOCOL, OCPPJ_CALL, "",
		  "bad unique id" },
		{ "[2,\"0123456789012345678901234567890123456\",\"Heartbeat\",{}]",
		  OCPPJ_PROTOCOL, OCPPJ_CALL, "", "bad unique id" },
		{ "[2,\"a\",\"Heartbeat\",{},1]", OCPPJ_PROTOCOL, OCPPJ_CALL, "a",
		  "a CALL has 4 elements" },
		{ "[2,\"a\",\"Heart beat\",{}]", OCPPJ_PROTOCOL, OCPPJ_CALL, "a",
		  "bad action" },
		{ "[2,\"a\",\"Heartbeat\",[]]", OCPPJ_FORMATION, OCPPJ_CALL, "a",
		  "the payload is not an object" },
		{ "[3,\"a\",\"x\"]", OCPPJ_FORMATION, OCPPJ_RESULT, "a",
		  "the payload is not an object" },
		{ "[4,\"a\",\"X\",\"y\"]", OCPPJ_PROTOCOL, OCPPJ_ERROR, "a",
		  "a CALLERROR has 5 elements" },
		{ "[2,\"a\\u0000b\",\"Heartbeat\",{}]", OCPPJ_FORMATION, 0, "",
		  "bad json" },
		{ "[2,\"\xff\",\"Heartbeat\",{}]", OCPPJ_FORMATION, 0, "",
		  "bad json" },
	};
	struct ocppj_frame f;
	enum ocppj_error r;
	char err[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		r = ocppj_decode(rows[i].frame, strlen(rows[i].frame), &f, err,
				 sizeof(err));
		if (!check(r == rows[i].code && (int)f.type == rows[i].type &&
			   !strcmp(f.id, rows[i].id) &&
			   !strncmp(err, rows[i].err, strlen(rows[i].err)),
			   "frame %s: %s", rows[i].frame,
			   r ? ocppj_error_name(rows[i].code) : "read"))
			printf("#   got %s, type %d, id '%s', '%s'\n",
			       ocppj_error_name(r), f.type, f.id, err);
		ocppj_free(&f);
	}
	decode("[4,\"a\",\"Gibberish\",\"why\",{}]", &f);
	check(f.code == OCPPJ_GENERIC && !strcmp(f.text, "why"),
	      "a CALLERROR with an unknown code is a GenericError");
	ocppj_free(&f);
	decode("[2,\"a\",\"Authorize\",{\"idTag\":\"D1\"}]", &f);
	check(!strcmp(f.action, "Authorize") &&
	      !strcmp(ocpp16_str(f.payload, "idTag"), "D1"),
	      "a CALL keeps its action and payload");
	ocppj_free(&f);
}

static void test_encode(void)
{
	json_t *p = json_pack("{s:s}", "status", "Accepted");
	char buf[128];
	int n;

	n = ocppj_result(buf, sizeof(buf), "u\"1", p);
	check(n > 0 && !strcmp(buf, "[3,\"u\\\"1\",{\"status\":\"Accepted\"}]"),
	      "a CALLRESULT is compact, its id escaped");
	n = ocppj_call(buf, sizeof(buf), "g1", "RemoteStopTransaction", p);
	check(n > 0 && !strcmp(buf, "[2,\"g1\",\"RemoteStopTransaction\",{\"status\":\"Accepted\"}]"),
	      "a CALL names its action");
	n = ocppj_error(buf, sizeof(buf), "-1", OCPPJ_FORMATION, "bad json");
	check(n > 0 && !strcmp(buf, "[4,\"-1\",\"FormationViolation\",\"bad json\",{}]"),
	      "a CALLERROR has its code, text and empty details");
	check(ocppj_result(buf, 10, "u1", p) == -1,
	      "a frame that does not fit is -1");
	check(ocppj_error(buf, sizeof(buf), "\xff", OCPPJ_GENERIC, "x") == -1,
	      "an id that is not UTF-8 is -1");
	json_decref(p);
}

/* Payloads for actions, against the schemas of 1.6. */
static void test_payloads(void)
{
	static const struct {
		enum ocpp16_action a;
		bool conf;
		const char *json;
		enum ocppj_error code;
		const char *err;
	} rows[] = {
		{ A_HEARTBEAT, false, "{}", OCPPJ_OK, "" },
		{ A_HEARTBEAT, false, "{\"x\":1}", OCPPJ_FORMATION,
		  "unknown field 'x'" },
		{ A_BOOT_NOTIFICATION, false,
		  "{\"chargePointVendor\":\"V\",\"chargePointModel\":\"M\"}",
		  OCPPJ_OK, "" },
		{ A_BOOT_NOTIFICATION, false, "{\"chargePointVendor\":\"V\"}",
		  OCPPJ_PROTOCOL, "missing field 'chargePointModel'" },
		{ A_BOOT_NOTIFICATION, false,
		  "{\"chargePointVendor\":\"V\",\"chargePointModel\":3}",
		  OCPPJ_TYPE, "'chargePointModel' must be a string" },
		{ A_BOOT_NOTIFICATION, false,
		  "{\"chargePointVendor\":\"123456789012345678901\",\"chargePointModel\":\"M\"}",
		  OCPPJ_TYPE, "'chargePointVendor' is longer than 20" },
		{ A_BOOT_NOTIFICATION, false,
		  "{\"chargePointVendor\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"chargePointModel\":\"M\"}",
		  OCPPJ_OK, "" },
		{ A_AUTHORIZE, false, "{\"idTag\":\"D1\"}", OCPPJ_OK, "" },
		{ A_AUTHORIZE, false, "{\"idTag\":null}", OCPPJ_TYPE,
		  "'idTag' must be a string" },
		{ A_STATUS_NOTIFICATION, false,
		  "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Faulted\"}",
		  OCPPJ_OK, "" },
		{ A_STATUS_NOTIFICATION, false,
		  "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Broken\"}",
		  OCPPJ_PROPERTY, "bad value for 'status'" },
		{ A_STATUS_NOTIFICATION, false,
		  "{\"connectorId\":-1,\"errorCode\":\"NoError\",\"status\":\"Available\"}",
		  OCPPJ_PROPERTY, "'connectorId' out of range" },
		{ A_STATUS_NOTIFICATION, false,
		  "{\"connectorId\":1.0,\"errorCode\":\"NoError\",\"status\":\"Available\"}",
		  OCPPJ_TYPE, "'connectorId' must be an integer" },
		{ A_START_TRANSACTION, false,
		  "{\"connectorId\":1,\"idTag\":\"D1\",\"meterStart\":0,\"timestamp\":\"2026-11-28T12:00:00Z\"}",
		  OCPPJ_OK, "" },
		{ A_START_TRANSACTION, false,
		  "{\"connectorId\":0,\"idTag\":\"D1\",\"meterStart\":0,\"timestamp\":\"2026-11-28T12:00:00Z\"}",
		  OCPPJ_PROPERTY, "'connectorId' out of range" },
		{ A_START_TRANSACTION, false,
		  "{\"connectorId\":1,\"idTag\":\"D1\",\"meterStart\":0,\"timestamp\":\"yesterday\"}",
		  OCPPJ_PROPERTY, "'timestamp' is not a date-time" },
		{ A_METER_VALUES, false,
		  "{\"connectorId\":1,\"transactionId\":5,\"meterValue\":[{\"timestamp\":\"2026-11-28T12:00:00Z\",\"sampledValue\":[{\"value\":\"10\"}]}]}",
		  OCPPJ_OK, "" },
		{ A_METER_VALUES, false, "{\"connectorId\":1,\"meterValue\":[]}",
		  OCPPJ_OCCURENCE, "'meterValue' needs at least 1 element" },
		{ A_METER_VALUES, false,
		  "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2026-11-28T12:00:00Z\",\"sampledValue\":[{\"value\":\"10\",\"unit\":\"J\"}]}]}",
		  OCPPJ_PROPERTY, "bad value for 'meterValue[0].sampledValue[0].unit'" },
		{ A_METER_VALUES, false,
		  "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2026-11-28T12:00:00Z\",\"sampledValue\":[{\"value\":\"1\"},{}]}]}",
		  OCPPJ_PROTOCOL, "missing field 'meterValue[0].sampledValue[1].value'" },
		{ A_METER_VALUES, false,
		  "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2026-11-28T12:00:00Z\",\"sampledValue\":[7]}]}",
		  OCPPJ_TYPE, "'meterValue[0].sampledValue[0]' must be an object" },
		{ A_METER_VALUES, false,
		  "{\"connectorId\":1,\"meterValue\":[{\"timestamp\":\"2026-11-28T12:00:00Z\",\"sampledValue\":[{\"value\":\"1\",\"colour\":\"red\"}]}]}",
		  OCPPJ_FORMATION, "unknown field 'meterValue[0].sampledValue[0].colour'" },
		{ A_STOP_TRANSACTION, false,
		  "{\"meterStop\":1200,\"timestamp\":\"2026-11-28T12:00:00+01:00\",\"transactionId\":5,\"reason\":\"EVDisconnected\"}",
		  OCPPJ_OK, "" },
		{ A_STOP_TRANSACTION, false,
		  "{\"meterStop\":1200,\"timestamp\":\"2026-11-28T12:00:00Z\",\"transactionId\":9999999999}",
		  OCPPJ_PROPERTY, "'transactionId' out of range" },
		{ A_REMOTE_START, true, "{\"status\":\"Accepted\"}", OCPPJ_OK, "" },
		{ A_REMOTE_START, true, "{\"status\":\"Maybe\"}", OCPPJ_PROPERTY,
		  "bad value for 'status'" },
		{ A_CHANGE_AVAILABILITY, true, "{\"status\":\"Scheduled\"}",
		  OCPPJ_OK, "" },
		{ A_REMOTE_START, false, "{\"idTag\":\"D1\"}", OCPPJ_NOT_SUPPORTED,
		  "no schema" },
	};
	char err[256];
	enum ocppj_error r;
	json_t *p;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		p = json_loads(rows[i].json, 0, NULL);
		r = ocpp16_check(rows[i].a, rows[i].conf, p, err, sizeof(err));
		if (!check(r == rows[i].code && !strcmp(err, rows[i].err),
			   "%s%s %s: %s", ocpp16_action_name(rows[i].a),
			   rows[i].conf ? ".conf" : "", rows[i].json,
			   r ? ocppj_error_name(rows[i].code) : "good"))
			printf("#   got %s '%s'\n", ocppj_error_name(r), err);
		json_decref(p);
	}
}

static void test_actions(void)
{
	check(ocpp16_action_parse("MeterValues") == A_METER_VALUES &&
	      ocpp16_action_parse("Heartbeat") == A_HEARTBEAT,
	      "a charger's actions are known by name");
	check(ocpp16_action_parse("RemoteStartTransaction") == -2 &&
	      ocpp16_action_parse("Reset") == -2 &&
	      ocpp16_action_parse("SignCertificate") == -2,
	      "1.6's actions the gateway does not take are -2 (NotSupported)");
	check(ocpp16_action_parse("Launch") == -1 &&
	      ocpp16_action_parse("heartbeat") == -1,
	      "anything else is -1 (NotImplemented), case counting");
}

/* What MeterValues say, as sampled values. */
static void test_readings(void)
{
	static const struct {
		const char *values;	/* the sampledValue array */
		int has_wh;
		long long wh;
		int has_w;
		double w;
		int skipped;
		const char *what;
	} rows[] = {
		{ "[{\"value\":\"1234\"}]", 1, 1234, 0, 0, 0,
		  "a bare value is the energy register in Wh" },
		{ "[{\"value\":\"1.2345\",\"unit\":\"kWh\",\"measurand\":\"Energy.Active.Import.Register\"}]",
		  1, 1235, 0, 0, 0, "kWh are converted, rounded to the Wh" },
		{ "[{\"value\":\"7.4\",\"unit\":\"kW\",\"measurand\":\"Power.Active.Import\"},{\"value\":\"50\",\"unit\":\"Wh\"}]",
		  1, 50, 1, 7400, 0, "power in kW, energy in Wh, side by side" },
		{ "[{\"value\":\"11000\",\"measurand\":\"Power.Active.Import\"}]",
		  0, 0, 1, 11000, 0, "power alone, in W by default" },
		{ "[{\"value\":\"100\",\"phase\":\"L1\"},{\"value\":\"80\",\"measurand\":\"SoC\",\"unit\":\"Percent\"}]",
		  0, 0, 0, 0, 0, "a phase's value and other measurands are not the supply's" },
		{ "[{\"value\":\"100\",\"location\":\"EV\"},{\"value\":\"90\",\"location\":\"Outlet\"}]",
		  1, 90, 0, 0, 0, "the EV's own meter is not the charger's" },
		{ "[{\"value\":\"-5\"},{\"value\":\"1e3\"},{\"value\":\"0x10\"},{\"value\":\"12.\"}]",
		  1, 1000, 0, 0, 3, "only decimals count; the others are skipped" },
		{ "[{\"value\":\"100\",\"format\":\"SignedData\"}]", 0, 0, 0, 0, 1,
		  "signed data cannot be read" },
		{ "[{\"value\":\"100\",\"unit\":\"varh\"}]", 0, 0, 0, 0, 1,
		  "an energy in another unit is skipped" },
	};
	struct ocpp16_reading r;
	char json[512];
	json_t *mv;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(json, sizeof(json), "[{\"timestamp\":\"2026-11-28T12:00:00Z\",\"sampledValue\":%s}]",
			 rows[i].values);
		mv = json_loads(json, 0, NULL);
		ocpp16_reading(mv, &r);
		check(r.has_wh == rows[i].has_wh && r.wh == rows[i].wh &&
		      r.has_w == rows[i].has_w && fabs(r.w - rows[i].w) < 1e-6 &&
		      r.skipped == rows[i].skipped, "%s", rows[i].what);
		json_decref(mv);
	}
	mv = json_loads("[{\"timestamp\":\"2026-11-28T12:00:00Z\",\"sampledValue\":[{\"value\":\"10\"}]},{\"timestamp\":\"2026-11-28T12:00:01Z\",\"sampledValue\":[{\"value\":\"20\"}]}]",
			0, NULL);
	ocpp16_reading(mv, &r);
	check(r.wh == 20, "of several meter values, the last counts");
	json_decref(mv);
}

static void test_times(void)
{
	static const struct {
		const char *s;
		int ok;
		long long ms;
	} rows[] = {
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2026-11-28T12:00:00.123Z", 0, 1795867200123LL },
		{ "2026-11-28T13:00:00.123456+01:00", 0, 1795867200123LL },
		{ "2026-11-28t11:30:00.1-00:30", 0, 1795867200100LL },
		{ "2024-02-29T00:00:00Z", 0, 1709164800000LL },
		{ "2023-02-29T00:00:00Z", -1, 0 },
		{ "2026-11-28T12:00:00", -1, 0 },
		{ "2026-11-28 12:00:00Z", -1, 0 },
		{ "2026-13-28T12:00:00Z", -1, 0 },
		{ "2026-11-28T12:00:00.Z", -1, 0 },
		{ "2026-11-28T12:00:00+1:00", -1, 0 },
		{ "2026-11-28T12:00:00Zjunk", -1, 0 },
	};
	char buf[OCPP16_TIME_MAX];
	int64_t ms;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ms = 0;
		check(ocpp16_time_parse(rows[i].s, &ms) == rows[i].ok &&
		      (rows[i].ok || ms == rows[i].ms), "time '%s' %s", rows[i].s,
		      rows[i].ok ? "is refused" : "is read");
	}
	ocpp16_time(1795867200123LL, buf);
	check(!strcmp(buf, "2026-11-28T12:00:00.123Z"),
	      "a time is written in UTC with milliseconds");
}

int main(void)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_frames();
	test_encode();
	test_payloads();
	test_actions();
	test_readings();
	test_times();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %d cases in %ld us\n", check_passed + check_failed,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000000 +
		      (t1.tv_nsec - t0.tv_nsec) / 1000));
	return check_done();
}
