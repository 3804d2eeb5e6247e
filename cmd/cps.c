/* cps.c: the cps role: the catalogue of CPs that Central follows, changed and shown from the command line. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cmd/cmds.h"
#include "lib/audit.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/figure.h"
#include "lib/log.h"
#include "lib/msg_table.h"
#include "lib/registry.h"
#include "lib/seal.h"
#include "lib/setup.h"
#include "lib/textwidth.h"
#include "lib/trail.h"

#define CHECK_MS 5000		/* for a broker to answer at all */
#define READ_MS 15000		/* to read the catalogue to its end */
#define FLUSH_MS 10000		/* for Kafka to take a change */
#define LOCATION_MAX 40		/* wider locations are cut in the table */
#define OVERLAP_S 86400		/* rotate: the old key's default overlap */
#define OVERLAP_MAX_S 604800	/* cp-keys' min.compaction.lag.ms */

static const char usage[] =
	"usage: evc cps [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... add CP -l LOCATION -p PRICE [-k KW]\n"
	"       evc cps [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... rm CP\n"
	"       evc cps [-jv] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... list\n"
	"       evc cps [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... key CP [-o FILE]\n"
	"       evc cps [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... rotate CP [-o FILE] [-w SECONDS]\n"
	"       evc cps [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... revoke CP\n"
	"\n"
	"  add CP    put CP in the catalogue, or replace its entry (a new price\n"
	"            applies to the sessions granted after it)\n"
	"  rm CP     take CP out of the catalogue (Central refuses it from then on)\n"
	"  list      every CP of the catalogue\n"
	"  key CP    issue CP a new random key, which Central takes at once\n"
	"  rotate CP the same, the old key still good for a while (-w)\n"
	"  revoke CP refuse CP's messages from now on; a session in progress ends\n"
	"\n"
	"  -b, --brokers BROKERS    Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE        configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help               show this help\n"
	"  -j, --json               list: print JSON instead of a table\n"
	"  -k, --power KW           add: the CP's rated power (default central.max_power_kw)\n"
	"  -l, --location LOCATION  add: where the CP stands\n"
	"  -o, --output FILE        key, rotate: write the key file there (mode 600),\n"
	"                           not to the standard output\n"
	"  -p, --price PRICE        add: its price in EUR/kWh, 0 to 1000\n"
	"  -v, --verbose            print debugging output\n"
	"  -w, --overlap SECONDS    rotate: how long the old key stays good (default 86400)\n"
	"  -X NAME=VALUE            set a librdkafka property\n";

struct cps {
	const char *action;		/* add, rm, list */
	const char *id;			/* add, rm */
	const char *location, *price, *power;	/* as given */
	double eur, kw;			/* read from price, power */
	bool json;
	const char *output;		/* key, rotate: -o */
	const char *overlap;		/* rotate: -w */
	long long overlap_s;
};

static int cps_opt(void *ctx, int opt, const char *arg)
{
	struct cps *c = ctx;

	switch (opt) {
	case 'j': c->json = true; break;
	case 'k': c->power = arg; break;
	case 'l': c->location = arg; break;
	case 'o': c->output = arg; break;
	case 'w': c->overlap = arg; break;
	default: c->price = arg; break;
	}
	return 0;
}

/* add's options, read and checked as the catalogue's rules say. */
static int check_entry(struct cps *c)
{
	char q[MSG_QUOTE_BUF];
	enum registry_err e;

	if (!c->location || !c->price)
		return usage_error("add needs --location and --price: '%s'", c->id);
	if (registry_price(c->price, &c->eur))
		return usage_error("price not from 0 to 1000 EUR/kWh with at most %d decimals: '%s'",
				   REGISTRY_PRICE_DECIMALS, c->price);
	if (c->power && registry_power(c->power, &c->kw))
		return usage_error("power not above 0 and at most 100000 kW with at most %d decimals: '%s'",
				   REGISTRY_POWER_DECIMALS, c->power);
	e = registry_check(c->id, c->location, c->eur, c->kw);
	if (e != REGISTRY_OK)	/* the id is checked: the location */
		return usage_error("%s: '%s'", registry_err_text(e),
				   msg_quote(q, c->location, strlen(c->location)));
	return 0;
}

