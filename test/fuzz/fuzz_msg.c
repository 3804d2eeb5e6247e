/* fuzz_msg.c: libFuzzer harness of msg_decode (any bytes; the scanner and the decoder agree with jansson read by the one table; what decodes must encode back to a fixed point) and msg_cents. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/msg.h"
#include "fuzz.h"
#include "msg_oracle.h"

/* Far more than any valid message takes (four texts of 128 bytes, escaped). */
#define ENC_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The scanner must agree with jansson on the same bytes (msg_oracle.c),
 * and msg_decode must take exactly what jansson's tree read by the one
 * table gives, into the same struct (both zero it first, so even its
 * padding compares), and refuse for the same reason: word for word,
 * except that the wording of a JSON syntax error (and the byte it
 * names) is the scanner's own. One difference is wanted (jscan.h): a
 * raw NUL byte is bad JSON wherever it is.
 */
static void check_same_verdict(const uint8_t *data, size_t size, int rc,
			       const struct msg *m, const char *err)
{
	char want_err[256] = "";
	json_t *root;
	struct msg want;
	int want_rc;

	if (size > MSG_MAX_BYTES)
		return;
	root = oracle_parse(data, size);
	oracle_check_scan(data, size, root);
	if (memchr(data, '\0', size) || !root) {
		if (rc != -1 || strncmp(err, "bad json at byte ", 17))
			fuzz_fail("bad json not refused as such: '%s'",
				  rc ? err : "");
		json_decref(root);
		return;
	}
	want_rc = oracle_decode(root, &want, want_err, sizeof(want_err));
	json_decref(root);
	if (rc != want_rc)
		fuzz_fail("verdicts differ: msg_decode %d '%s', oracle %d '%s'",
			  rc, rc ? err : "", want_rc, want_rc ? want_err : "");
	if (rc == 0 && memcmp(m, &want, sizeof(want)))
		fuzz_fail("decoded structs differ (type %s)",
			  msg_type_name(m->type));
	if (rc != 0 && strcmp(err, want_err))
		fuzz_fail("reasons differ: msg_decode '%s', oracle '%s'", err,
			  want_err);
}

/* A refusal must say why, in printable ASCII: reasons go to logs and terminals. */
static void check_reason(const char *err, size_t errlen)
{
	size_t len = strnlen(err, errlen);

	if (len == errlen)
		fuzz_fail("reason not terminated");
	if (len == 0)
		fuzz_fail("refused without a reason");
	for (size_t i = 0; i < len; i++)
		if (err[i] < 0x20 || err[i] > 0x7e)
			fuzz_fail("reason with byte 0x%02x: '%s'",
				  (unsigned char)err[i], err);
}

/*
 * The parts of struct msg outside the union, field by field (the struct
 * has padding, so its bytes are not compared); the union is compared
 * through its encoding, which writes every field of the type.
 */
static void check_same_envelope(const struct msg *a, const struct msg *b)
{
	if (a->type != b->type || a->ts != b->ts || strcmp(a->id, b->id) ||
	    strcmp(a->cp, b->cp) || strcmp(a->driver, b->driver) ||
	    strcmp(a->session, b->session))
		fuzz_fail("envelope changed by a round trip: type %u/%u cp '%s'/'%s'",
			  (unsigned)a->type, (unsigned)b->type, a->cp, b->cp);
}

/*
 * The encoder must fit a buffer of exactly its length plus the NUL and
 * refuse one byte less, writing nothing past either (ASan watches the
 * heap copies).
 */
static void check_tight_buffers(const struct msg *m, const char *enc, int len)
{
	char *exact = malloc((size_t)len + 1), *short_ = malloc((size_t)len);

	if (!exact || !short_)
		abort();
	if (msg_encode(m, exact, (size_t)len + 1) != len ||
	    memcmp(exact, enc, (size_t)len + 1))
		fuzz_fail("encoding into %d bytes differs", len + 1);
	if (msg_encode(m, short_, (size_t)len) != -1)
		fuzz_fail("encoding into %d bytes did not fail", len);
	free(exact);
	free(short_);
}

/*
 * msg_cents() on the first 16 bytes taken as wh and price: free of
 * undefined behaviour anywhere (UBSan), and within the protocol's bounds
 * odd-symmetric (half away from zero), growing with wh, and within the
 * micro-euro rounding of the price of wh * price / 10.
 */
static void check_cents(const uint8_t *data, size_t size)
{
	int64_t wh, c;
	double price, exact;

	if (size < sizeof(wh) + sizeof(price))
		return;
	memcpy(&wh, data, sizeof(wh));
	memcpy(&price, data + sizeof(wh), sizeof(price));
	c = msg_cents(wh, price);
	if (!isfinite(price) || wh < -MSG_WH_MAX || wh > MSG_WH_MAX ||
	    fabs(price) > MSG_PRICE_MAX)
		return;
	if (msg_cents(-wh, price) != -c || msg_cents(wh, -price) != -c)
		fuzz_fail("msg_cents(%lld, %.17g) = %lld is not symmetric",
			  (long long)wh, price, (long long)c);
	if (price >= 0 && wh < MSG_WH_MAX && msg_cents(wh + 1, price) < c)
		fuzz_fail("msg_cents(%lld, %.17g) > msg_cents(%lld, ...)",
			  (long long)wh, price, (long long)wh + 1);
	exact = (double)wh * price / 10;
	/* half a cent, half a micro-euro per kWh, and the doubles' own error */
	if (fabs((double)c - exact) >
	    0.5 + fabs((double)wh) * 0.5e-7 + fabs(exact) * 1e-12 + 1e-6)
		fuzz_fail("msg_cents(%lld, %.17g) = %lld, far from %.17g",
			  (long long)wh, price, (long long)c, exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char enc1[ENC_MAX], enc2[ENC_MAX];
	char err[256];
	struct msg m1, m2;
	int rc, n1, n2;

	check_cents(data, size);
	rc = msg_decode(data, size, &m1, err, sizeof(err));
	check_same_verdict(data, size, rc, &m1, err);
	if (rc != 0) {
		if (rc != -1)
			fuzz_fail("msg_decode returned %d", rc);
		check_reason(err, sizeof(err));
		return 0;
	}
	if ((n1 = msg_encode(&m1, enc1, sizeof(enc1))) <= 0)
		fuzz_fail("a decoded %s does not encode", msg_type_name(m1.type));
	if ((size_t)n1 != strlen(enc1))
		fuzz_fail("msg_encode returned %d for %zu bytes", n1, strlen(enc1));
	if (msg_decode(enc1, (size_t)n1, &m2, err, sizeof(err)))
		fuzz_fail("own encoding refused (%s): %s", err, enc1);
	check_same_envelope(&m1, &m2);
	n2 = msg_encode(&m2, enc2, sizeof(enc2));
	if (n2 != n1 || memcmp(enc1, enc2, (size_t)n1))
		fuzz_fail("round trip changed the message:\n%s\n%s", enc1, enc2);
	check_tight_buffers(&m1, enc1, n1);
	return 0;
}
