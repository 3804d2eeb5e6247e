/* xalloc.h: allocation that never fails: out of memory ends the process. */
#ifndef EVC_XALLOC_H
#define EVC_XALLOC_H

#include <stddef.h>

/*
 * evc has no way to go on without the memory it asked for, and a half
 * built state would do more harm than a clear exit: every allocation
 * goes through these, and running out ends the process with
 * "evc ROLE: out of memory" and EXIT_FAIL. A size of zero is served as
 * one byte, so a NULL return never means success.
 */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* realloc of nmemb * size bytes, refusing a product that overflows. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
__attribute__((format(printf, 1, 2)))
char *xasprintf(const char *fmt, ...);

#endif
