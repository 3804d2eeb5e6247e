/* figure.h: figures for people: energy, money, power, prices and times, printed alike everywhere. */
#ifndef EVC_FIGURE_H
#define EVC_FIGURE_H

#include <stdint.h>

/*
 * Every role that shows a figure to a person (the panel, evc status,
 * evc driver, evc auth, the log lines) prints it with these, so that
 * the same session reads the same wherever it is looked at. A figure
 * comes back by value, ready for a printf argument: fig_kwh(wh).s.
 * Machines read the JSON forms (evc status -j, evc auth -j), which carry
 * the exact integers instead.
 */
struct figure {
	char s[48];
};

/* Energy in kWh from Wh: every Wh kept, trailing zeros not ("3.2", "1.834"). */
struct figure fig_kwh(int64_t wh);
/* Money in EUR from cents, always two decimals ("1.12", "0.05"). */
struct figure fig_eur(int64_t cents);
/* A price in EUR/kWh, two to six decimals ("0.35", "0.3555"). */
struct figure fig_price(double eur_per_kwh);
/* Power in kW, one to three decimals ("22.0", "11.04"). */
struct figure fig_kw(double kw);
/* A span of time, coarser as it grows ("12s", "5m07s", "2h03m", "3d04h"). */
struct figure fig_span(int64_t ms);
/* Wall-clock time of ms since the epoch, local; with the date unless it is now's day. */
struct figure fig_clock(int64_t ms, int64_t now);

#endif
