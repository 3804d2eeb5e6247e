/* bench_sse.c: the web benchmark's load: many event streams of evc web, the age of every CP change they carry. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "test/bench/bench.h"

/*
 * usage: bench_sse -p PORT [-n STREAMS] [-s SECS] [-w WARMUP] [-g PID]
 *
 * Opens STREAMS connections to GET /api/events on 127.0.0.1:PORT and
 * reads them all. Every "updated" figure in an event's data is the time
 * Central published that cp_state (ms since the epoch, this machine's
 * clock): its age on arrival is how late the stream is. After WARMUP
 * seconds, SECS seconds are measured; then one line of key=value:
 * streams still open, events and CP changes per stream per second, the
 * ages' p50/p99/max, and the CPU of process PID (evc web) in per cent
 * of one core over the window.
 */

#define BUF 65536

struct stream {
	int fd;
	int in_body;		/* past the response's header */
	int chunked;		/* Transfer-Encoding: chunked */
	long chunk_left;	/* bytes left in the chunk; -1: size line next */
	char *line;		/* the body's line being read, dechunked */
	size_t len, cap;
	char head[4096];	/* the response's header, while it comes */
	size_t hlen;
	char size[32];		/* a chunk's size line, while it comes */
	size_t slen;
	long events, changes;
	int open;
};

static int64_t *ages;
static size_t nages, capages;
static int measuring;

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void keep_age(int64_t age)
{
	if (nages == capages) {
		capages = capages ? 2 * capages : 1 << 16;
		ages = xrealloc(ages, capages * sizeof(*ages));
	}
	ages[nages++] = age;
}

/* One line of the event stream: "data:" lines carry the changes. */
static void on_line(struct stream *s, const char *l, size_t n)
{
	const char *p = l, *end = l + n;
	int64_t now;

	if (n >= 6 && !memcmp(l, "event:", 6)) {
		if (measuring)
			s->events++;
		return;
	}
	if (n < 5 || memcmp(l, "data:", 5) || !measuring)
		return;
	now = wall_ms();
	while ((p = memmem(p, (size_t)(end - p), "\"updated\":", 10))) {
		p += 10;
		s->changes++;
		keep_age(now - strtoll(p, NULL, 10));
	}
}

static void body_byte_run(struct stream *s, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n') {
			size_t l = s->len;

			if (l && s->line[l - 1] == '\r')
				l--;
			on_line(s, s->line, l);
			s->len = 0;
			continue;
		}
		if (s->len == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 4096;
			s->line = xrealloc(s->line, s->cap);
		}
		s->line[s->len++] = b[i];
	}
}

/* Takes a chunked body apart: size lines, chunks, their CRLFs. */
static void dechunk(struct stream *s, const char *b, size_t n)
{
	while (n) {
		if (s->chunk_left > 0) {
			size_t take = (size_t)s->chunk_left < n ?
				(size_t)s->chunk_left : n;

			body_byte_run(s, b, take);
			s->chunk_left -= (long)take;
			b += take;
			n -= take;
			if (!s->chunk_left)
				s->chunk_left = -2;	/* its CRLF */
			continue;
		}
		if (*b == '\n') {
			if (s->chunk_left == -2)
				s->chunk_left = -1;
			else {
				s->size[s->slen] = 0;
				s->chunk_left = strtol(s->size, NULL, 16);
				s->slen = 0;
				if (!s->chunk_left)
					s->open = 0;	/* the last chunk */
			}
		} else if (s->chunk_left == -1 && *b != '\r' &&
			   s->slen < sizeof(s->size) - 1) {
			s->size[s->slen++] = *b;
		}
		b++;
		n--;
	}
}

