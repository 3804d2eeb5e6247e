/* diag_test.c: the SCRAM rule, the reading of ApiVersions answers, of broker names and of TLS failures, without a broker. */
#include <string.h>

#include "lib/diag.h"
#include "test/unit/check.h"

/* An ApiVersions v0 answer of evc's correlation id: n keys of (key, min, max). */
static size_t answer(unsigned char *p, int err, const int (*keys)[3], int n)
{
	static const unsigned char corr[] = { 0x65, 0x76, 0x63, 0x01 };
	size_t len = 0;

	memcpy(p, corr, 4);
	len = 4;
	p[len++] = (unsigned char)(err >> 8);
	p[len++] = (unsigned char)err;
	p[len++] = 0;
	p[len++] = 0;
	p[len++] = 0;
	p[len++] = (unsigned char)n;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 3; j++) {
			p[len++] = (unsigned char)(keys[i][j] >> 8);
			p[len++] = (unsigned char)keys[i][j];
		}
	return len;
}

static void rule(void)
{
	check(diag_scram_rule(0x020002ff, "SCRAM-SHA-512", 1) == DIAG_SCRAM_BROKEN,
	      "librdkafka 2.0.2, SCRAM-SHA-512, Kafka 4: librdkafka's doing");
	check(diag_scram_rule(0x020600ff, "scram-sha-256", 1) == DIAG_SCRAM_BROKEN,
	      "2.6.0 still fails, whatever the case of the mechanism");
	check(diag_scram_rule(0x020601ff, "SCRAM-SHA-512", 1) == DIAG_SCRAM_NONE,
	      "2.6.1 logs in with SCRAM to Kafka 4");
	check(diag_scram_rule(0x020800ff, "SCRAM-SHA-512", -1) == DIAG_SCRAM_NONE,
	      "2.8.0 (Debian 13) is never the cause");
	check(diag_scram_rule(0x020002ff, "SCRAM-SHA-512", 0) == DIAG_SCRAM_NONE,
	      "Kafka 3.9 accepts 2.0.2's SCRAM: a refusal is a wrong password");
	check(diag_scram_rule(0x020002ff, "SCRAM-SHA-512", -1) == DIAG_SCRAM_MAYBE,
	      "Kafka's version unknown (TLS): the cause only if it is 4.0 or later");
	check(diag_scram_rule(0x020002ff, "PLAIN", 1) == DIAG_SCRAM_NONE,
	      "another mechanism (PLAIN) is not concerned");
	check(diag_scram_rule(0x020002ff, "", 1) == DIAG_SCRAM_NONE &&
	      diag_scram_rule(0x020002ff, NULL, 1) == DIAG_SCRAM_NONE,
	      "no mechanism, no SCRAM");
}

static void apiversions(void)
{
	static const int kafka39[][3] = { { 0, 0, 11 }, { 1, 0, 17 }, { 18, 0, 4 } };
	static const int kafka44[][3] = { { 0, 0, 13 }, { 1, 4, 18 }, { 18, 0, 5 } };
	unsigned char p[128];
	size_t n;

	n = answer(p, 0, kafka39, 3);
	check(diag_apiv_min(p, n, 1) == 0, "Kafka 3.9 serves Fetch from version 0");
	n = answer(p, 0, kafka44, 3);
	check(diag_apiv_min(p, n, 1) == 4, "Kafka 4.4 serves Fetch from version 4");
	check(diag_apiv_min(p, n, 18) == 0, "and ApiVersions from 0");
	check(diag_apiv_min(p, n, 99) == -1, "a key it lacks: -1");
	check(diag_apiv_min(p, n - 1, 1) == -1, "a short answer: -1");
	check(diag_apiv_min(p, 9, 1) == -1, "shorter than its header: -1");
	p[3] = 2;
	check(diag_apiv_min(p, n, 1) == -1, "another correlation id: -1");
	n = answer(p, 35, kafka44, 3);
	check(diag_apiv_min(p, n, 1) == -1, "an error code: -1");
	n = answer(p, 0, kafka44, 3);
	p[9] = 200;
	check(diag_apiv_min(p, n, 1) == -1, "a count beyond the bytes: -1");
}

