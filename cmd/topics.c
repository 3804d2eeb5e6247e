/* topics.c: the topics role: create, list and describe evc's topics. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/registry.h"
#include "lib/setup.h"
#include "lib/textwidth.h"
#include "lib/xalloc.h"

#define ADMIN_TIMEOUT_MS 15000

static const char usage[] =
	"usage: evc topics [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... create\n"
	"       evc topics [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... list\n"
	"       evc topics [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... describe\n"
	"       evc topics [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... lag [GROUP...]\n"
	"\n"
	"  create     create every evc topic (existing ones are reported), and\n"
	"             seed an empty catalogue topic from central.catalogue\n"
	"  list       one line per evc topic: name, partitions, replicas\n"
	"  describe   every partition: leader, replicas, in-sync replicas\n"
	"  lag        consumer groups (or the GROUPs named): committed offsets,\n"
	"             end offsets and lag per partition, a summary per group\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

/*
 * An admin-capable handle (a consumer too with BUS_CONSUMER), checked
 * to answer, or NULL after a message with *status set: 2 for a bad
 * property, 3 when Kafka does not answer (or refuses the login:
 * bus_check() says which, and why).
 */
static struct bus *admin_open(const struct conf *c, int flags, int *status)
{
	struct bus *b;

	*status = EXIT_USAGE;
	if (!(b = bus_open(c, BUS_PRODUCER | flags, NULL)))
		return NULL;
	*status = EXIT_UNREACHABLE;
	if (bus_check(b, 5000)) {
		bus_close(b, 0);
		return NULL;
	}
	return b;
}

static rd_kafka_NewTopic_t *new_topic(const struct conf *c, enum topic t)
{
	rd_kafka_NewTopic_t *nt;
	char err[256];

	nt = rd_kafka_NewTopic_new(c->topics[t], (int)conf_partitions(c, t),
				   (int)c->replication, err, sizeof(err));
	if (!nt)
		die(EXIT_USAGE, "cannot create topic '%s': %s", c->topics[t],
		    err);
	/* The state and the catalogue keep only the last word on each CP. */
	if (t == T_CP_STATE || t == T_CP_CATALOGUE)
		rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
	/* The audit trail is kept until an operator says otherwise. */
	if (t == T_AUDIT)
		rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
	return nt;
}

static enum topic topic_index(const struct conf *c, const char *name)
{
	int t = 0;

	while (t < T_COUNT - 1 && strcmp(c->topics[t], name))
		t++;
	return (enum topic)t;
}

/* Prints one line per topic; returns the number of failures. */
static int report_created(const rd_kafka_CreateTopics_result_t *res,
			  const struct conf *c)
{
	const rd_kafka_topic_result_t **tr;
	size_t n;
	int failed = 0;

	tr = rd_kafka_CreateTopics_result_topics(res, &n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[i]);
		const char *name = rd_kafka_topic_result_name(tr[i]);

		unsigned n = conf_partitions(c, topic_index(c, name));

		if (!err)
			printf("created %s (%u partition%s, replication %u)\n",
			       name, n, n == 1 ? "" : "s", c->replication);
		else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			printf("exists %s\n", name);
		else {
			error("cannot create topic '%s': %s", name,
			      rd_kafka_topic_result_error_string(tr[i]));
			failed++;
		}
	}
	return failed;
}

/* True (and reported) when every evc topic exists already. */
static int all_exist(rd_kafka_t *rk, const struct conf *c, int report);

/*
 * A broker answers CreateTopics before every broker's metadata shows the
 * topics: wait a little, so that a script's next command finds them.
 */
static void wait_visible(rd_kafka_t *rk, const struct conf *c)
{
	long long end = mono_ms() + ADMIN_TIMEOUT_MS;

	while (!all_exist(rk, c, 0) && mono_ms() < end)
		rd_kafka_poll(rk, 200);
}

static int topics_create(rd_kafka_t *rk, const struct conf *c)
{
	rd_kafka_NewTopic_t *nts[T_COUNT];
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opt;
	rd_kafka_event_t *ev;
	int ret = EXIT_OK;

	/* Nothing to ask for: also what makes create work on evc broker. */
	if (all_exist(rk, c, 1)) {
		rd_kafka_queue_destroy(q);
		return EXIT_OK;
	}
	for (int t = 0; t < T_COUNT; t++)
		nts[t] = new_topic(c, (enum topic)t);
	opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(opt, ADMIN_TIMEOUT_MS,
						    NULL, 0);
	rd_kafka_CreateTopics(rk, nts, T_COUNT, opt, q);
	ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
	if (!ev) {
		error("cannot create topics: no answer from '%s'", c->brokers);
		ret = EXIT_UNREACHABLE;
	} else if (rd_kafka_event_error(ev)) {
		error("cannot create topics: %s",
		      rd_kafka_event_error_string(ev));
		ret = EXIT_FAIL;
	} else if (report_created(rd_kafka_event_CreateTopics_result(ev), c))
		ret = EXIT_FAIL;
	else
		wait_visible(rk, c);
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_NewTopic_destroy_array(nts, T_COUNT);
	rd_kafka_queue_destroy(q);
	return ret;
}

