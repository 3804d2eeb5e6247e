/* ocpp16.h: the OCPP 1.6 messages the gateway takes and sends: their schemas, checked strictly, and the figures of a meter. */
#ifndef EVC_OCPP16_H
#define EVC_OCPP16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ocppj.h"

/*
 * The actions of OCPP 1.6 that a charger sends and the gateway serves,
 * then those the gateway sends and whose confirmations it reads. Each
 * payload is checked against its schema (OCPP 1.6's JSON schemas, whose
 * objects take no other property) before anything reads it; a payload
 * that breaks it is refused with the error code of OCPP-J's table:
 *   a required field missing            ProtocolError
 *   a field the schema does not have    FormationViolation
 *   a wrong JSON type, a string too long TypeConstraintViolation
 *   a value out of its range or list,   PropertyConstraintViolation
 *     a time that is not ISO 8601
 *   an array with too few elements      OccurenceConstraintViolation
 */
enum ocpp16_action {
	A_AUTHORIZE,
	A_BOOT_NOTIFICATION,
	A_DATA_TRANSFER,
	A_DIAGNOSTICS_STATUS,
	A_FIRMWARE_STATUS,
	A_HEARTBEAT,
	A_METER_VALUES,
	A_START_TRANSACTION,
	A_STATUS_NOTIFICATION,
	A_STOP_TRANSACTION,
	A_FROM_CHARGER,		/* the gateway's own CALLs follow */
	A_REMOTE_START = A_FROM_CHARGER,
	A_REMOTE_STOP,
	A_CHANGE_AVAILABILITY,
	A_COUNT
};

#define OCPP16_ID_TAG_MAX 20	/* IdToken: CiString20 */
#define OCPP16_TIME_MAX 32	/* "2026-11-28T12:00:00.123Z" and more */

/* An action by name: -1 when 1.6 has no such action, -2 when the gateway does not take it. */
int ocpp16_action_parse(const char *name);
const char *ocpp16_action_name(enum ocpp16_action a);

/*
 * Checks payload against the schema of action a: its request (conf
 * false), or its confirmation. OCPPJ_OK, or the code and why in err
 * ("missing field 'idTag'", "bad value for 'meterValue[0].sampledValue[1].unit': 'J'").
 */
enum ocppj_error ocpp16_check(enum ocpp16_action a, bool conf,
			      const json_t *payload, char *err, size_t errlen);

/* Readers of a checked payload: a field's string ("" when absent), its integer. */
const char *ocpp16_str(const json_t *o, const char *key);
long long ocpp16_int(const json_t *o, const char *key, long long absent);

/*
 * The figures of MeterValues' meterValue (or StopTransaction's
 * transactionData): the last Energy.Active.Import.Register and
 * Power.Active.Import of the whole meter (no phase) in the array,
 * converted from the unit sent (Wh or kWh; W or kW). A value is a
 * decimal string: one that is not, or is signed data, is not counted.
 */
struct ocpp16_reading {
	bool has_wh, has_w;
	int64_t wh;		/* the register, Wh */
	double w;		/* the power, W */
	int skipped;		/* values that could not be read */
};
void ocpp16_reading(const json_t *meter_values, struct ocpp16_reading *r);

/*
 * OCPP's dateTime, RFC 3339: ms since the epoch from a time such as
 * "2026-11-28T12:00:00.123+01:00" (0, or -1 when it is not one), and
 * the time of ms written in UTC with milliseconds.
 */
int ocpp16_time_parse(const char *s, int64_t *ms);
void ocpp16_time(int64_t ms, char buf[OCPP16_TIME_MAX]);

#endif