static bool key_action(const char *a)
{
	return !strcmp(a, "key") || !strcmp(a, "rotate") || !strcmp(a, "revoke");
}

static int check_overlap(struct cps *c)
{
	char *end;

	c->overlap_s = strtoll(c->overlap, &end, 10);
	if (!*c->overlap || *end || c->overlap_s < 1 || c->overlap_s > OVERLAP_MAX_S)
		return usage_error("overlap not from 1 to %d seconds: '%s'",
				   OVERLAP_MAX_S, c->overlap);
	return 0;
}

/* The options that do not go with the action, or 0. */
static const char *stray_option(const struct cps *c)
{
	bool add = !strcmp(c->action, "add");

	if (!add && c->location)
		return "--location";
	if (!add && c->price)
		return "--price";
	if (!add && c->power)
		return "--power";
	if (strcmp(c->action, "list") && c->json)
		return "--json";
	if (strcmp(c->action, "key") && strcmp(c->action, "rotate") && c->output)
		return "--output";
	if (strcmp(c->action, "rotate") && c->overlap)
		return "--overlap";
	return NULL;
}

/* Everything on the command line, checked before Kafka is asked. */
static int check_words(void *ctx, int n, char **w)
{
	char q[MSG_QUOTE_BUF];
	struct cps *c = ctx;
	const char *stray;

	if (!n)
		return usage_error("expected an action: add, rm, list, key, rotate or revoke");
	c->action = w[0];
	if (strcmp(w[0], "add") && strcmp(w[0], "rm") && strcmp(w[0], "list") &&
	    !key_action(w[0]))
		return usage_error("unknown action: '%s'",
				   msg_quote(q, w[0], strlen(w[0])));
	if (!strcmp(w[0], "list") && n != 1)
		return usage_error("list takes no CP: '%s'",
				   msg_quote(q, w[1], strlen(w[1])));
	if (strcmp(w[0], "list") && n != 2)
		return usage_error("expected one CP after '%s'", w[0]);
	if ((stray = stray_option(c)))
		return usage_error("%s does not go with '%s'", stray, w[0]);
	if (n == 1)
		return 0;
	c->id = w[1];
	if (!msg_cp_id_ok(c->id))	/* anything may have been typed */
		return usage_error("%s: '%s'", registry_err_text(REGISTRY_BAD_ID),
				   msg_quote(q, c->id, strlen(c->id)));
	if (c->overlap && check_overlap(c))
		return EXIT_USAGE;
	return strcmp(w[0], "add") ? 0 : check_entry(c);
}

/*
 * A topic that never held a record takes central.catalogue first, as
 * evc topics create and Central would have given it: the file is the
 * seed of the catalogue, whoever writes to it first. Without the file
 * on this machine nothing is written: the seed would be lost for good.
 * EXIT_OK, or why not (a missing topic among them).
 */
static int seed_first(struct bus *b, const struct conf *conf)
{
	const char *file = conf->central.catalogue;
	struct catalogue cat;
	long n;
	int used;

	if ((used = registry_used(b)) != 0)
		return used < 0 ? EXIT_FAIL : EXIT_OK;
	if (!file || !*file)
		return EXIT_OK;
	if (access(file, F_OK)) {
		error("the catalogue topic was never seeded, and its seed is not here (run evc topics create, or start Central, where it is): '%s'",
		      file);
		return EXIT_FAIL;
	}
	if (catalogue_load(&cat, file))
		return EXIT_USAGE;
	n = registry_seed(b, &cat, file, now_ms());
	catalogue_free(&cat);
	if (n < 0)
		return bus_denied(b) ? EXIT_FAIL : EXIT_USAGE;
	info("seeded '%s' with %ld CPs from '%s' first",
	     conf->topics[T_CP_CATALOGUE], n, file);
	return EXIT_OK;
}

