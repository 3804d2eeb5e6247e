/* bus.c: evc's messages over Kafka: producing, consuming, administration. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "diag.h"
#include "log.h"
#include "msg_table.h"
#include "seal.h"
#include "xalloc.h"

#define BUS_OP_TIMEOUT_MS 10000	/* metadata and offset look-ups */
#define BUS_SEND_BUF 8192
#define BUS_COMMIT_WAIT_MS 500	/* longest wait for deliveries before a commit */
#define BUS_WAKE_MS 50		/* longest wait for leaders woken (see wake_fetchers) */
#define BUS_CHECK_SLICE_MS 250	/* bus_check() looks at refusals this often */

struct follow_end {		/* a partition bus_follow_all() must read */
	char *topic;
	int32_t partition;
	int64_t end;		/* high watermark when following began */
	int done;
};

struct part {			/* a partition the consumer reads */
	unsigned char end;		/* read to its end, as last fetched */
	unsigned char lost;		/* BUS_SOLE: lost by the group, not back */
	long long up_since;		/* mono ms since its leader answers; 0 */
	int64_t next;			/* BUS_SOLE: after the last message taken */
	bool lag_known;			/* assigned, and lag from the statistics */
	long long lag;			/* messages behind the high watermark */
};

struct bus {
	const struct conf *conf;
	rd_kafka_t *prod;
	rd_kafka_t *cons;
	int flags;
	struct bus_stats st;
	long failed_seen;		/* st.failed at the last bus_flush() */
	rd_kafka_topic_partition_list_t *assigned;
	struct follow_end *ends;
	int nends;
	int pending_ends;
	rd_kafka_message_t *last;	/* offset to store before the next read */
	int down;			/* all brokers down, reported once */
	int was_up;			/* a broker answered once */
	char login_error[256];		/* why SASL refused us, if it did */
	char tls_error[512];		/* why TLS failed, if it did */
	int x509_error;			/* OpenSSL's verdict on the broker (atomic) */
	int fatal;
	int denied;			/* Kafka refused a topic or group */
	char *group;			/* the consumer group joined, if any */
	int abandoned;			/* leave without committing or closing */
	int revoked;			/* times the group took partitions back */
	int lost;			/* ... of them, when they were lost */
	int assigns;			/* assignments made since the last loss */
	int held;			/* partitions the group gave us */
	struct part *parts[T_COUNT];	/* what the consumer knows of each */
	int32_t nparts_alloc[T_COUNT];	/* entries of parts[t] allocated */
	long long trust_ms;		/* a leader answering this long is trusted */
	int32_t nparts[T_COUNT];	/* partition counts looked up */
	long long nparts_tried[T_COUNT];	/* mono ms of the last look-up */
	struct ratelimit rl_reject;
	struct ratelimit rl_error;
	const rd_kafka_topic_t *rkt_seen[T_COUNT];	/* handles of messages read */
	long long run_msgs, run_bytes;	/* read since the queue was last empty */
	long long wake_msgs, wake_bytes;	/* a run that long may have stopped fetching */
	void (*wake_fn)(void *arg);	/* bus_wakeup() */
	void *wake_arg;
	bus_sealer *sealer;		/* bus_seal(): the key of a message sent */
	void *sealer_ctx;
};

volatile int bus_stop;

/* Which message types each topic may carry; anything else is rejected. */
static const unsigned topic_types[T_COUNT] = {
	[T_CP_REGISTER] = 1u << MSG_REGISTER,
	[T_CP_REGISTER_ACK] = 1u << MSG_REGISTER_ACK,
	[T_AUTH_REQUEST] = 1u << MSG_AUTH_REQUEST,
	[T_AUTH_RESPONSE] = 1u << MSG_AUTH_RESPONSE | 1u << MSG_PROGRESS |
			    1u << MSG_TICKET | 1u << MSG_NOTICE,
	[T_CP_COMMANDS] = 1u << MSG_COMMAND,
	[T_TELEMETRY] = 1u << MSG_TELEMETRY | 1u << MSG_SUPPLY_END,
	[T_HEALTH] = 1u << MSG_HEALTH,
	[T_CONTROL] = 1u << MSG_CONTROL,
	[T_CP_STATE] = 1u << MSG_CP_STATE,
	[T_CP_CATALOGUE] = 1u << MSG_CP_ENTRY,
	[T_CP_KEYS] = 0,	/* key records (lib/seal.h), not messages */
};

/* Compacted topics, where a record without a value removes its key. */
static bool compacted(enum topic t)
{
	return t == T_CP_STATE || t == T_CP_CATALOGUE || t == T_CP_KEYS;
}

static void on_signal(int sig)
{
	(void)sig;
	bus_stop = 1;
}

void bus_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll(2) returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int set(rd_kafka_conf_t *kc, const char *name, const char *value)
{
	char err[256];

	if (rd_kafka_conf_set(kc, name, value, err, sizeof(err)) ==
	    RD_KAFKA_CONF_OK)
		return 0;
	return error("bad Kafka property: '%s=%s': %s", name, value, err);
}

/* librdkafka's own log lines are for -v; errors reach us via error_cb. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	(void)rk;
	if (log_verbose)
		debug("kafka %d %s: %s", level, fac, buf);
}

static int is_denial(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
	       err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
	       err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED;
}

/*
 * A refusal by Kafka's ACLs does not heal by retrying: it is said once,
 * and remembered for bus_denied(), whatever path met it first.
 */
__attribute__((format(printf, 2, 3)))
static void refused(struct bus *b, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (b->denied++)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	error("%s", buf);
}

int bus_denied(const struct bus *b)
{
	return b->denied > 0;
}

/*
 * OpenSSL's verdict on each certificate of a broker's chain stands as it
 * is (no error: accepted; an error: refused, as without this callback);
 * the error is kept, since the handshake's failure reads the same
 * whether the CA or the host name was wrong. Called from librdkafka's
 * threads.
 */
static int on_cert(rd_kafka_t *rk, const char *broker, int32_t id,
		   int *x509_error, int depth, const char *der, size_t size,
		   char *errstr, size_t errstr_size, void *opaque)
{
	struct bus *b = opaque;

	(void)rk, (void)broker, (void)id, (void)depth, (void)der, (void)size;
	if (!*x509_error)
		return 1;
	if (b)
		__atomic_store_n(&b->x509_error, *x509_error, __ATOMIC_RELAXED);
	snprintf(errstr, errstr_size, "X.509 error %d", *x509_error);
	return 0;
}

