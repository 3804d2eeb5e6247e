/* numfmt.h: numbers written as evc's JSON carries them: integers, and reals in the fewest digits that read back the same, in any locale. */
#ifndef EVC_NUMFMT_H
#define EVC_NUMFMT_H

#include <string.h>

/*
 * The functions write digits, no NUL, and return how many bytes they
 * wrote; NUMFMT_MAX bytes hold any number. The integer ones are here,
 * inline: a message is mostly integers, and the encoder writes each
 * one with a call of its own.
 */
#define NUMFMT_MAX 40

/* The decimal digits of u (at most 20). */
static inline int numfmt_uint(char *out, unsigned long long u)
{
	char tmp[20], *p = tmp + sizeof(tmp);
	int len;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	len = (int)(tmp + sizeof(tmp) - p);
	memcpy(out, p, (size_t)len);
	return len;
}

/* v in decimal, without snprintf (at most 20 bytes). */
static inline int numfmt_int(char *out, long long v)
{
	int len = 0;

	if (v < 0)
		out[len++] = '-';
	return len + numfmt_uint(out + len, v < 0 ? 0 - (unsigned long long)v :
				 (unsigned long long)v);
}

/*
 * A finite d in the fewest of 15, 16 or 17 significant digits that read
 * back as the same double (0.35 rather than 0.34999999999999998), with
 * a decimal point whatever the locale. Whole numbers come out as
 * integers, and -0 as 0.
 */
int numfmt_real(char out[NUMFMT_MAX], double d);

#endif
