/* ocpp16.c: the OCPP 1.6 messages the gateway takes and sends: their schemas, checked strictly, and the figures of a meter. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocpp16.h"

#define PATH_MAX_LEN 96		/* "meterValue[12].sampledValue[3].measurand" */
#define INT32_TOP 2147483647LL
#define METER_TOP 1000000000000000LL	/* Wh a meter register can read */
#define READING_WH_MAX 1e12	/* a reading above this is no meter's */

/* What a field of a schema is. */
enum kind { K_STR, K_INT, K_ENUM, K_TIME, K_OBJ, K_ARR };

struct field {
	const char *name;
	enum kind kind;
	bool required;
	long long lo, hi;	/* K_INT: range; K_STR: longest (hi); K_ARR: fewest (lo) */
	const char *const *list;	/* K_ENUM: the names, NULL-ended */
	const struct field *sub;	/* K_OBJ, K_ARR (of objects): the fields */
};

/* Rows of the schemas, as OCPP 1.6's JSON schemas say them. */
#define STR(n, max, req) { n, K_STR, req, 0, max, NULL, NULL }
#define INT(n, lo, hi, req) { n, K_INT, req, lo, hi, NULL, NULL }
#define ENUM(n, list, req) { n, K_ENUM, req, 0, 0, list, NULL }
#define TIME(n, req) { n, K_TIME, req, 0, 0, NULL, NULL }
#define OBJ(n, sub, req) { n, K_OBJ, req, 0, 0, NULL, sub }
#define ARR(n, min, sub, req) { n, K_ARR, req, min, 0, NULL, sub }
#define END { NULL, K_STR, false, 0, 0, NULL, NULL }

static const char *const contexts[] = {
	"Interruption.Begin", "Interruption.End", "Sample.Clock",
	"Sample.Periodic", "Transaction.Begin", "Transaction.End", "Trigger",
	"Other", NULL
};
static const char *const formats[] = { "Raw", "SignedData", NULL };
static const char *const measurands[] = {
	"Energy.Active.Export.Register", "Energy.Active.Import.Register",
	"Energy.Reactive.Export.Register", "Energy.Reactive.Import.Register",
	"Energy.Active.Export.Interval", "Energy.Active.Import.Interval",
	"Energy.Reactive.Export.Interval", "Energy.Reactive.Import.Interval",
	"Power.Active.Export", "Power.Active.Import", "Power.Offered",
	"Power.Reactive.Export", "Power.Reactive.Import", "Power.Factor",
	"Current.Import", "Current.Export", "Current.Offered", "Voltage",
	"Frequency", "Temperature", "SoC", "RPM", NULL
};
static const char *const phases[] = {
	"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3",
	"L3-L1", NULL
};
static const char *const locations[] = {
	"Cable", "EV", "Inlet", "Outlet", "Body", NULL
};
static const char *const units[] = {
	"Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar",
	"A", "V", "K", "Celcius", "Celsius", "Fahrenheit", "Percent", NULL
};
static const char *const statuses[] = {
	"Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV",
	"Finishing", "Reserved", "Unavailable", "Faulted", NULL
};
static const char *const error_codes[] = {
	"ConnectorLockFailure", "EVCommunicationError", "GroundFailure",
	"HighTemperature", "InternalError", "LocalListConflict", "NoError",
	"OtherError", "OverCurrentFailure", "PowerMeterFailure",
	"PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage",
	"OverVoltage", "WeakSignal", NULL
};
static const char *const stop_reasons[] = {
	"EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other",
	"PowerLoss", "Reboot", "Remote", "SoftReset", "UnlockCommand",
	"DeAuthorized", NULL
};
static const char *const diagnostics[] = {
	"Idle", "Uploaded", "UploadFailed", "Uploading", NULL
};
static const char *const firmware[] = {
	"Downloaded", "DownloadFailed", "Downloading", "Idle",
	"InstallationFailed", "Installing", "Installed", NULL
};
static const char *const start_stop[] = { "Accepted", "Rejected", NULL };
static const char *const availability[] = {
	"Accepted", "Rejected", "Scheduled", NULL
};