/* The line that says why TLS failed (reason: librdkafka's words). */
static const char *tls_line(struct bus *b, rd_kafka_t *rk, const char *reason,
			    char *buf, size_t n)
{
	char ca[1024], why[1024];
	size_t len = sizeof(ca);
	int x509 = __atomic_load_n(&b->x509_error, __ATOMIC_RELAXED);

	if (rd_kafka_conf_get(rd_kafka_conf(rk), "ssl.ca.location", ca, &len) !=
	    RD_KAFKA_CONF_OK)
		ca[0] = '\0';
	diag_tls(x509, reason, ca, b->conf->brokers, why, sizeof(why));
	snprintf(buf, n, "cannot connect to Kafka at '%s' over TLS: %s",
		 b->conf->brokers, why);
	return buf;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct bus *b = opaque;
	char line[1536];

	if (!b)
		return;
	if (rd_kafka_fatal_error(rk, NULL, 0)) {
		b->fatal = 1;
		warn("fatal Kafka error: %s", reason);
	} else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		/* At start-up bus_check() says it, once, with a hint. */
		if (!b->down && b->was_up)
			warn("cannot reach Kafka at '%s': %s", b->conf->brokers,
			     reason);
		b->down = 1;
	} else if (err == RD_KAFKA_RESP_ERR__SSL) {
		/* As a refused login: by bus_check() at start, else here. */
		if (!b->tls_error[0] && b->was_up)
			warn("%s", tls_line(b, rk, reason, line, sizeof(line)));
		snprintf(b->tls_error, sizeof(b->tls_error), "%s", reason);
	} else if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
		/* Said once: by bus_check() at start, else here. */
		if (!b->login_error[0] && b->was_up)
			warn("cannot log in to Kafka at '%s': %s",
			     b->conf->brokers, reason);
		snprintf(b->login_error, sizeof(b->login_error), "%s", reason);
	} else if (is_denial(err)) {
		refused(b, "not allowed by Kafka: %s", reason);
	} else {
		debug("kafka: %s", reason);
	}
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op)
{
	struct bus *b = op;
	/* produce() gave each message its topic, plus 1 */
	intptr_t t = (intptr_t)m->_private - 1;

	(void)rk;
	if (t < 0 || t >= T_COUNT)
		t = T_COUNT;	/* no topic of ours: counted in the totals */
	if (!m->err) {
		b->st.sent++;
		b->st.sent_by[t]++;
		b->down = 0;
		b->was_up = 1;
		return;
	}
	b->st.failed++;
	b->st.failed_by[t]++;
	if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
		refused(b, "not allowed by Kafka to write topic '%s'",
			rd_kafka_topic_name(m->rkt));
	else
		warn_limited(&b->rl_error, "cannot deliver to '%s': %s",
			     rd_kafka_topic_name(m->rkt),
			     rd_kafka_err2str(m->err));
}

/* Producers: nothing lost or duplicated, and little waiting. */
static const char *const producer_defaults[] = {
	"acks", "all",
	"linger.ms", "1",
	"message.timeout.ms", "30000",
	NULL
};

/*
 * Consumers: a waiting fetch is answered as soon as data arrives. A group
 * with no committed offset (Central killed before its first commit)
 * starts at the beginning: what it missed is read, and stale requests are
 * refused as expired, rather than a supply going unbilled. Offsets are
 * committed by bus_commit() alone, once what the messages caused was
 * delivered: never by a timer that could run ahead of it.
 */
static const char *const consumer_defaults[] = {
	"fetch.wait.max.ms", "100",
	"enable.partition.eof", "true",
	"enable.auto.commit", "false",
	"enable.auto.offset.store", "false",
	"auto.offset.reset", "earliest",
	NULL
};

/*
 * Members of a group: a member that died is noticed in 6 s (the least a
 * broker allows by default), so its partitions, or the lease, pass to
 * another member quickly. A member may have a backlog to read (after a
 * restart, a takeover or a burst): librdkafka's own limits on fetched
 * messages queued serve, since bus_recv() wakes the fetchers as soon as
 * the queue is empty (see wake_fetchers()).
 */
static const char *const group_defaults[] = {
	"session.timeout.ms", "6000",
	"heartbeat.interval.ms", "1000",
	NULL
};

/*
 * bootstrap.servers, then evc's defaults for this kind of handle, then
 * the user's properties (evc.yaml, then -X), which may override them.
 */
static rd_kafka_conf_t *make_conf(const struct conf *c,
				  const char *const *defaults,
				  const char *const *more)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char err[128];

	if (set(kc, "bootstrap.servers", c->brokers) ||
	    set(kc, "client.id", log_prog()) ||
	    set(kc, "socket.nagle.disable", "true") ||
	    set(kc, "log.connection.close", "false"))
		goto fail;
	for (const char *const *d = defaults; d && d[0]; d += 2)
		if (set(kc, d[0], d[1]))
			goto fail;
	/*
	 * Over TLS the broker's certificate must name the host it was
	 * reached by, whatever this librdkafka's default (https since 2.0,
	 * none before), unless the user says otherwise. A librdkafka built
	 * without TLS has no such property, and no TLS to check.
	 */
	rd_kafka_conf_set(kc, "ssl.endpoint.identification.algorithm", "https",
			  err, sizeof(err));
	for (const char *const *d = more; d && d[0]; d += 2)
		if (set(kc, d[0], d[1]))
			goto fail;
	/*
	 * librdkafka 2.2 and later wait fetch.queue.backoff.ms (1 s) before
	 * fetching again once a group member's queue is full, whatever
	 * wakes them (see wake_fetchers() for 2.0); 2.0 has no such name.
	 */
	if (more == group_defaults && rd_kafka_version() >= 0x020200ff &&
	    set(kc, "fetch.queue.backoff.ms", "10"))
		goto fail;
	/* evc broker's mock cluster does not wake a waiting fetch. */
	if (defaults == consumer_defaults && c->brokers_from &&
	    !strcmp(c->brokers_from, "evc broker") &&
	    set(kc, "fetch.wait.max.ms", "5"))
		goto fail;
	rd_kafka_conf_set_log_cb(kc, on_log);
	for (unsigned i = 0; i < c->nprops; i++)
		if (set(kc, c->props[i].name, c->props[i].value))
			goto fail;
	return kc;
fail:
	rd_kafka_conf_destroy(kc);
	return NULL;
}

rd_kafka_conf_t *bus_kafka_conf(const struct conf *c)
{
	return make_conf(c, NULL, NULL);
}

rd_kafka_t *bus_handle(struct bus *b)
{
	return b->prod;
}

static rd_kafka_t *new_handle(struct bus *b, rd_kafka_type_t type,
			      rd_kafka_conf_t *kc)
{
	char err[512];
	rd_kafka_t *rk;

	rd_kafka_conf_set_opaque(kc, b);
	rd_kafka_conf_set_error_cb(kc, on_error);
	rd_kafka_conf_set_ssl_cert_verify_cb(kc, on_cert);
	if (!(rk = rd_kafka_new(type, kc, err, sizeof(err)))) {
		rd_kafka_conf_destroy(kc);
		error("cannot create Kafka client: %s", err);
	}
	return rk;
}

static int open_producer(struct bus *b)
{
	rd_kafka_conf_t *kc = make_conf(b->conf, producer_defaults, NULL);

	/* Readers find a key's partition by the same hash: not optional. */
	if (!kc || set(kc, "partitioner", "consistent") ||
	    set(kc, "enable.idempotence", "true")) {
		if (kc)
			rd_kafka_conf_destroy(kc);
		return -1;
	}
	rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
	b->prod = new_handle(b, RD_KAFKA_PRODUCER, kc);
	return b->prod ? 0 : -1;
}

static struct part *part(struct bus *b, int t, int32_t p);
static int topic_of(const struct bus *b, const char *name);
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque);
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/* A number property of the consumer as librdkafka holds it, or 0. */
static long long consumer_prop(struct bus *b, const char *name)
{
	char buf[32];
	size_t size = sizeof(buf);

	if (rd_kafka_conf_get(rd_kafka_conf(b->cons), name, buf, &size) !=
	    RD_KAFKA_CONF_OK)
		return 0;
	return strtoll(buf, NULL, 10);
}

/*
 * Fetching stops once the fetched messages queued reach either limit, so
 * a reader that took at least half of one since its queue was last empty
 * may find it empty because fetching stopped (see wake_fetchers()).
 */
static void wake_thresholds(struct bus *b)
{
	b->wake_msgs = consumer_prop(b, "queued.min.messages") / 2;
	b->wake_bytes = consumer_prop(b, "queued.max.messages.kbytes") * 512;
}

