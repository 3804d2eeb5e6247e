/* keyring.h: Central's table of the CPs' keys, and its verdict on each signed record. */
#ifndef EVC_KEYRING_H
#define EVC_KEYRING_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "seal.h"

/*
 * No I/O: cmd/central.c feeds it the records of the cp-keys topic and
 * asks, before a CP's message reaches the core, whether its MAC is one
 * of the keys of the CP the message names. A verdict other than OK or
 * UNSIGNED_OK refuses the message: counted in refused[].
 */
enum keyring_verdict {
	KEYRING_OK,		/* signed by a key of the CP it names */
	KEYRING_UNSIGNED_OK,	/* no key known for the CP, and none required */
	KEYRING_UNSIGNED,	/* refused: unsigned, where a key is required */
	KEYRING_BAD_MAC,	/* refused: a MAC that does not verify */
	KEYRING_UNKNOWN_KID,	/* refused: not a key of that CP, or past its overlap */
	KEYRING_REVOKED,	/* refused: the CP's keys are revoked */
	KEYRING_VERDICTS
};

struct keyring_cp {
	char cp[SEAL_KID_MAX + 1];
	struct seal_key cur, prev;	/* cur.kid "": none */
	int64_t prev_until;		/* wall ms; 0: no previous key */
	int64_t revoked;		/* wall ms; 0: not revoked */
	bool on_prev;			/* the CP signed with prev last */
};

struct keyring {
	struct keyring_cp *cps;
	uint32_t n, cap;
	struct index by_cp;
	bool require;			/* central.require_keys */
	long refused[KEYRING_VERDICTS];	/* per verdict */
};

void keyring_init(struct keyring *k, bool require);
void keyring_free(struct keyring *k);

/* What a cp-keys record did to the table. */
enum keyring_change {
	KEYRING_ISSUED,		/* a first key, or one after a revocation */
	KEYRING_ROTATED,	/* a new key; the old one good until keep_until */
	KEYRING_REPLACED,	/* a new key; the old one dropped at once */
	KEYRING_SAME,		/* the key it held already */
	KEYRING_REVOKE,		/* the CP is revoked from now on */
	KEYRING_FULL,		/* no room for another CP */
};
enum keyring_change keyring_set(struct keyring *k, const char *cp,
				const struct seal_entry *e);

/* A record without value for cp: its keys are forgotten. */
void keyring_remove(struct keyring *k, const char *cp);

/*
 * The verdict on record r, which names CP cp and carried kid and mac
 * (kid "" and mac NULL: unsigned), at wall time now. Counted when it
 * refuses. r, kid and mac are looked at only when cp has a key: see
 * keyring_has_key().
 */
/*
 * Whether a message naming cp is judged by its MAC (cp has a key, not
 * revoked); when not, its verdict needs no look at the record, whose
 * headers its reader may then leave unparsed.
 */
bool keyring_has_key(const struct keyring *k, const char *cp);

enum keyring_verdict keyring_verify(struct keyring *k, const char *cp,
				    const char *kid, const void *mac,
				    size_t maclen, const struct seal_rec *r,
				    int64_t now);

/*
 * The key Central signs with for cp, or NULL: the newest, or the one it
 * replaces while the CP still signs with that one (it has not loaded
 * its new key yet).
 */
struct seal_key *keyring_key(struct keyring *k, const char *cp);

/* The entry of cp, or NULL. */
const struct keyring_cp *keyring_find(const struct keyring *k, const char *cp);

/*
 * seal_dir_load()'s fn for a keyring (ctx): CP cp signs with k (a
 * gateway's or a fleet's table of the keys of the CPs it plays).
 */
int keyring_take(void *ctx, const char *cp, const struct seal_key *k);

/* Why a verdict refused, for people ("bad MAC", ...). */
const char *keyring_verdict_text(enum keyring_verdict v);

#endif
