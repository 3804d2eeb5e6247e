/* keyring.c: Central's table of the CPs' keys, and its verdict on each signed record. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keyring.h"
#include "log.h"
#include "xalloc.h"

#define KEYRING_MAX 200000	/* as many CPs as Central serves */

void keyring_init(struct keyring *k, bool require)
{
	memset(k, 0, sizeof(*k));
	k->require = require;
	index_init(&k->by_cp, sizeof(struct keyring_cp),
		   offsetof(struct keyring_cp, cp));
}

static void forget_keys(struct keyring_cp *e)
{
	seal_key_free(&e->cur);
	seal_key_free(&e->prev);
	OPENSSL_cleanse(&e->cur, sizeof(e->cur));
	OPENSSL_cleanse(&e->prev, sizeof(e->prev));
	e->prev_until = 0;
}

void keyring_free(struct keyring *k)
{
	for (uint32_t i = 0; i < k->n; i++)
		forget_keys(&k->cps[i]);
	free(k->cps);
	index_free(&k->by_cp);
	memset(k, 0, sizeof(*k));
}

static struct keyring_cp *find(const struct keyring *k, const char *cp)
{
	return index_get(&k->by_cp, k->cps, cp);
}

const struct keyring_cp *keyring_find(const struct keyring *k, const char *cp)
{
	return find(k, cp);
}

static struct keyring_cp *add(struct keyring *k, const char *cp)
{
	struct keyring_cp *e;

	if (k->n >= KEYRING_MAX)
		return NULL;
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->cps = xreallocarray(k->cps, k->cap, sizeof(*k->cps));
	}
	e = &k->cps[k->n];
	memset(e, 0, sizeof(*e));
	snprintf(e->cp, sizeof(e->cp), "%s", cp);
	index_put(&k->by_cp, k->cps, k->n++);
	return e;
}

enum keyring_change keyring_set(struct keyring *k, const char *cp,
				const struct seal_entry *se)
{
	struct keyring_cp *e = find(k, cp);
	bool had;

	if (!e && !(e = add(k, cp)))
		return KEYRING_FULL;
	if (se->revoked) {
		forget_keys(e);
		e->revoked = se->revoked;
		return KEYRING_REVOKE;
	}
	had = e->cur.kid[0] && !e->revoked;
	if (had && !strcmp(e->cur.kid, se->cur.kid) &&
	    !CRYPTO_memcmp(e->cur.key, se->cur.key, SEAL_KEY_LEN))
		return KEYRING_SAME;
	seal_key_free(&e->prev);
	e->prev_until = 0;
	e->on_prev = false;
	/* Two keys under one kid cannot both be told apart: no overlap. */
	if (had && se->keep_until && strcmp(e->cur.kid, se->cur.kid)) {
		e->prev = e->cur;	/* its prepared states move with it */
		e->prev_until = se->keep_until;
		e->on_prev = true;	/* until the CP is heard with the new one */
	} else {
		seal_key_free(&e->cur);
	}
	memset(&e->cur, 0, sizeof(e->cur));
	memcpy(e->cur.kid, se->cur.kid, sizeof(e->cur.kid));
	memcpy(e->cur.key, se->cur.key, SEAL_KEY_LEN);
	e->revoked = 0;
	if (!had)
		return KEYRING_ISSUED;
	return e->prev_until ? KEYRING_ROTATED : KEYRING_REPLACED;
}

void keyring_remove(struct keyring *k, const char *cp)
{
	struct keyring_cp *e = find(k, cp);

	if (e) {
		forget_keys(e);
		e->revoked = 0;
	}
}

static enum keyring_verdict refuse(struct keyring *k, enum keyring_verdict v)
{
	k->refused[v]++;
	return v;
}

bool keyring_has_key(const struct keyring *k, const char *cp)
{
	const struct keyring_cp *e = find(k, cp);

	return e && !e->revoked && e->cur.kid[0];
}

enum keyring_verdict keyring_verify(struct keyring *k, const char *cp,
				    const char *kid, const void *mac,
				    size_t maclen, const struct seal_rec *r,
				    int64_t now)
{
	struct keyring_cp *e = find(k, cp);
	struct seal_key *key = NULL;

	if (e && e->revoked)
		return refuse(k, KEYRING_REVOKED);
	if (!e || !e->cur.kid[0])	/* no key known for that CP */
		return k->require ? refuse(k, KEYRING_UNSIGNED) : KEYRING_UNSIGNED_OK;
	if (!kid[0] || !mac)
		return refuse(k, KEYRING_UNSIGNED);
	if (!strcmp(kid, e->cur.kid))
		key = &e->cur;
	else if (e->prev_until && now < e->prev_until && !strcmp(kid, e->prev.kid))
		key = &e->prev;
	if (!key)
		return refuse(k, KEYRING_UNKNOWN_KID);
	if (!seal_check(key, r, mac, maclen))
		return refuse(k, KEYRING_BAD_MAC);
	e->on_prev = key == &e->prev;
	return KEYRING_OK;
}

struct seal_key *keyring_key(struct keyring *k, const char *cp)
{
	struct keyring_cp *e = find(k, cp);

	if (!e || e->revoked || !e->cur.kid[0])
		return NULL;
	return e->on_prev && e->prev_until ? &e->prev : &e->cur;
}

const char *keyring_verdict_text(enum keyring_verdict v)
{
	static const char *const texts[KEYRING_VERDICTS] = {
		[KEYRING_OK] = "signed",
		[KEYRING_UNSIGNED_OK] = "unsigned, allowed",
		[KEYRING_UNSIGNED] = "unsigned",
		[KEYRING_BAD_MAC] = "bad MAC",
		[KEYRING_UNKNOWN_KID] = "not a key of that CP",
		[KEYRING_REVOKED] = "revoked",
	};

	return (unsigned)v < KEYRING_VERDICTS ? texts[v] : "?";
}

int keyring_take(void *ctx, const char *cp, const struct seal_key *k)
{
	struct seal_entry e = { .cur = *k };
	enum keyring_change ch = keyring_set(ctx, cp, &e);

	OPENSSL_cleanse(&e, sizeof(e));
	return ch == KEYRING_FULL ? error("too many keys: '%s' not taken", cp) : 0;
}
