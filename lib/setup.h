/* setup.h: the preamble every role shares: its options, the configuration, its Kafka handle. */
#ifndef EVC_SETUP_H
#define EVC_SETUP_H

#include <getopt.h>
#include <stdbool.h>

#include "bus.h"
#include "conf.h"

/*
 * The shared set-up a role's row in evc.c asks for, as git's commands[]
 * flags do: which of the shared options it takes, and which Kafka
 * handle setup_bus() opens for it.
 */
enum {
	SETUP_CONFIG = 1 << 0,	/* -c FILE and -v; evc.yaml is loaded */
	SETUP_KAFKA = 1 << 1,	/* -b BROKERS and -X NAME=VALUE too */
	SETUP_PRODUCER = 1 << 2,	/* setup_bus(): can send */
	SETUP_CONSUMER = 1 << 3,	/* setup_bus(): can follow partitions */
};

/* operands(): go on without reading the configuration. */
#define SETUP_NO_CONFIG (-2)

/* Set by evc.c before a role runs: the flags of its row. */
void setup_role(unsigned flags);

struct setup;

/* A role's own options, as the preamble hands them over. */
struct setup_opts {
	const char *usage;		/* -h prints it to stdout, whole */
	const char *shortopts;		/* the role's own letters ("jw", "p:") */
	const struct option *longopts;	/* the role's own; NULL or a zero row ends */
	/*
	 * One of the role's own options: 0 when taken, else the exit status
	 * (EXIT_USAGE) after saying why.
	 */
	int (*opt)(void *ctx, int opt, const char *arg);
	/*
	 * What follows the options, checked before the configuration is read
	 * (a usage error is reported as such): 0, SETUP_NO_CONFIG when this
	 * use of the role needs none, or the exit status.
	 */
	int (*operands)(void *ctx, int argc, char **argv);
	/* The role itself, the preamble done: its exit status. */
	int (*run)(void *ctx, struct setup *su);
	void *ctx;
};

struct setup {
	unsigned flags;		/* the role's row */
	struct conf conf;	/* loaded, when flags has SETUP_CONFIG */
	struct conf_args args;
	bool loaded;
	int argc;		/* the operands, after the options */
	char **argv;
};

/*
 * A role's whole entry. Parses argv: the shared options the row allows
 * and the role's own, -h, the operands, then the configuration; then
 * runs o->run and frees what the preamble holds. Returns the role's
 * exit status, or at once 0 after -h, EXIT_USAGE after a bad option,
 * operand or configuration line (each said in the house style).
 */
int setup_run(const struct setup_opts *o, int argc, char **argv);

/*
 * The Kafka handle the row asks for (SETUP_PRODUCER, SETUP_CONSUMER),
 * configured from s->conf; NULL after saying why (a bad -X property).
 */
struct bus *setup_bus(struct setup *s);

#endif
