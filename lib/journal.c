/* journal.c: evc ocpp's journal: the transactions a restarted gateway takes back, one line each, on disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "journal.h"
#include "statefile.h"
#include "xalloc.h"

#define COMPACT_BYTES (8 << 20)	/* a journal this big is rewritten */
#define LINE_MAX_LEN 4096

int journal_open(struct journal *j, const char *dir, unsigned port)
{
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	index_init(&j->by_session, sizeof(*j->live),
		   offsetof(struct journal_live, session));
	if (!dir || !*dir || state_mkdirs(dir)) {
		warn("cannot create state directory: '%s': %s (transactions will not survive a restart)",
		     dir ? dir : "", strerror(errno));
		return -1;
	}
	snprintf(j->path, sizeof(j->path), "%s/ocpp-%u.journal", dir, port);
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		warn("cannot open journal: '%s': %s (transactions will not survive a restart)",
		     j->path, strerror(errno));
		j->path[0] = '\0';
		return -1;
	}
	j->size = lseek(j->fd, 0, SEEK_END);
	return 0;
}

void journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	for (uint32_t i = 0; i < j->nlive; i++)
		free(j->live[i].line);
	free(j->live);
	free(j->buf);
	index_free(&j->by_session);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

/* The live line of a session: set (line, owned), or dropped (NULL). */
static void live_set(struct journal *j, const char *session, char *line)
{
	long i = index_find(&j->by_session, j->live, session);
	struct journal_live *last;

	if (i >= 0 && line) {
		free(j->live[i].line);
		j->live[i].line = line;
		return;
	}
	if (i >= 0) {		/* the last one takes its place */
		free(j->live[i].line);
		last = &j->live[--j->nlive];
		index_del(&j->by_session, j->live, session);
		if ((uint32_t)i != j->nlive) {
			index_del(&j->by_session, j->live, last->session);
			j->live[i] = *last;
			index_put(&j->by_session, j->live, (uint32_t)i);
		}
		return;
	}
	if (!line)
		return;
	if (j->nlive == j->caplive) {
		j->caplive = j->caplive ? j->caplive * 2 : 64;
		j->live = xreallocarray(j->live, j->caplive, sizeof(*j->live));
	}
	snprintf(j->live[j->nlive].session, sizeof(j->live[0].session), "%s",
		 session);
	j->live[j->nlive].line = line;
	index_put(&j->by_session, j->live, j->nlive++);
}

static void append(struct journal *j, const char *line, size_t n)
{
	if (j->len + n > j->cap) {
		j->cap = (j->len + n) * 2;
		j->buf = xrealloc(j->buf, j->cap);
	}
	memcpy(j->buf + j->len, line, n);
	j->len += n;
}

/* A record as one line of JSON, newline included; -1 when it cannot be. */
static int encode(const struct gw_record *r, char *buf, size_t len)
{
	char end[2048];
	int n;

	if (r->closed)
		n = snprintf(buf, len, "{\"closed\":\"%s\",\"cp\":\"%s\"}\n",
			     r->end.session, r->end.cp);
	else if (msg_encode(&r->end, end, sizeof(end)) < 0)
		return -1;
	else
		n = snprintf(buf, len, "{\"tx\":%d,\"connector\":%d,\"meter_start\":%lld,\"target_wh\":%lld,\"limit_ms\":%lld,\"final\":%s,\"end\":%s}\n",
			     r->tx, r->connector, (long long)r->meter_start,
			     (long long)r->target_wh, r->limit_ms,
			     r->final ? "true" : "false", end);
	return n > 0 && (size_t)n < len ? n : -1;
}

void journal_keep(struct journal *j, const struct gw_record *r)
{
	char line[LINE_MAX_LEN];
	int n;

	if (!j->path[0])
		return;
	if ((n = encode(r, line, sizeof(line))) < 0) {
		warn_limited(&j->rl, "cannot keep a record of session '%s'",
			     r->end.session);
		return;
	}
	append(j, line, (size_t)n);
	live_set(j, r->end.session, r->closed ? NULL : xstrndup(line, (size_t)n));
}

