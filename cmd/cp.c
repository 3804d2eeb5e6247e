/* cp.c: the cp role: a charging point's monitor, its engine, its control. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "lib/bus.h"
#include "lib/conf.h"
#include "lib/engine.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/seal.h"
#include "lib/setup.h"
#include "lib/xalloc.h"

/*
 * `evc cp CP_ID` is the monitor. It runs the engine (lib/engine.c) as a
 * child process, /proc/self/exe with the hidden option --engine and one
 * end of a socket pair on ENGINE_FD, checks it every cp.health_ms,
 * reports its health to Central and starts it again when it dies. It
 * also owns the CP's control socket, which `evc cp CP_ID ACTION` uses,
 * and, on a terminal, the keys and the status line.
 */

#define RESTART_MIN_MS 200	/* first back-off before an engine restart */
#define RESTART_MAX_MS 5000
#define STABLE_MS 10000		/* an engine up this long restarts fast again */
#define STOP_MS 10000		/* how long a stopping engine may take */
#define CLIENT_MS 10000		/* a control client's whole exchange */
#define MAX_CLIENTS 8
#define FLUSH_MS 5000
#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

static const char usage[] =
	"usage: evc cp [-nv] [-b BROKERS] [-c FILE] [-k FILE] [-l LOCATION] [-X NAME=VALUE]... CP_ID\n"
	"       evc cp CP_ID unplug|fault|recover|status\n"
	"\n"
	"  CP_ID                     the charging point's id, such as CP001\n"
	"  unplug                    end the supply in progress: the car is unplugged\n"
	"  fault                     make the engine fail (KO) until recover\n"
	"  recover                   end a fault\n"
	"  status                    print the state of the CP's engine\n"
	"\n"
	"  -b, --brokers BROKERS     Kafka bootstrap servers, host:port,...\n"
	"  -c, --config FILE         configuration file (default /etc/evc/evc.yaml)\n"
	"  -h, --help                show this help\n"
	"  -k, --key-file FILE       the CP's key (over cp.key_file; mode 600)\n"
	"  -l, --location LOCATION   where the CP is, sent at registration\n"
	"  -n, --check               check the configuration and exit\n"
	"  -v, --verbose             print debugging output\n"
	"  -X NAME=VALUE             set a librdkafka property\n"
	"\n"
	"Keys, when run on a terminal: u unplug, f fault, r recover, q quit.\n"
	"Signals: SIGUSR1 fault, SIGUSR2 recover, SIGINT/SIGTERM stop.\n";

static const char *const actions[] = { "unplug", "fault", "recover", "status" };

struct cp_opts {
	const char *location;	/* -l, over cp.location */
	const char *key_file;	/* -k, over cp.key_file */
	struct seal_key key;
	bool keyed;
	bool check;		/* -n */
	bool engine;		/* --engine: this process is the engine */
	const char *id;
	const char *action;	/* the control client's action, or NULL */
	int argc;		/* the command line, for the engine's */
	char **argv;
};

/* A connection on the control socket, waiting for its answer. */
struct client {
	int fd;			/* -1: a free slot */
	unsigned tag;		/* of the action sent to the engine; 0: none yet */
	char buf[64];
	size_t len;
	long long deadline;
};

struct monitor {
	const struct conf *c;
	const char *id;
	char **eargv;		/* the engine's command line */
	struct bus *b;
	sigset_t oldmask;	/* the mask to wait and run the engine with */
	pid_t pid;		/* the engine, 0 when none runs */
	int sock;		/* to the engine; -1 */
	int errfd;		/* the engine's stderr on a terminal; -1 */
	int lfd;		/* the control socket */
	char path[SUN_PATH_MAX];
	long long started, restart_at, next_tick;
	int backoff;
	int ok;			/* engine health as Central last heard it; -1 */
	bool ping_out;		/* the last ping is not answered yet */
	uint32_t hseq, pseq;
	unsigned next_tag;
	struct client cl[MAX_CLIENTS];
	bool tty, drawn;
	char status[ENGINE_PACKET_MAX];
	char errbuf[4096];
	size_t errlen;
	struct ratelimit rl;
	int exit;		/* -1 while running */
};

static volatile sig_atomic_t got_usr1, got_usr2, got_chld;
static struct termios tty_saved;
static bool tty_raw;

static bool is_action(const char *s)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(s, actions[i]))
			return true;
	return false;
}

