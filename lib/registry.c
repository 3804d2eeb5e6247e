/* registry.c: the catalogue of CPs on the compacted cp-catalogue topic: entries checked, built, read, written and seeded. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "registry.h"
#include "xalloc.h"

#define DIGITS "0123456789"

static const char *const err_texts[] = {
	[REGISTRY_OK] = "a good entry",
	[REGISTRY_BAD_ID] = "not a CP id",
	[REGISTRY_LONG_LOCATION] = "location longer than 128 bytes",
	[REGISTRY_BAD_LOCATION] = "location not printable UTF-8",
	[REGISTRY_BAD_PRICE] = "price not from 0 to 1000 EUR/kWh",
	[REGISTRY_BAD_POWER] = "power not from 0 to 100000 kW",
};

_Static_assert(MSG_TEXT_MAX == 128 && MSG_PRICE_MAX == 1000.0 &&
	       MSG_KW_MAX == 100000.0, "err_texts name the bounds");

const char *registry_err_text(enum registry_err e)
{
	return (unsigned)e <= REGISTRY_BAD_POWER ? err_texts[e] : "?";
}

enum registry_err registry_check(const char *id, const char *location,
				 double price, double power_kw)
{
	if (!msg_cp_id_ok(id))
		return REGISTRY_BAD_ID;
	if (strnlen(location, MSG_TEXT_MAX + 1) > MSG_TEXT_MAX)
		return REGISTRY_LONG_LOCATION;
	if (!msg_text_ok(location))
		return REGISTRY_BAD_LOCATION;
	if (!(price >= 0 && price <= MSG_PRICE_MAX))
		return REGISTRY_BAD_PRICE;
	if (!(power_kw >= 0 && power_kw <= MSG_KW_MAX))
		return REGISTRY_BAD_POWER;
	return REGISTRY_OK;
}

/*
 * Digits, a point and at most decimals digits: what a person types for
 * money or power. strtod() alone would take " 1", "1e3", "0x1p4",
 * "inf" and "nan"; the C locale is evc's, so the point is a point.
 */
static int decimal(const char *s, unsigned decimals, double max, double *out)
{
	size_t ints = strspn(s, DIGITS), frac = 0;
	const char *p = s + ints;
	double d;

	if (!ints || ints > 16)
		return -1;
	if (*p == '.') {
		frac = strspn(p + 1, DIGITS);
		if (!frac || frac > decimals)
			return -1;
		p += 1 + frac;
	}
	if (*p || (d = strtod(s, NULL)) > max)
		return -1;
	*out = d;
	return 0;
}

int registry_price(const char *s, double *out)
{
	return decimal(s, REGISTRY_PRICE_DECIMALS, MSG_PRICE_MAX, out);
}

int registry_power(const char *s, double *out)
{
	double kw;

	if (decimal(s, REGISTRY_POWER_DECIMALS, MSG_KW_MAX, &kw) || kw <= 0)
		return -1;
	*out = kw;
	return 0;
}

enum registry_err registry_entry(struct msg *m, const char *id,
				 const char *location, double price,
				 double power_kw, int64_t ts)
{
	enum registry_err e = registry_check(id, location, price, power_kw);

	if (e != REGISTRY_OK)
		return e;
	msg_init_at(m, MSG_CP_ENTRY, ts);
	snprintf(m->cp, sizeof(m->cp), "%s", id);
	snprintf(m->u.entry.location, sizeof(m->u.entry.location), "%s",
		 location);
	m->u.entry.price = price;
	m->u.entry.power_kw = power_kw;
	return REGISTRY_OK;
}

int registry_put(struct bus *b, const struct msg *entry)
{
	if (entry->type != MSG_CP_ENTRY)
		return error("cannot put '%s' in the catalogue",
			     msg_type_name(entry->type));
	return bus_send(b, T_CP_CATALOGUE, entry);
}

int registry_remove(struct bus *b, const char *id)
{
	if (!msg_cp_id_ok(id))
		return error("%s: '%s'", err_texts[REGISTRY_BAD_ID], id);
	return bus_erase(b, T_CP_CATALOGUE, id);
}

