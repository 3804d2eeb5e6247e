/* exporter.h: a minimal HTTP listener answering GET /metrics, serviced from its owner's loop. */
#ifndef EVC_EXPORTER_H
#define EVC_EXPORTER_H

#include <stddef.h>

/*
 * libwebsockets on a libuv loop of its own that nothing runs but
 * exporter_service(): the owner calls it from its own loop, now and
 * then, and it does what is due without waiting. A scrape is answered
 * there, in the owner's thread: render() reads the owner's state as it
 * is, with no lock and no copy, and the owner's hot path pays nothing
 * but the calls to exporter_service().
 *
 * GET /metrics is answered 200 with what render() wrote (Prometheus'
 * text format, lib/metrics.h); any other path 404, another method on
 * /metrics 405, each with a small JSON body {"error": "..."}.
 */
struct exporter;

/*
 * render(arg, &len): the body of one scrape, in a buffer the exporter
 * frees. The text is lib/metrics.h's: METRICS_CONTENT_TYPE.
 */
typedef char *exporter_render_fn(void *arg, size_t *len);

/*
 * Listens on addr (ADDR:PORT, checked by conf_listen_ok(); port 0: any
 * free one) and says so: "metrics: listening on HOST:PORT for GET
 * /metrics". NULL after one line saying why (an address taken among
 * them).
 */
struct exporter *exporter_open(const char *addr, exporter_render_fn *render,
			       void *arg);

/* What is due now (connections, requests, writes), without waiting. */
void exporter_service(struct exporter *e);

/* The port it listens on (the one taken, after port 0). */
unsigned exporter_port(const struct exporter *e);

/* Closes every connection and the listener; e NULL: nothing. */
void exporter_close(struct exporter *e);

#endif