/*
 * The control socket: beside `evc broker`'s runtime file, so in
 * $XDG_RUNTIME_DIR/evc, else /tmp/evc-UID, which must then be ours.
 */
static int control_path(char *buf, size_t len, const char *id, bool create)
{
	char dir[SUN_PATH_MAX];
	struct stat st;
	int n;

	if (conf_broker_file(dir, sizeof(dir)) < 0)
		return error("runtime directory name too long: '%s'", dir);
	*strrchr(dir, '/') = '\0';
	if (create && mkdir(dir, 0700) && errno != EEXIST)
		return error("cannot create directory: '%s': %s", dir,
			     strerror(errno));
	if (create && (lstat(dir, &st) || !S_ISDIR(st.st_mode) ||
		       st.st_uid != getuid()))
		return error("not a directory of this user: '%s'", dir);
	n = snprintf(buf, len, "%s/cp-%s.sock", dir, id);
	if (n < 0 || (size_t)n >= len)
		return error("control socket name too long: '%s/cp-%s.sock'",
			     dir, id);
	return 0;
}

static int control_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Reads one line from fd within ms; its length, or -1. */
static int read_line(int fd, char *buf, size_t len, int ms)
{
	long long end = mono_ms() + ms;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < len - 1 && !memchr(buf, '\n', got)) {
		long long left = end - mono_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		if ((n = read(fd, buf + got, len - 1 - got)) <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return (int)strlen(buf);
}

/* `evc cp CP_ID ACTION`: asks the monitor running CP_ID here. */
static int client_run(const char *id, const char *action)
{
	char path[SUN_PATH_MAX], line[ENGINE_PACKET_MAX + 16];
	int fd, n;

	if (control_path(path, sizeof(path), id, false))
		return EXIT_FAIL;
	if ((fd = control_connect(path)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			error("no such CP runs here: '%s'", id);
		else
			error("cannot connect to '%s': %s", path, strerror(errno));
		return EXIT_UNREACHABLE;
	}
	n = snprintf(line, sizeof(line), "%s\n", action);
	if (write(fd, line, (size_t)n) != n ||
	    read_line(fd, line, sizeof(line), CLIENT_MS + 2000) < 0) {
		close(fd);
		error("no answer from the monitor of '%s'", id);
		return EXIT_UNREACHABLE;
	}
	close(fd);
	if (!strncmp(line, "ok ", 3)) {
		puts(line + 3);
		return EXIT_OK;
	}
	if (!strncmp(line, "refused ", 8))
		error("cannot %s: %s: '%s'", action, line + 8, id);
	else
		error("cannot %s: %s: '%s'", action,
		      strncmp(line, "error ", 6) ? line : line + 6, id);
	return EXIT_FAIL;
}

/* --- the status line and the log, sharing a terminal --- */

static void ui_clear(struct monitor *m)
{
	if (m->drawn)
		fputs("\r\033[K", stderr);
	m->drawn = false;
}

static void ui_draw(struct monitor *m)
{
	static const char keys[] = "  [u]nplug [f]ault [r]ecover [q]uit";
	struct winsize ws;
	int cols = 80;

	if (!m->tty)
		return;
	if (!ioctl(2, TIOCGWINSZ, &ws) && ws.ws_col > 1)
		cols = ws.ws_col;
	fprintf(stderr, "\r\033[K%.*s", cols - 1, m->status);
	if ((int)(strlen(m->status) + sizeof(keys)) <= cols)
		fputs(keys, stderr);
	fflush(stderr);
	m->drawn = true;
}

static void mon_log(struct monitor *m, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void mon_log(struct monitor *m, bool warning, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ui_clear(m);
	if (warning)
		warn("%s", buf);
	else
		info("%s", buf);
	ui_draw(m);
}

static void status_set(struct monitor *m, const char *text)
{
	if (!strcmp(m->status, text))
		return;
	snprintf(m->status, sizeof(m->status), "%s", text);
	ui_draw(m);
}

/* Copies the engine's complete stderr lines, above the status line. */
static void relay(struct monitor *m, bool all)
{
	ssize_t n = 0;
	char *nl;

	if (m->errfd >= 0) {
		n = read(m->errfd, m->errbuf + m->errlen,
			 sizeof(m->errbuf) - m->errlen);
		if (n > 0)
			m->errlen += (size_t)n;
	}
	while (m->errlen && ((nl = memchr(m->errbuf, '\n', m->errlen)) ||
			     all || m->errlen == sizeof(m->errbuf))) {
		size_t len = nl ? (size_t)(nl - m->errbuf) + 1 : m->errlen;

		ui_clear(m);
		fwrite(m->errbuf, 1, len, stderr);
		if (!nl)
			fputc('\n', stderr);
		memmove(m->errbuf, m->errbuf + len, m->errlen - len);
		m->errlen -= len;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		if (m->errfd >= 0)
			close(m->errfd);
		m->errfd = -1;
	}
	ui_draw(m);
}

static void tty_restore(void)
{
	if (tty_raw)
		tcsetattr(0, TCSANOW, &tty_saved);
	tty_raw = false;
}

/* Keys without Enter or echo; ^C still stops the monitor. */
static void tty_setup(struct monitor *m)
{
	struct termios t;

	m->tty = isatty(0) && isatty(2);
	if (!m->tty || tcgetattr(0, &tty_saved)) {
		m->tty = false;
		return;
	}
	t = tty_saved;
	t.c_lflag &= (tcflag_t)~(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(0, TCSANOW, &t)) {
		tty_raw = true;
		atexit(tty_restore);
	}
}

/* --- health --- */

static void publish(struct monitor *m)
{
	struct msg h;

	msg_init(&h, MSG_HEALTH);
	snprintf(h.cp, sizeof(h.cp), "%s", m->id);
	h.u.health.engine_ok = m->ok > 0;
	h.u.health.seq = m->hseq++;
	bus_send(m->b, T_HEALTH, &h);
	debug("health %u: engine %s", (unsigned)h.u.health.seq,
	      h.u.health.engine_ok ? "OK" : "KO");
}

/* Records the engine's health; true when Central must hear it now. */
static bool note_ok(struct monitor *m, bool ok)
{
	if (m->ok == (int)ok)
		return false;
	m->ok = ok;
	mon_log(m, !ok, "engine %s", ok ? "OK" : "KO");
	return true;
}

static void ping(struct monitor *m)
{
	char p[32];
	int n;

	if (m->sock < 0)
		return;
	n = snprintf(p, sizeof(p), "ping %u", (unsigned)++m->pseq);
	send(m->sock, p, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	m->ping_out = true;
}

/* Every cp.health_ms: judge the last ping, tell Central, ping again. */
static void tick(struct monitor *m, long long now)
{
	if (m->pid && m->ping_out && m->ok != 0) {
		mon_log(m, true, "engine does not answer");
		note_ok(m, false);
	}
	if (m->ok < 0)
		m->ok = 0;
	publish(m);
	ping(m);
	m->next_tick += m->c->cp.health_ms;
	if (m->next_tick <= now)
		m->next_tick = now + m->c->cp.health_ms;
}

/* --- the engine process --- */

/* In the child: never returns. Only async-signal-safe calls here. */
static void engine_exec(struct monitor *m, int sock, int err, pid_t parent)
{
	int null = open("/dev/null", O_RDONLY);

	sigprocmask(SIG_SETMASK, &m->oldmask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	setpgid(0, 0);	/* ^C on the terminal is for the monitor */
	if (sock == ENGINE_FD)
		fcntl(sock, F_SETFD, 0);
	else
		dup2(sock, ENGINE_FD);
	if (null >= 0)
		dup2(null, 0);
	if (err >= 0)
		dup2(err, 2);
	execv("/proc/self/exe", m->eargv);
	_exit(127);
}

static void spawn(struct monitor *m)
{
	int sv[2], ep[2] = { -1, -1 };
	pid_t parent = getpid(), pid;

	m->restart_at = mono_ms() + m->backoff;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		mon_log(m, true, "cannot start the engine: %s", strerror(errno));
		return;
	}
	if (m->tty && pipe2(ep, O_CLOEXEC | O_NONBLOCK))
		ep[0] = ep[1] = -1;
	if ((pid = fork()) == 0)
		engine_exec(m, sv[1], ep[1], parent);
	close(sv[1]);
	if (ep[1] >= 0)
		close(ep[1]);
	if (pid < 0) {
		mon_log(m, true, "cannot start the engine: %s", strerror(errno));
		close(sv[0]);
		if (ep[0] >= 0)
			close(ep[0]);
		return;
	}
	m->sock = sv[0];
	m->errfd = ep[0];
	m->pid = pid;
	m->started = mono_ms();
	mon_log(m, false, "engine started (pid %d)", (int)pid);
	ping(m);
}

static void client_answer(struct client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Answers a control client and frees its slot. */
static void client_answer(struct client *cl, const char *fmt, ...)
{
	char buf[ENGINE_PACKET_MAX + 16];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(cl->fd, buf, (size_t)n) < 0)
		debug("control client gone: %s", strerror(errno));
	close(cl->fd);
	cl->fd = -1;
	cl->tag = 0;
}

static void engine_closed(struct monitor *m)
{
	if (m->sock >= 0)
		close(m->sock);
	m->sock = -1;
	m->ping_out = false;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->cl[i].fd >= 0 && m->cl[i].tag)
			client_answer(&m->cl[i], "error the engine stopped");
	if (note_ok(m, false))
		publish(m);
}

static void describe(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended (status %#x)", (unsigned)st);
}

/* After an engine ends: restart it, unless it can only fail again. */
static void reap(struct monitor *m)
{
	char how[96];
	int st;

	if (!m->pid || waitpid(m->pid, &st, WNOHANG) != m->pid)
		return;
	m->pid = 0;
	relay(m, true);
	engine_closed(m);
	snprintf(m->status, sizeof(m->status), "%s state=down engine=ko",
		 m->id);
	describe(st, how, sizeof(how));
	if (WIFEXITED(st) && (WEXITSTATUS(st) == EXIT_FAIL ||
			      WEXITSTATUS(st) == EXIT_USAGE)) {
		mon_log(m, false, "engine %s: not starting it again", how);
		m->exit = WEXITSTATUS(st);
		return;
	}
	if (mono_ms() - m->started >= STABLE_MS)
		m->backoff = RESTART_MIN_MS;
	m->restart_at = mono_ms() + m->backoff;
	mon_log(m, true, "engine %s: restarting it in %.1f s", how,
		m->backoff / 1000.0);
	m->backoff = m->backoff * 2 > RESTART_MAX_MS ? RESTART_MAX_MS :
						      m->backoff * 2;
}

/*
 * SIGTERM, as its monitor's death would; SIGKILL if it lingers. Central
 * hears no KO: the heartbeats stop, and it shows the CP DISCONNECTED.
 */
static void engine_stop(struct monitor *m)
{
	long long end = mono_ms() + STOP_MS;
	struct pollfd p;
	int st;

	if (!m->pid)
		return;
	kill(m->pid, SIGTERM);
	while (waitpid(m->pid, &st, WNOHANG) == 0) {
		if (mono_ms() >= end) {
			mon_log(m, true, "engine does not stop: killing it");
			kill(m->pid, SIGKILL);
			waitpid(m->pid, &st, 0);
			break;
		}
		p.fd = m->errfd;
		p.events = POLLIN;
		if (poll(&p, 1, 50) > 0)
			relay(m, false);
	}
	relay(m, true);
	m->pid = 0;
	if (m->sock >= 0)
		close(m->sock);
	m->sock = -1;
}

/* Sends ACTION to the engine for a client (or for keys and signals). */
static void forward(struct monitor *m, struct client *cl, const char *what)
{
	char p[64];
	unsigned tag;
	int n;

	if (!m->pid || m->sock < 0) {
		if (cl && !strcmp(what, "status"))
			client_answer(cl, "ok %s", m->status);
		else if (cl)
			client_answer(cl, "error the engine is not running");
		else
			mon_log(m, true, "cannot %s: the engine is not running",
				what);
		return;
	}
	if (!(tag = ++m->next_tag))
		tag = ++m->next_tag;
	n = snprintf(p, sizeof(p), "cmd %u %s", tag, what);
	send(m->sock, p, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (cl)
		cl->tag = tag;
}

/* Splits the first n words of p into w; returns the rest of p. */
static char *words(char *p, char **w, int n)
{
	for (int i = 0; i < n; i++) {
		w[i] = p;
		p += strcspn(p, " ");
		if (*p)
			*p++ = '\0';
	}
	return p;
}

/* "pong SEQ ok|ko STATUS" or "done TAG ok|refused ok|ko TEXT". */
static void engine_packet(struct monitor *m, char *p)
{
	char *w[4], *rest;
	unsigned long n;

	if (!strncmp(p, "pong ", 5)) {
		rest = words(p, w, 3);
		if (strtoul(w[1], NULL, 10) != m->pseq)
			return;
		m->ping_out = false;
		status_set(m, rest);
		if (note_ok(m, !strcmp(w[2], "ok")))
			publish(m);
	} else if (!strncmp(p, "done ", 5)) {
		rest = words(p, w, 4);
		n = strtoul(w[1], NULL, 10);
		for (int i = 0; i < MAX_CLIENTS && n; i++)
			if (m->cl[i].fd >= 0 && m->cl[i].tag == n) {
				client_answer(&m->cl[i], "%s %s", w[2], rest);
				n = 0;
			}
		if (n)
			mon_log(m, false, "%s", rest);
		if (note_ok(m, !strcmp(w[3], "ok")))
			publish(m);
	} else
		warn_limited(&m->rl, "bad answer from the engine: '%.40s'", p);
}

static void engine_read(struct monitor *m)
{
	char p[ENGINE_PACKET_MAX + 1];
	ssize_t n;

	while (m->sock >= 0) {
		n = recv(m->sock, p, sizeof(p) - 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			engine_closed(m);
			return;
		}
		p[n] = '\0';
		engine_packet(m, p);
	}
}

/* --- the control socket --- */

static int control_open(struct monitor *m)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (control_path(m->path, sizeof(m->path), m->id, true))
		return -1;
	if ((fd = control_connect(m->path)) >= 0) {
		close(fd);
		m->path[0] = '\0';
		return error("already running here: '%s'", m->id);
	}
	unlink(m->path);	/* left by a monitor that was killed */
	memcpy(sa.sun_path, m->path, strlen(m->path) + 1);
	m->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->lfd < 0 || bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(m->lfd, MAX_CLIENTS)) {
		error("cannot listen on '%s': %s", m->path, strerror(errno));
		m->path[0] = '\0';
		return -1;
	}
	return 0;
}

static void control_accept(struct monitor *m)
{
	int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct client tmp;

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->cl[i].fd < 0) {
			m->cl[i] = (struct client){ .fd = fd,
				.deadline = mono_ms() + CLIENT_MS };
			return;
		}
	tmp.fd = fd;
	client_answer(&tmp, "error too many control clients");
}

/* A client's line: one action, forwarded to the engine. */
static void control_read(struct monitor *m, struct client *cl)
{
	ssize_t n = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(cl->fd);
		cl->fd = -1;
		return;
	}
	cl->len += (size_t)n;
	cl->buf[cl->len] = '\0';
	if (!(nl = strchr(cl->buf, '\n'))) {
		if (cl->len == sizeof(cl->buf) - 1)
			client_answer(cl, "error line too long");
		return;
	}
	*nl = '\0';
	if (cl->tag)
		return;
	if (!is_action(cl->buf))
		client_answer(cl, "error unknown action");
	else
		forward(m, cl, cl->buf);
}

/* --- the loop --- */

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (sig == SIGUSR2)
		got_usr2 = 1;
	else
		got_chld = 1;
}

