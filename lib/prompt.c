/* prompt.c: a command line at a terminal: libedit's editing and history, and lines printed above it. */
#include <errno.h>
#include <histedit.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "prompt.h"
#include "statefile.h"
#include "textwidth.h"
#include "xalloc.h"

#define HISTORY_SIZE 500
#define CTRL_D '\004'

/*
 * el_gets() in libedit's unbuffered mode, with a reader of our own
 * (EL_GETCFN), rather than the readline layer's rl_callback_read_char():
 * that function is a thin wrapper over this very mode, but the readline
 * layer keeps one global editor and turns on libedit's signal handlers
 * (EL_SIGNAL: SIGINT's resends the signal to the whole process group),
 * against which bus_signals() would have to fight. In unbuffered mode el_gets()
 * handles one key and returns. libedit's own reader would then still
 * wait for a key in two cases (an Esc alone, which may start a
 * sequence, and bytes that are not UTF-8, which it drops and reads on):
 * ours never waits, so that Kafka's messages are shown while the
 * person thinks. libedit's signal handling (EL_SIGNAL) stays off for
 * the same reason as above: SIGINT and SIGTERM stop the loop through
 * bus_stop and prompt_close() gives the terminal back; SIGWINCH,
 * SIGCONT and SIGHUP (the terminal closed: the history is saved all the
 * same) are noted here and acted on at the next prompt_read().
 */
struct prompt {
	EditLine *el;
	History *h;
	char *text;		/* the prompt */
	char *histfile;		/* NULL: the history is kept in memory only */
	char *line;		/* the last line entered */
	char *ctype;		/* LC_CTYPE before prompt_open() */
	int hidden;		/* prompt_hide() calls not yet undone */
	bool starved;		/* the reader found nothing to read */
	bool ended;		/* the reader met the end of input */
	bool eof;		/* ^D was typed on an empty line */
	int keys;		/* characters it returned in this el_gets() */
	struct sigaction old_winch, old_cont, old_hup;
};

static volatile sig_atomic_t resized, resumed, hungup;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else if (sig == SIGCONT)
		resumed = 1;
	else
		hungup = 1;
}

static char *prompt_text(EditLine *el)
{
	struct prompt *p = NULL;

	el_get(el, EL_CLIENTDATA, &p);
	return p ? p->text : "";
}

/* $XDG_STATE_HOME/evc/NAME, else ~/.local/state/evc/NAME; NULL if neither. */
static char *history_path(const char *name)
{
	const char *s = getenv("XDG_STATE_HOME");
	char *dir, *path;

	if (s && *s == '/')
		dir = xasprintf("%s/evc", s);
	else if ((s = getenv("HOME")) && *s == '/')
		dir = xasprintf("%s/.local/state/evc", s);
	else
		return NULL;
	if (state_mkdirs(dir)) {
		debug("no history file: cannot create '%s': %s", dir,
		      strerror(errno));
		free(dir);
		return NULL;
	}
	path = xasprintf("%s/%s", dir, name);
	free(dir);
	return path;
}

static void note_signal(int sig, struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, old);
}

/* History in memory, the file's lines first; a line entered twice in a row is kept once. */
static void history_open(struct prompt *p, const char *history_name)
{
	HistEvent ev;

	history(p->h, &ev, H_SETSIZE, HISTORY_SIZE);
	history(p->h, &ev, H_SETUNIQUE, 1);
	if (history_name && (p->histfile = history_path(history_name)) &&
	    access(p->histfile, F_OK) == 0 &&
	    history(p->h, &ev, H_LOAD, p->histfile) < 0)
		warn("cannot read the history in '%s'", p->histfile);
}

static bool key_waiting(void)
{
	struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };

	return poll(&in, 1, 0) > 0;
}

/* The bytes of the UTF-8 sequence that b starts (1 for one that is not). */
static size_t lead_len(unsigned char b)
{
	return b < 0xc2 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : b < 0xf5 ? 4 : 1;
}

/*
 * libedit's reader: one character typed, decoded from UTF-8 (U+FFFD for
 * bytes that are not), without waiting: with nothing typed it returns 0,
 * as at the end of input, and sets starved so that prompt_read() knows
 * it is not.
 */
static int read_key(EditLine *el, wchar_t *c)
{
	struct prompt *p = NULL;
	char b[5] = { 0 };
	size_t n = 0, need = 1, used;
	ssize_t r;
	long cp;

	el_get(el, EL_CLIENTDATA, &p);
	while (n < need && key_waiting()) {
		if ((r = read(STDIN_FILENO, b + n, 1)) <= 0) {
			if (n || (r < 0 && (errno == EINTR || errno == EAGAIN)))
				break;
			p->ended = true;	/* or the terminal is gone */
			return (int)r;
		}
		need = lead_len((unsigned char)b[0]);
		n++;
	}
	if (!n) {
		p->starved = true;
		return 0;
	}
	cp = text_decode(b, &used);
	*c = cp < 0 ? (wchar_t)0xfffd : (wchar_t)cp;
	p->keys++;
	return 1;
}

/*
 * libedit shows and converts what is typed in LC_CTYPE's encoding: the
 * user's if it is UTF-8, else C.UTF-8, since evc prints UTF-8 anyway.
 * Set before el_init(), which looks at it.
 */
