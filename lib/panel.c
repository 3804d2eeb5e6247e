/* panel.c: Central's live terminal panel: one line per CP, colours, keys. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "figure.h"
#include "log.h"
#include "panel.h"
#include "textwidth.h"
#include "xalloc.h"

#define PANEL_EVENTS 64		/* recent events kept */
#define PANEL_EVENTS_SHOWN 6
#define PANEL_LINE 256		/* an event line, and a CP row before cutting */
#define PANEL_LOC_MAX 24	/* columns of the widest location shown */
#define PANEL_MIN_REDRAW_MS 100
#define PANEL_CLOCK_MS 1000

enum key {
	KEY_ESC = 256, KEY_UP, KEY_DOWN, KEY_PGUP, KEY_PGDN, KEY_HOME, KEY_END,
};

enum prompt {
	PROMPT_NONE,
	PROMPT_STOP,		/* typing the id of a CP to stop */
	PROMPT_RESUME,
	PROMPT_STOP_ALL,	/* y/n */
	PROMPT_RESUME_ALL,
};

struct panel {
	struct termios saved;	/* stdin as it was, when keys is set */
	bool keys;		/* stdin is a terminal: keys are read */
	bool colour;
	const char *orange;	/* SGR of STOPPED: 256 colours or yellow */
	char events[PANEL_EVENTS][PANEL_LINE];
	unsigned nevents;	/* total added; the ring holds the last ones */
	bool dirty;
	long long last_draw;	/* mono ms */
	int rows, cols;		/* terminal size at the last redraw */
	size_t top;		/* first CP shown */
	size_t shown;		/* CP lines that fit, at the last redraw */
	enum prompt prompt;
	char input[MSG_NAME_MAX + 1];
	unsigned char kbuf[64];	/* keys read, not yet handled */
	size_t klen, kpos;
	char *frame;		/* the screen, built before one write */
	size_t flen, fcap;
};

/* The panel in use, so that exit() through die() restores the terminal. */
static struct panel *active;

static void write_all(const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDOUT_FILENO, s, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

static void restore(struct panel *p)
{
	static const char leave[] = "\033[0m\033[?25h\033[?1049l";

	if (p->keys)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &p->saved);
	write_all(leave, sizeof(leave) - 1);
}

static void restore_at_exit(void)
{
	if (active)
		restore(active);
	active = NULL;
}

/* Keys one at a time, unechoed; ^C still raises SIGINT for a clean stop. */
static bool raw_keys(struct panel *p)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &p->saved))
		return false;
	t = p->saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_iflag &= ~(tcflag_t)(ICRNL | IXON);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	return tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0;
}

static bool wants_colour(void)
{
	const char *nc = getenv("NO_COLOR");

	return !(nc && *nc);
}

static const char *orange_sgr(void)
{
	const char *term = getenv("TERM");
	const char *ct = getenv("COLORTERM");

	if ((ct && *ct) || (term && strstr(term, "256")))
		return "38;5;208";
	return "33";
}

struct panel *panel_open(void)
{
	static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
	const char *term = getenv("TERM");
	static bool hooked;
	struct panel *p;

	if (!isatty(STDOUT_FILENO) || (term && !strcmp(term, "dumb")))
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->keys = raw_keys(p);
	p->colour = wants_colour();
	p->orange = orange_sgr();
	p->dirty = true;
	active = p;
	if (!hooked && atexit(restore_at_exit) == 0)
		hooked = true;
	write_all(enter, sizeof(enter) - 1);
	return p;
}

void panel_close(struct panel *p)
{
	if (!p)
		return;
	restore(p);
	if (active == p)
		active = NULL;
	free(p->frame);
	free(p);
}

void panel_event(struct panel *p, const char *line)
{
	char *e = p->events[p->nevents++ % PANEL_EVENTS];

	snprintf(e, PANEL_LINE, "%s", line);
	/* Bytes from the network never reach the terminal as controls. */
	for (; *e; e++)
		if ((unsigned char)*e < 0x20 || *e == 0x7f)
			*e = '?';
	p->dirty = true;
}

void panel_touch(struct panel *p)
{
	p->dirty = true;
}