/* The catalogue as the topic holds it now; EXIT_OK or why not. */
static int read_all(struct bus *b, struct registry *reg)
{
	switch (registry_read(b, reg, READ_MS)) {
	case BUS_READ_DONE:
		return EXIT_OK;
	case BUS_READ_TIMEOUT:
		error("cannot read '%s' to its end within %d s",
		      bus_topic_name(b, T_CP_CATALOGUE), READ_MS / 1000);
		return EXIT_UNREACHABLE;
	case BUS_READ_UNFOLLOWED:
		return EXIT_FAIL;
	default:
		return EXIT_UNREACHABLE;
	}
}

/* A change queued (queued 0) in Kafka's hands: EXIT_OK, or why not. */
static int deliver(struct bus *b, int queued)
{
	if (queued)
		return EXIT_FAIL;
	if (bus_flush(b, FLUSH_MS))
		return bus_denied(b) ? EXIT_FAIL : EXIT_UNREACHABLE;
	return EXIT_OK;
}

/* Whether CP id is in the catalogue as reg holds it. */
static bool listed(const struct registry *reg, const char *id)
{
	const struct registry_row *row = registry_find(reg, id);

	return row && !row->removed;
}

/* A new CP is an addition, a CP there already a change (both audited). */
static int do_add(struct bus *b, const struct cps *c, struct audit_rec *rec)
{
	struct registry reg;
	struct msg m;
	int ret;

	registry_init(&reg);
	if ((ret = read_all(b, &reg)) != EXIT_OK)
		goto out;
	rec->action = listed(&reg, c->id) ? AUDIT_CP_CHANGE : AUDIT_CP_ADD;
	registry_entry(&m, c->id, c->location, c->eur, c->kw, now_ms());
	if ((ret = deliver(b, registry_put(b, &m))) == EXIT_OK)
		debug("%s put in the catalogue: '%s', %s EUR/kWh", c->id,
		      c->location, fig_price(c->eur).s);
out:
	registry_free(&reg);
	return ret;
}

/* Only a CP in the catalogue can leave it: a typo removes nothing. */
static int do_rm(struct bus *b, const struct cps *c, struct audit_rec *rec)
{
	struct registry reg;
	int ret;

	registry_init(&reg);
	if ((ret = read_all(b, &reg)) != EXIT_OK)
		goto out;
	if (!listed(&reg, c->id)) {
		error("no CP in the catalogue: '%s'", c->id);
		audit_result(rec, AUDIT_FAILED, "no such CP in the catalogue");
		ret = EXIT_FAIL;
	} else if ((ret = deliver(b, registry_remove(b, c->id))) == EXIT_OK) {
		debug("%s taken out of the catalogue", c->id);
	}
out:
	registry_free(&reg);
	return ret;
}

/*
 * add and rm, each leaving one record in the audit trail, whatever
 * became of it once Kafka answered: who, from where, what, the result.
 */
static int change(struct bus *b, const struct cps *c, const struct conf *conf)
{
	struct audit_actor who;
	struct audit_rec rec;
	bool add = !strcmp(c->action, "add");
	int ret;

	audit_actor_local(&who, AUDIT_CLI, conf);
	audit_init(&rec, &who, add ? AUDIT_CP_ADD : AUDIT_CP_REMOVE, c->id,
		   now_ms());
	if (add)
		audit_detail(&rec, "location '%s', %s EUR/kWh%s%s%s",
			     c->location, fig_price(c->eur).s,
			     c->kw > 0 ? ", " : "",
			     c->kw > 0 ? fig_kw(c->kw).s : "",
			     c->kw > 0 ? " kW" : "");
	if ((ret = seed_first(b, conf)) == EXIT_OK)
		ret = add ? do_add(b, c, &rec) : do_rm(b, c, &rec);
	return audit_finish(b, &rec, ret, FLUSH_MS);
}

