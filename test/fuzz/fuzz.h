/* fuzz.h: what evc's libFuzzer harnesses share: quiet loaders, a scratch file, checks. */
#ifndef EVC_FUZZ_H
#define EVC_FUZZ_H

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

/*
 * A broken invariant: say which, then abort() so that libFuzzer keeps the
 * input. The line goes where the sanitizers report, which stays visible
 * when the target's stderr is closed (fuzz_quiet()).
 */
__attribute__((noreturn, format(printf, 1, 2)))
static inline void fuzz_fail(const char *fmt, ...)
{
	static const char head[] = "invariant broken: ";
	char msg[1024] = "";
	va_list ap;

	memcpy(msg, head, sizeof(head));
	va_start(ap, fmt);
	vsnprintf(msg + sizeof(head) - 1, sizeof(msg) - sizeof(head) + 1, fmt, ap);
	va_end(ap);
	__sanitizer_report_error_summary(msg);
	abort();
}

/* Replaying inputs given as files, rather than fuzzing a corpus directory. */
static inline int fuzz_replaying(int argc, char **argv)
{
	struct stat st;

	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-' && stat(argv[i], &st) == 0 &&
		    S_ISREG(st.st_mode))
			return 1;
	return 0;
}

/*
 * The loaders print "FILE:LINE: what" for every bad input, millions of
 * lines while fuzzing. A dup2() of /dev/null on stderr here would also
 * swallow libFuzzer's own lines and the sanitizers' reports, so the
 * harness asks libFuzzer for -close_fd_mask=2, which points those at a
 * copy of stderr first. Replaying a reproducer keeps the messages (they
 * say what the input was rejected for); EVC_FUZZ_STDERR=1 always does.
 */
static inline void fuzz_quiet(int *argc, char ***argv)
{
	static char mask[] = "-close_fd_mask=2";
	const char *env = getenv("EVC_FUZZ_STDERR");
	char **v;

	if ((env && *env == '1') || fuzz_replaying(*argc, *argv))
		return;
	for (int i = 1; i < *argc; i++)
		if (!strncmp((*argv)[i], "-close_fd_mask=", 15))
			return;	/* the caller chose */
	v = calloc((size_t)*argc + 2, sizeof(*v));
	if (!v)
		abort();
	memcpy(v, *argv, (size_t)*argc * sizeof(*v));
	v[(*argc)++] = mask;
	*argv = v;	/* kept for the life of the process */
}

/*
 * The file a loader reads each input from: in $TMPDIR (run.sh points it
 * at its scratch directory), else /dev/shm, else /tmp. Its directory has
 * no broker file of `evc broker` and no catalogue, so what a load does
 * depends on the input alone.
 */
static inline char *fuzz_path(void)
{
	static char path[PATH_MAX];

	return path;
}

/* At a normal exit; after a crash, run.sh removes its whole scratch directory. */
static inline void fuzz_file_remove(void)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", fuzz_path());
	unlink(dir);
	if (!(slash = strrchr(dir, '/')))
		return;
	strcpy(slash, "/evc/broker");	/* fuzz_conf's */
	unlink(dir);
	slash[4] = '\0';
	rmdir(dir);
	*slash = '\0';
	rmdir(dir);
}

static inline void fuzz_file_init(const char *name)
{
	const char *tmp = getenv("TMPDIR");
	char fuzz_dir[PATH_MAX - 64];
	struct stat st;

	if (!tmp || *tmp != '/')
		tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ?
			"/dev/shm" : "/tmp";
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/evc-fuzz.XXXXXX", tmp);
	if (!mkdtemp(fuzz_dir))
		fuzz_fail("cannot make a directory in '%s'", tmp);
	snprintf(fuzz_path(), PATH_MAX, "%s/%s", fuzz_dir, name);
	atexit(fuzz_file_remove);
	unsetenv("EVC_BROKERS");
	unsetenv("EVC_CONFIG");
	unsetenv("EVC_DEBUG");
	unsetenv("STATE_DIRECTORY");
	unsetenv("XDG_STATE_HOME");
	setenv("XDG_RUNTIME_DIR", fuzz_dir, 1);
	setenv("HOME", fuzz_dir, 1);
}