static const struct rd_kafka_metadata_topic *
find_topic(const struct rd_kafka_metadata *md, const char *name)
{
	for (int i = 0; i < md->topic_cnt; i++)
		if (!strcmp(md->topics[i].topic, name) && !md->topics[i].err)
			return &md->topics[i];
	return NULL;
}

static int all_exist(rd_kafka_t *rk, const struct conf *c, int report)
{
	const struct rd_kafka_metadata *md;
	int ok = 1;

	if (rd_kafka_metadata(rk, 1, NULL, &md, 5000))
		return 0;
	for (int t = 0; t < T_COUNT && ok; t++)
		ok = find_topic(md, c->topics[t]) != NULL;
	for (int t = 0; t < T_COUNT && ok && report; t++)
		printf("exists %s\n", c->topics[t]);
	rd_kafka_metadata_destroy(md);
	return ok;
}

static void print_ids(const char *label, const int32_t *ids, int n)
{
	printf(" %s ", label);
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)ids[i]);
}

static void describe_topic(const struct rd_kafka_metadata_topic *mt)
{
	for (int p = 0; p < mt->partition_cnt; p++) {
		const struct rd_kafka_metadata_partition *mp =
			&mt->partitions[p];

		printf("%s partition %d leader %d", mt->topic, (int)mp->id,
		       (int)mp->leader);
		print_ids("replicas", mp->replicas, mp->replica_cnt);
		print_ids("isr", mp->isrs, mp->isr_cnt);
		printf("\n");
	}
}

/* list and describe: exit 1 when an evc topic is missing. */
static int topics_show(rd_kafka_t *rk, const struct conf *c, int describe)
{
	const struct rd_kafka_metadata_topic *mt;
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int missing = 0;

	if ((err = rd_kafka_metadata(rk, 1, NULL, &md, ADMIN_TIMEOUT_MS))) {
		error("cannot reach Kafka at '%s': %s", c->brokers,
		      rd_kafka_err2str(err));
		return EXIT_UNREACHABLE;
	}
	for (int t = 0; t < T_COUNT; t++) {
		if (!(mt = find_topic(md, c->topics[t]))) {
			printf("%s missing\n", c->topics[t]);
			missing++;
		} else if (describe)
			describe_topic(mt);
		else
			printf("%s partitions %d replicas %d\n", mt->topic,
			       mt->partition_cnt, mt->partition_cnt ?
			       mt->partitions[0].replica_cnt : 0);
	}
	rd_kafka_metadata_destroy(md);
	if (missing)
		error("%d topics missing: run 'evc topics create'", missing);
	return missing ? EXIT_FAIL : EXIT_OK;
}

/*
 * lag: for each consumer group, the offsets it committed, the end of
 * each partition and the difference, as kafka-consumer-groups.sh
 * --describe shows them.
 */
struct lag_group {
	const char *name;	/* owned by the ListConsumerGroups event */
	const rd_kafka_ConsumerGroupDescription_t *desc;	/* NULL: none */
	rd_kafka_topic_partition_list_t *parts;	/* offset: committed */
	int64_t lag;		/* the sum of the lags known */
	int unknown;		/* partitions without a committed offset */
};

static rd_kafka_AdminOptions_t *admin_options(rd_kafka_t *rk,
					      rd_kafka_admin_op_t op)
{
	rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, op);

	rd_kafka_AdminOptions_set_request_timeout(opt, ADMIN_TIMEOUT_MS, NULL, 0);
	return opt;
}