static char *utf8_ctype(void)
{
	char *was = xstrdup(setlocale(LC_CTYPE, NULL));

	if (setlocale(LC_CTYPE, "") && !strcmp(nl_langinfo(CODESET), "UTF-8"))
		return was;
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, was);
	return was;
}

struct prompt *prompt_open(const char *text, const char *history_name)
{
	struct prompt *p = xcalloc(1, sizeof(*p));

	p->ctype = utf8_ctype();
	p->h = history_init();
	p->el = el_init("evc", stdin, stdout, stderr);
	if (!p->h || !p->el) {
		if (p->el)
			el_end(p->el);
		if (p->h)
			history_end(p->h);
		setlocale(LC_CTYPE, p->ctype);
		free(p->ctype);
		free(p);
		return NULL;
	}
	p->text = xstrdup(text);
	history_open(p, history_name);
	el_set(p->el, EL_CLIENTDATA, p);
	el_set(p->el, EL_PROMPT, prompt_text);
	el_set(p->el, EL_EDITOR, "emacs");
	el_set(p->el, EL_HIST, history, p->h);
	el_set(p->el, EL_GETCFN, read_key);
	el_source(p->el, NULL);		/* ~/.editrc, or $EDITRC */
	note_signal(SIGWINCH, &p->old_winch);
	note_signal(SIGCONT, &p->old_cont);
	note_signal(SIGHUP, &p->old_hup);
	el_set(p->el, EL_UNBUFFERED, 1);	/* the editor's keys; the prompt */
	return p;
}

/* How many rows of the screen the prompt and the text before the cursor fill above it. */
static int rows_above(const struct prompt *p)
{
	const LineInfo *li = el_line(p->el);
	struct winsize ws;
	int cols = 80, w;
	char *before;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		cols = ws.ws_col;
	before = xstrndup(li->buffer, (size_t)(li->cursor - li->buffer));
	w = text_width(p->text) + text_width(before);
	free(before);
	return w / cols;
}

void prompt_hide(struct prompt *p)
{
	int up;

	if (p->hidden++)
		return;
	up = rows_above(p);
	fputs("\r", stdout);
	if (up)
		printf("\033[%dA", up);
	fputs("\033[J", stdout);
	fflush(stdout);
}

void prompt_show(struct prompt *p)
{
	if (!p->hidden || --p->hidden)
		return;
	el_set(p->el, EL_REFRESH);
}

/* What a resize or a return from the background asks of the editor. */
static void take_signals(struct prompt *p)
{
	if (resumed) {
		resumed = 0;
		/* The shell set the terminal its way: libedit's again. */
		el_set(p->el, EL_PREP_TERM, 0);
		el_set(p->el, EL_PREP_TERM, 1);
		if (!p->hidden)
			el_set(p->el, EL_REFRESH);
	}
	if (resized) {
		resized = 0;
		el_resize(p->el);
		if (!p->hidden)
			el_set(p->el, EL_REFRESH);
	}
}

/* A line entered: kept, remembered, and a fresh prompt under it. */
static int entered(struct prompt *p, const char *buf, int n, char **line)
{
	HistEvent ev;

	free(p->line);
	p->line = xstrndup(buf, (size_t)n - 1);
	if (p->line[strspn(p->line, " \t")])
		history(p->h, &ev, H_ENTER, p->line);
	/* Leaving unbuffered mode ends the line; entering it starts one. */
	el_set(p->el, EL_UNBUFFERED, 0);
	el_set(p->el, EL_UNBUFFERED, 1);
	*line = p->line;
	return 1;
}

int prompt_read(struct prompt *p, char **line)
{
	const char *buf;
	int n;

	take_signals(p);
	if (hungup)
		return -1;	/* the terminal is gone: the history is kept */
	for (;;) {
		p->starved = false;
		p->keys = 0;
		buf = el_gets(p->el, &n);
		if (p->ended || (!buf && n < 0 && !p->keys && !p->starved))
			return -1;	/* the end, or the terminal is gone */
		if (p->starved)
			return 0;
		if (!buf)
			continue;	/* a key that left the line empty */
		if (n == 1 && buf[0] == CTRL_D) {
			p->eof = true;
			return -1;
		}
		if (buf[n - 1] == '\n')
			return entered(p, buf, n, line);
	}
}

void prompt_close(struct prompt *p)
{
	const LineInfo *li;
	HistEvent ev;

	if (!p)
		return;
	li = el_line(p->el);
	if (!p->hidden)
		prompt_hide(p);
	if (li->lastchar > li->buffer && !p->eof)
		printf("%s%.*s\n", p->text, (int)(li->lastchar - li->buffer),
		       li->buffer);
	fflush(stdout);
	el_end(p->el);
	if (p->histfile && history(p->h, &ev, H_SAVE, p->histfile) < 0)
		warn("cannot save the history in '%s'", p->histfile);
	history_end(p->h);
	sigaction(SIGWINCH, &p->old_winch, NULL);
	sigaction(SIGCONT, &p->old_cont, NULL);
	sigaction(SIGHUP, &p->old_hup, NULL);
	setlocale(LC_CTYPE, p->ctype);
	free(p->ctype);
	free(p->histfile);
	free(p->line);
	free(p->text);
	free(p);
}