/* Next byte typed, reading more when the buffer is empty; -1: none. */
static int next_byte(struct panel *p)
{
	ssize_t n;

	if (p->kpos == p->klen) {
		p->kpos = p->klen = 0;
		if (!p->keys)
			return -1;
		n = read(STDIN_FILENO, p->kbuf, sizeof(p->kbuf));
		if (n <= 0)
			return -1;
		p->klen = (size_t)n;
	}
	return p->kbuf[p->kpos++];
}

/* "ESC [ ..." as a terminal sends it for arrows and paging keys. */
static int escape_key(struct panel *p)
{
	int c, num = 0;

	if (p->kpos == p->klen || p->kbuf[p->kpos] != '[')
		return KEY_ESC;	/* Esc alone: nothing follows in the same read */
	p->kpos++;
	while ((c = next_byte(p)) >= '0' && c <= '9')
		num = num * 10 + (c - '0');
	switch (c) {
	case 'A': return KEY_UP;
	case 'B': return KEY_DOWN;
	case 'H': return KEY_HOME;
	case 'F': return KEY_END;
	case '~':
		return num == 5 ? KEY_PGUP : num == 6 ? KEY_PGDN :
		       num == 1 || num == 7 ? KEY_HOME :
		       num == 4 || num == 8 ? KEY_END : -2;
	default: return -2;	/* a sequence we do not use */
	}
}

static int next_key(struct panel *p)
{
	int c;

	do {
		c = next_byte(p);
		if (c == 0x1b)
			c = escape_key(p);
	} while (c == -2);
	return c;
}

static void scroll(struct panel *p, int key)
{
	size_t page = p->shown ? p->shown : 1;

	switch (key) {
	case 'k': case KEY_UP: p->top = p->top ? p->top - 1 : 0; break;
	case 'j': case KEY_DOWN: p->top++; break;
	case 'b': case KEY_PGUP: p->top = p->top > page ? p->top - page : 0; break;
	case ' ': case KEY_PGDN: p->top += page; break;
	case 'g': case KEY_HOME: p->top = 0; break;
	case 'G': case KEY_END: p->top = (size_t)-1 / 2; break;
	default: return;
	}
	p->dirty = true;	/* panel_draw() brings top back in range */
}

static bool name_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* A key while the operator types a CP id; 1 when *cmd is complete. */
static int prompt_key(struct panel *p, int key, struct panel_cmd *cmd)
{
	size_t len = strlen(p->input);

	p->dirty = true;
	if (key == '\r' || key == '\n') {
		cmd->action = p->prompt == PROMPT_STOP ? PANEL_STOP : PANEL_RESUME;
		cmd->all = !strcmp(p->input, "all");
		snprintf(cmd->cp, sizeof(cmd->cp), "%s", cmd->all ? "" : p->input);
		p->prompt = PROMPT_NONE;
		return len > 0;
	}
	if (key == KEY_ESC)
		p->prompt = PROMPT_NONE;
	else if ((key == 0x7f || key == 0x08) && len > 0)
		p->input[len - 1] = '\0';
	else if (key == 0x15)	/* ^U */
		p->input[0] = '\0';
	else if (name_char(key) && len < MSG_NAME_MAX) {
		p->input[len] = (char)key;
		p->input[len + 1] = '\0';
	}
	return 0;
}

/* y confirms stopping or resuming every CP; any other key cancels. */
static int confirm_key(struct panel *p, int key, struct panel_cmd *cmd)
{
	bool yes = key == 'y' || key == 'Y';

	cmd->action = p->prompt == PROMPT_STOP_ALL ? PANEL_STOP : PANEL_RESUME;
	cmd->all = true;
	cmd->cp[0] = '\0';
	p->prompt = PROMPT_NONE;
	p->dirty = true;
	return yes;
}

static void start_prompt(struct panel *p, enum prompt what)
{
	p->prompt = what;
	p->input[0] = '\0';
	p->dirty = true;
}

static int handle_key(struct panel *p, int key, struct panel_cmd *cmd)
{
	if (p->prompt == PROMPT_STOP || p->prompt == PROMPT_RESUME)
		return prompt_key(p, key, cmd);
	if (p->prompt != PROMPT_NONE)
		return confirm_key(p, key, cmd);
	switch (key) {
	case 's': start_prompt(p, PROMPT_STOP); return 0;
	case 'r': start_prompt(p, PROMPT_RESUME); return 0;
	case 'S': start_prompt(p, PROMPT_STOP_ALL); return 0;
	case 'R': start_prompt(p, PROMPT_RESUME_ALL); return 0;
	case 'q': cmd->action = PANEL_QUIT; return 1;
	case 0x0c: p->dirty = true; p->last_draw = 0; return 0;	/* ^L */
	default: scroll(p, key); return 0;
	}
}