/* The answer to the request queued on q, or NULL after a message. */
static rd_kafka_event_t *admin_result(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);

	if (!ev) {
		error("cannot %s: no answer from Kafka", what);
		return NULL;
	}
	if (rd_kafka_event_error(ev)) {
		error("cannot %s: %s", what, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every group of the cluster, sorted; the event keeps the names. */
static rd_kafka_event_t *list_groups(rd_kafka_t *rk, const char ***names,
				     size_t *n)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opt =
		admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
	const rd_kafka_ListConsumerGroups_result_t *res;
	const rd_kafka_ConsumerGroupListing_t **gl;
	const rd_kafka_error_t **errs;
	rd_kafka_event_t *ev;
	size_t nerr;

	rd_kafka_ListConsumerGroups(rk, opt, q);
	ev = admin_result(q, "list consumer groups");
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_queue_destroy(q);
	if (!ev)
		return NULL;
	res = rd_kafka_event_ListConsumerGroups_result(ev);
	/* A broker that did not answer: its groups are missing. */
	errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
	for (size_t i = 0; i < nerr; i++)
		warn("some consumer groups may be missing: %s",
		     rd_kafka_error_string(errs[i]));
	gl = rd_kafka_ListConsumerGroups_result_valid(res, n);
	*names = xcalloc(*n + 1, sizeof(**names));
	for (size_t i = 0; i < *n; i++)
		(*names)[i] = rd_kafka_ConsumerGroupListing_group_id(gl[i]);
	qsort(*names, *n, sizeof(**names), by_name);
	return ev;
}

/* The groups named (all when none is); -1 when one does not exist. */
static int select_groups(const char **all, size_t n, char **want, int nwant,
			 struct lag_group *g, size_t *ng)
{
	const char **found;
	int ret = 0;

	*ng = 0;
	for (size_t i = 0; !nwant && i < n; i++)
		g[(*ng)++].name = all[i];
	for (int i = 0; i < nwant; i++) {
		found = bsearch(&want[i], all, n, sizeof(*all), by_name);
		if (found)
			g[(*ng)++].name = *found;
		else
			ret = error("no such consumer group: '%s'", want[i]);
	}
	return ret;
}

/* State and members of the groups; each stays NULL when unknown. */
static rd_kafka_event_t *describe_groups(rd_kafka_t *rk, struct lag_group *g,
					 size_t n)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opt =
		admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	const rd_kafka_ConsumerGroupDescription_t **d = NULL;
	const char **names = xcalloc(n, sizeof(*names));
	rd_kafka_event_t *ev;
	size_t nd = 0;

	for (size_t i = 0; i < n; i++)
		names[i] = g[i].name;
	rd_kafka_DescribeConsumerGroups(rk, names, n, opt, q);
	ev = admin_result(q, "describe consumer groups");
	if (ev)
		d = rd_kafka_DescribeConsumerGroups_result_groups(
			rd_kafka_event_DescribeConsumerGroups_result(ev), &nd);
	for (size_t i = 0; i < nd; i++) {
		const char *id = rd_kafka_ConsumerGroupDescription_group_id(d[i]);

		for (size_t j = 0; j < n; j++)
			if (!strcmp(g[j].name, id) &&
			    !rd_kafka_ConsumerGroupDescription_error(d[i]))
				g[j].desc = d[i];
	}
	free(names);
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_queue_destroy(q);
	return ev;
}

/* A copy of what group committed, per partition; NULL on failure. */
static rd_kafka_topic_partition_list_t *committed(rd_kafka_t *rk,
						  const char *group)
{
	rd_kafka_ListConsumerGroupOffsets_t *req =
		rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opt =
		admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	rd_kafka_topic_partition_list_t *l = NULL;
	const rd_kafka_group_result_t **gr = NULL;
	const rd_kafka_error_t *err;
	rd_kafka_event_t *ev;
	size_t n = 0;

	rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opt, q);
	if ((ev = admin_result(q, "read committed offsets")))
		gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
			rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
	if (n == 1 && (err = rd_kafka_group_result_error(gr[0])))
		error("cannot read the offsets of group '%s': %s", group,
		      rd_kafka_error_string(err));
	else if (n == 1)
		l = rd_kafka_topic_partition_list_copy(
			rd_kafka_group_result_partitions(gr[0]));
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_queue_destroy(q);
	return l;
}

/*
 * Adds the partitions members hold but never committed, and notes in
 * each element's opaque the member that holds it.
 */
