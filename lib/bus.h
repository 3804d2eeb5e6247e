/* bus.h: evc's messages over Kafka: producing, consuming, administration. */
#ifndef EVC_BUS_H
#define EVC_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "msg.h"
#include "seal.h"

enum {
	BUS_PRODUCER = 1 << 0,	/* can send */
	BUS_CONSUMER = 1 << 1,	/* can follow partitions (no group) */
	BUS_GROUP = 1 << 2,	/* consumer in a group: bus_subscribe() */
	BUS_LEASE = 1 << 3,	/* with BUS_GROUP: a lease group (sticky) */
	/*
	 * With BUS_GROUP: no other process reads the group's partitions
	 * while this one holds them (Central's, under its lease), so lost
	 * partitions that come back are read on after the last message
	 * taken rather than from the committed offsets.
	 */
	BUS_SOLE = 1 << 4,
};

struct bus_stats {
	long received;		/* messages decoded and returned */
	long rejected;		/* malformed messages counted and skipped */
	long sent;		/* messages delivered */
	long failed;		/* messages Kafka did not take */
	/* The same by topic; [T_COUNT]: a topic not evc's (none so far). */
	long received_by[T_COUNT + 1];
	long rejected_by[T_COUNT + 1];
	long sent_by[T_COUNT + 1];
	long failed_by[T_COUNT + 1];
};

struct bus;

/*
 * Opens the handles flags asks for, configured from c (brokers and the
 * librdkafka properties of evc.yaml and -X). group names the consumer
 * group for BUS_GROUP. Returns NULL after printing why.
 */
struct bus *bus_open(const struct conf *c, int flags, const char *group);

/*
 * Flushes what is queued (up to timeout_ms), commits offsets, leaves the
 * group and frees everything. Returns -1 if any message was not delivered.
 */
int bus_close(struct bus *b, int timeout_ms);

/*
 * Checks that a broker answers within timeout_ms. On failure prints one
 * line and returns -1: "cannot reach Kafka at 'BROKERS'" (with a hint,
 * or that no broker name resolves), "cannot connect to Kafka at
 * 'BROKERS' over TLS" (with what was wrong with the broker's
 * certificate), "cannot log in to Kafka at 'BROKERS'", or what this
 * librdkafka cannot do with that Kafka (lib/diag.h).
 */
int bus_check(struct bus *b, int timeout_ms);

/*
 * Encodes m and queues it on topic t, keyed by the driver id for the
 * messages sent to a driver and by the CP id for every other one.
 * Returns -1 when m cannot be encoded or queued; delivery failures
 * are counted and reported by bus_poll() and bus_flush().
 */
int bus_send(struct bus *b, enum topic t, const struct msg *m);

/*
 * A record without a value for CP cp on compacted topic t (cp-state,
 * cp-catalogue): once Kafka compacts the topic, nothing of cp is left.
 * -1 after saying why, as bus_send().
 */
int bus_erase(struct bus *b, enum topic t, const char *cp);

/*
 * One record as it is on topic t, a topic of records that are no evc
 * messages (audit: lib/audit.h; cp-keys: lib/seal.h): key and value
 * are the caller's. -1
 * after saying why, as bus_send().
 */
int bus_send_raw(struct bus *b, enum topic t, const char *key,
		 const void *val, size_t len);

/*
 * Makes bus_close() leave the group without committing or waiting for
 * it: for a member the group has dropped (its partitions are another's).
 */
void bus_abandon(struct bus *b);

/* bus_send() to partition p of t rather than to the key's partition. */
int bus_send_to(struct bus *b, enum topic t, int32_t p, const struct msg *m);

/* Waits until every queued message is delivered; -1 if any failed. */
int bus_flush(struct bus *b, int timeout_ms);

/*
 * Adds to the consumer's assignment the partition of topic t that key
 * hashes to, positioned at its end, or at the first message at or after
 * from_ms when from_ms > 0. Returns once the position is fixed, so a
 * message produced after this call returns is never missed.
 */
int bus_follow(struct bus *b, enum topic t, const char *key, int64_t from_ms);

/*
 * Whether topic t ever held a record: 1 when a partition's end offset is
 * above 0 (compaction and retention never lower it), 0 when none is, -1
 * after saying why it cannot be told (a missing topic among them).
 */
int bus_ever_written(struct bus *b, enum topic t);