static const struct field sampled_value[] = {
	STR("value", 0, true),
	ENUM("context", contexts, false),
	ENUM("format", formats, false),
	ENUM("measurand", measurands, false),
	ENUM("phase", phases, false),
	ENUM("location", locations, false),
	ENUM("unit", units, false),
	END
};

static const struct field meter_value[] = {
	TIME("timestamp", true),
	ARR("sampledValue", 1, sampled_value, true),
	END
};

static const struct field authorize[] = {
	STR("idTag", OCPP16_ID_TAG_MAX, true),
	END
};

static const struct field boot[] = {
	STR("chargePointVendor", 20, true),
	STR("chargePointModel", 20, true),
	STR("chargePointSerialNumber", 25, false),
	STR("chargeBoxSerialNumber", 25, false),
	STR("firmwareVersion", 50, false),
	STR("iccid", 20, false),
	STR("imsi", 20, false),
	STR("meterType", 25, false),
	STR("meterSerialNumber", 25, false),
	END
};

static const struct field data_transfer[] = {
	STR("vendorId", 255, true),
	STR("messageId", 50, false),
	STR("data", 0, false),
	END
};

static const struct field diagnostics_status[] = {
	ENUM("status", diagnostics, true),
	END
};

static const struct field firmware_status[] = {
	ENUM("status", firmware, true),
	END
};

static const struct field nothing[] = { END };

static const struct field meter_values[] = {
	INT("connectorId", 0, INT32_TOP, true),
	INT("transactionId", -INT32_TOP - 1, INT32_TOP, false),
	ARR("meterValue", 1, meter_value, true),
	END
};

static const struct field start_transaction[] = {
	INT("connectorId", 1, INT32_TOP, true),
	STR("idTag", OCPP16_ID_TAG_MAX, true),
	INT("meterStart", 0, METER_TOP, true),
	INT("reservationId", -INT32_TOP - 1, INT32_TOP, false),
	TIME("timestamp", true),
	END
};

static const struct field status_notification[] = {
	INT("connectorId", 0, INT32_TOP, true),
	ENUM("errorCode", error_codes, true),
	STR("info", 50, false),
	ENUM("status", statuses, true),
	TIME("timestamp", false),
	STR("vendorId", 255, false),
	STR("vendorErrorCode", 50, false),
	END
};

static const struct field stop_transaction[] = {
	STR("idTag", OCPP16_ID_TAG_MAX, false),
	INT("meterStop", 0, METER_TOP, true),
	TIME("timestamp", true),
	INT("transactionId", -INT32_TOP - 1, INT32_TOP, true),
	ENUM("reason", stop_reasons, false),
	ARR("transactionData", 0, meter_value, false),
	END
};

static const struct field start_stop_conf[] = {
	ENUM("status", start_stop, true),
	END
};

static const struct field availability_conf[] = {
	ENUM("status", availability, true),
	END
};

static const struct {
	const char *name;
	const struct field *req, *conf;	/* conf: of the gateway's CALLs */
} actions[A_COUNT] = {
	[A_AUTHORIZE] = { "Authorize", authorize, NULL },
	[A_BOOT_NOTIFICATION] = { "BootNotification", boot, NULL },
	[A_DATA_TRANSFER] = { "DataTransfer", data_transfer, NULL },
	[A_DIAGNOSTICS_STATUS] = { "DiagnosticsStatusNotification",
				   diagnostics_status, NULL },
	[A_FIRMWARE_STATUS] = { "FirmwareStatusNotification",
				firmware_status, NULL },
	[A_HEARTBEAT] = { "Heartbeat", nothing, NULL },
	[A_METER_VALUES] = { "MeterValues", meter_values, NULL },
	[A_START_TRANSACTION] = { "StartTransaction", start_transaction, NULL },
	[A_STATUS_NOTIFICATION] = { "StatusNotification", status_notification,
				    NULL },
	[A_STOP_TRANSACTION] = { "StopTransaction", stop_transaction, NULL },
	[A_REMOTE_START] = { "RemoteStartTransaction", NULL, start_stop_conf },
	[A_REMOTE_STOP] = { "RemoteStopTransaction", NULL, start_stop_conf },
	[A_CHANGE_AVAILABILITY] = { "ChangeAvailability", NULL,
				    availability_conf },
};