/*
 * librdkafka 2.0 stops fetching a partition once the queue of fetched
 * messages reaches queued.min.messages or queued.max.messages.kbytes, and
 * looks at it again only when the leader's broker thread next wakes: up
 * to a second later, long after a fast reader has emptied the queue
 * (librdkafka 2.2 made that wait a setting, fetch.queue.backoff.ms). Any
 * request to a leader wakes its thread: when the queue runs dry after a
 * long run, the leaders of the assigned partitions are asked for their
 * ends, a read-only request answered in about a millisecond, and
 * fetching resumes at once. A run that short never filled the queue:
 * nothing is asked.
 */
static void wake_fetchers(struct bus *b)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	bool long_run = (b->wake_msgs && b->run_msgs >= b->wake_msgs) ||
			(b->wake_bytes && b->run_bytes >= b->wake_bytes);

	if (long_run && !rd_kafka_assignment(b->cons, &parts) && parts) {
		debug("fetch queue empty after %lld messages: waking the leaders",
		      b->run_msgs);
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = RD_KAFKA_OFFSET_END;	/* latest */
		if (parts->cnt)
			rd_kafka_offsets_for_times(b->cons, parts, BUS_WAKE_MS);
		rd_kafka_topic_partition_list_destroy(parts);
	}
	b->run_msgs = b->run_bytes = 0;
}

static int open_consumer(struct bus *b, const char *group)
{
	rd_kafka_conf_t *kc = make_conf(b->conf, consumer_defaults,
					group ? group_defaults : NULL);

	if (!kc)
		return -1;
	/*
	 * librdkafka wants a group.id even to assign() partitions; a consumer
	 * that never subscribes joins no group, and commits nothing. A lease
	 * stays with its holder when another member joins: sticky, and
	 * handed over without stopping the holder (cooperative).
	 */
	if (set(kc, "group.id", group ? group : "evc-unjoined") ||
	    ((b->flags & BUS_LEASE) &&
	     set(kc, "partition.assignment.strategy", "cooperative-sticky"))) {
		rd_kafka_conf_destroy(kc);
		return -1;
	}
	/* Which leaders answer: librdkafka says it in its statistics. */
	if (group && !(b->flags & BUS_LEASE)) {
		if (set(kc, "statistics.interval.ms", "1000")) {
			rd_kafka_conf_destroy(kc);
			return -1;
		}
		rd_kafka_conf_set_stats_cb(kc, on_stats);
	}
	if (group) {
		rd_kafka_conf_set_rebalance_cb(kc, on_rebalance);
		b->group = xstrdup(group);
	}
	if (!(b->cons = new_handle(b, RD_KAFKA_CONSUMER, kc)))
		return -1;
	rd_kafka_poll_set_consumer(b->cons);
	b->assigned = rd_kafka_topic_partition_list_new(4);
	if (group)
		wake_thresholds(b);
	return 0;
}

/* Is broker nodeid connected ("UP") in librdkafka's statistics? */
static int broker_up(json_t *brokers, json_int_t nodeid)
{
	const char *name;
	json_t *br;

	json_object_foreach(brokers, name, br) {
		json_t *id = json_object_get(br, "nodeid");
		const char *st = json_string_value(json_object_get(br, "state"));

		if (json_is_integer(id) && json_integer_value(id) == nodeid)
			return st && !strcmp(st, "UP");
	}
	return 0;
}

static long long offset_in(json_t *pj, const char *name)
{
	json_t *v = json_object_get(pj, name);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/*
 * Messages of a partition not read yet: its end less the offset read,
 * or before any was read since it was assigned, the offset committed,
 * or without one its start (auto.offset.reset is earliest). -1 when
 * the statistics do not know the end yet. (librdkafka's consumer_lag
 * is -1 until a message was read: an idle partition would have none.)
 */
static long long lag_of(json_t *pj)
{
	long long hi = offset_in(pj, "hi_offset");
	long long pos = offset_in(pj, "app_offset");

	if (pos < 0)
		pos = offset_in(pj, "committed_offset");
	if (pos < 0)
		pos = offset_in(pj, "lo_offset");
	if (hi < 0 || pos < 0)
		return -1;
	return hi > pos ? hi - pos : 0;
}

/* One topic of the statistics: which of its partitions are fetched. */
static void partitions_up(struct bus *b, int t, json_t *parts, json_t *brokers)
{
	long long now = mono_ms();
	const char *key;
	json_t *pj;

	json_object_foreach(parts, key, pj) {
		json_int_t p = json_integer_value(json_object_get(pj, "partition"));
		json_t *leader = json_object_get(pj, "leader");
		const char *fs = json_string_value(json_object_get(pj,
								  "fetch_state"));
		struct part *pt;
		int up;

		if (p < 0 || p > 65535 || !(pt = part(b, t, (int32_t)p)))
			continue;
		up = json_is_integer(leader) && fs && !strcmp(fs, "active") &&
		     broker_up(brokers, json_integer_value(leader));
		pt->lag = lag_of(pj);
		pt->lag_known = pt->lag >= 0 &&
				json_is_true(json_object_get(pj, "desired"));
		if (!up)
			pt->up_since = 0;
		else if (!pt->up_since)
			pt->up_since = now;
	}
}

/*
 * Every second: the partitions whose leader answers, and since when;
 * the lag of those assigned (librdkafka's consumer_lag: the high
 * watermark less the offset read, or committed before any was read).
 */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct bus *b = opaque;
	json_t *root = json_loadb(json, len, 0, NULL), *topics, *brokers, *tj;
	const char *name;

	(void)rk;
	if (!root)
		return 0;
	brokers = json_object_get(root, "brokers");
	topics = json_object_get(root, "topics");
	json_object_foreach(topics, name, tj) {
		int t = topic_of(b, name);

		if (t >= 0)
			partitions_up(b, t, json_object_get(tj, "partitions"),
				      brokers);
	}
	json_decref(root);
	return 0;
}

/*
 * Commits the offsets stored so far once every message produced before
 * is delivered, waiting up to wait_ms for that; -1 (nothing committed)
 * when something is still in flight, or the commit failed.
 */
static int commit_delivered(struct bus *b, int wait_ms)
{
	rd_kafka_resp_err_t err;

	if (b->prod) {
		rd_kafka_flush(b->prod, wait_ms);
		if (rd_kafka_outq_len(b->prod) > 0) {
			debug("offsets not committed yet: %d messages in flight",
			      rd_kafka_outq_len(b->prod));
			return -1;
		}
	}
	err = rd_kafka_commit(b->cons, NULL, 0);
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		return error("cannot commit offsets: %s",
			     rd_kafka_err2str(err));
	return 0;
}

/* Group consumers: what was handled is committed before it goes. */
static void hand_over(struct bus *b)
{
	if (!(b->flags & BUS_LEASE) &&
	    commit_delivered(b, BUS_OP_TIMEOUT_MS))
		warn("partitions handed over with their offsets uncommitted");
}

/* BUS_SOLE: partitions taken back, lost or not. */
static void mark_lost(struct bus *b,
		      const rd_kafka_topic_partition_list_t *parts, int lost)
{
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *e = &parts->elems[i];
		struct part *pt = part(b, topic_of(b, e->topic), e->partition);

		if (pt)
			pt->lost = (unsigned char)lost;
	}
}

/*
 * A sole reader (BUS_SOLE) given back partitions it lost goes on after
 * the last message it took, not from the committed offsets: no one else
 * read them meanwhile, and what it handled since its last commit must
 * not be handled twice (its state holds it already).
 */
