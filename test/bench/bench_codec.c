/* bench_codec.c: the cost per message of lib/msg.c's codecs, no Kafka: the floor under Central's ingest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/msg.h"
#include "test/bench/bench.h"

#define ROUNDS 200000

/* A telemetry message as a CP engine sends it. */
static void telemetry(struct msg *m)
{
	msg_init(m, MSG_TELEMETRY);
	snprintf(m->cp, sizeof(m->cp), "CPT00042");
	snprintf(m->driver, sizeof(m->driver), "dt00042");
	msg_new_uuid(m->session);
	m->u.prog.seq = 1234;
	m->u.prog.kw = 22.0;
	m->u.prog.wh = 7404;
	m->u.prog.cents = msg_cents(7404, 0.30);
}

static void line(const char *what, int64_t ns, long n)
{
	printf("codec %s ns_per_msg=%.0f per_s=%.0f\n", what,
	       (double)ns / (double)n, (double)n * 1e9 / (double)ns);
}

int main(void)
{
	char buf[8192], err[256];
	struct msg m, out;
	int64_t t0;
	int len = 0;
	long sink = 0;

	log_init("bench-codec");
	telemetry(&m);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++)
		len = msg_encode(&m, buf, sizeof(buf));
	line("encode", bench_ns() - t0, ROUNDS);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++)
		sink += msg_decode(buf, (size_t)len, &out, err, sizeof(err));
	line("decode", bench_ns() - t0, ROUNDS);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++)
		msg_init(&out, MSG_PROGRESS);
	line("init", bench_ns() - t0, ROUNDS);
	printf("codec bytes=%d failed=%ld\n", len, -sink);
	return sink ? EXIT_FAIL : EXIT_OK;
}