/*
 * The signals the loop handles stay blocked but while ppoll() waits, so
 * that none is lost between a check and the wait.
 */
static void signals_setup(struct monitor *m)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t set;

	bus_signals();
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &m->oldmask);
}

static void keys_read(struct monitor *m)
{
	char k[16];
	ssize_t n = read(0, k, sizeof(k));

	if (n <= 0) {
		m->tty = false;	/* no more keys; the display goes too */
		ui_clear(m);
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		switch (k[i]) {
		case 'u': case 'U': forward(m, NULL, "unplug"); break;
		case 'f': case 'F': forward(m, NULL, "fault"); break;
		case 'r': case 'R': forward(m, NULL, "recover"); break;
		case 'q': case 'Q': bus_stop = 1; break;
		}
}

enum { P_ENGINE, P_ERR, P_LISTEN, P_KEYS, P_CLIENT };

static int fill(struct monitor *m, struct pollfd *pf, int *kind)
{
	int n = 0;

#define ADD(f, k) (pf[n] = (struct pollfd){ .fd = (f), .events = POLLIN }, \
		   kind[n++] = (k))
	if (m->sock >= 0)
		ADD(m->sock, P_ENGINE);
	if (m->errfd >= 0)
		ADD(m->errfd, P_ERR);
	ADD(m->lfd, P_LISTEN);
	if (m->tty)
		ADD(0, P_KEYS);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->cl[i].fd >= 0)
			ADD(m->cl[i].fd, P_CLIENT + i);