static void resume_lost(struct bus *b, rd_kafka_topic_partition_list_t *parts)
{
	int n = 0;

	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *e = &parts->elems[i];
		struct part *pt = part(b, topic_of(b, e->topic), e->partition);

		if (!pt || !pt->lost)
			continue;
		pt->lost = 0;
		if (pt->next <= 0)
			continue;
		e->offset = pt->next;
		n++;
	}
	if (n)
		info("group '%s' gave back %d partitions it had lost: read on where they were left",
		     b->group, n);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct bus *b = opaque;
	int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (b->flags & BUS_SOLE)
			resume_lost(b, parts);
		if (coop)
			rd_kafka_error_destroy(
				rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		b->held = coop && b->held > 0 ? b->held + parts->cnt
					      : parts->cnt;
		b->assigns++;
		debug("group gave %d partitions, holding %d", parts->cnt,
		      b->held);
		return;
	}
	if (b->held > 0)
		b->revoked++;
	if (b->held < 0)
		b->held = 0;
	/*
	 * Lost, not handed over: librdkafka's session with the coordinator
	 * timed out (the coordinator failing over, this process frozen), or
	 * the coordinator no longer knows this member. Nothing to commit.
	 */
	if (b->flags & BUS_SOLE)
		mark_lost(b, parts, rd_kafka_assignment_lost(rk));
	if (rd_kafka_assignment_lost(rk)) {
		b->lost++;
		b->assigns = 0;
	} else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
		hand_over(b);
	if (coop) {
		rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
		b->held -= parts->cnt < b->held ? parts->cnt : b->held;
	} else {
		rd_kafka_assign(rk, NULL);
		b->held = 0;
	}
	debug("group took back %d partitions, holding %d", parts->cnt,
	      b->held);
}

int bus_held(const struct bus *b)
{
	return b->held;
}

int bus_revoked(const struct bus *b)
{
	return b->revoked;
}

int bus_lost(const struct bus *b)
{
	return b->lost;
}

int bus_assigns(const struct bus *b)
{
	return b->assigns;
}

int32_t bus_last_partition(const struct bus *b)
{
	return b->last ? b->last->partition : -1;
}

int32_t bus_partitions(const struct bus *b, enum topic t)
{
	return b->nparts[t];
}


struct bus *bus_open(const struct conf *c, int flags, const char *group)
{
	struct bus *b = xcalloc(1, sizeof(*b));

	b->conf = c;
	b->flags = flags;
	b->held = -1;
	if ((flags & BUS_PRODUCER) && open_producer(b))
		goto fail;
	if ((flags & (BUS_CONSUMER | BUS_GROUP)) &&
	    open_consumer(b, flags & BUS_GROUP ? group : NULL))
		goto fail;
	return b;
fail:
	bus_close(b, 0);
	return NULL;
}

const char *bus_topic_name(const struct bus *b, enum topic t)
{
	return b->conf->topics[t];
}

static int topic_of(const struct bus *b, const char *name)
{
	for (int t = 0; t < T_COUNT; t++)
		if (!strcmp(b->conf->topics[t], name))
			return t;
	return -1;
}

const struct bus_stats *bus_stats(const struct bus *b)
{
	return &b->st;
}

/* Messages to a driver follow the driver; all others follow their CP. */
static const char *key_of(const struct msg *m)
{
	switch (m->type) {
	case MSG_AUTH_RESPONSE:
	case MSG_PROGRESS:
	case MSG_TICKET:
	case MSG_NOTICE:
		return m->driver;
	case MSG_CONTROL:
		return m->u.ctl.all ? "all" : m->cp;
	default:
		return m->cp;
	}
}

int bus_send(struct bus *b, enum topic t, const struct msg *m)
{
	return bus_send_to(b, t, RD_KAFKA_PARTITION_UA, m);
}

/*
 * One record to topic t: a full queue drains as delivery reports are
 * served; a refusal by Kafka's ACLs is said once. val NULL: a tombstone.
 */
static int produce_sealed(struct bus *b, enum topic t, int32_t partition,
			  const char *key, const void *val, size_t len,
			  struct seal_key *k)
{
	rd_kafka_resp_err_t err;
	rd_kafka_headers_t *hdrs;
	unsigned char mac[SEAL_MAC_LEN];
	char hex[2 * SEAL_MAC_LEN + 1];
	int tries = 0;

	do {
		hdrs = NULL;
		if (k) {
			struct seal_rec r = { b->conf->topics[t], key,
					      strlen(key), val, len };

			seal_mac(k, &r, mac);
			seal_hex(mac, sizeof(mac), hex);
			hdrs = rd_kafka_headers_new(2);
			rd_kafka_header_add(hdrs, SEAL_HDR_KID, -1, k->kid, -1);
			rd_kafka_header_add(hdrs, SEAL_HDR_MAC, -1, hex, -1);
		}
		err = rd_kafka_producev(b->prod,
			RD_KAFKA_V_TOPIC(b->conf->topics[t]),
			RD_KAFKA_V_PARTITION(partition),
			RD_KAFKA_V_KEY(key, strlen(key)),
			RD_KAFKA_V_VALUE((void *)val, len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_OPAQUE((void *)((intptr_t)t + 1)),
			RD_KAFKA_V_HEADERS(hdrs),
			RD_KAFKA_V_END);
		if (err && hdrs)	/* taken by librdkafka only on success */
			rd_kafka_headers_destroy(hdrs);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(b->prod, 10);
	} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && ++tries < 500);
	if (err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
		b->st.failed++;
		b->st.failed_by[t]++;
		refused(b, "not allowed by Kafka to write topic '%s'",
			b->conf->topics[t]);
		return -1;
	}
	if (err)
		return error("cannot send to '%s': %s", b->conf->topics[t],
			     rd_kafka_err2str(err));
	rd_kafka_poll(b->prod, 0);
	return 0;
}

static int produce(struct bus *b, enum topic t, int32_t partition,
		   const char *key, const void *val, size_t len)
{
	return produce_sealed(b, t, partition, key, val, len, NULL);
}

void bus_seal(struct bus *b, bus_sealer *fn, void *ctx)
{
	b->sealer = fn;
	b->sealer_ctx = ctx;
}

int bus_send_to(struct bus *b, enum topic t, int32_t partition,
		const struct msg *m)
{
	char buf[BUS_SEND_BUF];
	int len;

	if (!b->prod || t >= T_COUNT || !(topic_types[t] & (1u << m->type)))
		return error("cannot send '%s' on topic '%s'",
			     msg_type_name(m->type),
			     t < T_COUNT ? b->conf->topics[t] : "?");
	if ((len = msg_encode(m, buf, sizeof(buf))) < 0)
		return error("cannot encode '%s' message",
			     msg_type_name(m->type));
	return produce_sealed(b, t, partition, key_of(m), buf, (size_t)len,
			      b->sealer ? b->sealer(b->sealer_ctx, t, m) : NULL);
}

int bus_send_raw(struct bus *b, enum topic t, const char *key,
		 const void *val, size_t len)
{
	if (!b->prod || t >= T_COUNT || topic_types[t] || t == T_CENTRAL_LEASE)
		return error("cannot send a record on topic '%s'",
			     t < T_COUNT ? b->conf->topics[t] : "?");
	return produce(b, t, RD_KAFKA_PARTITION_UA, key, val, len);
}

int bus_erase(struct bus *b, enum topic t, const char *cp)
{
	if (!b->prod || t >= T_COUNT || !compacted(t) || !msg_cp_id_ok(cp))
		return error("cannot remove '%s' from topic '%s'", cp,
			     t < T_COUNT ? b->conf->topics[t] : "?");
	return produce(b, t, RD_KAFKA_PARTITION_UA, cp, NULL, 0);
}

int bus_flush(struct bus *b, int timeout_ms)
{
	long failed;

	if (!b->prod)
		return 0;
	rd_kafka_flush(b->prod, timeout_ms);
	if (rd_kafka_outq_len(b->prod) > 0) {
		error("cannot reach Kafka at '%s': %d messages not delivered",
		      b->conf->brokers, rd_kafka_outq_len(b->prod));
		return -1;
	}
	failed = b->st.failed - b->failed_seen;
	b->failed_seen = b->st.failed;
	return failed ? -1 : 0;
}

