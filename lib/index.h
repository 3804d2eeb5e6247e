/* index.h: one hash index by name over the elements of a caller's array. */
#ifndef EVC_INDEX_H
#define EVC_INDEX_H

#include <stddef.h>
#include <stdint.h>

/*
 * Open addressing with linear probing over element numbers: the array
 * stays the caller's (it may grow and move: every call is given its
 * base), and the key is a NUL-terminated string at offset key of each
 * element of size stride. One lookup per message whatever the count;
 * at most half full, so probes stay short; removal moves entries back
 * rather than leaving tombstones, so an index with churn (sessions
 * opened and closed) stays as fast as on the first day.
 */
struct index {
	uint32_t *slot;		/* element number + 1; 0: empty */
	uint32_t mask;		/* slots - 1, a power of two; 0: none yet */
	uint32_t n;
	size_t stride;
	size_t key;
};

/* FNV-1a: ids are short, and anyone on the bus may choose them. */
uint32_t index_hash(const char *s);

void index_init(struct index *x, size_t stride, size_t key);
void index_free(struct index *x);
/* Forgets every entry, keeping the slots. */
void index_clear(struct index *x);

/* The number of the element whose key is key, or -1. */
long index_find(const struct index *x, const void *base, const char *key);
/* The element itself, or NULL. */
void *index_get(const struct index *x, const void *base, const char *key);
/* Adds element i, whose key must not be in the index yet. */
void index_put(struct index *x, const void *base, uint32_t i);
/* Removes the element whose key is key, if there is one. */
void index_del(struct index *x, const void *base, const char *key);

#endif