#undef ADD
	return n;
}

static void serve(struct monitor *m, struct pollfd *pf, int *kind, int n)
{
	for (int i = 0; i < n; i++) {
		if (!pf[i].revents)
			continue;
		if (kind[i] == P_ENGINE)
			engine_read(m);
		else if (kind[i] == P_ERR)
			relay(m, false);
		else if (kind[i] == P_LISTEN)
			control_accept(m);
		else if (kind[i] == P_KEYS)
			keys_read(m);
		else if (m->cl[kind[i] - P_CLIENT].fd == pf[i].fd)
			control_read(m, &m->cl[kind[i] - P_CLIENT]);
	}
}

/* Until the next thing the monitor must do by itself. */
static struct timespec wait_time(struct monitor *m, long long now)
{
	long long at = m->next_tick;

	if (!m->pid && m->restart_at < at)
		at = m->restart_at;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->cl[i].fd >= 0 && m->cl[i].deadline < at)
			at = m->cl[i].deadline;
	at = at > now ? at - now : 0;
	return (struct timespec){ at / 1000, at % 1000 * 1000000 };
}

static void housekeeping(struct monitor *m, long long now)
{
	got_chld = 0;
	reap(m);
	if (m->exit >= 0)
		return;
	if (!m->pid && now >= m->restart_at)
		spawn(m);
	if (got_usr1) {
		got_usr1 = 0;
		forward(m, NULL, "fault");
	}
	if (got_usr2) {
		got_usr2 = 0;
		forward(m, NULL, "recover");
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->cl[i].fd >= 0 && now >= m->cl[i].deadline)
			client_answer(&m->cl[i], "error no answer from the engine");
	if (now >= m->next_tick)
		tick(m, now);
}