static void add_assigned(rd_kafka_topic_partition_list_t *l,
			 const rd_kafka_ConsumerGroupDescription_t *d)
{
	size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);

	for (size_t i = 0; i < nm; i++) {
		const rd_kafka_MemberDescription_t *m =
			rd_kafka_ConsumerGroupDescription_member(d, i);
		const rd_kafka_topic_partition_list_t *a =
			rd_kafka_MemberAssignment_partitions(
				rd_kafka_MemberDescription_assignment(m));

		for (int j = 0; a && j < a->cnt; j++) {
			const rd_kafka_topic_partition_t *p = &a->elems[j];
			rd_kafka_topic_partition_t *e;

			e = rd_kafka_topic_partition_list_find(l, p->topic,
							       p->partition);
			if (!e) {
				e = rd_kafka_topic_partition_list_add(
					l, p->topic, p->partition);
				e->offset = RD_KAFKA_OFFSET_INVALID;
			}
			e->opaque = (void *)m;
		}
	}
}

/*
 * One partition: committed, end, lag, and the member that holds it. A
 * group's name may be any text Kafka takes: its column is in display
 * columns (lib/textwidth.h).
 */
static void lag_row(rd_kafka_t *rk, struct lag_group *g,
		    const rd_kafka_topic_partition_t *p, int wg, int wt)
{
	const rd_kafka_MemberDescription_t *m = p->opaque;
	char done[24] = "-", end[24] = "-", lag[24] = "-", group[1024];
	int64_t lo, hi, d;
	bool has_end;

	has_end = !rd_kafka_query_watermark_offsets(rk, p->topic, p->partition,
						    &lo, &hi, ADMIN_TIMEOUT_MS);
	if (has_end)
		snprintf(end, sizeof(end), "%lld", (long long)hi);
	if (p->offset >= 0)
		snprintf(done, sizeof(done), "%lld", (long long)p->offset);
	if (has_end && p->offset >= 0) {
		d = hi > p->offset ? hi - p->offset : 0;
		snprintf(lag, sizeof(lag), "%lld", (long long)d);
		g->lag += d;
	} else {
		g->unknown++;
	}
	text_cell(group, sizeof(group), g->name, wg, true);
	printf("%s  %-*s  %9d  %10s  %10s  %8s  ", group, wt, p->topic,
	       (int)p->partition, done, end, lag);
	if (m)
		printf("%s %s\n", rd_kafka_MemberDescription_host(m),
		       rd_kafka_MemberDescription_client_id(m));
	else
		printf("-\n");
}

static void lag_summary(const struct lag_group *g)
{
	const rd_kafka_ConsumerGroupDescription_t *d = g->desc;
	size_t members = d ? rd_kafka_ConsumerGroupDescription_member_count(d) : 0;
	int n = g->parts ? g->parts->cnt : 0;

	printf("group %s: %s, %zu member%s, %d partition%s, lag %lld", g->name,
	       d ? rd_kafka_consumer_group_state_name(
			   rd_kafka_ConsumerGroupDescription_state(d)) : "Unknown",
	       members, members == 1 ? "" : "s", n, n == 1 ? "" : "s",
	       (long long)g->lag);
	if (g->unknown)
		printf(" (%d without a committed offset)", g->unknown);
	printf("\n");
}

/* Every partition of every group under one header, then one line each. */
static void lag_print(rd_kafka_t *rk, struct lag_group *g, size_t n)
{
	int wg = 5, wt = 5, rows = 0;

	for (size_t i = 0; i < n; i++) {
		wg = text_width(g[i].name) > wg ? text_width(g[i].name) : wg;
		for (int j = 0; j < g[i].parts->cnt; j++, rows++)
			if ((int)strlen(g[i].parts->elems[j].topic) > wt)
				wt = (int)strlen(g[i].parts->elems[j].topic);
	}
	if (rows)
		printf("%-*s  %-*s  %9s  %10s  %10s  %8s  %s\n", wg, "GROUP", wt,
		       "TOPIC", "PARTITION", "COMMITTED", "END", "LAG",
		       "CONSUMER");
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < g[i].parts->cnt; j++)
			lag_row(rk, &g[i], &g[i].parts->elems[j], wg, wt);
	for (size_t i = 0; i < n; i++)
		lag_summary(&g[i]);
}

/* Gathers what each group committed and holds, then prints it all. */
static int lag_report(rd_kafka_t *rk, struct lag_group *g, size_t n)
{
	rd_kafka_event_t *described = describe_groups(rk, g, n);
	int ret = EXIT_OK;

	for (size_t i = 0; i < n; i++) {
		if (!(g[i].parts = committed(rk, g[i].name))) {
			g[i].parts = rd_kafka_topic_partition_list_new(0);
			ret = EXIT_FAIL;
		}
		if (g[i].desc)
			add_assigned(g[i].parts, g[i].desc);
		rd_kafka_topic_partition_list_sort(g[i].parts, NULL, NULL);
	}
	lag_print(rk, g, n);
	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_destroy(g[i].parts);
	if (described)
		rd_kafka_event_destroy(described);
	return ret;
}

