/* numfmt.h: numbers written as evc's JSON carries them: integers, and reals in the fewest digits that read back the same, in any locale. */
#ifndef EVC_NUMFMT_H
#define EVC_NUMFMT_H

#include <math.h>
#include <string.h>

/*
 * The functions write digits, no NUL, and return how many bytes they
 * wrote; NUMFMT_MAX bytes hold any number. All but the rare reals that
 * need snprintf are here, inline: the encoder writes every number of
 * a message through them, as it did when they were its own static
 * functions.
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

/* numfmt_real() of the reals numfmt_real_short() leaves: snprintf's digits. */
int numfmt_real_long(char out[NUMFMT_MAX], double d);

/*
 * The common reals (22 kW, 0.35 EUR/kWh) without snprintf: d is n
 * millionths, written with at most 15 digits and in [1e-4, 1e9), where
 * "%.15g" writes it the same way: any decimal of 15 significant digits
 * reads back as the double nearest to it, so %.15g gives those digits
 * back, trailing zeros dropped, and no exponent in that range. Returns
 * the length, or 0 for a d it leaves to snprintf.
 */
static inline int numfmt_real_short(char *out, double d)
{
	long long n;
	int len, frac;

	if (!(d >= 1e-4 && d < 1e9))
		return 0;
	n = llround(d * 1e6);
	if ((double)n / 1e6 != d)
		return 0;
	len = numfmt_uint(out, (unsigned long long)(n / 1000000));
	if ((frac = (int)(n % 1000000))) {
		out[len++] = '.';
		for (int div = 100000; frac; div /= 10) {
			out[len++] = (char)('0' + frac / div);
			frac %= div;
		}
	}
	return len;
}

/*
 * A finite d in the fewest of 15, 16 or 17 significant digits that read
 * back as the same double (0.35 rather than 0.34999999999999998), with
 * a decimal point whatever the locale. Whole numbers come out as
 * integers, and -0 as 0.
 */
static inline int numfmt_real(char out[NUMFMT_MAX], double d)
{
	int len;

	if (d == 0) {
		out[0] = '0';	/* no "-0" */
		return 1;
	}
	if ((len = numfmt_real_short(out, d)))
		return len;
	return numfmt_real_long(out, d);
}

#endif
