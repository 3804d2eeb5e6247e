/* diag.c: why Kafka cannot be used, once something failed: names that resolve to nothing, a librdkafka too old for the Kafka it meets, a broker certificate refused. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "xalloc.h"

#define APIV_KEY 18		/* ApiVersions */
#define FETCH_KEY 1
#define FETCH_MIN_KAFKA4 4	/* Kafka 4.0 dropped Fetch v0-v3 (KIP-896) */
#define APIV_CORR 0x65766301	/* our correlation id */
#define APIV_MAX 65536		/* a longer answer is not Kafka's */

enum diag_scram diag_scram_rule(int rdkafka_version, const char *mechanism,
				int kafka4)
{
	if (rdkafka_version >= DIAG_SCRAM_FIXED || !mechanism ||
	    strncasecmp(mechanism, "SCRAM-", 6) || kafka4 == 0)
		return DIAG_SCRAM_NONE;
	return kafka4 > 0 ? DIAG_SCRAM_BROKEN : DIAG_SCRAM_MAYBE;
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

int diag_apiv_min(const unsigned char *p, size_t n, int key)
{
	uint32_t count;

	if (n < 10 || get32(p) != APIV_CORR || get16(p + 4) != 0)
		return -1;
	count = get32(p + 6);
	if (count > (n - 10) / 6)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = p + 10 + 6 * i;

		if ((int)get16(e) == key)
			return (int)(int16_t)get16(e + 2);
	}
	return -1;
}

/* The host and port of one "[proto://]host:port" into host and port. */
static int split_broker(const char *b, size_t len, char *host, size_t hn,
			char *port, size_t pn)
{
	const char *end = b + len, *colon, *s = memmem(b, len, "://", 3);

	if (s)
		b = s + 3;
	if (*b == '[') {	/* [v6]:port */
		if (!(s = memchr(b, ']', (size_t)(end - b))) || s + 1 >= end ||
		    s[1] != ':')
			return -1;
		colon = s + 1;
		b++;
	} else {
		for (colon = NULL, s = b; s < end; s++)
			if (*s == ':')
				colon = s;
		if (!colon)
			return -1;
		s = colon;
	}
	if ((size_t)(s - b) >= hn || (size_t)(end - colon - 1) >= pn ||
	    s == b)
		return -1;
	snprintf(host, hn, "%.*s", (int)(s - b), b);
	snprintf(port, pn, "%.*s", (int)(end - colon - 1), colon + 1);
	return 0;
}

