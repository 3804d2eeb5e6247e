/* bench.c: what the benchmark programs share: clocks, configuration, percentiles. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "test/bench/bench.h"

int64_t bench_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_conf(struct conf *c, const char *file)
{
	struct conf_args a = { 0 };

	a.config = file;
	bench_conf_args(c, &a);
}

void bench_conf_args(struct conf *c, struct conf_args *a)
{
	int rc = conf_load(c, a);

	conf_args_free(a);
	if (rc)
		exit(EXIT_USAGE);
}

int bench_follow_every(struct bus *b, const struct conf *c, enum topic t)
{
	int n = (int)c->partitions, done = 0;
	char *seen = xcalloc((size_t)n, 1);
	char key[32];

	for (int i = 0; done < n && i < 100000; i++) {
		int32_t p;

		snprintf(key, sizeof(key), "k%d", i);
		p = rd_kafka_msg_partitioner_consistent(NULL, key, strlen(key),
							n, NULL, NULL);
		if (seen[p])
			continue;
		if (bus_follow(b, t, key, 0)) {
			free(seen);
			return -1;
		}
		seen[p] = 1;
		done++;
	}
	free(seen);
	return done == n ? 0 : error("cannot cover the partitions of '%s'",
				     c->topics[t]);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

void bench_sort(int64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp64);
}

/* v must be sorted: the smallest value with at least q of v at or below. */
int64_t bench_quantile(int64_t *v, size_t n, double q)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return v[(rank > n ? n : rank) - 1];
}

/* Nanoseconds a thread ran: the first field of its schedstat. */
static double thread_cpu(int pid, const char *tid)
{
	char path[96];
	unsigned long long ns;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, tid);
	if (!(f = fopen(path, "r")))
		return 0;
	ok = fscanf(f, "%llu", &ns) == 1;
	fclose(f);
	return ok ? (double)ns / 1e9 : 0;
}

/* Every thread still running is summed: librdkafka's live ones all are. */
double bench_cpu_of(int pid, int tid)
{
	char path[64], num[24];
	struct dirent *e;
	double sum = 0;
	DIR *d;

	if (tid) {
		snprintf(num, sizeof(num), "%d", tid);
		return thread_cpu(pid, num);
	}
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			sum += thread_cpu(pid, e->d_name);
	closedir(d);
	return sum;
}

long bench_id_num(const char *id)
{
	size_t n = strlen(id), i = n;

	while (i > 0 && isdigit((unsigned char)id[i - 1]))
		i--;
	return i < n ? strtol(id + i, NULL, 10) : -1;
}