int panel_key(struct panel *p, struct panel_cmd *cmd)
{
	int key;

	memset(cmd, 0, sizeof(*cmd));
	while ((key = next_key(p)) >= 0)
		if (handle_key(p, key, cmd))
			return 1;
	return 0;
}

/* The frame: the whole screen, written at once so that it never flickers. */
static void put(struct panel *p, const char *s, size_t len)
{
	if (p->flen + len + 1 > p->fcap) {
		size_t cap = (p->fcap + len + 1) * 2;
		p->frame = xrealloc(p->frame, cap);
		p->fcap = cap;
	}
	memcpy(p->frame + p->flen, s, len);
	p->flen += len;
}

static void puts_(struct panel *p, const char *s)
{
	put(p, s, strlen(s));
}

static void sgr(struct panel *p, const char *code)
{
	if (!p->colour)
		return;
	puts_(p, "\033[");
	puts_(p, code);
	puts_(p, "m");
}

/*
 * One screen line: text cut to the width of the terminal in columns (a
 * byte count would cut a character in two, and end early on accented
 * or wide ones), in colour, rest cleared.
 */
static void line(struct panel *p, const char *colour, const char *text)
{
	char cut[PANEL_LINE * 3];	/* room for a U+FFFD per byte */

	text_cell(cut, sizeof(cut), text, p->cols, false);
	if (colour)
		sgr(p, colour);
	puts_(p, cut);
	if (colour)
		sgr(p, "0");
	puts_(p, "\033[K\r\n");
}

static const char *state_colour(const struct panel *p, enum cp_state s)
{
	switch (s) {
	case CP_ACTIVE: return "32";
	case CP_SUPPLYING: return "1;32";
	case CP_STOPPED: return p->orange;
	case CP_BROKEN: return "31";
	default: return "90";
	}
}

/* Widths of the id and location columns for the rows on screen, in columns. */
struct widths {
	int id, loc;
};

static void row_text(const struct panel_row *r, const struct widths *w,
		     char *buf, size_t len)
{
	char loc[PANEL_LINE];
	int n;

	text_cell(loc, sizeof(loc), r->location, w->loc, true);
	n = snprintf(buf, len, "%-*s  %s %7s  %-12s", w->id, r->id, loc,
		     fig_price(r->price).s, cp_state_name(r->state));
	if (n < 0 || (size_t)n >= len)
		return;
	if (r->state == CP_SUPPLYING)
		snprintf(buf + n, len - (size_t)n, " %7s %9s %7s  %s",
			 fig_kw(r->kw).s, fig_kwh(r->wh).s, fig_eur(r->cents).s,
			 r->driver);
	else if (r->stopped)
		snprintf(buf + n, len - (size_t)n, " Out of Order");
}

static void measure(size_t top, size_t count, panel_row_fn *row, void *ctx,
		    struct widths *w)
{
	struct panel_row r;

	w->id = 2;
	w->loc = 8;
	for (size_t i = top; i < top + count; i++) {
		row(ctx, i, &r);
		if (text_width(r.id) > w->id)
			w->id = text_width(r.id);
		if (text_width(r.location) > w->loc)
			w->loc = text_width(r.location);
	}
	if (w->loc > PANEL_LOC_MAX)
		w->loc = PANEL_LOC_MAX;
}

static void draw_rows(struct panel *p, size_t n, panel_row_fn *row, void *ctx)
{
	char text[PANEL_LINE], head[PANEL_LINE];
	struct panel_row r;
	struct widths w;
	size_t count = n - p->top < p->shown ? n - p->top : p->shown;

	measure(p->top, count, row, ctx, &w);
	snprintf(head, sizeof(head),
		 "%-*s  %-*s %7s  %-12s %7s %13s %10s  %s", w.id, "ID", w.loc,
		 "LOCATION", "EUR/kWh", "STATE", "kW", "kWh", "EUR", "DRIVER");
	line(p, "1", head);
	for (size_t i = p->top; i < p->top + count; i++) {
		row(ctx, i, &r);
		row_text(&r, &w, text, sizeof(text));
		line(p, state_colour(p, r.state), text);
	}
	for (size_t i = count; i < p->shown; i++)
		line(p, NULL, "");
}

