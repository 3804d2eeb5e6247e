/* index.c: one hash index by name over the elements of a caller's array. */
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "xalloc.h"

uint32_t index_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

void index_init(struct index *x, size_t stride, size_t key)
{
	memset(x, 0, sizeof(*x));
	x->stride = stride;
	x->key = key;
}

void index_free(struct index *x)
{
	free(x->slot);
	x->slot = NULL;
	x->mask = x->n = 0;
}

void index_clear(struct index *x)
{
	if (x->slot)
		memset(x->slot, 0, ((size_t)x->mask + 1) * sizeof(*x->slot));
	x->n = 0;
}

static const char *key_of(const struct index *x, const void *base, uint32_t i)
{
	return (const char *)base + (size_t)i * x->stride + x->key;
}

/* The slot holding key, or the empty slot where it would go. */
static uint32_t slot_of(const struct index *x, const void *base,
			const char *key)
{
	uint32_t i = index_hash(key) & x->mask;

	while (x->slot[i] && strcmp(key_of(x, base, x->slot[i] - 1), key))
		i = (i + 1) & x->mask;
	return i;
}

long index_find(const struct index *x, const void *base, const char *key)
{
	uint32_t i;

	if (!x->slot)
		return -1;
	i = slot_of(x, base, key);
	return x->slot[i] ? (long)x->slot[i] - 1 : -1;
}

void *index_get(const struct index *x, const void *base, const char *key)
{
	long i = index_find(x, base, key);

	return i < 0 ? NULL : (char *)base + (size_t)i * x->stride;
}

/* Doubles the slots and puts every entry back. */
static void grow(struct index *x, const void *base)
{
	uint32_t *old = x->slot, oldsize = old ? x->mask + 1 : 0;
	uint32_t size = oldsize ? oldsize * 2 : 64;

	x->slot = xcalloc(size, sizeof(*x->slot));
	x->mask = size - 1;
	for (uint32_t i = 0; i < oldsize; i++)
		if (old[i])
			x->slot[slot_of(x, base, key_of(x, base, old[i] - 1))] =
				old[i];
	free(old);
}

void index_put(struct index *x, const void *base, uint32_t i)
{
	if (!x->slot || (x->n + 1) * 2 > x->mask + 1)
		grow(x, base);
	x->slot[slot_of(x, base, key_of(x, base, i))] = i + 1;
	x->n++;
}

void index_del(struct index *x, const void *base, const char *key)
{
	uint32_t i, j, home;

	if (!x->slot || !x->slot[i = slot_of(x, base, key)])
		return;
	x->slot[i] = 0;
	x->n--;
	/* Entries of the same run that would no longer be found move back. */
	for (j = (i + 1) & x->mask; x->slot[j]; j = (j + 1) & x->mask) {
		home = index_hash(key_of(x, base, x->slot[j] - 1)) & x->mask;
		if (((j - home) & x->mask) >= ((j - i) & x->mask)) {
			x->slot[i] = x->slot[j];
			x->slot[j] = 0;
			i = j;
		}
	}
}
