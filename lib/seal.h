/* seal.h: a CP's key, and the MAC (HMAC-SHA256) that binds a record to it. */
#ifndef EVC_SEAL_H
#define EVC_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Each CP holds a secret key of 256 bits, named by a key id ("kid"):
 * its CP id, a dot and the millisecond it was issued ("CP001.1765141200123"),
 * so that a rotation at once after an issue still names another key.
 * Every record a CP writes carries two Kafka headers, evc-kid (the kid)
 * and evc-mac (the MAC, 64 lowercase hex digits), the MAC being
 *
 *   HMAC-SHA256(key, "evc-seal-v1" 0x00 | be32 len | topic
 *                    | be32 len | record key | value)
 *
 * so that a record cannot be moved to another topic, nor to another key,
 * nor changed. Central signs its commands and acks to a CP alike.
 */
#define SEAL_KEY_LEN 32
#define SEAL_MAC_LEN 32
#define SEAL_KID_MAX 64
#define SEAL_HDR_KID "evc-kid"
#define SEAL_HDR_MAC "evc-mac"
#define SEAL_FILE_MAX 4096	/* a key file or a cp-keys record */

#define SEAL_STATE_MAX 128	/* a SHA-256 state (lib/seal.c checks) */

struct seal_key {
	char kid[SEAL_KID_MAX + 1];
	unsigned char key[SEAL_KEY_LEN];
	/*
	 * HMAC's inner and outer SHA-256 states after the padded key, set
	 * by seal_prepare(): a MAC then costs no allocation and two blocks
	 * fewer. A copy of the struct copies them.
	 */
	bool ready;
	_Alignas(16) unsigned char state[2][SEAL_STATE_MAX];
};

/* The parts of a record that its MAC covers. */
struct seal_rec {
	const char *topic;
	const void *key;
	size_t keylen;
	const void *val;
	size_t vallen;
};

/* Plain HMAC-SHA256 of data (the RFC 4231 vectors check it). */
void seal_hmac(const void *key, size_t keylen, const void *data, size_t len,
	       unsigned char out[SEAL_MAC_LEN]);

/* Precomputes k's HMAC states (done by the first seal_mac() otherwise). */
void seal_prepare(struct seal_key *k);
/* Wipes those states (and the key's copies in them). */
void seal_key_free(struct seal_key *k);

/* The MAC of record r under k. */
void seal_mac(struct seal_key *k, const struct seal_rec *r,
	      unsigned char out[SEAL_MAC_LEN]);

/* Whether mac (maclen bytes) is r's under k, compared in constant time. */
bool seal_check(struct seal_key *k, const struct seal_rec *r,
		const void *mac, size_t maclen);

/* Whether kid is a key id of CP cp: "cp.DIGITS". */
bool seal_kid_of(const char *kid, const char *cp);

/*
 * A fresh random key for CP cp, issued at wall ms now_ms. -1 when
 * the system has no randomness to give (said).
 */
int seal_key_new(struct seal_key *k, const char *cp, int64_t now_ms);

/*
 * A key file holds kid= and key=. A record of the cp-keys topic (its
 * record key the CP id) holds either a key, with keep_until= (wall ms)
 * when it replaces one that stays good until then, or revoked= (wall
 * ms) alone: the CP's messages are refused from then on.
 */
struct seal_entry {
	struct seal_key cur;
	int64_t keep_until;		/* 0: the key it replaces is dropped */
	int64_t revoked;		/* 0: not revoked */
};

/*
 * Parses a key file or a cp-keys record (len bytes): lines NAME=VALUE,
 * "#" comments. -1 with the reason and line in err; no key is ever
 * copied into err.
 */
int seal_parse(const char *text, size_t len, struct seal_entry *e,
	       char *err, size_t errlen);

/* e in the form seal_parse() reads; its length or -1. */
int seal_format(const struct seal_entry *e, char *buf, size_t len);

/*
 * Loads a key file: refused (said, -1) when group or others may read
 * it, when it cannot be read or does not parse (file:line named).
 */
int seal_key_load(const char *path, struct seal_key *k);

/* Writes a key file, mode 0600 (created, or truncated); -1 said. */
int seal_key_save(const char *path, const struct seal_key *k);

/*
 * Loads every key file DIR/CP.key (other names are skipped), checked as
 * seal_key_load() does and each a key of its CP, and hands each to fn
 * (a non-zero answer stops). The count, or -1 said.
 */
int seal_dir_load(const char *dir, int (*fn)(void *ctx, const char *cp,
					     const struct seal_key *k),
		  void *ctx);

/* Hex of n bytes into out (2n + 1 chars). */
void seal_hex(const unsigned char *b, size_t n, char *out);
/* n bytes from 2n hex digits; -1 when s is not exactly that. */
int seal_unhex(const char *s, size_t slen, unsigned char *b, size_t n);

#endif
