/* broker.c: the broker role: an in-memory Kafka for demos on one machine. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/setup.h"

static const char usage[] =
	"usage: evc broker [-v] [-c FILE] [-p PARTITIONS]\n"
	"\n"
	"Runs librdkafka's in-memory mock cluster with every evc topic, prints\n"
	"its address and writes it where evc processes of this user look when\n"
	"no broker is configured. For demos and development only: nothing\n"
	"persists. Stop it with Ctrl-C or SIGTERM.\n"
	"\n"
	"  -c, --config FILE      configuration file (topic names, partitions)\n"
	"  -h, --help             show this help\n"
	"  -p, --partitions N     partitions per topic (default: evc.yaml's)\n"
	"  -v, --verbose          print debugging output\n";

/* Creates the directories of the runtime file, private to this user. */
static int make_parent(const char *path)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if (!(slash = strrchr(dir, '/')))
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) && errno != EEXIST)
		return error("cannot create directory: '%s': %s", dir,
			     strerror(errno));
	return 0;
}

static int write_address(const char *path, const char *addr)
{
	char tmp[4200];
	FILE *f;

	if (make_parent(path))
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "w")))
		return error("cannot write: '%s': %s", tmp, strerror(errno));
	fprintf(f, "%s\n", addr);
	if (fclose(f) || rename(tmp, path)) {
		unlink(tmp);
		return error("cannot write: '%s': %s", path, strerror(errno));
	}
	return 0;
}

/* Removes the runtime file unless another broker has replaced it. */
static void remove_address(const char *path, const char *addr)
{
	char line[256] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (fgets(line, sizeof(line), f))
		line[strcspn(line, "\n")] = '\0';
	fclose(f);
	if (!strcmp(line, addr))
		unlink(path);
}

static rd_kafka_mock_cluster_t *start_cluster(rd_kafka_t **rkp)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	char err[256];

	/* This handle only hosts the cluster: it connects nowhere. */
	rd_kafka_conf_set(kc, "log_level", "0", err, sizeof(err));
	if (!(*rkp = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err)))) {
		rd_kafka_conf_destroy(kc);
		error("cannot start the mock cluster: %s", err);
		return NULL;
	}
	if (!(mc = rd_kafka_mock_cluster_new(*rkp, 1))) {
		error("cannot start the mock cluster");
		rd_kafka_destroy(*rkp);
	}
	return mc;
}

static int serve(const struct conf *c, unsigned partitions)
{
	rd_kafka_mock_cluster_t *mc;
	char path[4096];
	const char *addr;
	rd_kafka_t *rk;
	int ret = EXIT_OK;

	if (conf_broker_file(path, sizeof(path))) {
		error("cannot find a runtime directory");
		return EXIT_FAIL;
	}
	if (!(mc = start_cluster(&rk)))
		return EXIT_FAIL;
	for (int t = 0; t < T_COUNT; t++)
		rd_kafka_mock_topic_create(mc, c->topics[t],
			t == T_CENTRAL_LEASE || t == T_AUDIT ? 1 :
			(int)partitions, 1);
	addr = rd_kafka_mock_cluster_bootstraps(mc);
	if (write_address(path, addr)) {
		ret = EXIT_FAIL;
		goto out;
	}
	printf("%s\n", addr);
	fflush(stdout);
	info("serving %d topics of %u partitions, Central's lease and the audit trail at '%s' (in memory: nothing persists)",
	     T_COUNT - 2, partitions, addr);
	bus_signals();
	while (!bus_stop)
		pause();
	info("stopping");
	remove_address(path, addr);
out:
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return ret;
}

static int parse_partitions(const char *s, unsigned *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 1 || v > 1000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int broker_opt(void *ctx, int opt, const char *arg)
{
	(void)opt;
	if (parse_partitions(arg, ctx))
		return usage_error("bad value for '--partitions': '%s' (1 to 1000)",
				   arg);
	return 0;
}

static int no_operand(void *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc)
		return usage_error("unexpected argument: '%s'", argv[0]);
	return 0;
}

static int broker_run(void *ctx, struct setup *su)
{
	unsigned partitions = *(unsigned *)ctx;

	return serve(&su->conf, partitions ? partitions : su->conf.partitions);
}

int cmd_broker(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "partitions", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned partitions = 0;
	struct setup_opts o = {
		.usage = usage, .shortopts = "p:", .longopts = opts,
		.opt = broker_opt, .operands = no_operand, .run = broker_run,
		.ctx = &partitions,
	};

	return setup_run(&o, argc, argv);
}
