/* seal.c: a CP's key, and the MAC (HMAC-SHA256) that binds a record to it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * SHA-256's own functions, deprecated by OpenSSL 3 for the EVP interface
 * but kept there: EVP costs an allocation and a provider's dispatch at
 * each of the several calls a MAC takes, as much again as the hashing
 * of a 200-byte message, at every message Central reads.
 */
#define OPENSSL_API_COMPAT 10101
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "log.h"
#include "msg.h"
#include "seal.h"

#define BLOCK 64		/* SHA-256's block */
static const char tag[] = "evc-seal-v1";	/* with its NUL */

_Static_assert(sizeof(SHA256_CTX) <= SEAL_STATE_MAX, "a SHA-256 state fits");

/* HMAC's two padded keys, hashed once: each MAC then starts from them. */
static void pads(const void *key, size_t keylen, SHA256_CTX *in,
		 SHA256_CTX *out)
{
	unsigned char k[BLOCK] = { 0 }, ip[BLOCK], op[BLOCK];

	if (keylen > BLOCK)
		SHA256(key, keylen, k);
	else
		memcpy(k, key, keylen);
	for (int i = 0; i < BLOCK; i++) {
		ip[i] = k[i] ^ 0x36;
		op[i] = k[i] ^ 0x5c;
	}
	SHA256_Init(in);
	SHA256_Init(out);
	SHA256_Update(in, ip, BLOCK);
	SHA256_Update(out, op, BLOCK);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(ip, sizeof(ip));
	OPENSSL_cleanse(op, sizeof(op));
}

/* The outer hash over the inner one: the MAC. */
static void finish(SHA256_CTX *c, const SHA256_CTX *out,
		   unsigned char mac[SEAL_MAC_LEN])
{
	unsigned char inner[SEAL_MAC_LEN];

	SHA256_Final(inner, c);
	*c = *out;
	SHA256_Update(c, inner, sizeof(inner));
	SHA256_Final(mac, c);
	OPENSSL_cleanse(c, sizeof(*c));
}

void seal_hmac(const void *key, size_t keylen, const void *data, size_t len,
	       unsigned char out[SEAL_MAC_LEN])
{
	SHA256_CTX in, op;

	pads(key, keylen, &in, &op);
	SHA256_Update(&in, data, len);
	finish(&in, &op, out);
	OPENSSL_cleanse(&op, sizeof(op));
}

void seal_prepare(struct seal_key *k)
{
	if (k->ready)
		return;
	pads(k->key, SEAL_KEY_LEN, (SHA256_CTX *)k->state[0],
	     (SHA256_CTX *)k->state[1]);
	k->ready = true;
}

void seal_key_free(struct seal_key *k)
{
	OPENSSL_cleanse(k->state, sizeof(k->state));
	k->ready = false;
}

static void update_len(SHA256_CTX *c, const void *p, size_t len)
{
	unsigned char be[4] = { (unsigned char)(len >> 24),
		(unsigned char)(len >> 16), (unsigned char)(len >> 8),
		(unsigned char)len };

	SHA256_Update(c, be, sizeof(be));
	SHA256_Update(c, p, len);
}

void seal_mac(struct seal_key *k, const struct seal_rec *r,
	      unsigned char out[SEAL_MAC_LEN])
{
	SHA256_CTX c;

	seal_prepare(k);
	c = *(const SHA256_CTX *)k->state[0];
	SHA256_Update(&c, tag, sizeof(tag));
	update_len(&c, r->topic, strlen(r->topic));
	update_len(&c, r->key ? r->key : "", r->key ? r->keylen : 0);
	SHA256_Update(&c, r->val ? r->val : "", r->val ? r->vallen : 0);
	finish(&c, (const SHA256_CTX *)k->state[1], out);
}

bool seal_check(struct seal_key *k, const struct seal_rec *r,
		const void *mac, size_t maclen)
{
	unsigned char want[SEAL_MAC_LEN];

	if (!mac || maclen != SEAL_MAC_LEN)
		return false;
	seal_mac(k, r, want);
	return CRYPTO_memcmp(want, mac, SEAL_MAC_LEN) == 0;
}

