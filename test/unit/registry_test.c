/* registry_test.c: unit tests of lib/registry.c: entries checked and built, prices and powers read, the catalogue kept, without Kafka. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/registry.h"
#include "test/unit/check.h"

static const char LONG_TEXT[] =
	"0123456789012345678901234567890123456789012345678901234567890123"
	"0123456789012345678901234567890123456789012345678901234567890123x";

static void test_check(void)
{
	static const struct {
		const char *sentence, *id, *location;
		double price, kw;
		enum registry_err want;
	} rows[] = {
		{ "a plain entry", "CP001", "Alicante", 0.35, 0, REGISTRY_OK },
		{ "a free CP with a rated power", "cp-9_x.1", "", 0, 22,
		  REGISTRY_OK },
		{ "the highest price and power", "CP1", "x", 1000, 100000,
		  REGISTRY_OK },
		{ "UTF-8 in the location", "CP1", "Col\xc3\xb3n 40", 1, 0,
		  REGISTRY_OK },
		{ "an empty id", "", "x", 1, 0, REGISTRY_BAD_ID },
		{ "an id with a space", "CP 1", "x", 1, 0, REGISTRY_BAD_ID },
		{ "Central's probe id", ".probe", "x", 1, 0, REGISTRY_BAD_ID },
		{ "an id of 33 characters", "abcdefghijklmnopqrstuvwxyz0123456",
		  "x", 1, 0, REGISTRY_BAD_ID },
		{ "a location of 129 bytes", "CP1", LONG_TEXT, 1, 0,
		  REGISTRY_LONG_LOCATION },
		{ "an escape in the location", "CP1", "a\x1b[2Jb", 1, 0,
		  REGISTRY_BAD_LOCATION },
		{ "Latin-1 in the location", "CP1", "Col\xf3n", 1, 0,
		  REGISTRY_BAD_LOCATION },
		{ "a negative price", "CP1", "x", -0.01, 0, REGISTRY_BAD_PRICE },
		{ "a price over 1000", "CP1", "x", 1000.01, 0,
		  REGISTRY_BAD_PRICE },
		{ "a NaN price", "CP1", "x", NAN, 0, REGISTRY_BAD_PRICE },
		{ "an infinite price", "CP1", "x", INFINITY, 0,
		  REGISTRY_BAD_PRICE },
		{ "a negative power", "CP1", "x", 1, -1, REGISTRY_BAD_POWER },
		{ "a power over 100000 kW", "CP1", "x", 1, 100001,
		  REGISTRY_BAD_POWER },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check(registry_check(rows[i].id, rows[i].location,
				     rows[i].price, rows[i].kw) == rows[i].want,
		      "check: %s: %s", rows[i].sentence,
		      registry_err_text(rows[i].want));
}

static void test_numbers(void)
{
	static const struct {
		const char *s;
		bool power;
		int want;
		double value;
	} rows[] = {
		{ "0.35", false, 0, 0.35 }, { "0", false, 0, 0 },
		{ "1000", false, 0, 1000 }, { "0.123456", false, 0, 0.123456 },
		{ "12", false, 0, 12 }, { "007.5", false, 0, 7.5 },
		{ "0.1234567", false, -1, 0 }, { "1000.000001", false, -1, 0 },
		{ "-0.35", false, -1, 0 }, { "+1", false, -1, 0 },
		{ "1e2", false, -1, 0 }, { "0x10", false, -1, 0 },
		{ "inf", false, -1, 0 }, { "nan", false, -1, 0 },
		{ "", false, -1, 0 }, { ".5", false, -1, 0 },
		{ "5.", false, -1, 0 }, { " 1", false, -1, 0 },
		{ "1 ", false, -1, 0 }, { "0,35", false, -1, 0 },
		{ "99999999999999999", false, -1, 0 },
		{ "22", true, 0, 22 }, { "7.4", true, 0, 7.4 },
		{ "100000", true, 0, 100000 }, { "0.001", true, 0, 0.001 },
		{ "0", true, -1, 0 }, { "0.0001", true, -1, 0 },
		{ "100000.5", true, -1, 0 }, { "-22", true, -1, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double d = -1;
		int r = rows[i].power ? registry_power(rows[i].s, &d) :
					registry_price(rows[i].s, &d);

		check(r == rows[i].want && (r || d == rows[i].value) &&
		      (!r || d == -1),
		      "%s '%s' %s", rows[i].power ? "power" : "price", rows[i].s,
		      rows[i].want ? "refused" : "read");
	}
}

static void test_entry(void)
{
	char buf[1024], err[256];
	struct msg m, d;
	int n;

	check(registry_entry(&m, "CP009", "Elche", 0.3, 50, 1800000000000) ==
	      REGISTRY_OK && m.type == MSG_CP_ENTRY && !strcmp(m.cp, "CP009") &&
	      m.ts == 1800000000000 && m.u.entry.price == 0.3 &&
	      m.u.entry.power_kw == 50 && !strcmp(m.u.entry.location, "Elche"),
	      "an entry is a cp_entry message of its CP");
	n = msg_encode(&m, buf, sizeof(buf));
	check(n > 0 && !msg_decode(buf, (size_t)n, &d, err, sizeof(err)) &&
	      d.type == MSG_CP_ENTRY && !strcmp(d.cp, "CP009"),
	      "it encodes and decodes: %s", buf);
	memset(&m, 0, sizeof(m));
	check(registry_entry(&m, "CP 9", "Elche", 0.3, 0, 1) ==
	      REGISTRY_BAD_ID && m.type == 0 && !m.cp[0],
	      "a bad entry builds no message");
}

static struct msg entry(const char *id, double price, int64_t ts)
{
	struct msg m;

	registry_entry(&m, id, "here", price, 0, ts);
	return m;
}

static void test_table(void)
{
	const struct registry_row *const *s;
	struct registry r;
	struct msg m;

	registry_init(&r);
	m = entry("CP2", 0.3, 10), registry_keep(&r, &m);
	m = entry("CP1", 0.4, 11), registry_keep(&r, &m);
	m = entry("CP2", 0.5, 12), registry_keep(&r, &m);
	check(r.n == 2 && r.entries == 2 && r.records == 3 &&
	      registry_find(&r, "CP2")->e.price == 0.5 &&
	      registry_find(&r, "CP2")->updated == 12,
	      "a later entry of a CP replaces the earlier one");
	registry_drop(&r, "CP2");
	registry_drop(&r, "CP7");
	check(r.n == 3 && r.entries == 1 && registry_find(&r, "CP2")->removed &&
	      registry_find(&r, "CP7")->removed && !registry_find(&r, "CP1")->removed,
	      "a removal keeps the CP as removed, even one never read before");
	s = registry_sorted(&r);
	check(!strcmp(s[0]->id, "CP1") && !strcmp(s[1]->id, "CP2") &&
	      !strcmp(s[2]->id, "CP7"), "rows sorted by id");
	m = entry("CP2", 0.6, 13), registry_keep(&r, &m);
	check(r.entries == 2 && !registry_find(&r, "CP2")->removed &&
	      registry_find(&r, "CP2")->e.price == 0.6,
	      "a CP removed then put back is in the catalogue again");
	registry_drop(&r, "CP7");
	check(r.entries == 2, "removing a removed CP changes no count");
	registry_free(&r);
}

static void test_file(void)
{
	struct cp_entry e[] = {
		{ "CP001", "Alicante", 0.35, 0 },
		{ "CP002", "Elche", 1500, 0 },
	};
	struct catalogue cat = { e, 1 };

	check(registry_check_file(&cat, "cps.yaml") == 0,
	      "a YAML catalogue within the rules passes");
	cat.ncps = 2;
	fprintf(stderr, "# expected: ");
	check(registry_check_file(&cat, "cps.yaml") == -1,
	      "one with a price of 1500 EUR/kWh does not (nothing of it is seeded)");
}

int main(void)
{
	test_check();
	test_numbers();
	test_entry();
	test_table();
	test_file();
	return check_done();
}
