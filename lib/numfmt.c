/* numfmt.c: reals written as evc's JSON carries them: the fewest digits that read back the same, in any locale. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

/*
 * The common reals (22 kW, 0.35 EUR/kWh) without snprintf: d is n
 * millionths, written with at most 15 digits and in [1e-4, 1e9), where
 * "%.15g" writes it the same way: any decimal of 15 significant digits
 * reads back as the double nearest to it, so %.15g gives those digits
 * back, trailing zeros dropped, and no exponent in that range. Returns
 * the length, or 0 for a d it leaves to snprintf.
 */
static int real_short(char *out, double d)
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

int numfmt_real(char out[NUMFMT_MAX], double d)
{
	int len = 0;

	if (d == 0) {
		out[0] = '0';	/* no "-0" */
		return 1;
	}
	if ((len = real_short(out, d)))
		return len;
	for (int prec = 15; prec <= 17; prec++) {
		len = snprintf(out, NUMFMT_MAX, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	for (int i = 0; i < len; i++)
		if (out[i] == ',')	/* a locale with a decimal comma */
			out[i] = '.';
	return len;
}