/* Follows every partition of t from the beginning (cp-state readers). */
int bus_follow_all(struct bus *b, enum topic t);

/*
 * Follows every partition of t from its end, fixed before returning (a
 * process that serves many keys at once: evc fleet).
 */
int bus_follow_end_all(struct bus *b, enum topic t);

/*
 * Follows every partition of t from the first record at or after from_ms
 * (0: from the beginning), their current ends tracked for
 * bus_caught_up() (evc audit --since).
 */
int bus_follow_since(struct bus *b, enum topic t, int64_t from_ms);

/* Joins the group on the n topics ts; messages then come from bus_recv(). */
int bus_subscribe(struct bus *b, const enum topic *ts, int n);

/*
 * Waits up to timeout_ms for the next well-formed evc message on any
 * topic consumed. Returns 1 with *m and *t filled, 0 on timeout, -1 on a
 * fatal error. Malformed messages are counted, logged (rate-limited) and
 * skipped; a message on a topic that cannot carry its type is too, and
 * on cp-catalogue one whose key is not its cp. A record without a value
 * on a compacted topic (cp-state, cp-catalogue) returns BUS_GONE: CP
 * m->cp was removed, and nothing else of *m is set. With timeout_ms 0
 * it looks through everything queued now, the ends of partitions and
 * skipped records among it, and returns 0 only once the queue is empty.
 */
#define BUS_GONE 2
/* A record of cp-keys, which holds no message: m->cp is its key alone. */
#define BUS_RAW 3
int bus_recv(struct bus *b, struct msg *m, enum topic *t, int timeout_ms);

/*
 * Calls fn(arg), from a librdkafka thread, whenever something comes to
 * wait for bus_recv() where nothing waited: an owner that sleeps in a
 * poll of its own (a WebSocket server's) is woken then, rather than at
 * its next timer. fn NULL stops it.
 */
void bus_wakeup(struct bus *b, void (*fn)(void *arg), void *arg);

/*
 * A record as Kafka holds it, for topics of records that are no evc
 * messages; key and val stay valid until the next bus_recv_raw() or
 * bus_close(). ts: Kafka's timestamp of the record, ms (-1: none).
 */
struct bus_record {
	enum topic topic;
	const void *key, *val;
	size_t key_len, len;
	int32_t partition;
	int64_t offset;
	int64_t ts;
};

/*
 * Waits up to timeout_ms for the next record on any topic followed,
 * undecoded: 1 with *r filled, 0 on timeout or a signal, -1 on a fatal
 * error. The caller judges it, then counts it: bus_accept_raw(), or
 * bus_reject_raw(), which logs why (rate-limited) as bus_recv() does.
 */
int bus_recv_raw(struct bus *b, struct bus_record *r, int timeout_ms);
void bus_accept_raw(struct bus *b);
void bus_reject_raw(struct bus *b, const struct bus_record *r,
		    const char *why);

/*
 * The key whose MAC every message sent from now on carries, if any:
 * fn answers for each message (a CP's own key, a gateway's charger's,
 * Central's key of the CP it writes to), NULL leaves it unsigned.
 */
typedef struct seal_key *bus_sealer(void *ctx, enum topic t,
				    const struct msg *m);
void bus_seal(struct bus *b, bus_sealer *fn, void *ctx);


/*
 * The record bus_recv() returned last, as its MAC covers it, with the
 * evc-kid and evc-mac headers it carried ("" and NULL when it had none).
 * Valid until the next bus_recv(). -1 when there is none.
 */
struct bus_sealed {
	struct seal_rec rec;
	char kid[SEAL_KID_MAX + 1];
	const void *mac;		/* NULL: no evc-mac header */
	size_t maclen;			/* 0: one that is no MAC */
	unsigned char macbuf[SEAL_MAC_LEN];
};
int bus_last_record(const struct bus *b, struct bus_sealed *r);

/* Whether that record carries k's kid and a MAC that k verifies. */
bool bus_last_sealed_by(const struct bus *b, struct seal_key *k);

/* True once bus_follow_all()'s partitions have all been read to their end. */
int bus_caught_up(struct bus *b);

/* How a read of compacted topics to their end went. */
enum bus_read {
	BUS_READ_DONE,		/* read to the end it had when asked */
	BUS_READ_TIMEOUT,	/* not within the time given */
	BUS_READ_UNFOLLOWED,	/* cannot follow it: missing, or refused */
	BUS_READ_FAILED,	/* Kafka failed while reading */
	BUS_READ_STOPPED,	/* a signal asked to stop (bus_stop) */
};

