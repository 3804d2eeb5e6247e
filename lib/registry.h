/* registry.h: the catalogue of CPs on the compacted cp-catalogue topic: entries checked, built, read, written and seeded. */
#ifndef EVC_REGISTRY_H
#define EVC_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "conf.h"
#include "index.h"
#include "msg.h"

struct bus;

/*
 * The catalogue Central follows while it runs is a compacted topic,
 * one record per CP keyed by its id: a cp_entry message adds the CP or
 * replaces its entry, a record without a value removes it. Whoever
 * changes it (evc cps, the YAML catalogue that seeds it, an HTTP API)
 * goes through these functions, so that every entry obeys one set of
 * rules and nothing bad reaches Kafka.
 */

/* Why an entry cannot be in the catalogue. */
enum registry_err {
	REGISTRY_OK,
	REGISTRY_BAD_ID,	/* not a CP id (or one of Central's probes) */
	REGISTRY_LONG_LOCATION,	/* over MSG_TEXT_MAX bytes */
	REGISTRY_BAD_LOCATION,	/* not printable UTF-8 */
	REGISTRY_BAD_PRICE,	/* not 0 to MSG_PRICE_MAX EUR/kWh */
	REGISTRY_BAD_POWER,	/* not 0 to MSG_KW_MAX kW (0: the default) */
};

/* What is wrong, as the first words of an error ("not a CP id"). */
const char *registry_err_text(enum registry_err e);

/* Whether an entry may be in the catalogue: the rules of a cp_entry. */
enum registry_err registry_check(const char *id, const char *location,
				 double price, double power_kw);

/*
 * A price (EUR/kWh) or a rated power (kW) as a person writes it:
 * digits, then at most REGISTRY_PRICE_DECIMALS (REGISTRY_POWER_DECIMALS)
 * after a point; no sign, exponent, hex, inf or nan. A price is 0 to
 * MSG_PRICE_MAX, a power above 0 to MSG_KW_MAX. 0, or -1 when s is not
 * one (*out untouched).
 */
#define REGISTRY_PRICE_DECIMALS 6	/* the micro-euro msg_cents() counts */
#define REGISTRY_POWER_DECIMALS 3	/* watts */
int registry_price(const char *s, double *out);
int registry_power(const char *s, double *out);

/*
 * The cp_entry message of CP id at time ts (power_kw 0: the default,
 * central.max_power_kw). REGISTRY_OK, else why not.
 */
enum registry_err registry_entry(struct msg *m, const char *id,
				 const char *location, double price,
				 double power_kw, int64_t ts);

/*
 * Queues an entry (registry_entry()'s) or the removal of CP id on
 * cp-catalogue; bus_flush() tells whether Kafka has it. 0, or -1 after
 * saying why.
 */
int registry_put(struct bus *b, const struct msg *entry);
int registry_remove(struct bus *b, const char *id);

/*
 * Every entry of a YAML catalogue obeys the rules, or -1 after saying
 * "FILE: what: 'CP'" of the first that does not.
 */
int registry_check_file(const struct catalogue *cat, const char *file);

/*
 * Writes every entry of cat to cp-catalogue, checked all before the
 * first is written, and waits until Kafka has them: the number written,
 * or -1 after saying why.
 */
long registry_seed(struct bus *b, const struct catalogue *cat,
		   const char *file, int64_t ts);

/*
 * Whether cp-catalogue ever held a record (compaction empties a topic
 * but never lowers its end offsets): 1, 0 when it never did (it may be
 * seeded), -1 after saying why it cannot be told (missing, refused,
 * Kafka unreachable). b is a consumer.
 */
int registry_used(struct bus *b);

/* One CP of the catalogue as read, or removed from it. */
struct registry_row {
	char id[MSG_NAME_MAX + 1];
	struct msg_cp_entry e;
	bool removed;		/* the last record said so */
	int64_t updated;	/* ts of the entry; 0 after a removal */
};

/* The catalogue as read from the topic: its last word on each CP. */
struct registry {
	struct registry_row *rows;	/* in the order first read */
	uint32_t n, cap;
	struct index by_id;
	uint32_t entries;		/* rows not removed */
	long records;			/* records read */
	const struct registry_row **sorted;	/* registry_sorted() */
};

void registry_init(struct registry *r);
void registry_free(struct registry *r);

/* A cp_entry read (replaces the CP's row), or CP id removed. */
void registry_keep(struct registry *r, const struct msg *m);
void registry_drop(struct registry *r, const char *id);

/* The row of CP id, removed or not; NULL when never read. */
const struct registry_row *registry_find(const struct registry *r,
					 const char *id);

/* Every row by id, removed ones included, n of them; freed with r. */
const struct registry_row *const *registry_sorted(struct registry *r);

/*
 * Follows every partition of cp-catalogue on b (a consumer) from its
 * beginning and keeps what it reads until the end each partition had
 * when it began, within timeout_ms. b stays positioned after it: a
 * reader that goes on (Central) gets every change from there.
 */
enum bus_read registry_read(struct bus *b, struct registry *r,
			    unsigned timeout_ms);

#endif