static void monitor_loop(struct monitor *m)
{
	struct pollfd pf[4 + MAX_CLIENTS];
	int kind[4 + MAX_CLIENTS], n;
	struct timespec ts;

	m->next_tick = mono_ms() + m->c->cp.health_ms;
	while (!bus_stop && m->exit < 0) {
		housekeeping(m, mono_ms());
		if (m->exit >= 0)
			break;
		n = fill(m, pf, kind);
		ts = wait_time(m, mono_ms());
		if (ppoll(pf, (nfds_t)n, &ts, &m->oldmask) > 0)
			serve(m, pf, kind, n);
		bus_poll(m->b, 0);
	}
}

/* The engine's command line: this one, with --engine first. */
static char **engine_argv(int argc, char **argv)
{
	char **v = xcalloc((size_t)argc + 3, sizeof(*v));

	v[0] = "evc";
	v[1] = "cp";
	v[2] = "--engine";
	for (int i = 1; i < argc; i++)
		v[i + 2] = argv[i];
	return v;
}

static struct seal_key *sign_health(void *ctx, enum topic t,
				    const struct msg *m)
{
	(void)t;
	(void)m;
	return ctx;
}

static int monitor_run(const struct conf *c, const char *id, int argc,
		       char **argv, struct seal_key *key)
{
	struct monitor m = { .c = c, .id = id, .sock = -1, .errfd = -1,
			     .lfd = -1, .ok = -1, .exit = -1,
			     .backoff = RESTART_MIN_MS };

	for (int i = 0; i < MAX_CLIENTS; i++)
		m.cl[i].fd = -1;
	snprintf(m.status, sizeof(m.status), "%s state=starting engine=ko", id);
	signals_setup(&m);
	if (control_open(&m))
		return EXIT_FAIL;
	if (!(m.b = bus_open(c, BUS_PRODUCER, NULL))) {
		close(m.lfd);
		unlink(m.path);
		return EXIT_USAGE;
	}
	if (key)
		bus_seal(m.b, sign_health, key);
	m.eargv = engine_argv(argc, argv);
	tty_setup(&m);
	info("monitoring CP '%s' (health every %u ms, Kafka at '%s')", id,
	     c->cp.health_ms, c->brokers);
	monitor_loop(&m);
	engine_stop(&m);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m.cl[i].fd >= 0)
			client_answer(&m.cl[i], "error the CP is stopping");
	close(m.lfd);
	unlink(m.path);
	ui_clear(&m);
	tty_restore();
	if (bus_close(m.b, FLUSH_MS))
		warn("some heartbeats were not delivered");
	free(m.eargv);
	info("stopped");
	return m.exit < 0 ? EXIT_OK : m.exit;
}