static void draw_events(struct panel *p, unsigned shown)
{
	unsigned n = p->nevents < shown ? p->nevents : shown;

	line(p, NULL, "");
	for (unsigned i = 0; i < shown - n; i++)
		line(p, NULL, "");
	for (unsigned i = p->nevents - n; i < p->nevents; i++)
		line(p, NULL, p->events[i % PANEL_EVENTS]);
}

/* The last line: the prompt being typed, or what the keys do. */
static void draw_keys(struct panel *p, size_t n)
{
	char buf[PANEL_LINE];
	size_t last = p->top + p->shown < n ? p->top + p->shown : n;

	if (p->prompt == PROMPT_STOP || p->prompt == PROMPT_RESUME)
		snprintf(buf, sizeof(buf), "%s CP (id or 'all', Enter; Esc cancels): %s",
			 p->prompt == PROMPT_STOP ? "stop" : "resume", p->input);
	else if (p->prompt != PROMPT_NONE)
		snprintf(buf, sizeof(buf), "%s every CP? [y/N] ",
			 p->prompt == PROMPT_STOP_ALL ? "stop" : "resume");
	else if (!p->keys)
		snprintf(buf, sizeof(buf), "CPs %zu-%zu of %zu   (keys off: stdin is no terminal; ^C quits)",
			 n ? p->top + 1 : 0, last, n);
	else
		snprintf(buf, sizeof(buf), "CPs %zu-%zu of %zu   s stop  r resume  S stop all  R resume all  j/k scroll  q quit",
			 n ? p->top + 1 : 0, last, n);
	if ((int)strlen(buf) > p->cols)
		buf[p->cols] = '\0';
	sgr(p, "7");
	puts_(p, buf);
	sgr(p, "0");
	puts_(p, "\033[K");
}

/* The title, cut if need be so that the clock stays on the right. */
static void draw_title(struct panel *p, const char *title)
{
	char buf[PANEL_LINE], clock[16];
	time_t t = time(NULL);
	int room, len;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S ", &tm);
	room = p->cols - (int)strlen(clock) - 1;
	len = (int)strlen(title);
	if (len > room)
		len = room > 0 ? room : 0;
	room = p->cols - len - (int)strlen(clock);
	snprintf(buf, sizeof(buf), "%.*s%*s%s", len, title, room > 0 ? room : 0,
		 "", clock);
	line(p, "7", buf);
}

static void terminal_size(struct panel *p)
{
	struct winsize ws;
	int rows = 24, cols = 80;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		rows = ws.ws_row;
		cols = ws.ws_col < PANEL_LINE - 1 ? ws.ws_col : PANEL_LINE - 1;
	}
	if (rows != p->rows || cols != p->cols)
		p->dirty = true;
	p->rows = rows;
	p->cols = cols;
}

/* Splits the screen: title, header, CPs, a gap, events, the key line. */
static unsigned layout(struct panel *p, size_t n)
{
	int fixed = 3;	/* title, header, key line */
	int events = p->rows >= 16 ? PANEL_EVENTS_SHOWN : 0;
	int left = p->rows - fixed - (events ? events + 1 : 0);

	p->shown = left > 0 ? (size_t)left : 0;
	if (p->top + p->shown > n)
		p->top = n > p->shown ? n - p->shown : 0;
	return (unsigned)events;
}

void panel_draw(struct panel *p, const char *title, size_t n,
		panel_row_fn *row, void *ctx)
{
	long long now = mono_ms();
	unsigned events;

	terminal_size(p);
	if (now - p->last_draw < PANEL_MIN_REDRAW_MS ||
	    (!p->dirty && now - p->last_draw < PANEL_CLOCK_MS))
		return;
	p->flen = 0;
	events = layout(p, n);
	puts_(p, "\033[H");
	draw_title(p, title);
	draw_rows(p, n, row, ctx);
	if (events)
		draw_events(p, events);
	draw_keys(p, n);
	puts_(p, "\033[J");
	write_all(p->frame, p->flen);
	p->dirty = false;
	p->last_draw = now;
}
