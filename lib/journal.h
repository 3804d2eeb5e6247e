/* journal.h: evc ocpp's journal: the transactions a restarted gateway takes back, one line each, on disk. */
#ifndef EVC_JOURNAL_H
#define EVC_JOURNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway.h"
#include "index.h"
#include "log.h"

/*
 * The gateway's core hands out a record each time a supply changes
 * (lib/gateway.h: struct gw_record); the journal appends it as one line
 * of JSON to DIR/ocpp-PORT.journal, in one write per turn of the loop,
 * and rewrites the file with the live records only once it has grown
 * (written aside and renamed, so that it is always whole). A process
 * killed loses nothing written; what the kernel had not yet put on the
 * disk when the machine went down may be lost.
 *
 *   {"next_tx":18}
 *   {"tx":17,"connector":1,"meter_start":1000,"target_wh":0,"limit_ms":-1,
 *    "final":false,"end":{...the supply_end it would be...}}
 *   {"closed":"<session>","cp":"CP001"}
 */

/* A session the journal holds live: its last line. */
struct journal_live {
	char session[MSG_UUID_LEN + 1];
	char *line;
};

struct journal {
	char path[PATH_MAX];	/* "" when nothing can be kept */
	int fd;
	char *buf;		/* lines waiting for journal_flush() */
	size_t len, cap;
	long long size;		/* bytes in the file */
	struct journal_live *live;
	uint32_t nlive, caplive;
	struct index by_session;
	int32_t next_tx;	/* as last written */
	struct ratelimit rl;
};

/*
 * Opens (creates) the journal of the gateway listening on port in dir.
 * -1 after a warning when it cannot: the gateway then runs keeping
 * nothing.
 */
int journal_open(struct journal *j, const char *dir, unsigned port);
void journal_close(struct journal *j);

/*
 * Reads the journal back: each live record to fn, in the order it was
 * kept, and the next transaction id to *next_tx (left alone if none).
 * A line that cannot be read is said and skipped.
 */
void journal_load(struct journal *j,
		  void (*fn)(void *arg, const struct gw_record *r), void *arg,
		  int32_t *next_tx);

/* Keeps r: written at the next journal_flush(). */
void journal_keep(struct journal *j, const struct gw_record *r);
/* Writes what is kept, with next_tx if it moved; rewrites the file when big. */
void journal_flush(struct journal *j, int32_t next_tx);

#endif
