/* bench_echo.c: the baseline server: answers each auth_request (and supply_end) at once, deciding nothing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/bus.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "test/bench/bench.h"

#define RECV_MS 50		/* as Central's */
#define PRICE 0.30

static const char usage[] =
	"usage: bench_echo -c FILE [-g GROUP] [-X NAME=VALUE]...\n"
	"\n"
	"Consumes auth-request and telemetry in a consumer group as Central\n"
	"does, and answers every auth_request with a grant and every\n"
	"supply_end with a ticket, with no state and no checks: the two\n"
	"Kafka hops of an authorisation with a trivial server. -X sets a\n"
	"librdkafka property after the file's, as for evc central.\n";

static void grant(struct bus *b, const struct msg *req)
{
	struct msg m;

	msg_init(&m, MSG_AUTH_RESPONSE);
	memcpy(m.cp, req->cp, sizeof(m.cp));
	memcpy(m.driver, req->driver, sizeof(m.driver));
	memcpy(m.u.resp.request, req->id, sizeof(m.u.resp.request));
	msg_new_uuid(m.session);
	m.u.resp.authorized = true;
	m.u.resp.price = PRICE;
	bus_send(b, T_AUTH_RESPONSE, &m);
}

static void ticket(struct bus *b, const struct msg *end)
{
	struct msg m;

	msg_init(&m, MSG_TICKET);
	memcpy(m.cp, end->cp, sizeof(m.cp));
	memcpy(m.driver, end->driver, sizeof(m.driver));
	memcpy(m.session, end->session, sizeof(m.session));
	m.u.ticket = end->u.ticket;
	m.u.ticket.cents = msg_cents(end->u.ticket.wh, PRICE);
	bus_send(b, T_AUTH_RESPONSE, &m);
}

static long serve(struct bus *b)
{
	long n = 0;
	struct msg m;
	enum topic t;
	int rc;

	while (!bus_stop) {
		if ((rc = bus_recv(b, &m, &t, RECV_MS)) < 0)
			break;
		if (rc == 0)
			continue;
		n++;
		if (m.type == MSG_AUTH_REQUEST && !m.u.req.cancel)
			grant(b, &m);
		else if (m.type == MSG_SUPPLY_END && m.driver[0])
			ticket(b, &m);
	}
	return n;
}

int main(int argc, char **argv)
{
	static const enum topic topics[] = { T_AUTH_REQUEST, T_TELEMETRY };
	const char *group = "bench-echo";
	struct conf_args a = { 0 };
	struct conf c;
	struct bus *b;
	long n;
	int opt;

	log_init("bench-echo");
	while ((opt = getopt(argc, argv, "c:g:hX:")) != -1) {
		switch (opt) {
		case 'c': a.config = optarg; break;
		case 'g': group = optarg; break;
		case 'X':
			if (conf_opt(&a, opt, optarg) < 0)
				goto usage;
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: goto usage;
		}
	}
	if (!a.config || optind != argc)
		goto usage;
	bench_conf_args(&c, &a);
	bus_signals();
	if (!(b = bus_open(&c, BUS_PRODUCER | BUS_GROUP, group)) ||
	    bus_check(b, 10000) || bus_subscribe(b, topics, 2))
		return EXIT_UNREACHABLE;
	info("serving");
	n = serve(b);
	info("answered %ld messages", n);
	bus_close(b, 10000);
	conf_free(&c);
	return EXIT_OK;
usage:
	conf_args_free(&a);
	fputs(usage, stderr);
	return EXIT_USAGE;
}