static inline void fuzz_write(const uint8_t *data, size_t size)
{
	int fd = open(fuzz_path(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;
	ssize_t n;

	if (fd < 0)
		fuzz_fail("cannot write '%s'", fuzz_path());
	while (done < size) {
		if ((n = write(fd, data + done, size - done)) <= 0)
			fuzz_fail("cannot write '%s'", fuzz_path());
		done += (size_t)n;
	}
	close(fd);
}

/*
 * What the loaders print goes to a buffer (stderr is a variable: the
 * sanitizers and libFuzzer write to descriptors of their own), to be
 * checked, then to the real stderr when it is shown at all.
 */
static inline char *fuzz_captured(void)
{
	static char buf[16384];

	return buf;
}

static inline FILE **fuzz_saved_stderr(void)
{
	static FILE *saved;

	return &saved;
}

static inline void fuzz_capture_begin(void)
{
	static FILE *f;

	if (!f && !(f = fmemopen(fuzz_captured(), 16384, "w")))
		fuzz_fail("cannot capture stderr");
	rewind(f);
	*fuzz_saved_stderr() = stderr;
	stderr = f;
}

/* Ends the capture; the text printed is at fuzz_captured(). */
static inline const char *fuzz_capture_end(void)
{
	FILE *f = stderr;
	long n;

	fflush(f);
	n = ftell(f);
	stderr = *fuzz_saved_stderr();
	if (n < 0 || n > 16383)
		n = 16383;
	fuzz_captured()[n] = '\0';
	fputs(fuzz_captured(), stderr);
	return fuzz_captured();
}

/* What conf.c promises of the text it keeps: no C0, DEL or C1 control. */
static inline int fuzz_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++)
		if (*p < 0x20 || *p == 0x7f ||
		    (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return 0;
	return 1;
}

/*
 * The lines of a YAML file as libyaml counts them (its marks number
 * them): CR LF, CR, LF, NEL, LS and PS each end one. An unterminated
 * last line counts as ended, and errors at the end of the file are on
 * the line after.
 */
static inline unsigned long fuzz_yaml_lines(const uint8_t *p, size_t n)
{
	unsigned long lines = 1;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			lines += !(i + 1 < n && p[i + 1] == '\n');
		else if (p[i] == '\n')
			lines++;
		else if (i + 1 < n && p[i] == 0xc2 && p[i + 1] == 0x85)
			lines++;
		else if (i + 2 < n && p[i] == 0xe2 && p[i + 1] == 0x80 &&
			 (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
			lines++;
	}
	return lines + (n && p[n - 1] != '\n' && p[n - 1] != '\r');
}

/*
 * What a loader printed: messages of error() ("evc fuzz: ..."), and those
 * about the file ("evc fuzz: FILE:LINE: ...") on one line of printable
 * text (the file may hold anything; a terminal must not receive it) and
 * naming a line of the file, or the one after it. Messages about
 * the command line may echo it as it is: it is the operator's own.
 */
static inline void fuzz_check_messages(const char *out, const char *file,
				       const uint8_t *data, size_t size)
{
	const char *line = out, *end;
	size_t flen = strlen(file);
	unsigned long lines, n;
	int about_file = 0;
	char copy[16384];

	if (*out && strncmp(out, "evc fuzz: ", 10))
		fuzz_fail("message not from error(): '%s'", out);
	lines = fuzz_yaml_lines(data, size);
	for (; *line; line = end + 1) {
		if (!(end = strchr(line, '\n')))
			fuzz_fail("message without a newline: '%s'", line);
		snprintf(copy, sizeof(copy), "%.*s", (int)(end - line), line);
		if (strncmp(copy, "evc fuzz: ", 10)) {
			if (about_file)
				fuzz_fail("newline in a message about the file: '%s'",
					  copy);
			continue;
		}
		about_file = !strncmp(copy + 10, file, flen) &&
			     copy[10 + flen] == ':';
		if (!about_file)
			continue;
		if (!fuzz_text_ok(copy))
			fuzz_fail("control character in a message: '%s'", copy);
		n = strtoul(copy + 11 + flen, NULL, 10);
		if (n < 1 || n > lines)
			fuzz_fail("line %lu of %lu: '%s'", n, lines, copy);
	}
}

#endif
