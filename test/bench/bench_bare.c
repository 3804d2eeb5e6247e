/* bench_bare.c: the ingest baseline: a bare librdkafka consumer reads the same telemetry, decoding nothing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/bus.h"
#include "lib/log.h"
#include "test/bench/bench.h"

#define POLL_MS 100
#define READ_NS 300000000000LL
#define MAX_PARTS 256

static const char usage[] =
	"usage: bench_bare -c FILE -r P:FROM-TO[,P:FROM-TO]...\n"
	"\n"
	"Reads the offsets FROM to TO (excluded) of each partition P of the\n"
	"telemetry topic, with the consumer settings evc's bus uses, and\n"
	"times it: a consumer that does nothing with what it reads.\n";

struct part {
	int64_t from, to;
	int done;
};

static int parse_range(const char *s, struct part *p, int *np)
{
	long long from, to;
	int part, len;

	*np = 0;
	while (sscanf(s, "%d:%lld-%lld%n", &part, &from, &to, &len) == 3) {
		if (part < 0 || part >= MAX_PARTS || from > to)
			return -1;
		p[part] = (struct part){ from, to, from == to };
		if (part + 1 > *np)
			*np = part + 1;
		s += len;
		if (*s != ',')
			break;
		s++;
	}
	return *s || !*np ? -1 : 0;
}

static void set(rd_kafka_conf_t *kc, const char *name, const char *value)
{
	char err[256];

	if (rd_kafka_conf_set(kc, name, value, err, sizeof(err)))
		die(EXIT_USAGE, "bad Kafka property: '%s': %s", name, err);
}

/* As lib/bus.c configures a consumer, so that only the work differs. */
static rd_kafka_t *consumer(const struct conf *c)
{
	rd_kafka_conf_t *kc = bus_kafka_conf(c);
	char err[256];
	rd_kafka_t *rk;

	if (!kc)
		exit(EXIT_USAGE);
	set(kc, "group.id", "bench-bare");
	set(kc, "enable.auto.commit", "false");
	set(kc, "fetch.wait.max.ms", "100");
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err))))
		die(EXIT_UNREACHABLE, "cannot create Kafka client: %s", err);
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

static double cpu(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void assign(rd_kafka_t *rk, const char *topic, struct part *p, int n)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);

	for (int i = 0; i < n; i++)
		if (!p[i].done)
			rd_kafka_topic_partition_list_add(l, topic, i)->offset =
				p[i].from;
	if (rd_kafka_assign(rk, l))
		die(EXIT_FAIL, "cannot assign '%s'", topic);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Reads until every partition is at its TO; returns the messages read. */
static long drain(rd_kafka_t *rk, struct part *p, int n, unsigned *sum)
{
	int64_t end = bench_ns() + READ_NS;
	int left = 0;
	long count = 0;

	for (int i = 0; i < n; i++)
		left += !p[i].done;
	while (left > 0 && bench_ns() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, POLL_MS);

		if (!m)
			continue;
		if (!m->err && m->partition < n) {
			struct part *q = &p[m->partition];

			count++;
			*sum += m->len + (m->len ? ((unsigned char *)m->payload)[m->len - 1] : 0);
			if (!q->done && m->offset + 1 >= q->to) {
				q->done = 1;
				left--;
			}
		}
		rd_kafka_message_destroy(m);
	}
	return left ? -1 : count;
}

int main(int argc, char **argv)
{
	const char *config = NULL, *range = NULL;
	struct part p[MAX_PARTS] = { 0 };
	double c0, m0, secs, all, main_;
	int np, opt;
	int64_t lo, hi, t0;
	unsigned sum = 0;
	struct conf c;
	rd_kafka_t *rk;
	long n;

	log_init("bench-bare");
	while ((opt = getopt(argc, argv, "c:hr:")) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		case 'r': range = optarg; break;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (!config || !range || parse_range(range, p, &np)) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	bench_conf(&c, config);
	rk = consumer(&c);
	/* Connected and the leader known before the clock starts. */
	if (rd_kafka_query_watermark_offsets(rk, c.topics[T_TELEMETRY], 0, &lo,
					     &hi, 10000))
		die(EXIT_UNREACHABLE, "cannot reach Kafka at '%s'", c.brokers);
	t0 = bench_ns();
	c0 = cpu(RUSAGE_SELF);
	m0 = cpu(RUSAGE_THREAD);
	assign(rk, c.topics[T_TELEMETRY], p, np);
	if ((n = drain(rk, p, np, &sum)) < 0)
		die(EXIT_FAIL, "the telemetry did not reach its end offsets");
	secs = (double)(bench_ns() - t0) / 1e9;
	all = cpu(RUSAGE_SELF) - c0;
	main_ = cpu(RUSAGE_THREAD) - m0;
	printf("bare n=%ld secs=%.3f rate=%.0f cpu=%.3f main_cpu=%.3f"
	       " rate_per_cpu=%.0f rate_per_main=%.0f check=%u\n", n, secs,
	       n / secs, all, main_, n / all, n / main_, sum);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	conf_free(&c);
	return EXIT_OK;
}
