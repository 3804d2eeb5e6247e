/* statefile.h: what a role keeps across its restarts: the state directory, and files replaced whole. */
#ifndef EVC_STATEFILE_H
#define EVC_STATEFILE_H

#include <stddef.h>

/* Creates dir and its parents (0700), as mkdir -p does: 0, or -1 with errno. */
int state_mkdirs(const char *dir);

/*
 * Replaces path by the len bytes of buf: written aside (path.tmp,
 * 0600) and renamed over it, so that the file is always whole. 0, or
 * -1 with errno set (nothing is left aside).
 */
int state_replace(const char *path, const char *buf, size_t len);

#endif
