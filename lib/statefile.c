/* statefile.c: what a role keeps across its restarts: the state directory, and files replaced whole. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statefile.h"

int state_mkdirs(const char *dir)
{
	char p[PATH_MAX];
	size_t len = strlen(dir);

	if (!len || len >= sizeof(p)) {
		errno = len ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	memcpy(p, dir, len + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) && errno != EEXIST ? -1 : 0;
}

/* Writes all len bytes, whatever a signal or a short write does. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		if ((n = write(fd, buf, len)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int state_replace(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX + 8];
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (write_all(fd, buf, len) || close(fd) || rename(tmp, path)) {
		err = errno;
		close(fd);	/* EBADF when closed already: harmless */
		unlink(tmp);
		errno = err;
		return -1;
	}
	return 0;
}
