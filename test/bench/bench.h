/* bench.h: what the benchmark programs share: clocks, configuration, percentiles. */
#ifndef EVC_BENCH_H
#define EVC_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "lib/bus.h"
#include "lib/conf.h"

/* Nanoseconds of the monotonic clock: latencies need more than ms. */
int64_t bench_ns(void);

/* Loads FILE as evc does (-c FILE); exits 2 on a bad file. */
void bench_conf(struct conf *c, const char *file);

/* The same, with librdkafka properties after the file's (-X name=value). */
void bench_conf_args(struct conf *c, struct conf_args *a);

/*
 * Follows every partition of topic t from its end: for each partition
 * one key that hashes to it (prefix plus a number), so that bus_follow()
 * finds it as a reader of that key would.
 */
int bench_follow_every(struct bus *b, const struct conf *c, enum topic t);

/* Sorts v and returns the value at fraction q (nearest rank). */
int64_t bench_quantile(int64_t *v, size_t n, double q);
void bench_sort(int64_t *v, size_t n);

/* CPU seconds of process pid (its threads alive now), or of thread tid. */
double bench_cpu_of(int pid, int tid);

/* The number at the end of an id such as "dd0042" (-1 if none). */
long bench_id_num(const char *id);

#endif
