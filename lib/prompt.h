/* prompt.h: a command line at a terminal: libedit's editing and history, and lines printed above it. */
#ifndef EVC_PROMPT_H
#define EVC_PROMPT_H

/*
 * The line a person types at evc driver's prompt, edited with libedit
 * (emacs keys, or what ~/.editrc says for "evc") with its history,
 * while the program goes on with its own work: the caller polls
 * standard input with whatever else it waits for, and calls
 * prompt_read() to take what was typed without ever blocking on the
 * person. Lines the program prints meanwhile go between prompt_hide()
 * and prompt_show(), which take the prompt and what is typed off the
 * screen and put them back under the new lines.
 */
struct prompt;

/*
 * Takes the terminal (standard input and output must be terminals):
 * draws text as the prompt, with the history of the lines entered
 * before from $XDG_STATE_HOME/evc/history_name, else
 * ~/.local/state/evc/history_name (history_name NULL: in memory only).
 * NULL when libedit cannot be used.
 */
struct prompt *prompt_open(const char *text, const char *history_name);

/*
 * Gives the terminal back as it was, the line being typed (if any, and
 * not ended by ^D) left on the screen as a plain line, and saves the
 * history.
 */
void prompt_close(struct prompt *p);

/*
 * Takes what was typed so far, without waiting: 1 with *line a line
 * entered (without its newline; the caller may change it; valid until
 * the next call), 0 when no line is complete yet, -1 at end of input
 * (^D on an empty line, or the terminal gone). A new prompt is drawn
 * at once after a line.
 */
int prompt_read(struct prompt *p, char **line);

/*
 * Around lines printed while the prompt is on the screen. Pairs nest;
 * prompt_show() without a prompt_hide() does nothing.
 */
void prompt_hide(struct prompt *p);
void prompt_show(struct prompt *p);

#endif