bool seal_kid_of(const char *kid, const char *cp)
{
	size_t n = strlen(cp);

	if (strncmp(kid, cp, n) || kid[n] != '.' || !kid[n + 1])
		return false;
	return strspn(kid + n + 1, "0123456789") == strlen(kid + n + 1);
}

int seal_key_new(struct seal_key *k, const char *cp, int64_t now_ms)
{
	memset(k, 0, sizeof(*k));
	if (!msg_cp_id_ok(cp))
		return error("bad CP id: '%s'", cp);
	snprintf(k->kid, sizeof(k->kid), "%s.%" PRId64, cp, now_ms);
	if (RAND_bytes(k->key, SEAL_KEY_LEN) != 1)
		return error("cannot draw a random key");
	return 0;
}

void seal_hex(const unsigned char *b, size_t n, char *out)
{
	static const char dig[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = dig[b[i] >> 4];
		out[2 * i + 1] = dig[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Hex digits by table, without a branch per digit: a MAC's 64 random
 * digits would mispredict one branch in three, at every message read.
 */
static const signed char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
	['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int seal_unhex(const char *s, size_t slen, unsigned char *b, size_t n)
{
	int bad = 0;

	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval[(unsigned char)s[2 * i]];
		int lo = hexval[(unsigned char)s[2 * i + 1]];

		bad |= !hi | !lo;
		b[i] = (unsigned char)(((hi - 1) & 15) << 4 | ((lo - 1) & 15));
	}
	return bad ? -1 : 0;
}

/* What a line of a key file sets; bits of the names seen. */
enum { F_KID = 1, F_KEY = 2, F_KEEP = 4, F_REVOKED = 8 };

static int ms_of(const char *v, size_t n, int64_t *out)
{
	int64_t x = 0;

	if (!n || n > 15 || strspn(v, "0123456789") < n)
		return -1;
	for (size_t i = 0; i < n; i++)
		x = x * 10 + (v[i] - '0');
	*out = x;
	return x > 0 ? 0 : -1;
}

static int kid_of(const char *v, size_t n, struct seal_key *k)
{
	if (!n || n > SEAL_KID_MAX || memchr(v, '\0', n))
		return -1;
	memcpy(k->kid, v, n);
	k->kid[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", v[i]))
			return -1;
	return 0;
}

/* One NAME=VALUE line into e; the bit of its name, -1 bad, -2 unknown. */
static int set_field(struct seal_entry *e, const char *name, size_t nl,
		     const char *v, size_t vl)
{
#define IS(s) (nl == sizeof(s) - 1 && !memcmp(name, s, nl))
	if (IS("kid"))
		return kid_of(v, vl, &e->cur) ? -1 : F_KID;
	if (IS("key"))
		return seal_unhex(v, vl, e->cur.key, SEAL_KEY_LEN) ? -1 : F_KEY;
	if (IS("keep_until"))
		return ms_of(v, vl, &e->keep_until) ? -1 : F_KEEP;
	if (IS("revoked"))
		return ms_of(v, vl, &e->revoked) ? -1 : F_REVOKED;
#undef IS
	return -2;
}

/* Which sets of lines make a whole entry. */
static const char *incomplete(int seen)
{
	if (seen & F_REVOKED)
		return seen == F_REVOKED ? NULL : "revoked= stands alone";
	if ((seen & (F_KID | F_KEY)) != (F_KID | F_KEY))
		return "kid= and key= are required";
	return NULL;
}

int seal_parse(const char *text, size_t len, struct seal_entry *e,
	       char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *nl, *eq, *why;
	int seen = 0, line = 0, bit, nlen;

	memset(e, 0, sizeof(*e));
	if (len > SEAL_FILE_MAX || memchr(text, '\0', len))
		return snprintf(err, errlen, "not a key file"), -1;
	for (; p < end; p = nl + 1) {
		line++;
		if (!(nl = memchr(p, '\n', (size_t)(end - p))))
			nl = end;
		if (nl == p || *p == '#')
			continue;
		if (!(eq = memchr(p, '=', (size_t)(nl - p))))
			return snprintf(err, errlen, "line %d: not NAME=VALUE", line), -1;
		bit = set_field(e, p, (size_t)(eq - p), eq + 1, (size_t)(nl - eq - 1));
		nlen = eq - p > 32 ? 32 : (int)(eq - p);
		if (bit == -2)
			return snprintf(err, errlen, "line %d: unknown name '%.*s'",
					line, nlen, p), -1;
		if (bit < 0 || (seen & bit))
			return snprintf(err, errlen, "line %d: bad or repeated '%.*s'",
					line, nlen, p), -1;
		seen |= bit;
	}
	if ((why = incomplete(seen)))
		return snprintf(err, errlen, "%s", why), -1;
	return 0;
}

int seal_format(const struct seal_entry *e, char *buf, size_t len)
{
	char hex[2 * SEAL_KEY_LEN + 1], keep[40] = "";
	int n;

	if (e->revoked)
		return (n = snprintf(buf, len, "revoked=%" PRId64 "\n",
				     e->revoked)) < 0 || (size_t)n >= len ? -1 : n;
	seal_hex(e->cur.key, SEAL_KEY_LEN, hex);
	if (e->keep_until)
		snprintf(keep, sizeof(keep), "keep_until=%" PRId64 "\n", e->keep_until);
	n = snprintf(buf, len, "kid=%s\nkey=%s\n%s", e->cur.kid, hex, keep);
	OPENSSL_cleanse(hex, sizeof(hex));
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The whole of a small file; -1 said. */
static ssize_t slurp(int fd, const char *path, char *buf, size_t len)
{
	ssize_t n, got = 0;

	while ((n = read(fd, buf + got, len - (size_t)got)) > 0)
		if ((size_t)(got += n) == len)
			return error("key file too large: '%s'", path);
	if (n < 0)
		return error("cannot read key file: '%s': %s", path, strerror(errno));
	return got;
}

int seal_key_load(const char *path, struct seal_key *k)
{
	char buf[SEAL_FILE_MAX + 1], err[160];
	struct seal_entry e;
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return error("cannot open key file: '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) || (st.st_mode & 077)) {
		close(fd);
		return error("key file readable by group or others (chmod 600 it): '%s'", path);
	}
	n = slurp(fd, path, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return -1;
	if (seal_parse(buf, (size_t)n, &e, err, sizeof(err)) || e.revoked || e.keep_until) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return error("bad key file: '%s': %s", path,
			     e.revoked || e.keep_until ? "kid= and key= alone expected" : err);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	*k = e.cur;
	return 0;
}

int seal_key_save(const char *path, const struct seal_key *k)
{
	struct seal_entry e = { .cur = *k };
	char buf[SEAL_FILE_MAX];
	int fd, n = seal_format(&e, buf, sizeof(buf));

	if (n < 0)
		return error("cannot format key '%s'", k->kid);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) || write(fd, buf, (size_t)n) != n) {
		OPENSSL_cleanse(buf, sizeof(buf));
		if (fd >= 0)
			close(fd);
		return error("cannot write key file: '%s': %s", path, strerror(errno));
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return close(fd) ? error("cannot write key file: '%s': %s", path, strerror(errno)) : 0;
}

/* "NAME.key": the CP id NAME, into cp; false for any other name. */
static bool key_file_name(const char *name, char cp[MSG_NAME_MAX + 1])
{
	size_t n = strlen(name);

	if (n <= 4 || n - 4 > MSG_NAME_MAX || strcmp(name + n - 4, ".key"))
		return false;
	memcpy(cp, name, n - 4);
	cp[n - 4] = '\0';
	return msg_cp_id_ok(cp);
}

int seal_dir_load(const char *dir, int (*fn)(void *ctx, const char *cp,
					     const struct seal_key *k),
		  void *ctx)
{
	char cp[MSG_NAME_MAX + 1], path[4096];
	struct seal_key k;
	struct dirent *d;
	DIR *dp = opendir(dir);
	int n = 0, bad = 0;

	if (!dp)
		return error("cannot open key directory: '%s': %s", dir, strerror(errno));
	while ((d = readdir(dp)) && !bad) {
		if (!key_file_name(d->d_name, cp))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (seal_key_load(path, &k))
			bad = 1;
		else if (!seal_kid_of(k.kid, cp))
			bad = error("key '%s' of '%s' is not one of CP '%s'", k.kid, path, cp);
		else if (fn(ctx, cp, &k))
			bad = 1;
		else
			n++;
		OPENSSL_cleanse(&k, sizeof(k));
	}
	closedir(dp);
	return bad ? -1 : n;
}
