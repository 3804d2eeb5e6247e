/* probe.c: Central's probes: messages it sends itself, to know it reads its topics to their end. */
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "xalloc.h"

#define READY_MS 500		/* between ready probes, until one comes back */
#define HEALTH_MS 500		/* between two probes of every health partition */
#define FRESH_MS 2000		/* a partition whose probe came back this lately */

void probe_init(struct probe *pr, struct bus *b, const struct now *now)
{
	memset(pr, 0, sizeof(*pr));
	pr->bus = b;
	pr->started = now->wall;
	/* Looked up now, while Kafka answers, rather than at the first tick. */
	bus_partition(b, T_HEALTH, "");
	bus_partition(b, T_TELEMETRY, "");
}

void probe_free(struct probe *pr)
{
	free(pr->back);
	free(pr->part);
	memset(pr, 0, sizeof(*pr));
}

static void send_ready(struct probe *pr, const struct now *now)
{
	struct msg m;

	msg_init_at(&m, MSG_CONTROL, now->wall);
	memcpy(m.cp, PROBE_CP, sizeof(PROBE_CP));
	m.u.ctl.cmd = CMD_RESUME;
	bus_send(pr->bus, T_CONTROL, &m);
	pr->ready_sent = now->mono;
}

static void send_health(struct probe *pr, int32_t n, const struct now *now)
{
	struct msg m;

	if (n > pr->nback) {
		pr->back = xreallocarray(pr->back, (size_t)n, sizeof(*pr->back));
		memset(pr->back + pr->nback, 0,
		       sizeof(*pr->back) * (size_t)(n - pr->nback));
		pr->nback = n;
	}
	msg_init_at(&m, MSG_HEALTH, now->wall);
	memcpy(m.cp, PROBE_CP, sizeof(PROBE_CP));
	m.u.health.engine_ok = true;
	/* Its id begins with a key of this run: a forged probe is not ours. */
	if (!pr->key[0])
		msg_new_uuid(pr->key);
	memcpy(m.id, pr->key, MSG_UUID_LEN / 2);
	for (int32_t p = 0; p < n; p++)
		bus_send_to(pr->bus, T_HEALTH, p, &m);
	pr->health_sent = now->mono;
}

void probe_tick(struct probe *pr, const struct now *now)
{
	int32_t n = bus_partitions(pr->bus, T_HEALTH);

	if (!pr->ready && now->mono - pr->ready_sent >= READY_MS)
		send_ready(pr, now);
	if (n > 0 && now->mono - pr->health_sent >= HEALTH_MS)
		send_health(pr, n, now);
}

static enum probe_seen on_health(struct probe *pr, const struct msg *m,
				 int32_t p)
{
	/* An earlier Central's, read again after a restart: no news. */
	if (m->ts < pr->started)
		return PROBE_TAKEN;
	if (!pr->key[0] || memcmp(m->id, pr->key, MSG_UUID_LEN / 2)) {
		pr->forged++;
		return PROBE_FORGED;
	}
	if (p >= 0 && p < pr->nback && m->ts > pr->back[p])
		pr->back[p] = m->ts;
	return PROBE_TAKEN;
}

enum probe_seen probe_feed(struct probe *pr, const struct msg *m,
			   int32_t partition)
{
	if (strcmp(m->cp, PROBE_CP))
		return PROBE_NONE;
	if (m->type == MSG_HEALTH)
		return on_health(pr, m, partition);
	if (m->type != MSG_CONTROL || pr->ready || m->ts < pr->started)
		return PROBE_TAKEN;
	pr->ready = true;
	return PROBE_READY;
}

/* The health partition of CP number i, looked up once. */
static int32_t part_of(struct probe *pr, uint32_t i, const char *id)
{
	if (i >= pr->npart) {
		uint32_t n = i + 1 > pr->npart * 2 ? i + 1 : pr->npart * 2;

		pr->part = xreallocarray(pr->part, n, sizeof(*pr->part));
		for (uint32_t k = pr->npart; k < n; k++)
			pr->part[k] = -1;
		pr->npart = n;
	}
	if (pr->part[i] < 0)
		pr->part[i] = bus_partition(pr->bus, T_HEALTH, id);
	return pr->part[i];
}

/*
 * Health and telemetry have as many partitions and one key hash, so one
 * partition number serves both.
 */
bool probe_heard(struct probe *pr, uint32_t i, const char *id,
		 const struct now *now)
{
	int32_t p;

	if (now->mono < pr->deaf_until)
		return false;
	p = part_of(pr, i, id);
	return p >= 0 && p < pr->nback &&
	       now->wall - pr->back[p] < FRESH_MS &&
	       bus_at_end(pr->bus, T_HEALTH, p) &&
	       bus_at_end(pr->bus, T_TELEMETRY, p);
}

void probe_stalled(struct probe *pr, int64_t ms, const struct now *now)
{
	pr->deaf_until = now->mono + ms;
}