static void names(void)
{
	check(diag_unresolved("no-such-host.invalid:9092"),
	      "a name that cannot resolve (.invalid) is unresolved");
	check(diag_unresolved("a.invalid:9092,b.invalid:9092,c.invalid:9092"),
	      "three of them too");
	check(!diag_unresolved("127.0.0.1:9092"), "an address resolves");
	check(!diag_unresolved("x.invalid:9092, 127.0.0.1:9092"),
	      "one broker that resolves is enough");
	check(!diag_unresolved("PLAINTEXT://127.0.0.1:9092"),
	      "with a protocol in front");
	check(!diag_unresolved("[::1]:9092"), "an IPv6 address in brackets");
	check(!diag_unresolved(""), "no broker: nothing to say about names");
}

/* librdkafka's words for a handshake that a certificate failed. */
#define VERIFY_FAILED "sasl_ssl://kafka2:9092/2: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 3ms in state SSL_HANDSHAKE)"
#define THREE "kafka1:9092,kafka2:9092,kafka3:9092"

static void tls(void)
{
	char b[512];

	check(!strcmp(diag_tls(62, VERIFY_FAILED, "/etc/evc/ca.pem", THREE, b, sizeof(b)),
		      "the certificate of kafka2:9092 is for another host: its subjectAltName does not hold 'kafka2'"),
	      "a host name mismatch names the host: %s", b);
	check(!strcmp(diag_tls(64, "ssl://127.0.0.1:9093/bootstrap: x", "", "127.0.0.1:9093", b, sizeof(b)),
		      "its certificate is for another host: its subjectAltName does not hold '127.0.0.1'"),
	      "an address mismatch too; the only broker is not named again: %s", b);
	check(!strcmp(diag_tls(19, VERIFY_FAILED, "/etc/evc/ca.pem", THREE, b, sizeof(b)),
		      "the certificate of kafka2:9092 is not signed by the CA of ssl.ca.location '/etc/evc/ca.pem'"),
	      "a chain from another CA names the CA file trusted: %s", b);
	check(!strcmp(diag_tls(20, VERIFY_FAILED, NULL, THREE, b, sizeof(b)),
		      "the certificate of kafka2:9092 is not signed by a CA this machine trusts (set ssl.ca.location to the certificate of Kafka's CA)"),
	      "without ssl.ca.location, the system's CAs: %s", b);
	check(strstr(diag_tls(10, VERIFY_FAILED, "", THREE, b, sizeof(b)), "has expired") != NULL,
	      "an expired certificate: %s", b);
	check(strstr(diag_tls(45, VERIFY_FAILED, "", THREE, b, sizeof(b)), "(X.509 error 45)") != NULL,
	      "another error is given by its number: %s", b);
	check(!strcmp(diag_tls(0, "ssl://[::1]:9093/bootstrap: SSL handshake failed: error:0A00010B:SSL routines::wrong version number (after 1ms in state SSL_HANDSHAKE)", "", "[::1]:9093", b, sizeof(b)),
		      "SSL handshake failed: error:0A00010B:SSL routines::wrong version number"),
	      "no certificate error: librdkafka's words without broker or timing: %s", b);
	check(!strcmp(diag_tls(0, "no broker in front", "", THREE, b, sizeof(b)),
		      "no broker in front"),
	      "words in another form are kept whole");
	check(strlen(diag_tls(62, VERIFY_FAILED, "", THREE, b, 20)) == 19,
	      "a short buffer is filled, not overrun");
}

int main(void)
{
	rule();
	apiversions();
	names();
	tls();
	return check_done();
}
