/* textwidth.h: UTF-8 text in terminal columns: its display width, cut and padded to a column. */
#ifndef EVC_TEXTWIDTH_H
#define EVC_TEXTWIDTH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Text for people (locations, names, event lines) is UTF-8 and may hold
 * accented letters, combining marks, CJK and emoji: a column is then
 * neither a byte nor a character. Widths are the C library's wcwidth()
 * in the C.UTF-8 locale, whatever the user's locale (a daemon under
 * systemd often has none): 0 for combining marks, 2 for East Asian Wide
 * and Fullwidth characters and most emoji, 1 otherwise, counted code
 * point by code point (an emoji joined by U+200D may take fewer columns
 * on a terminal that draws the sequence as one). Whatever cannot be
 * shown as it is (a byte that is not UTF-8, a control character, a code
 * point the C library calls unprintable) is shown as U+FFFD, one column,
 * so that no input moves the columns after it. Without C.UTF-8 every
 * printable code point counts one column.
 */

/*
 * The code point at s, strictly decoded, and in *n the bytes it takes;
 * -1 for bytes that are not UTF-8, *n then being those that one U+FFFD
 * stands for (at least one).
 */
long text_decode(const char *s, size_t *n);

/* The columns s takes, once shown as text_cell() shows it. */
int text_width(const char *s);

/*
 * Writes s into buf (len bytes, always terminated), cut to at most cols
 * columns (a wide character that would cross the edge is left out;
 * combining marks stay with their letter) and, with pad, filled with
 * spaces to exactly cols. Stops early rather than overflow buf. Returns
 * the columns written.
 */
int text_cell(char *buf, size_t len, const char *s, int cols, bool pad);

#endif