/* -k or cp.key_file: the CP's key, which must be its own. */
static int load_key(struct cp_opts *o, const struct conf *c)
{
	const char *file = o->key_file ? o->key_file : c->cp.key_file;

	if (!file || !*file)
		return 0;
	if (seal_key_load(file, &o->key))
		return -1;
	if (!seal_kid_of(o->key.kid, o->id))
		return error("key '%s' of '%s' is not one of CP '%s'", o->key.kid,
			     file, o->id);
	o->keyed = true;
	return 0;
}

static int engine_main(const struct conf *c, const char *id,
		       const char *location, struct seal_key *key)
{
	struct stat st;

	if (fstat(ENGINE_FD, &st) || !S_ISSOCK(st.st_mode))
		return usage_error("--engine is for the monitor to use");
	log_init("cp engine");
	bus_signals();
	return engine_run(c, id, location, ENGINE_FD, key);
}

/* What conf.c cannot know: the id, and figures within the protocol's. */
static int check(const struct conf *c, const char *id, const char *location)
{
	struct msg m;
	char buf[1024];

	if (!msg_cp_id_ok(id))
		return usage_error("bad CP id (1 to 32 of A-Z a-z 0-9 _ . -, not first '.'): '%s'",
				   id);
	msg_init(&m, MSG_REGISTER);
	snprintf(m.cp, sizeof(m.cp), "%s", id);
	snprintf(m.u.reg.location, sizeof(m.u.reg.location), "%s", location);
	if (strlen(location) > MSG_TEXT_MAX || msg_encode(&m, buf, sizeof(buf)) < 0)
		return usage_error("bad location (at most %d printable bytes): '%s'",
				   MSG_TEXT_MAX, location);
	if (c->cp.power_kw > MSG_KW_MAX)
		return usage_error("cp.power_kw above %g: '%g'", MSG_KW_MAX,
				   c->cp.power_kw);
	if (c->cp.default_kwh * 1000 > MSG_WH_MAX)
		return usage_error("cp.default_kwh above %lld: '%g'",
				   MSG_WH_MAX / 1000, c->cp.default_kwh);
	return 0;
}

