/* diag.h: why Kafka cannot be used, once something failed: names that resolve to nothing, a librdkafka too old for the Kafka it meets, a broker certificate refused. */
#ifndef EVC_DIAG_H
#define EVC_DIAG_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

/*
 * The first librdkafka whose SCRAM login Kafka 4.0 and later accept:
 * older ones send the client's nonce twice in their final message, which
 * Kafka 3.8.1 to 3.9 let pass and Kafka 4.0 refuses as it does a wrong
 * password ("invalid credentials").
 */
#define DIAG_SCRAM_FIXED 0x020601ff	/* 2.6.1, as rd_kafka_version() */

enum diag_scram {
	DIAG_SCRAM_NONE,	/* this login cannot be the cause */
	DIAG_SCRAM_BROKEN,	/* the cause: old librdkafka, SCRAM, Kafka 4 */
	DIAG_SCRAM_MAYBE,	/* the cause if Kafka is 4.0 or later (unknown) */
};

/*
 * The rule: a refused SCRAM login is librdkafka's doing when librdkafka
 * is older than 2.6.1 (rdkafka_version as rd_kafka_version() gives it),
 * the mechanism is SCRAM-SHA-256 or -512, and Kafka is 4.0 or later
 * (kafka4: 1 yes, 0 no, -1 unknown).
 */
enum diag_scram diag_scram_rule(int rdkafka_version, const char *mechanism,
				int kafka4);

/*
 * The lowest version of API key in an ApiVersions v0 response (p, n: the
 * bytes after its size field, correlation id first), or -1 when the
 * response is malformed, says an error, or lacks the key.
 */
int diag_apiv_min(const unsigned char *p, size_t n, int key);

/*
 * Whether the Kafka at brokers (host:port,...) is 4.0 or later, asked in
 * plain TCP with an ApiVersions request, which Kafka answers before any
 * login: 1 yes (Fetch below version 4 is gone, KIP-896), 0 no, -1 when
 * no broker answered within timeout_ms.
 */
int diag_kafka4(const char *brokers, int timeout_ms);

/* True when brokers names hosts and not one of them resolves. */
int diag_unresolved(const char *brokers);

/*
 * After rk's login to brokers was refused (reason: librdkafka's words):
 * the one line to say, into buf, when the SCRAM rule explains it or may;
 * NULL when it does not.
 */
const char *diag_login(rd_kafka_t *rk, const char *brokers,
		       const char *reason, char *buf, size_t n);

/*
 * Why a TLS connection to a broker failed, into buf (returned): from the
 * X.509 verification error OpenSSL found in the broker's certificate
 * (x509, numbered as <openssl/x509_vfy.h> does, a stable ABI; 0 when
 * none was seen), librdkafka's words (reason, "PROTO://HOST:PORT/NAME:
 * what (after ...)"), and the CA file trusted (ca, ssl.ca.location; ""
 * or NULL for the system's CAs). The broker is named unless it is all
 * of brokers. The handshake's own error reads the same ("certificate
 * verify failed") whether the CA or the host name was wrong: x509 tells
 * them apart.
 */
const char *diag_tls(int x509, const char *reason, const char *ca,
		     const char *brokers, char *buf, size_t n);

#endif