void bus_poll(struct bus *b, int timeout_ms)
{
	if (b->prod)
		rd_kafka_poll(b->prod, timeout_ms);
}

static const char *hint(const struct conf *c)
{
	const char *from = c->brokers_from;

	if (from && !strcmp(from, "default"))
		return " (no broker configured: start 'evc broker', or use"
		       " --brokers, EVC_BROKERS or kafka.brokers in evc.yaml)";
	return "";
}

/*
 * Kafka did not answer: said in one line, and when not one broker name
 * resolves (the example evc.yaml run where kafka1..3 mean nothing), that
 * is what is said.
 */
static int unreachable(const struct conf *c, const char *why)
{
	if (!diag_unresolved(c->brokers))
		return error("cannot reach Kafka at '%s': %s%s", c->brokers,
			     why, hint(c));
	if (c->file && c->brokers_from == c->file)
		return error("cannot reach Kafka at '%s': no broker name resolves (name the Kafka machines in /etc/hosts or DNS, or change kafka.brokers in '%s')",
			     c->brokers, c->file);
	return error("cannot reach Kafka at '%s': no broker name resolves (name the Kafka machines in /etc/hosts or DNS, or change %s)",
		     c->brokers, c->brokers_from);
}

/*
 * A request of rk found no broker: a TLS handshake that failed (and why),
 * a refused login (with what librdkafka cannot do, if that is why), else
 * Kafka unreachable, in one line.
 */
static int kafka_failed(struct bus *b, rd_kafka_t *rk, rd_kafka_resp_err_t err)
{
	char line[1536];

	/* A refusal at start comes through the error callback, served here. */
	if (!b->was_up)
		rd_kafka_poll(rk, 100);
	if (b->tls_error[0])
		return error("%s", tls_line(b, rk, b->tls_error, line,
					    sizeof(line)));
	if (!b->login_error[0])
		return unreachable(b->conf, rd_kafka_err2str(err));
	if (diag_login(rk, b->conf->brokers, b->login_error, line,
		       sizeof(line)))
		return error("%s", line);
	return error("cannot log in to Kafka at '%s': %s", b->conf->brokers,
		     b->login_error);
}

/*
 * Every broker refused our TLS handshake or our login before Kafka ever
 * answered: no retry will mend that, so there is no point waiting on.
 */
static bool refused_all(struct bus *b, rd_kafka_t *rk)
{
	rd_kafka_poll(rk, 0);	/* the error callback, which notes both */
	return !b->was_up && b->down && (b->tls_error[0] || b->login_error[0]);
}

/*
 * Asks for metadata in short slices, so that a refusal by every broker
 * is said at once rather than after the whole timeout; a broker that
 * does not answer at all (Kafka still starting) is waited for.
 */
int bus_check(struct bus *b, int timeout_ms)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_t *rk = b->prod ? b->prod : b->cons;
	rd_kafka_resp_err_t err;
	long long deadline = mono_ms() + timeout_ms, left;

	if (!rk)
		return 0;
	do {
		left = deadline - mono_ms();
		err = rd_kafka_metadata(rk, 0, NULL, &md,
					left > BUS_CHECK_SLICE_MS ?
					BUS_CHECK_SLICE_MS : left > 0 ? left : 1);
	} while (err && mono_ms() < deadline && !refused_all(b, rk));
	if (err)
		return kafka_failed(b, rk, err);
	rd_kafka_metadata_destroy(md);
	b->was_up = 1;
	b->down = 0;
	return 0;
}

/*
 * One broker's metadata of a topic. A topic created a moment ago may be
 * unknown yet to the broker asked (the one that answered CreateTopics
 * knew it; this one hears of it within a second or so): asked again for
 * up to FRESH_TOPIC_MS before it is called missing.
 */
#define FRESH_TOPIC_MS 2000

static rd_kafka_resp_err_t topic_metadata(struct bus *b, const char *topic,
					  const struct rd_kafka_metadata **md)
{
	long long end = mono_ms() + FRESH_TOPIC_MS;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(b->cons, topic, NULL);
	rd_kafka_resp_err_t err;

	while (!(err = rd_kafka_metadata(b->cons, 0, rkt, md,
					 BUS_OP_TIMEOUT_MS)) &&
	       (*md)->topic_cnt == 1 && (*md)->topics[0].err ==
	       RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && mono_ms() < end) {
		rd_kafka_metadata_destroy(*md);
		rd_kafka_poll(b->cons, 100);
	}
	rd_kafka_topic_destroy(rkt);
	return err;
}

/* Number of partitions of a topic, or -1 after printing why. */
static int partition_count(struct bus *b, const char *topic)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err = topic_metadata(b, topic, &md);
	int n = -1;

	if (err)
		return kafka_failed(b, b->cons, err);
	if (md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	else if (md->topic_cnt == 1 && md->topics[0].err ==
		 RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
		refused(b, "not allowed by Kafka to read topic '%s'", topic);
	else if (md->topic_cnt == 1)
		error("cannot use topic '%s': %s (run 'evc topics create')",
		      topic, rd_kafka_err2str(md->topics[0].err));
	rd_kafka_metadata_destroy(md);
	return n;
}

/*
 * A topic created a moment ago may not have its leaders yet: the first
 * look-ups then fail with a retriable error, so try a few times.
 */
static int watermarks(struct bus *b, const char *topic, int32_t p,
		      int64_t *lo, int64_t *hi)
{
	rd_kafka_resp_err_t err;

	for (int i = 0; i < 20; i++) {
		err = rd_kafka_query_watermark_offsets(b->cons, topic, p, lo,
						       hi, BUS_OP_TIMEOUT_MS);
		if (err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
		    err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
		    err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			break;
		rd_kafka_poll(b->cons, 100);
	}
	if (err)
		return error("cannot read offsets of '%s': %s", topic,
			     rd_kafka_err2str(err));
	return 0;
}

int bus_ever_written(struct bus *b, enum topic t)
{
	const char *topic = b->conf->topics[t];
	int64_t lo, hi;
	int n;

	if (!b->cons)
		return error("cannot read '%s': no consumer", topic);
	if ((n = partition_count(b, topic)) < 0)
		return -1;
	for (int32_t p = 0; p < n; p++) {
		if (watermarks(b, topic, p, &lo, &hi))
			return -1;
		if (hi > 0)
			return 1;
	}
	return 0;
}

/* The offset to start at: the end, or the first message at from_ms. */
static int start_offset(struct bus *b, const char *topic, int32_t p,
			int64_t from_ms, int64_t *off)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	int64_t lo, hi;

	if (watermarks(b, topic, p, &lo, &hi))
		return -1;
	*off = hi;
	if (from_ms <= 0)
		return 0;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, p)->offset = from_ms;
	err = rd_kafka_offsets_for_times(b->cons, l, BUS_OP_TIMEOUT_MS);
	if (!err && !l->elems[0].err && l->elems[0].offset >= 0)
		*off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return 0;
}

static int assign_one(struct bus *b, const char *topic, int32_t p,
		      int64_t off)
{
	rd_kafka_topic_partition_t *e;
	rd_kafka_resp_err_t err;

	e = rd_kafka_topic_partition_list_find(b->assigned, topic, p);
	if (!e)
		e = rd_kafka_topic_partition_list_add(b->assigned, topic, p);
	e->offset = off;
	err = rd_kafka_assign(b->cons, b->assigned);
	if (err)
		return error("cannot follow '%s': %s", topic,
			     rd_kafka_err2str(err));
	return 0;
}