int registry_check_file(const struct catalogue *cat, const char *file)
{
	for (unsigned i = 0; i < cat->ncps; i++) {
		const struct cp_entry *en = &cat->cps[i];
		enum registry_err e = registry_check(en->id, en->location,
						     en->price, en->power_kw);

		if (e != REGISTRY_OK)
			return error("%s: %s: '%s'", file, registry_err_text(e),
				     en->id);
	}
	return 0;
}

long registry_seed(struct bus *b, const struct catalogue *cat,
		   const char *file, int64_t ts)
{
	struct msg m;

	if (registry_check_file(cat, file))
		return -1;
	for (unsigned i = 0; i < cat->ncps; i++) {
		const struct cp_entry *en = &cat->cps[i];

		registry_entry(&m, en->id, en->location, en->price,
			       en->power_kw, ts);
		if (registry_put(b, &m))
			return -1;
	}
	if (bus_flush(b, 30000))
		return -1;
	return (long)cat->ncps;
}

int registry_used(struct bus *b)
{
	return bus_ever_written(b, T_CP_CATALOGUE);
}

void registry_init(struct registry *r)
{
	memset(r, 0, sizeof(*r));
	index_init(&r->by_id, sizeof(struct registry_row),
		   offsetof(struct registry_row, id));
}

void registry_free(struct registry *r)
{
	index_free(&r->by_id);
	free(r->rows);
	free(r->sorted);
	memset(r, 0, sizeof(*r));
}

const struct registry_row *registry_find(const struct registry *r,
					 const char *id)
{
	return index_get(&r->by_id, r->rows, id);
}

/* The row of id, made (as removed) when it is new. */
static struct registry_row *row_of(struct registry *r, const char *id)
{
	struct registry_row *row = index_get(&r->by_id, r->rows, id);

	if (row)
		return row;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		r->rows = xreallocarray(r->rows, r->cap, sizeof(*r->rows));
	}
	row = &r->rows[r->n];
	memset(row, 0, sizeof(*row));
	snprintf(row->id, sizeof(row->id), "%s", id);
	row->removed = true;
	index_put(&r->by_id, r->rows, r->n++);
	free(r->sorted);
	r->sorted = NULL;
	return row;
}

void registry_keep(struct registry *r, const struct msg *m)
{
	struct registry_row *row = row_of(r, m->cp);

	r->entries += row->removed;
	row->removed = false;
	row->e = m->u.entry;
	row->updated = m->ts;
	r->records++;
}

void registry_drop(struct registry *r, const char *id)
{
	struct registry_row *row = row_of(r, id);

	r->entries -= !row->removed;
	row->removed = true;
	memset(&row->e, 0, sizeof(row->e));
	row->updated = 0;
	r->records++;
}

static int by_id(const void *a, const void *b)
{
	return strcmp((*(const struct registry_row *const *)a)->id,
		      (*(const struct registry_row *const *)b)->id);
}

const struct registry_row *const *registry_sorted(struct registry *r)
{
	if (r->sorted)
		return r->sorted;
	r->sorted = xreallocarray(NULL, (size_t)r->n + 1, sizeof(*r->sorted));
	for (uint32_t i = 0; i < r->n; i++)
		r->sorted[i] = &r->rows[i];
	qsort(r->sorted, r->n, sizeof(*r->sorted), by_id);
	return r->sorted;
}

/* cp-catalogue's decoding: an entry kept, a CP removed; other topics not. */
static void on_entry(void *arg, enum topic t, const struct msg *m, bool gone)
{
	if (t != T_CP_CATALOGUE)
		return;
	if (gone)
		registry_drop(arg, m->cp);
	else
		registry_keep(arg, m);
}

enum bus_read registry_read(struct bus *b, struct registry *r,
			    unsigned timeout_ms)
{
	return bus_read_compacted(b, T_CP_CATALOGUE, on_entry, r, timeout_ms);
}