/* Calls fn on each broker of the list until it returns non-zero. */
static int each_broker(const char *brokers,
		       int (*fn)(const char *host, const char *port, void *),
		       void *arg)
{
	char host[256], port[16];
	const char *p = brokers, *comma;
	int r;

	while (p && *p) {
		comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		while (len && *p == ' ')
			p++, len--;
		if (!split_broker(p, len, host, sizeof(host), port,
				  sizeof(port)) &&
		    (r = fn(host, port, arg)))
			return r;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static int resolves(const char *host, const char *port, void *arg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;

	(void)arg;
	if (getaddrinfo(host, port, &hints, &ai))
		return 0;
	freeaddrinfo(ai);
	return 1;
}

int diag_unresolved(const char *brokers)
{
	return brokers && *brokers && !each_broker(brokers, resolves, NULL);
}

/* Waits for fd to be ready for events until the deadline; 0 when it is. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pf = { .fd = fd, .events = events };
	long long left = deadline - mono_ms();

	if (left <= 0 || poll(&pf, 1, (int)left) != 1)
		return -1;
	return 0;
}

static int connect_by(const struct addrinfo *a, long long deadline)
{
	int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK |
			SOCK_CLOEXEC, a->ai_protocol), err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	if (connect(fd, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Reads exactly n bytes by the deadline. */
static int read_all(int fd, unsigned char *p, size_t n, long long deadline)
{
	ssize_t r;

	while (n) {
		if (wait_fd(fd, POLLIN, deadline))
			return -1;
		if ((r = read(fd, p, n)) <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ApiVersions v0 on fd: Fetch's lowest version, or -1. */
static int ask_versions(int fd, long long deadline)
{
	static const unsigned char req[] = {
		0, 0, 0, 13,			/* size */
		0, APIV_KEY, 0, 0,		/* key, version 0 */
		APIV_CORR >> 24, (APIV_CORR >> 16) & 0xff,
		(APIV_CORR >> 8) & 0xff, APIV_CORR & 0xff,
		0, 3, 'e', 'v', 'c',		/* client id */
	};
	unsigned char size[4], *resp;
	uint32_t n;
	int min = -1;

	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req) ||
	    read_all(fd, size, sizeof(size), deadline))
		return -1;
	if ((n = get32(size)) < 10 || n > APIV_MAX)
		return -1;
	resp = xmalloc(n);
	if (!read_all(fd, resp, n, deadline))
		min = diag_apiv_min(resp, n, FETCH_KEY);
	free(resp);
	return min;
}

struct probe {
	long long deadline;
	int fetch_min;
};

static int probe_one(const char *host, const char *port, void *arg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	struct probe *pr = arg;
	int fd;

	if (mono_ms() >= pr->deadline || getaddrinfo(host, port, &hints, &ai))
		return 0;
	for (a = ai; a && pr->fetch_min < 0; a = a->ai_next) {
		if ((fd = connect_by(a, pr->deadline)) < 0)
			continue;
		pr->fetch_min = ask_versions(fd, pr->deadline);
		close(fd);
	}
	freeaddrinfo(ai);
	return pr->fetch_min >= 0;
}

int diag_kafka4(const char *brokers, int timeout_ms)
{
	struct probe pr = { mono_ms() + timeout_ms, -1 };

	if (!each_broker(brokers, probe_one, &pr))
		return -1;
	return pr.fetch_min >= FETCH_MIN_KAFKA4;
}

/* A property of rk's configuration, or "" when it has none. */
static const char *prop(rd_kafka_t *rk, const char *name, char *buf,
			size_t n)
{
	size_t len = n;

	if (rd_kafka_conf_get(rd_kafka_conf(rk), name, buf, &len) !=
	    RD_KAFKA_CONF_OK)
		buf[0] = '\0';
	return buf;
}

const char *diag_login(rd_kafka_t *rk, const char *brokers,
		       const char *reason, char *buf, size_t n)
{
	char mech[64], proto[64];
	int kafka4 = -1;

	prop(rk, "sasl.mechanisms", mech, sizeof(mech));
	if (diag_scram_rule(rd_kafka_version(), mech, -1) == DIAG_SCRAM_NONE)
		return NULL;
	/* Kafka answers ApiVersions before the login; over TLS we cannot ask. */
	if (!strcasecmp(prop(rk, "security.protocol", proto, sizeof(proto)),
			"sasl_plaintext"))
		kafka4 = diag_kafka4(brokers, 2000);
	switch (diag_scram_rule(rd_kafka_version(), mech, kafka4)) {
	case DIAG_SCRAM_BROKEN:
		snprintf(buf, n, "librdkafka %s cannot log in with SCRAM to"
			 " Kafka 4.0 or later, which answers at '%s': use"
			 " librdkafka 2.6.1 or later (Debian 13), or SASL PLAIN"
			 " over TLS", rd_kafka_version_str(), brokers);
		return buf;
	case DIAG_SCRAM_MAYBE:
		snprintf(buf, n, "cannot log in to Kafka at '%s': %s (if Kafka"
			 " is 4.0 or later: librdkafka %s cannot log in with"
			 " SCRAM to it; use librdkafka 2.6.1 or later (Debian"
			 " 13), or SASL PLAIN over TLS)", brokers, reason,
			 rd_kafka_version_str());
		return buf;
	default:
		return NULL;
	}
}

/* OpenSSL's X.509 verification errors that evc explains. */
enum {
	X509_NO_ISSUER = 2,		/* UNABLE_TO_GET_ISSUER_CERT */
	X509_NOT_YET_VALID = 9,
	X509_EXPIRED = 10,
	X509_SELF_SIGNED = 18,		/* DEPTH_ZERO_SELF_SIGNED_CERT */
	X509_SELF_SIGNED_CHAIN = 19,	/* SELF_SIGNED_CERT_IN_CHAIN */
	X509_NO_ISSUER_LOCALLY = 20,	/* UNABLE_TO_GET_ISSUER_CERT_LOCALLY */
	X509_LEAF_SIGNATURE = 21,	/* UNABLE_TO_VERIFY_LEAF_SIGNATURE */
	X509_UNTRUSTED = 27,		/* CERT_UNTRUSTED */
	X509_HOST_MISMATCH = 62,
	X509_IP_MISMATCH = 64,
};

/*
 * The broker of librdkafka's "PROTO://HOST:PORT/NAME: what" into host
 * and addr (HOST:PORT), and what follows it, without the " (after Nms in
 * state ...)" at its end, into what.
 */
static void tls_reason(const char *reason, char *host, size_t hn, char *addr,
		       size_t an, char *what, size_t wn)
{
	const char *s = strstr(reason, "://"), *slash, *colon, *after;
	char port[16];
	size_t len;

	host[0] = addr[0] = '\0';
	if (s && (slash = strchr(s + 3, '/')) &&
	    !split_broker(reason, (size_t)(slash - reason), host, hn, port,
			  sizeof(port)))
		snprintf(addr, an, "%.*s", (int)(slash - s - 3), s + 3);
	colon = s ? strstr(s, ": ") : NULL;
	s = colon ? colon + 2 : reason;
	after = strstr(s, " (after ");
	len = after ? (size_t)(after - s) : strlen(s);
	snprintf(what, wn, "%.*s", (int)len, s);
}

/*
 * What was wrong with who (a certificate) in a line, into buf: host is
 * the name it was reached by, ca the CA file trusted, what librdkafka's
 * words for a failure that is not the certificate's.
 */
static const char *tls_verdict(int x509, const char *who, const char *host,
			       const char *ca, const char *what, char *buf,
			       size_t n)
{
	switch (x509) {
	case 0:
		snprintf(buf, n, "%s", what);
		break;
	case X509_HOST_MISMATCH:
	case X509_IP_MISMATCH:
		snprintf(buf, n, "%s is for another host: its subjectAltName does not hold '%s'",
			 who, host[0] ? host : "?");
		break;
	case X509_NO_ISSUER:
	case X509_SELF_SIGNED:
	case X509_SELF_SIGNED_CHAIN:
	case X509_NO_ISSUER_LOCALLY:
	case X509_LEAF_SIGNATURE:
	case X509_UNTRUSTED:
		if (ca && *ca)
			snprintf(buf, n, "%s is not signed by the CA of ssl.ca.location '%s'",
				 who, ca);
		else
			snprintf(buf, n, "%s is not signed by a CA this machine trusts (set ssl.ca.location to the certificate of Kafka's CA)",
				 who);
		break;
	case X509_EXPIRED:
		snprintf(buf, n, "%s has expired", who);
		break;
	case X509_NOT_YET_VALID:
		snprintf(buf, n, "%s is not valid yet (is the clock right?)",
			 who);
		break;
	default:
		snprintf(buf, n, "%s fails verification (X.509 error %d)", who,
			 x509);
	}
	return buf;
}

const char *diag_tls(int x509, const char *reason, const char *ca,
		     const char *brokers, char *buf, size_t n)
{
	char host[256], addr[300], what[512], who[320];

	tls_reason(reason ? reason : "", host, sizeof(host), addr,
		   sizeof(addr), what, sizeof(what));
	if (addr[0] && (!brokers || strcmp(addr, brokers)))
		snprintf(who, sizeof(who), "the certificate of %s", addr);
	else
		snprintf(who, sizeof(who), "its certificate");
	return tls_verdict(x509, who, host, ca, what, buf, n);
}