int bus_follow(struct bus *b, enum topic t, const char *key, int64_t from_ms)
{
	const char *topic = b->conf->topics[t];
	int32_t p;
	int64_t off = RD_KAFKA_OFFSET_END;
	int n;

	if (!b->cons)
		return error("cannot follow '%s': no consumer", topic);
	if ((n = partition_count(b, topic)) < 0)
		return -1;
	p = rd_kafka_msg_partitioner_consistent(NULL, key, strlen(key), n,
						NULL, NULL);
	if (start_offset(b, topic, p, from_ms, &off))
		return -1;
	debug("following '%s' [%d] from offset %lld", topic, (int)p,
	      (long long)off);
	return assign_one(b, topic, p, off);
}

/* Remembers where partition p of topic ends now, for bus_caught_up(). */
static void track_end(struct bus *b, const char *topic, int32_t p,
		      int64_t lo, int64_t hi)
{
	struct follow_end *e;

	b->ends = xreallocarray(b->ends, (size_t)b->nends + 1, sizeof(*b->ends));
	e = &b->ends[b->nends++];
	e->topic = xstrdup(topic);
	e->partition = p;
	e->end = hi;
	e->done = hi <= lo;
	b->pending_ends += !e->done;
}

/*
 * Every partition of t, from the beginning (its current end tracked) or
 * from its high watermark, fixed before returning, in one assignment:
 * each assign() replaces the previous one.
 */
static int follow_every(struct bus *b, enum topic t, int from_end,
			int64_t from_ms)
{
	const char *topic = b->conf->topics[t];
	rd_kafka_topic_partition_t *e;
	rd_kafka_resp_err_t err;
	int64_t lo, hi, off;
	int n;

	if (!b->cons)
		return error("cannot follow '%s': no consumer", topic);
	if ((n = partition_count(b, topic)) < 0)
		return -1;
	for (int32_t p = 0; p < n; p++) {
		if (watermarks(b, topic, p, &lo, &hi))
			return -1;
		off = from_end ? hi : RD_KAFKA_OFFSET_BEGINNING;
		if (from_ms > 0 && start_offset(b, topic, p, from_ms, &off))
			return -1;
		if (!from_end)
			track_end(b, topic, p, off >= 0 ? off : lo, hi);
		e = rd_kafka_topic_partition_list_find(b->assigned, topic, p);
		if (!e)
			e = rd_kafka_topic_partition_list_add(b->assigned,
							      topic, p);
		e->offset = off;
	}
	if ((err = rd_kafka_assign(b->cons, b->assigned)))
		return error("cannot follow '%s': %s", topic,
			     rd_kafka_err2str(err));
	return 0;
}

int bus_follow_all(struct bus *b, enum topic t)
{
	return follow_every(b, t, 0, 0);
}

int bus_follow_end_all(struct bus *b, enum topic t)
{
	return follow_every(b, t, 1, 0);
}

int bus_follow_since(struct bus *b, enum topic t, int64_t from_ms)
{
	return follow_every(b, t, 0, from_ms);
}

int bus_caught_up(struct bus *b)
{
	return b->pending_ends == 0;
}

/*
 * Each wait for a message is at most this long, and the topic is polled
 * at least once even when it is empty: librdkafka 2.0.2 can abort
 * (rd_kafka_assignment_partition_stopped: rktp_started) when a handle
 * whose assignment bus_follow_all() changed once per partition is
 * destroyed before the changes settle.
 */
#define READ_SLICE_MS 100

enum bus_read bus_read_compacted(struct bus *b, enum topic t,
				 bus_record_fn *fn, void *arg,
				 unsigned timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms;
	enum topic from;
	struct msg m;
	int r;

	if (bus_follow_all(b, t))
		return BUS_READ_UNFOLLOWED;
	do {
		if ((r = bus_recv(b, &m, &from, READ_SLICE_MS)) < 0)
			return BUS_READ_FAILED;
		if (r == 1 || r == BUS_GONE)
			fn(arg, from, &m, r == BUS_GONE);
		if (bus_stop)
			return BUS_READ_STOPPED;
	} while (!bus_caught_up(b) && mono_ms() < deadline);
	return bus_caught_up(b) ? BUS_READ_DONE : BUS_READ_TIMEOUT;
}

/* Marks a followed partition read to its end once offset reaches it. */
static void mark_end(struct bus *b, const char *topic, int32_t p,
		     int64_t next)
{
	for (int i = 0; i < b->nends; i++) {
		struct follow_end *e = &b->ends[i];

		if (!e->done && e->partition == p && next >= e->end &&
		    !strcmp(e->topic, topic)) {
			e->done = 1;
			b->pending_ends--;
		}
	}
}

int bus_subscribe(struct bus *b, const enum topic *ts, int n)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;

	if (!b->cons || !(b->flags & BUS_GROUP))
		return error("cannot subscribe: no consumer group");
	l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, b->conf->topics[ts[i]],
						  RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(b->cons, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err)
		return error("cannot subscribe: %s", rd_kafka_err2str(err));
	return 0;
}

/*
 * Group consumers: a message is committed only once it was handled.
 * This runs for every message: the topic handle the message carries
 * stores its offset (+ 1 inside) with no list to allocate and free.
 */
static void store(struct bus *b, const rd_kafka_message_t *rkm)
{
	if (!(b->flags & BUS_GROUP) || rkm->err)
		return;
	rd_kafka_offset_store(rkm->rkt, rkm->partition, rkm->offset);
}

static void release_last(struct bus *b)
{
	if (!b->last)
		return;
	store(b, b->last);
	rd_kafka_message_destroy(b->last);
	b->last = NULL;
}

static void reject(struct bus *b, const rd_kafka_message_t *rkm,
		   const char *why)
{
	int t = topic_of(b, rd_kafka_topic_name(rkm->rkt));

	b->st.rejected++;
	b->st.rejected_by[t >= 0 ? t : T_COUNT]++;
	warn_limited(&b->rl_reject,
		     "rejected message on '%s' [%d] at offset %lld: %s",
		     rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
		     (long long)rkm->offset, why);
}

/*
 * Whether partition p of topic t was read to its end, as the last fetch
 * knew it: an end-of-partition event sets it, a message clears it.
 */
static struct part *part(struct bus *b, int t, int32_t p)
{
	int32_t n;

	if (t < 0 || p < 0 || p > 65535)
		return NULL;
	if (p >= (n = b->nparts_alloc[t])) {
		int32_t m = p + 8;

		b->parts[t] = xreallocarray(b->parts[t], (size_t)m,
					    sizeof(struct part));
		memset(b->parts[t] + n, 0, sizeof(struct part) * (size_t)(m - n));
		b->nparts_alloc[t] = m;
	}
	return &b->parts[t][p];
}

static void set_at_end(struct bus *b, int t, int32_t p, int end)
{
	struct part *pt = part(b, t, p);

	if (pt)
		pt->end = (unsigned char)end;
}

void bus_trust(struct bus *b, long long ms)
{
	b->trust_ms = ms;
}

/*
 * Read to its end as far as the last fetch knew, and fetched from a
 * leader that has answered for trust_ms at least: while a broker fails
 * over, "the end" is only where the dead leader's fetches stopped.
 */
long long bus_lag(const struct bus *b, enum topic t, int32_t p)
{
	if (p < 0 || p >= b->nparts_alloc[t] || !b->parts[t][p].lag_known)
		return -1;
	return b->parts[t][p].lag;
}

int32_t bus_lag_partitions(const struct bus *b, enum topic t)
{
	return b->nparts_alloc[t];
}