/* OCPP 1.6's other actions (the security edition's too): known, not taken. */
static const char *const not_taken[] = {
	"CancelReservation", "CertificateSigned", "ChangeAvailability",
	"ChangeConfiguration", "ClearCache", "ClearChargingProfile",
	"DeleteCertificate", "ExtendedTriggerMessage", "GetCompositeSchedule",
	"GetConfiguration", "GetDiagnostics", "GetInstalledCertificateIds",
	"GetLocalListVersion", "GetLog", "InstallCertificate",
	"LogStatusNotification", "RemoteStartTransaction",
	"RemoteStopTransaction", "ReserveNow", "Reset",
	"SecurityEventNotification", "SendLocalList", "SetChargingProfile",
	"SignCertificate", "SignedFirmwareStatusNotification",
	"SignedUpdateFirmware", "TriggerMessage", "UnlockConnector",
	"UpdateFirmware", NULL
};

int ocpp16_action_parse(const char *name)
{
	for (int a = 0; a < A_FROM_CHARGER; a++)
		if (!strcmp(name, actions[a].name))
			return a;
	for (size_t i = 0; not_taken[i]; i++)
		if (!strcmp(name, not_taken[i]))
			return -2;
	return -1;
}

const char *ocpp16_action_name(enum ocpp16_action a)
{
	return a < A_COUNT ? actions[a].name : NULL;
}

/* --- the checker ------------------------------------------------------- */

struct check {
	char *err;
	size_t errlen;
	char path[PATH_MAX_LEN];
};

__attribute__((format(printf, 3, 4)))
static enum ocppj_error bad(struct check *c, enum ocppj_error code,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* Characters, as JSON schema's maxLength counts them: not bytes. */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t chars = 0;

	for (size_t i = 0; i < n; i++)
		chars += ((unsigned char)s[i] & 0xc0) != 0x80;
	return chars;
}

static bool listed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

static enum ocppj_error check_object(struct check *c, const json_t *o,
				     const struct field *fields);

/* The elements of an array of objects, each against sub. */
static enum ocppj_error check_array(struct check *c, const json_t *v,
				    const struct field *f)
{
	size_t len = strlen(c->path), i;
	enum ocppj_error r;
	json_t *e;

	if (json_array_size(v) < (size_t)f->lo)
		return bad(c, OCPPJ_OCCURENCE, "'%s' needs at least %lld element%s",
			   c->path, f->lo, f->lo == 1 ? "" : "s");
	json_array_foreach(v, i, e) {
		snprintf(c->path + len, sizeof(c->path) - len, "[%zu]", i);
		if (!json_is_object(e))
			return bad(c, OCPPJ_TYPE, "'%s' must be an object",
				   c->path);
		if ((r = check_object(c, e, f->sub)))
			return r;
	}
	c->path[len] = '\0';
	return OCPPJ_OK;
}

/* The JSON type a kind of field has. */
static bool typed(const json_t *v, enum kind k)
{
	switch (k) {
	case K_INT: return json_is_integer(v);
	case K_OBJ: return json_is_object(v);
	case K_ARR: return json_is_array(v);
	default: return json_is_string(v);
	}
}

static const char *const type_names[] = {
	[K_STR] = "a string", [K_INT] = "an integer", [K_ENUM] = "a string",
	[K_TIME] = "a string", [K_OBJ] = "an object", [K_ARR] = "an array",
};

