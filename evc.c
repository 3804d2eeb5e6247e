/* evc.c: the multicall entry point: one table of roles, dispatch by name. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmds.h"
#include "lib/log.h"
#include "lib/setup.h"

#ifndef EVC_VERSION
#define EVC_VERSION "unknown"
#endif

/*
 * The one command table. Adding a role means:
 *   1. a row here (name, entry, one-line summary, the shared set-up it
 *      needs: lib/setup.h's flags);
 *   2. cmd/ROLE.c with int cmd_ROLE(int argc, char **argv), declared in
 *      cmd/cmds.h, and ROLE added to ROLES in the Makefile (the evc-ROLE
 *      link and installation follow from it);
 *   3. man/evc-ROLE.1 whose SYNOPSIS is the role's usage text;
 *   4. test/tNNNN-ROLE.sh.
 */
struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	unsigned setup;		/* SETUP_*: options, configuration, Kafka */
};

#define KAFKA (SETUP_CONFIG | SETUP_KAFKA)

static const struct cmd commands[] = {
	{ "central", cmd_central, "authorise drivers, coordinate charging points",
	  KAFKA },
	{ "cp", cmd_cp, "run a charging point: monitor and engine", KAFKA },
	{ "driver", cmd_driver, "ask to charge, interactively or from a file",
	  KAFKA | SETUP_PRODUCER | SETUP_CONSUMER },
	{ "auth", cmd_auth, "request one authorisation (for scripts)",
	  KAFKA | SETUP_PRODUCER | SETUP_CONSUMER },
	{ "topics", cmd_topics, "create, list and describe the evc topics",
	  KAFKA },
	{ "broker", cmd_broker, "run an in-memory Kafka for demos on one machine",
	  SETUP_CONFIG },
	{ "status", cmd_status, "show every CP's state, from any machine",
	  KAFKA | SETUP_CONSUMER },
	{ "fleet", cmd_fleet, "simulate many CPs in one process (load tests)",
	  KAFKA | SETUP_PRODUCER | SETUP_CONSUMER },
	{ "ocpp", cmd_ocpp, "make OCPP 1.6J chargers CPs of the network",
	  KAFKA | SETUP_PRODUCER | SETUP_CONSUMER },
	{ "cps", cmd_cps, "add, remove and list the CPs of the catalogue",
	  KAFKA },
	{ "web", cmd_web, "serve the CPs and the operator's API over HTTP",
	  KAFKA | SETUP_PRODUCER | SETUP_CONSUMER },
	{ "audit", cmd_audit, "show the audit trail of operator actions",
	  KAFKA },
};

#define NCMDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd *find(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void list_roles(FILE *f)
{
	fprintf(f, "usage: evc ROLE [ARGS...]\n"
		   "       evc-ROLE [ARGS...]\n"
		   "       evc --version\n\nroles:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'evc ROLE -h' shows a role's options; see evc(1).\n");
}

static int run(const struct cmd *c, int argc, char **argv)
{
	log_init(c->name);
	setup_role(c->setup);
	return c->fn(argc, argv);
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	const struct cmd *c;

	base = base ? base + 1 : argv[0];
	if (!strncmp(base, "evc-", 4) && (c = find(base + 4)))
		return run(c, argc, argv);
	if (strcmp(base, "evc") && (c = find(base)))
		return run(c, argc, argv);

	log_init(NULL);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")
	    || !strcmp(argv[1], "help")) {
		list_roles(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("evc %s\n", EVC_VERSION);
		return EXIT_OK;
	}
	if (!(c = find(argv[1]))) {
		fprintf(stderr, "evc: unknown command '%s'\n"
			"evc: run 'evc --help' for the list of roles\n", argv[1]);
		return EXIT_USAGE;
	}
	return run(c, argc - 1, argv + 1);
}