/* The file again, with the live lines only: written aside, renamed. */
static void compact(struct journal *j)
{
	char head[64];
	size_t len = 0;
	char *all;
	int n = snprintf(head, sizeof(head), "{\"next_tx\":%d}\n", j->next_tx);

	for (uint32_t i = 0; i < j->nlive; i++)
		len += strlen(j->live[i].line);
	all = xmalloc(len + (size_t)n);
	memcpy(all, head, (size_t)n);
	len = (size_t)n;
	for (uint32_t i = 0; i < j->nlive; i++) {
		memcpy(all + len, j->live[i].line, strlen(j->live[i].line));
		len += strlen(j->live[i].line);
	}
	if (state_replace(j->path, all, len)) {
		warn_limited(&j->rl, "cannot rewrite journal: '%s': %s", j->path,
			     strerror(errno));
	} else {
		close(j->fd);
		j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
		j->size = (long long)len;
	}
	free(all);
}

void journal_flush(struct journal *j, int32_t next_tx)
{
	char line[64];
	ssize_t n;
	int k;

	if (j->fd < 0)
		return;
	if (next_tx != j->next_tx) {
		j->next_tx = next_tx;
		k = snprintf(line, sizeof(line), "{\"next_tx\":%d}\n", next_tx);
		append(j, line, (size_t)k);
	}
	if (j->len) {
		n = write(j->fd, j->buf, j->len);
		if (n != (ssize_t)j->len)
			warn_limited(&j->rl, "cannot write journal: '%s': %s",
				     j->path, n < 0 ? strerror(errno) : "short write");
		j->size += n > 0 ? n : 0;
		j->len = 0;
	}
	if (j->size > COMPACT_BYTES)
		compact(j);
}

/* One line read back into r: 1 a record, 0 a next_tx, -1 bad. */
static int decode(const char *line, size_t n, struct gw_record *r,
		  int32_t *next_tx, char *why, size_t whylen)
{
	json_error_t je;
	json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je), *end;
	char *text;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	snprintf(why, whylen, "%s", o ? "not a record" : je.text);
	if (json_is_integer(json_object_get(o, "next_tx"))) {
		*next_tx = (int32_t)json_integer_value(json_object_get(o, "next_tx"));
		ret = 0;
	} else if (json_is_string(json_object_get(o, "closed"))) {
		r->closed = true;
		snprintf(r->end.session, sizeof(r->end.session), "%s",
			 json_string_value(json_object_get(o, "closed")));
		ret = 1;
	} else if ((end = json_object_get(o, "end")) &&
		   (text = json_dumps(end, JSON_COMPACT))) {
		if (!msg_decode(text, strlen(text), &r->end, why, whylen)) {
			r->tx = (int32_t)ocpp16_int(o, "tx", 0);
			r->connector = (int)ocpp16_int(o, "connector", 0);
			r->meter_start = ocpp16_int(o, "meter_start", 0);
			r->target_wh = ocpp16_int(o, "target_wh", 0);
			r->limit_ms = ocpp16_int(o, "limit_ms", -1);
			r->final = json_is_true(json_object_get(o, "final"));
			ret = 1;
		}
		free(text);
	}
	json_decref(o);
	return ret;
}

static void load_line(struct journal *j, const char *line, size_t n,
		      unsigned lineno, int32_t *next_tx)
{
	struct gw_record r;
	char why[160];
	int k = decode(line, n, &r, next_tx, why, sizeof(why));

	if (k < 0)
		warn("%s:%u: ignoring a bad line: %s", j->path, lineno, why);
	else if (k > 0)
		live_set(j, r.end.session, r.closed ? NULL : xstrndup(line, n));
}

void journal_load(struct journal *j,
		  void (*fn)(void *arg, const struct gw_record *r), void *arg,
		  int32_t *next_tx)
{
	FILE *f = j->path[0] ? fopen(j->path, "r") : NULL;
	char *line = NULL, *nl;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t n;
	struct gw_record *all;
	uint32_t nall = 0;
	char why[160];

	while (f && (n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if ((nl = memchr(line, '\n', (size_t)n)))
			n = nl - line + 1;	/* a line cut by a crash has none */
		load_line(j, line, (size_t)n, lineno, next_tx);
	}
	if (f)
		fclose(f);
	free(line);
	/* fn may keep records: the live lines are read before it runs. */
	all = xreallocarray(NULL, j->nlive, sizeof(*all));
	for (uint32_t i = 0; i < j->nlive; i++)
		if (decode(j->live[i].line, strlen(j->live[i].line), &all[nall],
			   next_tx, why, sizeof(why)) > 0)
			nall++;
	j->next_tx = *next_tx;
	for (uint32_t i = 0; i < nall; i++)
		fn(arg, &all[i]);
	free(all);
}