int bus_at_end(const struct bus *b, enum topic t, int32_t p)
{
	const struct part *pt;

	if (p < 0 || p >= b->nparts_alloc[t])
		return 0;
	pt = &b->parts[t][p];
	return pt->end && pt->up_since &&
	       mono_ms() - pt->up_since >= b->trust_ms;
}

int32_t bus_partition(struct bus *b, enum topic t, const char *key)
{
	const char *topic = b->conf->topics[t];

	/* A look-up blocks: once, and again only now and then if it failed. */
	if (!b->nparts[t] && b->cons &&
	    (!b->nparts_tried[t] || mono_ms() - b->nparts_tried[t] > 30000)) {
		int n;

		b->nparts_tried[t] = mono_ms();
		if ((n = partition_count(b, topic)) <= 0)
			return -1;
		b->nparts[t] = n;
	}
	if (b->nparts[t] <= 0)
		return -1;
	return rd_kafka_msg_partitioner_consistent(NULL, key, strlen(key),
						   b->nparts[t], NULL, NULL);
}

/*
 * The topic of a message read: the handle it carries is compared first,
 * then its name with that topic's alone, rather than with each of the
 * ten topics' for every message.
 */
static int topic_of_message(struct bus *b, const rd_kafka_topic_t *rkt,
			    const char *name)
{
	int t;

	for (t = 0; t < T_COUNT; t++)
		if (b->rkt_seen[t] == rkt)
			return strcmp(b->conf->topics[t], name) ? topic_of(b, name) : t;
	if ((t = topic_of(b, name)) >= 0)
		b->rkt_seen[t] = rkt;
	return t;
}

/* Whether the record's key is s: compaction keeps one record per key. */
static bool key_is(const rd_kafka_message_t *rkm, const char *s)
{
	return rkm->key && rkm->key_len == strlen(s) &&
	       !memcmp(rkm->key, s, rkm->key_len);
}

/*
 * A record without a value on a compacted topic: its key, a CP, was
 * removed. BUS_GONE with the key in m->cp; a key that is no CP id is
 * rejected like a malformed message.
 */
static int take_tombstone(struct bus *b, const rd_kafka_message_t *rkm,
			  struct msg *m, enum topic *tp, int t)
{
	char q[MSG_QUOTE_BUF], why[160];
	size_t len = rkm->key ? rkm->key_len : 0;

	memset(m, 0, sizeof(*m));
	if (len > MSG_NAME_MAX || !len)
		goto bad;
	memcpy(m->cp, rkm->key, len);
	if (memchr(m->cp, '\0', len) || !msg_cp_id_ok(m->cp))
		goto bad;
	b->st.received++;
	b->st.received_by[t]++;
	*tp = (enum topic)t;
	return BUS_GONE;
bad:
	snprintf(why, sizeof(why), "removal of a key that is no CP id: '%s'",
		 msg_quote(q, rkm->key ? (const char *)rkm->key : "", len));
	reject(b, rkm, why);
	return 0;
}

/* A record that is no message (cp-keys): its key in m->cp, BUS_RAW. */
static int take_raw(struct bus *b, const rd_kafka_message_t *rkm,
		    struct msg *m, enum topic *tp, int t)
{
	char q[MSG_QUOTE_BUF];
	size_t len = rkm->key ? rkm->key_len : 0;

	memset(m, 0, sizeof(*m));
	if (len && len <= MSG_NAME_MAX) {
		memcpy(m->cp, rkm->key, len);
		if (!memchr(m->cp, '\0', len) && msg_cp_id_ok(m->cp)) {
			b->st.received++;
			b->st.received_by[t]++;
			*tp = (enum topic)t;
			return BUS_RAW;
		}
	}
	warn_limited(&b->rl_reject, "rejected a record of '%s' keyed '%s': not a CP id",
		     b->conf->topics[t],
		     msg_quote(q, rkm->key ? (const char *)rkm->key : "", len));
	b->st.rejected++;
	return 0;
}

/* BUS_SOLE: where to read on if the partition is lost and comes back. */
static void taken_at(struct bus *b, int t, const rd_kafka_message_t *rkm)
{
	struct part *pt = part(b, t, rkm->partition);

	if (pt)
		pt->next = rkm->offset + 1;
}

/*
 * What every fetched record goes through first: an end of partition, a
 * refusal by Kafka or an error is handled here (-1), as is a record of
 * no topic of ours; a record returns its topic.
 */
static int take_record(struct bus *b, const rd_kafka_message_t *rkm)
{
	const char *name;
	int t;

	if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		name = rd_kafka_topic_name(rkm->rkt);
		mark_end(b, name, rkm->partition, rkm->offset);
		set_at_end(b, topic_of(b, name), rkm->partition, 1);
		return -1;
	}
	if (rkm->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
		refused(b, "not allowed by Kafka to join group '%s'",
			b->group ? b->group : "?");
		return -1;
	}
	if (is_denial(rkm->err)) {
		refused(b, "not allowed by Kafka to read topic '%s'",
			rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "?");
		return -1;
	}
	if (rkm->err) {
		warn_limited(&b->rl_error, "cannot consume: %s",
			     rd_kafka_message_errstr(rkm));
		return -1;
	}
	name = rd_kafka_topic_name(rkm->rkt);
	mark_end(b, name, rkm->partition, rkm->offset + 1);
	if ((t = topic_of_message(b, rkm->rkt, name)) < 0)
		return -1;
	set_at_end(b, t, rkm->partition, 0);
	if (b->flags & BUS_SOLE)
		taken_at(b, t, rkm);
	return t;
}

/* Decodes one fetched message; 1 (or BUS_GONE) when it is for the caller. */
static int take(struct bus *b, const rd_kafka_message_t *rkm,
		struct msg *m, enum topic *tp)
{
	char why[160];
	int t;

	if ((t = take_record(b, rkm)) < 0)
		return 0;
	if (!rkm->payload && compacted(t))
		return take_tombstone(b, rkm, m, tp, t);
	if (t == T_CP_KEYS)
		return take_raw(b, rkm, m, tp, t);
	if (msg_decode(rkm->payload ? rkm->payload : "", rkm->len, m, why,
		       sizeof(why))) {
		reject(b, rkm, why);
		return 0;
	}
	if (!(topic_types[t] & (1u << m->type))) {
		snprintf(why, sizeof(why), "type '%s' does not belong here",
			 msg_type_name(m->type));
		reject(b, rkm, why);
		return 0;
	}
	if (t == T_CP_CATALOGUE && !key_is(rkm, m->cp)) {
		reject(b, rkm, "key is not the cp");
		return 0;
	}
	b->st.received++;
	b->st.received_by[t]++;
	*tp = (enum topic)t;
	return 1;
}

/*
 * A message already fetched is taken without waiting and without reading
 * the clock: at a backlog's pace both cost more than decoding it. Only
 * a wait, or a message skipped (an end of partition, a rejected one),
 * reads it, so that a flood of those still returns in time.
 */
static void wake_event(rd_kafka_t *rk, void *opaque)
{
	struct bus *b = opaque;

	(void)rk;
	b->wake_fn(b->wake_arg);
}

void bus_wakeup(struct bus *b, void (*fn)(void *arg), void *arg)
{
	rd_kafka_queue_t *q;

	if (!b->cons || !(q = rd_kafka_queue_get_consumer(b->cons)))
		return;
	if (!fn)
		rd_kafka_queue_cb_event_enable(q, NULL, NULL);
	b->wake_fn = fn;
	b->wake_arg = arg;
	if (fn)
		rd_kafka_queue_cb_event_enable(q, wake_event, b);
	rd_kafka_queue_destroy(q);
}

