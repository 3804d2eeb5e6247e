/* seal_test.c: unit tests of lib/seal.c: HMAC-SHA256 (RFC 4231), the record MAC, key files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/keyring.h"
#include "lib/log.h"
#include "lib/seal.h"
#include "test/unit/check.h"

static void hmac_is(const char *name, const void *key, size_t kl,
		    const void *data, size_t dl, const char *want)
{
	unsigned char mac[SEAL_MAC_LEN];
	char hex[2 * SEAL_MAC_LEN + 1];

	seal_hmac(key, kl, data, dl, mac);
	seal_hex(mac, sizeof(mac), hex);
	check(!strcmp(hex, want), "RFC 4231 %s: %s", name, hex);
}

/* RFC 4231's test cases for HMAC-SHA-256 (5, a truncated MAC, aside). */
static void rfc4231(void)
{
	unsigned char k1[20], k3[20], d3[50], k4[25], d4[50], k6[131];
	static const char t6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char t7[] = "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";

	memset(k1, 0x0b, sizeof(k1));
	memset(k3, 0xaa, sizeof(k3));
	memset(d3, 0xdd, sizeof(d3));
	for (int i = 0; i < 25; i++)
		k4[i] = (unsigned char)(i + 1);
	memset(d4, 0xcd, sizeof(d4));
	memset(k6, 0xaa, sizeof(k6));
	hmac_is("case 1", k1, 20, "Hi There", 8,
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	hmac_is("case 2", "Jefe", 4, "what do ya want for nothing?", 28,
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	hmac_is("case 3", k3, 20, d3, 50,
		"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	hmac_is("case 4", k4, 25, d4, 50,
		"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	hmac_is("case 6", k6, 131, t6, strlen(t6),
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	hmac_is("case 7", k6, 131, t7, strlen(t7),
		"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* The record MAC: its construction, and what it binds. */
static void record_mac(void)
{
	struct seal_key k = { .kid = "CP001.1" }, other = { .kid = "CP002.1" };
	struct seal_rec r = { "telemetry", "CP001", 5, "{\"v\":1}", 7 };
	struct seal_rec moved = r, rekeyed = r, changed = r;
	unsigned char mac[SEAL_MAC_LEN];
	char hex[2 * SEAL_MAC_LEN + 1];

	for (int i = 0; i < SEAL_KEY_LEN; i++)
		k.key[i] = (unsigned char)i;
	memset(other.key, 7, sizeof(other.key));
	seal_mac(&k, &r, mac);
	seal_hex(mac, sizeof(mac), hex);
	check(!strcmp(hex, "c550610e2d6d7b314c403701edb5b7465a955b197d0ff7ccefc98b72c6af44c1"),
	      "the MAC is HMAC-SHA256 of tag, topic, key and value: %s", hex);
	check(seal_check(&k, &r, mac, sizeof(mac)), "a record's own MAC verifies");
	moved.topic = "health";
	check(!seal_check(&k, &moved, mac, sizeof(mac)), "the MAC does not verify on another topic");
	rekeyed.key = "CP002";
	check(!seal_check(&k, &rekeyed, mac, sizeof(mac)), "nor under another record key");
	changed.val = "{\"v\":2}";
	check(!seal_check(&k, &changed, mac, sizeof(mac)), "nor for another value");
	check(!seal_check(&other, &r, mac, sizeof(mac)), "nor under another CP's key");
	check(!seal_check(&k, &r, mac, 31), "a short MAC never verifies");
	check(!seal_check(&k, &r, NULL, 0), "nor a missing one");
	seal_key_free(&k);
	seal_key_free(&other);
}

static int parses(const char *text, struct seal_entry *e, char *err)
{
	return seal_parse(text, strlen(text), e, err, 160);
}

static void key_files(void)
{
	static const char hex64[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	char text[600], err[160], buf[600];
	struct seal_entry e, back;

	snprintf(text, sizeof(text), "# CP001\nkid=CP001.1\nkey=%s\n", hex64);
	check(!parses(text, &e, err) && !strcmp(e.cur.kid, "CP001.1") &&
	      e.cur.key[31] == 31, "a key file parses");
	check(seal_format(&e, buf, sizeof(buf)) > 0 && !parses(buf, &back, err) &&
	      !memcmp(back.cur.key, e.cur.key, SEAL_KEY_LEN), "and formats back to itself");
	check(parses("kid=CP001.1\n", &e, err) && strstr(err, "required"), "a key is required: %s", err);
	snprintf(text, sizeof(text), "kid=CP001.1\nkey=%.62s\n", hex64);
	check(parses(text, &e, err) && strstr(err, "line 2") && !strstr(err, "0001"),
	      "a short key is refused, its line named, the key not echoed: %s", err);
	snprintf(text, sizeof(text), "kid=CP001.1\nkey=%s\nsecret=1\n", hex64);
	check(parses(text, &e, err) && strstr(err, "unknown name 'secret'"), "an unknown name is refused: %s", err);
	snprintf(text, sizeof(text), "kid=CP001.1\nkey=%s\nkid=CP001.2\n", hex64);
	check(parses(text, &e, err) && strstr(err, "repeated"), "a repeated name is refused: %s", err);
	check(!parses("revoked=1765141200000\n", &e, err) && e.revoked == 1765141200000LL,
	      "a revocation parses");
	snprintf(text, sizeof(text), "kid=CP001.2\nkey=%s\nkeep_until=99\n", hex64);
	check(!parses(text, &e, err) && e.keep_until == 99 && !strcmp(e.cur.kid, "CP001.2"),
	      "a rotation says until when the key it replaces is good");
	check(seal_format(&e, buf, sizeof(buf)) > 0 && strstr(buf, "keep_until=99\n"),
	      "and formats so");
	snprintf(text, sizeof(text), "revoked=5\nkid=CP001.2\nkey=%s\n", hex64);
	check(parses(text, &e, err) && strstr(err, "alone"), "a revocation stands alone: %s", err);
	check(parses("kid=CP 1\nkey=00\n", &e, err) && strstr(err, "line 1"), "a kid with a space is refused: %s", err);
	check(seal_kid_of("CP.0.17", "CP.0") && !seal_kid_of("CP001.1", "CP00") &&
	      !seal_kid_of("CP001.x", "CP001") && !seal_kid_of("CP001.", "CP001"),
	      "a kid names its CP, a dot and digits");
}

static void key_file_modes(void)
{
	char path[] = "/tmp/seal_testXXXXXX";
	struct seal_key k, back;
	int fd = mkstemp(path);

	close(fd);
	check(!seal_key_new(&k, "CP001", 1765141200123) && !strcmp(k.kid, "CP001.1765141200123"),
	      "a new key is named by its CP and millisecond");
	check(!seal_key_save(path, &k) && !seal_key_load(path, &back) &&
	      !memcmp(k.key, back.key, SEAL_KEY_LEN), "a saved key loads back");
	chmod(path, 0640);
	check(seal_key_load(path, &back) == -1, "a key file the group may read is refused");
	unlink(path);
}

static struct seal_entry entry(const char *kid, int fill, int64_t keep)
{
	struct seal_entry e = { .keep_until = keep };

	snprintf(e.cur.kid, sizeof(e.cur.kid), "%s", kid);
	memset(e.cur.key, fill, SEAL_KEY_LEN);
	return e;
}

/* k's verdict on r signed with key (kid, fill), or unsigned (kid NULL). */
static enum keyring_verdict verdict(struct keyring *k, const char *cp,
				    const char *kid, int fill,
				    const struct seal_rec *r, int64_t now)
{
	struct seal_key key = { .kid = "" };
	unsigned char mac[SEAL_MAC_LEN];
	enum keyring_verdict v;

	if (!kid)
		return keyring_verify(k, cp, "", NULL, 0, r, now);
	snprintf(key.kid, sizeof(key.kid), "%s", kid);
	memset(key.key, fill, SEAL_KEY_LEN);
	seal_mac(&key, r, mac);
	v = keyring_verify(k, cp, kid, mac, sizeof(mac), r, now);
	seal_key_free(&key);
	return v;
}

static void keyring_verdicts(void)
{
	struct seal_rec r = { "telemetry", "CP001", 5, "{}", 2 };
	struct seal_entry e1 = entry("CP001.1", 1, 0), e2 = entry("CP001.2", 2, 1000);
	struct seal_entry other = entry("CP002.1", 9, 0), rev = { .revoked = 5 };
	struct keyring k;

	keyring_init(&k, false);
	check(verdict(&k, "CP001", NULL, 0, &r, 0) == KEYRING_UNSIGNED_OK,
	      "keys not required: a CP without a key is served unsigned");
	k.require = true;
	check(verdict(&k, "CP001", NULL, 0, &r, 0) == KEYRING_UNSIGNED,
	      "keys required: refused unsigned");
	check(!keyring_has_key(&k, "CP001") &&
	      verdict(&k, "CP009", NULL, 0, NULL, 0) == KEYRING_UNSIGNED,
	      "a CP without a key is judged without its record");
	check(keyring_set(&k, "CP001", &e1) == KEYRING_ISSUED &&
	      keyring_set(&k, "CP002", &other) == KEYRING_ISSUED &&
	      keyring_has_key(&k, "CP001"), "keys issued");
	check(verdict(&k, "CP001", "CP001.1", 1, &r, 0) == KEYRING_OK,
	      "a record signed with the CP's key verifies");
	check(verdict(&k, "CP001", "CP001.1", 3, &r, 0) == KEYRING_BAD_MAC,
	      "a MAC made with another key under its kid: bad MAC");
	check(verdict(&k, "CP001", "CP002.1", 9, &r, 0) == KEYRING_UNKNOWN_KID,
	      "another CP's valid key: not a key of that CP");
	check(verdict(&k, "CP001", NULL, 0, &r, 0) == KEYRING_UNSIGNED,
	      "a CP with a key: unsigned is refused");
	check(keyring_set(&k, "CP001", &e2) == KEYRING_ROTATED &&
	      keyring_key(&k, "CP001") == &keyring_find(&k, "CP001")->prev,
	      "rotated: Central signs with the old key until the CP uses the new one");
	check(verdict(&k, "CP001", "CP001.1", 1, &r, 999) == KEYRING_OK &&
	      keyring_key(&k, "CP001") == &keyring_find(&k, "CP001")->prev &&
	      verdict(&k, "CP001", "CP001.2", 2, &r, 999) == KEYRING_OK &&
	      keyring_key(&k, "CP001") == &keyring_find(&k, "CP001")->cur,
	      "rotated: both keys verify in the overlap; Central signs with the one the CP used last");
	check(verdict(&k, "CP001", "CP001.1", 1, &r, 1000) == KEYRING_UNKNOWN_KID,
	      "after the overlap the old key is refused");
	check(keyring_set(&k, "CP001", &rev) == KEYRING_REVOKE &&
	      verdict(&k, "CP001", "CP001.2", 2, &r, 0) == KEYRING_REVOKED &&
	      !keyring_key(&k, "CP001") && !keyring_has_key(&k, "CP001"),
	      "revoked: even the newest key is refused");
	check(keyring_set(&k, "CP001", &e1) == KEYRING_ISSUED &&
	      verdict(&k, "CP001", "CP001.1", 1, &r, 0) == KEYRING_OK,
	      "a key issued after a revocation serves again");
	e2 = entry("CP001.1", 5, 1000);
	check(keyring_set(&k, "CP001", &e2) == KEYRING_REPLACED &&
	      verdict(&k, "CP001", "CP001.1", 5, &r, 0) == KEYRING_OK &&
	      !keyring_find(&k, "CP001")->prev_until,
	      "a new key under the kid of the old one replaces it, without overlap");
	check(k.refused[KEYRING_UNSIGNED] == 3 && k.refused[KEYRING_BAD_MAC] == 1 &&
	      k.refused[KEYRING_UNKNOWN_KID] == 2 && k.refused[KEYRING_REVOKED] == 1,
	      "each refusal counted by reason");
	keyring_free(&k);
}

int main(void)
{
	log_init("seal_test");
	rfc4231();
	record_mac();
	key_files();
	key_file_modes();
	keyring_verdicts();
	return check_done();
}
