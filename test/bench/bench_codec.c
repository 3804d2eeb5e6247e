/* bench_codec.c: the cost per message of lib/msg.c's codecs, no Kafka: the floor under Central's ingest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/keyring.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "test/bench/bench.h"

#define ROUNDS 200000
/*
 * Distinct messages, as a stream has them: decoding one message over and
 * over lets the branch predictor learn its ids and flatters the decoder.
 */
#define NMSG 4096
#define MSG_BUF 512

/* A telemetry message as a CP engine sends it, for CP number i. */
static void telemetry(struct msg *m, int i)
{
	msg_init(m, MSG_TELEMETRY);
	snprintf(m->cp, sizeof(m->cp), "CPT%05d", i % 2000 + 1);
	snprintf(m->driver, sizeof(m->driver), "dt%05d", i % 2000 + 1);
	msg_new_uuid(m->session);
	m->u.prog.seq = (uint32_t)(1234 + i);
	m->u.prog.kw = 22.0;
	m->u.prog.wh = 7404 + i;
	m->u.prog.cents = msg_cents(7404 + i, 0.30);
}

/*
 * The cost of keys per message: a CP's MAC over the record, and
 * Central's verdict on it against a table of 2,000 CPs' keys.
 */
static void seal_costs(char buf[][MSG_BUF], const int *len, long *sink);

static void line(const char *what, int64_t ns, long n)
{
	printf("codec %s ns_per_msg=%.0f per_s=%.0f\n", what,
	       (double)ns / (double)n, (double)n * 1e9 / (double)ns);
}

int main(void)
{
	static struct msg m[NMSG];
	static char buf[NMSG][MSG_BUF];
	static int len[NMSG];
	char err[256];
	struct msg out;
	int64_t t0;
	long sink = 0;

	log_init("bench-codec");
	for (int i = 0; i < NMSG; i++)
		telemetry(&m[i], i);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++) {
		int k = (int)(i % NMSG);

		len[k] = msg_encode(&m[k], buf[k], MSG_BUF);
	}
	line("encode", bench_ns() - t0, ROUNDS);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++) {
		int k = (int)(i % NMSG);

		sink += msg_decode(buf[k], (size_t)len[k], &out, err, sizeof(err));
	}
	line("decode", bench_ns() - t0, ROUNDS);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++)
		msg_init(&out, MSG_PROGRESS);
	line("init", bench_ns() - t0, ROUNDS);
	seal_costs(buf, len, &sink);
	printf("codec bytes=%d failed=%ld\n", len[0], -sink);
	return sink ? EXIT_FAIL : EXIT_OK;
}

static void seal_costs(char buf[][MSG_BUF], const int *len, long *sink)
{
	static unsigned char mac[NMSG][SEAL_MAC_LEN];
	struct seal_entry e = { 0 };
	struct keyring k;
	char cp[NMSG][16], id[16], kid[SEAL_KID_MAX + 1];
	int64_t t0;

	keyring_init(&k, true);
	for (int i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "CPT%05d", i + 1);
		snprintf(e.cur.kid, sizeof(e.cur.kid), "%s.1", id);
		memset(e.cur.key, i, SEAL_KEY_LEN);
		keyring_set(&k, id, &e);
	}
	for (int i = 0; i < NMSG; i++)
		snprintf(cp[i], sizeof(cp[i]), "CPT%05d", i % 2000 + 1);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++) {
		int j = (int)(i % NMSG);
		struct seal_rec r = { "telemetry", cp[j], 8, buf[j], (size_t)len[j] };

		seal_mac(keyring_key(&k, cp[j]), &r, mac[j]);
	}
	line("seal_sign", bench_ns() - t0, ROUNDS);
	t0 = bench_ns();
	for (long i = 0; i < ROUNDS; i++) {
		int j = (int)(i % NMSG);
		struct seal_rec r = { "telemetry", cp[j], 8, buf[j], (size_t)len[j] };

		snprintf(kid, sizeof(kid), "%s.1", cp[j]);
		*sink -= keyring_verify(&k, cp[j], kid, mac[j], SEAL_MAC_LEN, &r, 0) != KEYRING_OK;
	}
	line("seal_verify", bench_ns() - t0, ROUNDS);
	keyring_free(&k);
}
