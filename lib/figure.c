/* figure.c: figures for people: energy, money, power, prices and times, printed alike everywhere. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "figure.h"

/* Drops trailing zeros after the point, keeping at least min decimals. */
static void trim(char *s, int min)
{
	char *dot = strchr(s, '.'), *end;

	if (!dot)
		return;
	end = s + strlen(s);
	while (end > dot + 1 + min && end[-1] == '0')
		*--end = '\0';
	if (end == dot + 1)
		*dot = '\0';
}

/* v / div with decimals digits after the point, exactly, whatever the sign. */
static void fixed(char *s, size_t len, int64_t v, int64_t div, int decimals)
{
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	snprintf(s, len, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "",
		 mag / (uint64_t)div, decimals, mag % (uint64_t)div);
}

struct figure fig_kwh(int64_t wh)
{
	struct figure f;

	fixed(f.s, sizeof(f.s), wh, 1000, 3);
	trim(f.s, 1);
	return f;
}

struct figure fig_eur(int64_t cents)
{
	struct figure f;

	fixed(f.s, sizeof(f.s), cents, 100, 2);
	return f;
}

struct figure fig_price(double eur_per_kwh)
{
	struct figure f;

	snprintf(f.s, sizeof(f.s), "%.6f", eur_per_kwh);
	trim(f.s, 2);
	return f;
}

struct figure fig_kw(double kw)
{
	struct figure f;

	snprintf(f.s, sizeof(f.s), "%.3f", kw);
	trim(f.s, 1);
	return f;
}

struct figure fig_span(int64_t ms)
{
	long long t = ms > 0 ? ms / 1000 : 0;
	struct figure f;

	if (t < 60)
		snprintf(f.s, sizeof(f.s), "%llds", t);
	else if (t < 3600)
		snprintf(f.s, sizeof(f.s), "%lldm%02llds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(f.s, sizeof(f.s), "%lldh%02lldm", t / 3600,
			 t % 3600 / 60);
	else
		snprintf(f.s, sizeof(f.s), "%lldd%02lldh", t / 86400,
			 t % 86400 / 3600);
	return f;
}

struct figure fig_clock(int64_t ms, int64_t now)
{
	time_t t = (time_t)(ms / 1000), n = (time_t)(now / 1000);
	struct tm tm, tn;
	struct figure f;

	localtime_r(&t, &tm);
	localtime_r(&n, &tn);
	if (tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday)
		strftime(f.s, sizeof(f.s), "%H:%M:%S", &tm);
	else
		strftime(f.s, sizeof(f.s), "%Y-%m-%d %H:%M:%S", &tm);
	return f;
}