/* One value v of field f, whose path is c->path. */
static enum ocppj_error check_value(struct check *c, const json_t *v,
				    const struct field *f)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	int64_t ms;

	if (!typed(v, f->kind))
		return bad(c, OCPPJ_TYPE, "'%s' must be %s", c->path,
			   type_names[f->kind]);
	switch (f->kind) {
	case K_STR:
		if (f->hi && utf8_chars(s, json_string_length(v)) > (size_t)f->hi)
			return bad(c, OCPPJ_TYPE, "'%s' is longer than %lld",
				   c->path, f->hi);
		return OCPPJ_OK;
	case K_INT:
		if (json_integer_value(v) < f->lo || json_integer_value(v) > f->hi)
			return bad(c, OCPPJ_PROPERTY, "'%s' out of range",
				   c->path);
		return OCPPJ_OK;
	case K_ENUM:
		return listed(f->list, s) ? OCPPJ_OK :
		       bad(c, OCPPJ_PROPERTY, "bad value for '%s'", c->path);
	case K_TIME:
		return !ocpp16_time_parse(s, &ms) ? OCPPJ_OK :
		       bad(c, OCPPJ_PROPERTY, "'%s' is not a date-time",
			   c->path);
	case K_OBJ:
		return check_object(c, v, f->sub);
	case K_ARR:
		return check_array(c, v, f);
	}
	return OCPPJ_OK;
}

static const struct field *field_of(const struct field *fields,
				    const char *key)
{
	for (const struct field *f = fields; f->name; f++)
		if (!strcmp(f->name, key))
			return f;
	return NULL;
}

/* An object: no key the schema lacks, every required one, each value. */
static enum ocppj_error check_object(struct check *c, const json_t *o,
				     const struct field *fields)
{
	size_t len = strlen(c->path);
	const struct field *f;
	enum ocppj_error r;
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v)
		if (!field_of(fields, key))
			return bad(c, OCPPJ_FORMATION, "unknown field '%.*s%s%.40s'",
				   (int)len, c->path, len ? "." : "", key);
	for (f = fields; f->name; f++) {
		snprintf(c->path + len, sizeof(c->path) - len, "%s%s",
			 len ? "." : "", f->name);
		if (!(v = json_object_get(o, f->name))) {
			if (f->required)
				return bad(c, OCPPJ_PROTOCOL,
					   "missing field '%s'", c->path);
			continue;
		}
		if ((r = check_value(c, v, f)))
			return r;
	}
	c->path[len] = '\0';
	return OCPPJ_OK;
}

enum ocppj_error ocpp16_check(enum ocpp16_action a, bool conf,
			      const json_t *payload, char *err, size_t errlen)
{
	struct check c = { .err = err, .errlen = errlen };
	const struct field *fields;

	err[0] = '\0';
	if (a >= A_COUNT ||
	    !(fields = conf ? actions[a].conf : actions[a].req))
		return bad(&c, OCPPJ_NOT_SUPPORTED, "no schema");
	if (!json_is_object(payload))
		return bad(&c, OCPPJ_FORMATION, "the payload is not an object");
	return check_object(&c, payload, fields);
}

const char *ocpp16_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

long long ocpp16_int(const json_t *o, const char *key, long long absent)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : absent;
}

/* --- meters -------------------------------------------------------------- */

/*
 * A meter's value: a decimal number, as the sampled value's string has
 * it ("1234", "12.345", "1.2e3"), 0 or more. -1 when it is not one.
 */
static int decimal(const char *s, double *out)
{
	static const char dig[] = "0123456789";
	size_t n = strspn(s, dig);
	const char *p = s + n;

	if (!n)
		return -1;
	if (*p == '.') {
		if (!(n = strspn(p + 1, dig)))
			return -1;
		p += 1 + n;
	}
	if (*p == 'e' || *p == 'E') {
		p += 1 + (p[1] == '+' || p[1] == '-');
		if (!(n = strspn(p, dig)))
			return -1;
		p += n;
	}
	if (*p)
		return -1;
	*out = strtod(s, NULL);
	return isfinite(*out) && *out <= READING_WH_MAX ? 0 : -1;
}