/*
 * One record read: m, or with gone CP m->cp removed (a record without a
 * value: nothing else of *m is set). t is the topic it came from.
 */
typedef void bus_record_fn(void *arg, enum topic t, const struct msg *m,
			   bool gone);

/*
 * Follows every partition of compacted topic t on b (a consumer) from its
 * beginning and hands each record read to fn, until every partition
 * bus_follow_all() follows has reached the end it had when followed, or
 * timeout_ms passed. Records of the other topics b follows reach fn too.
 * b stays positioned after it: a reader that goes on gets every change
 * from there. The one reader of cp-state and cp-catalogue.
 */
enum bus_read bus_read_compacted(struct bus *b, enum topic t,
				 bus_record_fn *fn, void *arg,
				 unsigned timeout_ms);

/* Serves delivery reports and errors without consuming. */
void bus_poll(struct bus *b, int timeout_ms);

/*
 * Commits the offsets of the messages returned so far (group only), once
 * every message sent before is delivered; -1 (offsets left as they were)
 * when something is not. Partitions taken back by the group are committed
 * alike before they go.
 */
int bus_commit(struct bus *b);

/*
 * Partitions the group gives this consumer now (-1 until it has assigned
 * once), and the times it took some back.
 */
int bus_held(const struct bus *b);
int bus_revoked(const struct bus *b);

/*
 * The times the group's partitions were lost rather than handed over
 * (librdkafka's rd_kafka_assignment_lost(): its session with the group
 * coordinator timed out, or the coordinator dropped this member), and
 * the assignments the group made since the last loss, an empty one
 * included (librdkafka calls the rebalance callback for those too).
 */
int bus_lost(const struct bus *b);
int bus_assigns(const struct bus *b);

/*
 * A note of the group on partition 0 of t: the metadata of an offset
 * committed there (group only). The coordinator takes it only from a
 * member of the current generation: a member the group dropped cannot
 * write one. bus_note() writes note; bus_noted() reads the last one
 * written into note ("" if none). -1 after saying why.
 */
int bus_note(struct bus *b, enum topic t, const char *note);
int bus_noted(struct bus *b, enum topic t, char *note, size_t size);

/*
 * The partition of the message bus_recv() returned last (-1 if none), and
 * the partition count of t that bus_partition() looked up (0 if not yet).
 */
int32_t bus_last_partition(const struct bus *b);
int32_t bus_partitions(const struct bus *b, enum topic t);


/*
 * The partition of topic t that key goes to (-1 after printing why), and
 * whether this consumer has read that partition to its end lately.
 */
int32_t bus_partition(struct bus *b, enum topic t, const char *key);
int bus_at_end(const struct bus *b, enum topic t, int32_t p);

/*
 * How long a partition's leader must have answered before bus_at_end()
 * believes the partition read to its end (group consumers, which learn
 * it from librdkafka's statistics every second).
 */
void bus_trust(struct bus *b, long long ms);

/*
 * Group consumers: how many messages partition p of t lags behind its
 * end, as librdkafka's statistics said last (every second: nothing is
 * asked of Kafka); -1 when p is not assigned here or not known yet.
 * Partitions below bus_lag_partitions() may have one.
 */
long long bus_lag(const struct bus *b, enum topic t, int32_t p);
int32_t bus_lag_partitions(const struct bus *b, enum topic t);

/* True once Kafka refused this client a topic or its group (said once). */
int bus_denied(const struct bus *b);

const struct bus_stats *bus_stats(const struct bus *b);

/* The topic name of t, and the topic t of a name (-1 if none). */
const char *bus_topic_name(const struct bus *b, enum topic t);

/*
 * A fresh librdkafka configuration from c, for callers that need their
 * own handle (admin tools). Prints and returns NULL on a bad property.
 */
rd_kafka_conf_t *bus_kafka_conf(const struct conf *c);

/* The producer's librdkafka handle, for admin requests (evc topics). */
rd_kafka_t *bus_handle(struct bus *b);

/* Set by a SIGINT/SIGTERM handler installed by bus_signals(). */
extern volatile int bus_stop;
void bus_signals(void);

#endif
