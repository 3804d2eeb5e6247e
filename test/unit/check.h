/* check.h: the one assertion of evc's unit tests: a sentence, then ok or not ok. */
#ifndef EVC_CHECK_H
#define EVC_CHECK_H

#include <stdarg.h>
#include <stdio.h>

/*
 * Every check prints one TAP-like line, "ok - SENTENCE" or "not ok -
 * SENTENCE", and a test program ends with check_done()'s "N passed, N
 * failed" line and its exit status, as test/run.sh expects.
 */
static int check_passed, check_failed;

__attribute__((format(printf, 2, 3), unused))
static int check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (ok)
		check_passed++;
	else
		check_failed++;
	return ok;
}

__attribute__((unused))
static int check_done(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