int bus_recv(struct bus *b, struct msg *m, enum topic *t, int timeout_ms)
{
	long long deadline = 0, now;
	rd_kafka_message_t *rkm;
	int got;

	release_last(b);
	if (!b->cons)
		return error("cannot receive: no consumer");
	for (;;) {
		if (b->fatal)
			return -1;
		if (b->prod)
			rd_kafka_poll(b->prod, 0);
		if (!(rkm = rd_kafka_consumer_poll(b->cons, 0))) {
			wake_fetchers(b);
			now = mono_ms();
			if (!deadline)
				deadline = now + timeout_ms;
			if (now >= deadline || !(rkm = rd_kafka_consumer_poll(
					b->cons, (int)(deadline - now))))
				return 0;
		}
		b->run_msgs++;
		b->run_bytes += (long long)rkm->len;
		if ((got = take(b, rkm, m, t))) {
			b->last = rkm;
			return got;
		}
		store(b, rkm);
		rd_kafka_message_destroy(rkm);
		now = mono_ms();
		if (!deadline)
			deadline = now + timeout_ms;
		/*
		 * An end of partition is no sign that nothing follows: a
		 * reader that only takes what is queued (timeout 0) and was
		 * told 0 here would leave messages behind it, and librdkafka
		 * wakes a reader (bus_wakeup) only when its queue was empty.
		 */
		if (bus_stop || (timeout_ms > 0 && now >= deadline))
			return 0;
	}
}

int bus_recv_raw(struct bus *b, struct bus_record *r, int timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms, left;
	rd_kafka_message_t *rkm;
	rd_kafka_timestamp_type_t tt;
	int t;

	release_last(b);
	if (!b->cons)
		return error("cannot receive: no consumer");
	while (!b->fatal) {
		left = deadline - mono_ms();
		if (!(rkm = rd_kafka_consumer_poll(b->cons,
						   left > 0 ? (int)left : 0)))
			return 0;
		if ((t = take_record(b, rkm)) >= 0) {
			r->topic = (enum topic)t;
			r->key = rkm->key;
			r->key_len = rkm->key ? rkm->key_len : 0;
			r->val = rkm->payload;
			r->len = rkm->payload ? rkm->len : 0;
			r->partition = rkm->partition;
			r->offset = rkm->offset;
			r->ts = rd_kafka_message_timestamp(rkm, &tt);
			b->last = rkm;
			return 1;
		}
		store(b, rkm);
		rd_kafka_message_destroy(rkm);
		if (bus_stop || mono_ms() >= deadline)
			return 0;
	}
	return -1;
}

void bus_reject_raw(struct bus *b, const struct bus_record *r,
		    const char *why)
{
	b->st.rejected++;
	warn_limited(&b->rl_reject,
		     "rejected record on '%s' [%d] at offset %lld: %s",
		     b->conf->topics[r->topic], (int)r->partition,
		     (long long)r->offset, why);
}

void bus_accept_raw(struct bus *b)
{
	b->st.received++;
}

int bus_last_record(const struct bus *b, struct bus_sealed *r)
{
	static const unsigned char none;
	const rd_kafka_message_t *rkm = b->last;
	rd_kafka_headers_t *h;
	const void *v;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (!rkm)
		return -1;
	r->rec.topic = rd_kafka_topic_name(rkm->rkt);
	r->rec.key = rkm->key;
	r->rec.keylen = rkm->key ? rkm->key_len : 0;
	r->rec.val = rkm->payload;
	r->rec.vallen = rkm->payload ? rkm->len : 0;
	if (rd_kafka_message_headers(rkm, &h))
		return 0;
	if (!rd_kafka_header_get_last(h, SEAL_HDR_KID, &v, &n) && v &&
	    n && n <= SEAL_KID_MAX && !memchr(v, '\0', n)) {
		memcpy(r->kid, v, n);
		r->kid[n] = '\0';
	}
	/* A MAC that is no hex is there, and verifies with no key. */
	if (!rd_kafka_header_get_last(h, SEAL_HDR_MAC, &v, &n) && v) {
		bool ok = !seal_unhex(v, n, r->macbuf, SEAL_MAC_LEN);

		r->mac = ok ? r->macbuf : &none;
		r->maclen = ok ? SEAL_MAC_LEN : 0;
	}
	return 0;
}

bool bus_last_sealed_by(const struct bus *b, struct seal_key *k)
{
	struct bus_sealed r;

	if (bus_last_record(b, &r) || strcmp(r.kid, k->kid))
		return false;
	return seal_check(k, &r.rec, r.mac, r.maclen);
}

int bus_commit(struct bus *b)
{
	if (!b->cons || !(b->flags & BUS_GROUP))
		return 0;
	release_last(b);
	/*
	 * State written because of these messages comes first. A flush
	 * that does not end soon (a broker failing over) is not waited
	 * for: the offsets are committed at a later call instead.
	 */
	return commit_delivered(b, BUS_COMMIT_WAIT_MS);
}

/* Partition 0 of t, in a list of its own. */
static rd_kafka_topic_partition_list_t *first_partition(struct bus *b,
							 enum topic t)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, b->conf->topics[t], 0);
	return l;
}

int bus_note(struct bus *b, enum topic t, const char *note)
{
	rd_kafka_topic_partition_list_t *l = first_partition(b, t);
	rd_kafka_resp_err_t err;

	/* Offset 0 whatever the topic holds: the note is what counts. */
	l->elems[0].offset = 0;
	l->elems[0].metadata = xstrdup(note);
	l->elems[0].metadata_size = strlen(note);
	err = rd_kafka_commit(b->cons, l, 0);
	if (!err)
		err = l->elems[0].err;
	rd_kafka_topic_partition_list_destroy(l);
	if (err)
		return error("cannot write a note for group '%s' on '%s': %s",
			     b->group, b->conf->topics[t], rd_kafka_err2str(err));
	return 0;
}

int bus_noted(struct bus *b, enum topic t, char *note, size_t size)
{
	rd_kafka_topic_partition_list_t *l = first_partition(b, t);
	rd_kafka_topic_partition_t *e = &l->elems[0];
	rd_kafka_resp_err_t err;

	err = rd_kafka_committed(b->cons, l, BUS_OP_TIMEOUT_MS);
	if (!err)
		err = e->err;
	if (!err)
		snprintf(note, size, "%.*s", e->metadata ? (int)e->metadata_size : 0,
			 e->metadata ? (const char *)e->metadata : "");
	rd_kafka_topic_partition_list_destroy(l);
	if (err)
		return error("cannot read the note of group '%s' on '%s': %s",
			     b->group, b->conf->topics[t], rd_kafka_err2str(err));
	return 0;
}

void bus_abandon(struct bus *b)
{
	if (b)
		b->abandoned = 1;
}

int bus_close(struct bus *b, int timeout_ms)
{
	int ret = 0;

	if (!b)
		return 0;
	if (b->cons && b->abandoned) {
		/* A graceful close would wait on a group that dropped us. */
		if (b->last)
			rd_kafka_message_destroy(b->last);
		b->last = NULL;
		rd_kafka_destroy_flags(b->cons,
				       RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	} else if (b->cons) {
		release_last(b);
		if (b->flags & BUS_GROUP) {
			bus_commit(b);
			rd_kafka_consumer_close(b->cons);
		}
		rd_kafka_destroy(b->cons);
	}
	if (b->prod) {
		ret = bus_flush(b, timeout_ms);
		rd_kafka_destroy(b->prod);
	}
	if (b->assigned)
		rd_kafka_topic_partition_list_destroy(b->assigned);
	for (int i = 0; i < b->nends; i++)
		free(b->ends[i].topic);
	free(b->ends);
	for (int t = 0; t < T_COUNT; t++)
		free(b->parts[t]);
	free(b->group);
	free(b);
	return ret;
}