static int cp_run(void *ctx, struct setup *su)
{
	struct cp_opts *o = ctx;
	const struct conf *c = &su->conf;
	const char *location;

	if (o->action)		/* no configuration was read */
		return client_run(o->id, o->action);
	location = o->location ? o->location : c->cp.location;
	if (check(c, o->id, location) || load_key(o, c))
		return EXIT_USAGE;
	if (o->engine)
		return engine_main(c, o->id, location, o->keyed ? &o->key : NULL);
	if (o->check)
		return EXIT_OK;
	return monitor_run(c, o->id, o->argc, o->argv, o->keyed ? &o->key : NULL);
}

static int cp_opt(void *ctx, int opt, const char *arg)
{
	struct cp_opts *o = ctx;

	if (opt == 'l')
		o->location = arg;
	else if (opt == 'k')
		o->key_file = arg;
	else if (opt == 'n')
		o->check = true;
	else
		o->engine = true;	/* --engine */
	return 0;
}

/* CP_ID [ACTION]: an action drives a running CP, without the configuration. */
static int cp_operands(void *ctx, int argc, char **argv)
{
	struct cp_opts *o = ctx;

	if (argc == 0)
		return usage_error("missing CP_ID");
	if (argc > 2)
		return usage_error("too many arguments: '%s'", argv[2]);
	o->id = argv[0];
	o->action = argc > 1 ? argv[1] : NULL;
	if (!o->action)
		return 0;
	if (!is_action(o->action))
		return usage_error("unknown action: '%s'", o->action);
	if (!msg_cp_id_ok(o->id))
		return usage_error("bad CP id: '%s'", o->id);
	return SETUP_NO_CONFIG;
}

int cmd_cp(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'n' },
		{ "engine", no_argument, NULL, 'E' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "location", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	struct cp_opts o = { .argc = argc, .argv = argv };
	struct setup_opts so = {
		.usage = usage, .shortopts = "k:l:n", .longopts = opts,
		.opt = cp_opt, .operands = cp_operands, .run = cp_run, .ctx = &o,
	};

	return setup_run(&so, argc, argv);
}