/* t cut and padded to width columns (lib/textwidth.h). */
static void put_cell(FILE *out, const char *t, int width)
{
	char cell[MSG_TEXT_MAX * 3 + LOCATION_MAX + 1];

	text_cell(cell, sizeof(cell), t, width, true);
	fputs(cell, out);
}

static void print_table(FILE *out, const struct registry *reg,
			const struct registry_row *const *rows)
{
	int wid = 2, wloc = 8;

	for (uint32_t i = 0; i < reg->n; i++) {
		if (rows[i]->removed)
			continue;
		if ((int)strlen(rows[i]->id) > wid)
			wid = (int)strlen(rows[i]->id);
		if (text_width(rows[i]->e.location) > wloc)
			wloc = text_width(rows[i]->e.location);
	}
	wloc = wloc > LOCATION_MAX ? LOCATION_MAX : wloc;
	fprintf(out, "%-*s  %-*s  %8s  %s\n", wid, "CP", wloc, "LOCATION",
		"EUR/KWH", "KW");
	for (uint32_t i = 0; i < reg->n; i++) {
		const struct registry_row *r = rows[i];

		if (r->removed)
			continue;
		fprintf(out, "%-*s  ", wid, r->id);
		put_cell(out, r->e.location, wloc);
		fprintf(out, "  %8s  %s\n", fig_price(r->e.price).s,
			r->e.power_kw > 0 ? fig_kw(r->e.power_kw).s : "-");
	}
}

static json_t *row_json(const struct registry_row *r)
{
	return json_pack("{s:s, s:s, s:f, s:o, s:I}", "cp", r->id,
			 "location", r->e.location, "price", r->e.price,
			 "power_kw", r->e.power_kw > 0 ?
			 json_real(r->e.power_kw) : json_null(),
			 "updated", (json_int_t)r->updated);
}

/* {"cps":[...]}, by id. */
static void print_json(FILE *out, const struct registry *reg,
		       const struct registry_row *const *rows)
{
	json_t *cps = json_array(), *o;
	char *text;

	for (uint32_t i = 0; cps && i < reg->n; i++)
		if (!rows[i]->removed)
			json_array_append_new(cps, row_json(rows[i]));
	o = json_pack("{s:o}", "cps", cps);
	if (!o || !(text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15))))
		die(EXIT_FAIL, "out of memory");
	fprintf(out, "%s\n", text);
	free(text);
	json_decref(o);
}

static int do_list(struct bus *b, const struct cps *c, const struct conf *conf)
{
	const char *file = conf->central.catalogue;
	struct registry reg;
	int ret;

	registry_init(&reg);
	if ((ret = read_all(b, &reg)) != EXIT_OK)
		goto out;
	if (c->json)
		print_json(stdout, &reg, registry_sorted(&reg));
	else if (reg.entries)
		print_table(stdout, &reg, registry_sorted(&reg));
	else if (!reg.records && file && *file)
		printf("no CP in the catalogue yet ('%s' seeds it at 'evc topics create' or Central's first start)\n",
		       file);
	else
		printf("no CP in the catalogue\n");
out:
	registry_free(&reg);
	return ret;
}

