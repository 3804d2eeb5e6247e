/* numfmt.c: the reals numfmt.h leaves to snprintf: the fewest digits that read back the same, in any locale. */
#include <stdio.h>
#include <stdlib.h>

#include "numfmt.h"

int numfmt_real_long(char out[NUMFMT_MAX], double d)
{
	int len = 0;

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