static int topics_lag(rd_kafka_t *rk, char **want, int nwant)
{
	const char **all = NULL;
	struct lag_group *g;
	rd_kafka_event_t *listed;
	size_t n, ng;
	int ret = EXIT_OK;

	if (!(listed = list_groups(rk, &all, &n)))
		return EXIT_FAIL;
	g = xcalloc(n + (size_t)nwant + 1, sizeof(*g));
	if (select_groups(all, n, want, nwant, g, &ng))
		ret = EXIT_FAIL;
	if (!n && !nwant)
		printf("no consumer groups\n");
	if (ng && lag_report(rk, g, ng))
		ret = EXIT_FAIL;
	free(g);
	free(all);
	rd_kafka_event_destroy(listed);
	return ret;
}

/*
 * The catalogue topic takes central.catalogue's CPs once, when it never
 * held a record: from then on it is the catalogue (evc cps changes it).
 * cat is NULL when the file is not on this machine: the first Central
 * seeds the topic then.
 */
static int seed(struct bus *b, const struct conf *c,
		const struct catalogue *cat)
{
	const char *topic = c->topics[T_CP_CATALOGUE], *file = c->central.catalogue;
	long n;
	int used;

	if (!file || !*file)
		return EXIT_OK;
	if ((used = registry_used(b)) < 0)
		return EXIT_FAIL;
	if (used) {
		printf("kept %s: it holds the catalogue ('%s' seeds only an empty one)\n",
		       topic, file);
		return EXIT_OK;
	}
	if (!cat) {
		printf("not seeded %s: no '%s' here (the first Central seeds it)\n",
		       topic, file);
		return EXIT_OK;
	}
	if ((n = registry_seed(b, cat, file, now_ms())) < 0)
		return EXIT_FAIL;
	printf("seeded %s with %ld CPs from '%s'\n", topic, n, file);
	return EXIT_OK;
}

/*
 * The seed, checked whole before Kafka is asked anything: 0, or -1 for
 * a bad file. *here is false when there is no file to read on this
 * machine (topics may be created anywhere; Central's has it).
 */
static int load_seed(const struct conf *c, struct catalogue *cat, bool *here)
{
	const char *file = c->central.catalogue;

	memset(cat, 0, sizeof(*cat));
	*here = file && *file && access(file, F_OK) == 0;
	if (!*here)
		return 0;
	if (catalogue_load(cat, file))
		return -1;
	if (!registry_check_file(cat, file))
		return 0;
	catalogue_free(cat);
	return -1;
}

static int run_create(const struct conf *c)
{
	struct catalogue cat;
	struct bus *b;
	bool here;
	int ret;

	if (load_seed(c, &cat, &here))
		return EXIT_USAGE;
	if ((b = admin_open(c, BUS_CONSUMER, &ret))) {
		if ((ret = topics_create(bus_handle(b), c)) == EXIT_OK)
			ret = seed(b, c, here ? &cat : NULL);
		bus_close(b, 0);
	}
	catalogue_free(&cat);
	return ret;
}

static int run(const struct conf *c, const char *what, char **args, int nargs)
{
	struct bus *b;
	rd_kafka_t *rk;
	int ret;

	if (strcmp(what, "create") && strcmp(what, "list") &&
	    strcmp(what, "describe") && strcmp(what, "lag"))
		return usage_error("unknown action: '%s'", what);
	if (nargs && strcmp(what, "lag"))
		return usage_error("expected one action: create, list or describe; or lag [GROUP...]");
	if (!strcmp(what, "create"))
		return run_create(c);
	if (!(b = admin_open(c, 0, &ret)))
		return ret;
	rk = bus_handle(b);
	if (!strcmp(what, "lag"))
		ret = topics_lag(rk, args, nargs);
	else
		ret = topics_show(rk, c, !strcmp(what, "describe"));
	bus_close(b, 0);
	return ret;
}

static int need_action(void *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argv;
	if (!argc)
		return usage_error("expected one action: create, list or describe; or lag [GROUP...]");
	return 0;
}

static int topics_run(void *ctx, struct setup *su)
{
	(void)ctx;
	return run(&su->conf, su->argv[0], su->argv + 1, su->argc - 1);
}

int cmd_topics(int argc, char **argv)
{
	struct setup_opts o = {
		.usage = usage, .operands = need_action, .run = topics_run,
	};

	return setup_run(&o, argc, argv);
}