/* A key record for CP id on cp-keys, delivered: EXIT_OK or why not. */
static int key_publish(struct bus *b, const char *id, const struct seal_entry *e)
{
	char buf[SEAL_FILE_MAX];
	int n = seal_format(e, buf, sizeof(buf)), ret;

	ret = deliver(b, n < 0 ? -1 : bus_send_raw(b, T_CP_KEYS, id, buf, (size_t)n));
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

/*
 * The key goes to its file first (so that it is not lost when Kafka
 * takes it), then to cp-keys; a file whose key never reached Central
 * is removed. Without -o, it is printed once Kafka has it.
 */
static int key_hand_out(struct bus *b, const struct cps *c,
			const struct seal_entry *e)
{
	char buf[SEAL_FILE_MAX];
	struct seal_entry plain = { .cur = e->cur };
	int ret, n;

	if (c->output && seal_key_save(c->output, &e->cur))
		return EXIT_FAIL;
	if ((ret = key_publish(b, c->id, e)) != EXIT_OK) {
		if (c->output)
			unlink(c->output);
		return ret;
	}
	if (!c->output && (n = seal_format(&plain, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(&plain, sizeof(plain));
	info("%s: key '%s' issued%s", c->id, e->cur.kid,
	     c->output ? ", written to the file" : "");
	return ret;
}

/* evc cps key: a new key, the one before (if any) dropped at once. */
static int cps_key_issue(struct bus *b, const struct cps *c,
			 struct audit_rec *rec)
{
	struct seal_entry e = { 0 };
	int ret;

	if (seal_key_new(&e.cur, c->id, now_ms()))
		return EXIT_FAIL;
	audit_detail(rec, "key id '%s'", e.cur.kid);
	ret = key_hand_out(b, c, &e);
	OPENSSL_cleanse(&e, sizeof(e));
	return ret;
}

/* evc cps rotate: a new key; Central accepts the old one until the overlap ends. */
static int cps_key_rotate(struct bus *b, const struct cps *c,
			  struct audit_rec *rec)
{
	struct seal_entry e = { 0 };
	long long overlap = c->overlap ? c->overlap_s : OVERLAP_S;
	int ret;

	if (seal_key_new(&e.cur, c->id, now_ms()))
		return EXIT_FAIL;
	e.keep_until = now_ms() + overlap * 1000;
	audit_detail(rec, "key id '%s', the old one good for %lld s",
		     e.cur.kid, overlap);
	ret = key_hand_out(b, c, &e);
	OPENSSL_cleanse(&e, sizeof(e));
	return ret;
}

/* evc cps revoke: Central refuses the CP from now on, until a new key. */
static int cps_key_revoke(struct bus *b, const struct cps *c)
{
	struct seal_entry e = { .revoked = now_ms() };
	int ret = key_publish(b, c->id, &e);

	if (ret == EXIT_OK)
		info("%s: keys revoked", c->id);
	return ret;
}

/* A key issued, rotated or revoked, and written to the trail (never the key). */
static int key_run(struct bus *b, const struct cps *c, const struct conf *conf)
{
	bool issue = !strcmp(c->action, "key"),
	     rotate = !strcmp(c->action, "rotate");
	struct audit_actor who;
	struct audit_rec rec;
	int ret;

	audit_actor_local(&who, AUDIT_CLI, conf);
	audit_init(&rec, &who, issue ? AUDIT_KEY_ISSUE : rotate ?
		   AUDIT_KEY_ROTATE : AUDIT_KEY_REVOKE, c->id, now_ms());
	if (issue)
		ret = cps_key_issue(b, c, &rec);
	else if (rotate)
		ret = cps_key_rotate(b, c, &rec);
	else
		ret = cps_key_revoke(b, c);
	return audit_finish(b, &rec, ret, FLUSH_MS);
}

/* Kafka first: a topic that is there, seeded if it never was. */
static int cps_run(void *ctx, struct setup *su)
{
	struct cps *c = ctx;
	bool list = !strcmp(c->action, "list");
	struct bus *b;
	int ret;

	if (!(b = bus_open(&su->conf, BUS_CONSUMER | (list ? 0 : BUS_PRODUCER),
			   NULL)))
		return EXIT_USAGE;
	if (bus_check(b, CHECK_MS))
		ret = EXIT_UNREACHABLE;
	else if (key_action(c->action))
		ret = key_run(b, c, &su->conf);
	else if (list)
		ret = do_list(b, c, &su->conf);
	else
		ret = change(b, c, &su->conf);
	bus_close(b, 0);
	return ret;
}

int cmd_cps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "power", required_argument, NULL, 'k' },
		{ "location", required_argument, NULL, 'l' },
		{ "price", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "overlap", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct cps c = { 0 };
	struct setup_opts o = {
		.usage = usage, .shortopts = "jk:l:o:p:w:", .longopts = opts,
		.opt = cps_opt, .operands = check_words, .run = cps_run,
		.ctx = &c,
	};

	return setup_run(&o, argc, argv);
}
