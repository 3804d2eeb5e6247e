/* topics.c: the topics role: create, list and describe evc's topics. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/log.h"

#define ADMIN_TIMEOUT_MS 15000

static const char usage[] =
	"usage: evc topics [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... create\n"
	"       evc topics [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... list\n"
	"       evc topics [-v] [-b BROKERS] [-c FILE] [-X NAME=VALUE]... describe\n"
	"\n"
	"  create     create every evc topic (existing ones are reported)\n"
	"  list       one line per evc topic: name, partitions, replicas\n"
	"  describe   every partition: leader, replicas, in-sync replicas\n"
	"\n"
	"  -b, --brokers BROKERS  Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE      configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help             show this help\n"
	"  -v, --verbose          print debugging output\n"
	"  -X NAME=VALUE          set a librdkafka property\n";

/* An admin-capable handle, checked to answer, or NULL after a message. */
static rd_kafka_t *admin_open(const struct conf *c)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_conf_t *kc = bus_kafka_conf(c);
	rd_kafka_resp_err_t err;
	char msg[512];
	rd_kafka_t *rk;

	if (!kc)
		return NULL;
	if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, msg, sizeof(msg)))) {
		rd_kafka_conf_destroy(kc);
		error("cannot create Kafka client: %s", msg);
		return NULL;
	}
	err = rd_kafka_metadata(rk, 0, NULL, &md, 5000);
	if (err) {
		error("cannot reach Kafka at '%s': %s", c->brokers,
		      rd_kafka_err2str(err));
		rd_kafka_destroy(rk);
		return NULL;
	}
	rd_kafka_metadata_destroy(md);
	return rk;
}

static rd_kafka_NewTopic_t *new_topic(const struct conf *c, enum topic t)
{
	rd_kafka_NewTopic_t *nt;
	char err[256];

	nt = rd_kafka_NewTopic_new(c->topics[t], (int)c->partitions,
				   (int)c->replication, err, sizeof(err));
	if (!nt)
		die(EXIT_USAGE, "cannot create topic '%s': %s", c->topics[t],
		    err);
	/* Central's state topic keeps only the last state of each CP. */
	if (t == T_CP_STATE)
		rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
	return nt;
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

		if (!err)
			printf("created %s (%u partitions, replication %u)\n",
			       name, c->partitions, c->replication);
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
static int all_exist(rd_kafka_t *rk, const struct conf *c);

static int topics_create(rd_kafka_t *rk, const struct conf *c)
{
	rd_kafka_NewTopic_t *nts[T_COUNT];
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opt;
	rd_kafka_event_t *ev;
	int ret = EXIT_OK;

	/* Nothing to ask for: also what makes create work on evc broker. */
	if (all_exist(rk, c)) {
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

static int all_exist(rd_kafka_t *rk, const struct conf *c)
{
	const struct rd_kafka_metadata *md;
	int ok = 1;

	if (rd_kafka_metadata(rk, 1, NULL, &md, 5000))
		return 0;
	for (int t = 0; t < T_COUNT && ok; t++)
		ok = find_topic(md, c->topics[t]) != NULL;
	for (int t = 0; t < T_COUNT && ok; t++)
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

static int run(const struct conf *c, const char *what)
{
	rd_kafka_t *rk;
	int ret;

	if (strcmp(what, "create") && strcmp(what, "list") &&
	    strcmp(what, "describe"))
		return usage_error("unknown action: '%s'", what);
	if (!(rk = admin_open(c)))
		return EXIT_UNREACHABLE;
	if (!strcmp(what, "create"))
		ret = topics_create(rk, c);
	else
		ret = topics_show(rk, c, !strcmp(what, "describe"));
	rd_kafka_destroy(rk);
	return ret;
}

int cmd_topics(int argc, char **argv)
{
	static const struct option opts[] = {
		CONF_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct conf_args a = { 0 };
	struct conf c;
	int opt, r, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, CONF_SHORTOPTS "h", opts,
				  NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			conf_args_free(&a);
			return EXIT_OK;
		}
		if ((r = conf_opt(&a, opt, optarg)) <= 0) {
			conf_args_free(&a);
			return r < 0 ? EXIT_USAGE : opt_error(argv, optind, optopt);
		}
	}
	if (optind != argc - 1) {
		conf_args_free(&a);
		return usage_error("expected one action: create, list or describe");
	}
	if (conf_load(&c, &a)) {
		conf_args_free(&a);
		return EXIT_USAGE;
	}
	ret = run(&c, argv[optind]);
	conf_free(&c);
	conf_args_free(&a);
	return ret;
}