/* One sampled value, counted when it is the whole meter's energy or power. */
static void sample(const json_t *sv, struct ocpp16_reading *r)
{
	const char *what = ocpp16_str(sv, "measurand");
	const char *unit = ocpp16_str(sv, "unit");
	const char *where = ocpp16_str(sv, "location");
	bool energy = !*what || !strcmp(what, "Energy.Active.Import.Register");
	bool power = !strcmp(what, "Power.Active.Import");
	double v;

	if ((!energy && !power) || *ocpp16_str(sv, "phase") ||
	    (*where && strcmp(where, "Outlet") && strcmp(where, "Inlet")))
		return;		/* not the figures of a supply */
	if (!strcmp(ocpp16_str(sv, "format"), "SignedData") ||
	    decimal(ocpp16_str(sv, "value"), &v)) {
		r->skipped++;
		return;
	}
	if (energy && (!*unit || !strcmp(unit, "Wh") || !strcmp(unit, "kWh"))) {
		r->wh = llround(!strcmp(unit, "kWh") ? v * 1000 : v);
		r->has_wh = true;
	} else if (power && (!*unit || !strcmp(unit, "W") || !strcmp(unit, "kW"))) {
		r->w = !strcmp(unit, "kW") ? v * 1000 : v;
		r->has_w = true;
	} else {
		r->skipped++;
	}
}

void ocpp16_reading(const json_t *meter_values, struct ocpp16_reading *r)
{
	const json_t *mv, *sv;
	size_t i, j;

	memset(r, 0, sizeof(*r));
	json_array_foreach(meter_values, i, mv)
		json_array_foreach(json_object_get(mv, "sampledValue"), j, sv)
			sample(sv, r);
}

/* --- time ---------------------------------------------------------------- */

/* n digits at *s, moved past; -1 when they are not there. */
static int digits(const char **s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a date of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
				    30, 31 };

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* The zone after the seconds: its offset in minutes, or -1 (bad). */
static int zone(const char *s, int *minutes)
{
	int sign, h, m;

	if ((*s == 'Z' || *s == 'z') && !s[1]) {
		*minutes = 0;
		return 0;
	}
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s++ == '-' ? -1 : 1;
	if ((h = digits(&s, 2)) < 0 || h > 23 || *s++ != ':' ||
	    (m = digits(&s, 2)) < 0 || m > 59 || *s)
		return -1;
	*minutes = sign * (h * 60 + m);
	return 0;
}

int ocpp16_time_parse(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, scale = 100, off;

	if ((y = digits(&s, 4)) < 0 || *s++ != '-' ||
	    (mo = digits(&s, 2)) < 1 || mo > 12 || *s++ != '-' ||
	    (d = digits(&s, 2)) < 1 || d > 31 || (*s != 'T' && *s != 't') ||
	    (++s, h = digits(&s, 2)) < 0 || h > 23 || *s++ != ':' ||
	    (mi = digits(&s, 2)) < 0 || mi > 59 || *s++ != ':' ||
	    (sec = digits(&s, 2)) < 0 || sec > 60)
		return -1;
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
			frac += (*s - '0') * scale;
	}
	if (zone(s, &off) || d > month_days(y, mo))
		return -1;
	*ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60000LL +
	      sec * 1000LL + frac;
	return 0;
}

void ocpp16_time(int64_t ms, char buf[OCPP16_TIME_MAX])
{
	time_t t = (time_t)((ms < 0 ? 0 : ms) / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, OCPP16_TIME_MAX - 5, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, OCPP16_TIME_MAX - n, ".%03dZ",
		 (int)((ms < 0 ? 0 : ms) % 1000));
}
