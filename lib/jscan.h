/* jscan.h: a strict JSON scanner: checks a document in one pass and notes where the values of chosen keys lie, building no tree. */
#ifndef EVC_JSCAN_H
#define EVC_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A document is accepted exactly when jansson's json_loadb() with
 * JSON_REJECT_DUPLICATES accepts it: one object or array, then only
 * white space; RFC 8259 syntax; valid UTF-8, escapes and surrogate
 * pairs; no \u0000; integers within int64_t; reals that do not overflow
 * a double; no key twice in an object, at any depth; at most
 * JSCAN_MAX_DEPTH levels. One difference is wanted: jansson let a raw
 * NUL byte pass right after a number or a literal ({"v":1\0}); here a
 * raw NUL is refused wherever it is. test/fuzz/fuzz_msg.c holds the two
 * to this on any input.
 *
 * The caller names the keys it wants (a vocabulary, struct jkeys) and
 * gives an object (struct jobj) to note them in: for each such key of
 * the top object, where its value lies, its type, and its number. The
 * other keys are only counted, and the first of them kept. Strings are
 * checked in place and unescaped only when the caller reads them.
 */
#define JSCAN_MAX_DEPTH 2048	/* jansson's: values nested deeper are refused */
#define JSCAN_KEYS_MAX 32	/* keys of one vocabulary: one bit each */
#define JSCAN_KEY_LEN_MAX 31	/* bytes of one of those keys */
#define JSCAN_WHY_MAX 80	/* what a syntax error is, NUL included */

enum jtype { J_STRING = 1, J_INT, J_REAL, J_TRUE, J_FALSE, J_NULL, J_OBJECT, J_ARRAY };

/* A value the scanner found; strings are unescaped only when read. */
struct jval {
	const unsigned char *p;	/* strings: the byte after the opening quote */
	unsigned len;		/* strings: bytes up to the closing quote */
	unsigned rank;		/* of its key among the object's keys */
	unsigned char type;	/* enum jtype */
	bool esc;		/* the string holds escapes */
	int64_t i;		/* J_INT */
	double d;		/* J_REAL */
};

/*
 * The keys to note, found through a small hash table of their first and
 * last bytes and length, filled once by jkeys_init(): about one
 * comparison per key read.
 */
#define JKEYS_HASH 64

struct jkeys {
	const char *const *names;	/* of 1..JSCAN_KEY_LEN_MAX bytes */
	unsigned count;			/* at most JSCAN_KEYS_MAX */
	unsigned char hash[JKEYS_HASH];	/* key + 1; 0: free */
	unsigned char lens[JSCAN_KEYS_MAX];
};

/* An object whose keys from the vocabulary are noted. */
struct jobj {
	struct jval slot[JSCAN_KEYS_MAX];	/* where mask has the key */
	uint32_t mask;			/* keys found */
	uint32_t allowed;		/* keys noted; the others are "other" */
	unsigned nkeys;			/* every key, noted or not */
	struct jval other;		/* the first other key, if any */
	bool has_other;
	const struct jval *nest_at;	/* an object in this slot... */
	struct jobj *nest;		/* ...is noted here (NULL: none is) */
};

/* Where a document was refused, and why ("invalid token", ...). */
struct jscan_error {
	size_t at;			/* a byte offset */
	char why[JSCAN_WHY_MAX];
};

/* Fills k for names (see struct jkeys), which must outlive it. */
void jkeys_init(struct jkeys *k, const char *const *names, unsigned count);

/* Readies o to note the keys in allowed (bit i: names[i]). */
static inline void jobj_init(struct jobj *o, uint32_t allowed,
			     unsigned nest_key, struct jobj *nest)
{
	o->mask = 0;
	o->allowed = allowed;
	o->nkeys = 0;
	o->has_other = false;
	o->nest_at = nest ? &o->slot[nest_key] : NULL;
	o->nest = nest;
}

/*
 * Scans the len bytes at buf as one document, noting the keys of the
 * top object in top (NULL: none) by the vocabulary keys. Returns 0 with
 * the top value's type (J_OBJECT or J_ARRAY) in v->type, or -1 with
 * where and why in e.
 */
int jscan(const void *buf, size_t len, const struct jkeys *keys,
	  struct jobj *top, struct jval *v, struct jscan_error *e);

/*
 * The value of a string the scanner found, unescaped: its first cap - 1
 * bytes go to buf, NUL-terminated (cap > 0); returns the whole length.
 */
size_t jval_unescape(const struct jval *v, char *buf, size_t cap);

/*
 * The bytes of string v, *len of them: in place when it holds no
 * escape (most strings), else unescaped into buf, cut at cap - 1 bytes.
 */
static inline const char *jval_str(const struct jval *v, char *buf,
				   size_t cap, size_t *len)
{
	if (!v->esc) {
		*len = v->len;
		return (const char *)v->p;
	}
	*len = jval_unescape(v, buf, cap);
	return buf;
}

#endif
