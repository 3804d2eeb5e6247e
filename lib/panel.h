/* panel.h: Central's live terminal panel: one line per CP, colours, keys. */
#ifndef EVC_PANEL_H
#define EVC_PANEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* What the panel shows of one CP. */
struct panel_row {
	const char *id;
	const char *location;
	double price;			/* EUR/kWh */
	enum cp_state state;
	bool stopped;			/* out of order, whatever the state */
	const char *driver;		/* while supplying, else "" */
	double kw;
	int64_t wh;
	int64_t cents;
};

/* Fills *r with the row of CP number i (0 <= i < the count drawn). */
typedef void panel_row_fn(void *ctx, size_t i, struct panel_row *r);

/* What the operator asked for with the keys. */
enum panel_action {
	PANEL_NONE,
	PANEL_STOP,
	PANEL_RESUME,
	PANEL_QUIT,
};

struct panel_cmd {
	enum panel_action action;
	bool all;			/* every CP; cp is then "" */
	char cp[MSG_NAME_MAX + 1];
};

struct panel;

/*
 * Takes over the terminal when stdout is one (and TERM is not "dumb"):
 * alternate screen, keys read one by one from stdin when it is a
 * terminal too. Colours unless NO_COLOR is set. NULL otherwise: the
 * caller then logs one line per event instead.
 */
struct panel *panel_open(void);

/* Gives the terminal back as it was. */
void panel_close(struct panel *p);

/* Adds a line to the recent events shown under the CPs. */
void panel_event(struct panel *p, const char *line);

/* Marks the panel as needing a redraw (a CP changed). */
void panel_touch(struct panel *p);

/*
 * Reads the keys typed so far. Returns 1 with *cmd filled when they
 * complete a command, 0 when there is nothing (more) to do.
 */
int panel_key(struct panel *p, struct panel_cmd *cmd);

/*
 * Redraws the whole screen if something changed and the last redraw is
 * at least 100 ms old (or once a second for the clock): title, n rows
 * from row(), recent events and the key line or prompt.
 */
void panel_draw(struct panel *p, const char *title, size_t n,
		panel_row_fn *row, void *ctx);

#endif