static void on_bytes(struct stream *s, const char *b, size_t n)
{
	if (!s->in_body) {
		char *e;
		size_t off, take = n < sizeof(s->head) - 1 - s->hlen ?
			n : sizeof(s->head) - 1 - s->hlen;

		memcpy(s->head + s->hlen, b, take);
		s->hlen += take;
		s->head[s->hlen] = 0;
		e = strstr(s->head, "\r\n\r\n");
		if (!e) {
			if (s->hlen == sizeof(s->head) - 1)
				s->open = 0;
			return;
		}
		if (strncmp(s->head, "HTTP/1.1 200", 12)) {
			fprintf(stderr, "bench_sse: answer: %.40s\n", s->head);
			s->open = 0;
			return;
		}
		s->in_body = 1;
		s->chunked = strcasestr(s->head, "transfer-encoding: chunked") != NULL;
		s->chunk_left = -1;
		off = (size_t)(e + 4 - s->head) - (s->hlen - take);
		b += off;
		n -= off;
	}
	if (s->chunked)
		dechunk(s, b, n);
	else
		body_byte_run(s, b, n);
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	static const char req[] = "GET /api/events HTTP/1.1\r\n"
		"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		perror("bench_sse: connect");
		exit(1);
	}
	return fd;
}

static void usage(void)
{
	fputs("usage: bench_sse -p PORT [-n STREAMS] [-s SECS] [-w WARMUP] [-g PID]\n",
	      stderr);
	exit(2);
}

static void report(struct stream *st, int n, int secs, double cpu)
{
	long events = 0, changes = 0;
	int open = 0;

	for (int i = 0; i < n; i++) {
		events += st[i].events;
		changes += st[i].changes;
		open += st[i].open;
	}
	bench_sort(ages, nages);
	printf("sse streams=%d open=%d secs=%d events_per_stream_s=%.1f "
	       "changes_per_stream_s=%.1f age_p50_ms=%lld age_p99_ms=%lld "
	       "age_max_ms=%lld web_cpu_pct=%.1f\n", n, open, secs,
	       (double)events / n / secs, (double)changes / n / secs,
	       nages ? (long long)bench_quantile(ages, nages, 0.5) : -1,
	       nages ? (long long)bench_quantile(ages, nages, 0.99) : -1,
	       nages ? (long long)ages[nages - 1] : -1, cpu);
}

int main(int argc, char **argv)
{
	int port = 0, n = 100, secs = 30, warmup = 5, pid = 0, opt, ep;
	struct stream *st;
	struct epoll_event ev[64];
	int64_t t0, tw, te;
	double cpu0 = 0;
	static char buf[BUF];

	while ((opt = getopt(argc, argv, "g:n:p:s:w:")) != -1) {
		switch (opt) {
		case 'g': pid = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 's': secs = atoi(optarg); break;
		case 'w': warmup = atoi(optarg); break;
		default: usage();
		}
	}
	if (port <= 0 || n <= 0 || secs <= 0 || warmup < 0 || optind != argc)
		usage();
	st = xcalloc((size_t)n, sizeof(*st));
	ep = epoll_create1(0);
	for (int i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &st[i] };

		st[i].fd = dial(port);
		st[i].open = 1;
		epoll_ctl(ep, EPOLL_CTL_ADD, st[i].fd, &e);
	}
	t0 = bench_ns();
	tw = t0 + (int64_t)warmup * 1000000000;
	te = tw + (int64_t)secs * 1000000000;
	for (int64_t now = t0; now < te; now = bench_ns()) {
		int k = epoll_wait(ep, ev, 64, 100);

		if (!measuring && now >= tw) {
			measuring = 1;
			cpu0 = pid ? bench_cpu_of(pid, 0) : 0;
		}
		for (int i = 0; i < k; i++) {
			struct stream *s = ev[i].data.ptr;
			ssize_t r = read(s->fd, buf, sizeof(buf));

			if (r > 0)
				on_bytes(s, buf, (size_t)r);
			else if (r == 0 || errno != EAGAIN) {
				s->open = 0;
				epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
			}
		}
	}
	report(st, n, secs, pid ? (bench_cpu_of(pid, 0) - cpu0) * 100 / secs : 0);
	for (int i = 0; i < n; i++) {
		close(st[i].fd);
		free(st[i].line);
	}
	free(st);
	free(ages);
	return 0;
}
