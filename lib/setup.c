/* setup.c: the preamble every role shares: its options, the configuration, its Kafka handle. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "setup.h"

#define OPTS_MAX 32		/* shared and own long options of one role */
#define SHORT_MAX 64

static unsigned role_flags = SETUP_CONFIG | SETUP_KAFKA;

void setup_role(unsigned flags)
{
	role_flags = flags;
}

/* The shared options a row allows, in getopt's two forms. */
static const struct {
	int letter;
	const char *name;
	int has_arg;
	unsigned flag;
} shared[] = {
	{ 'b', "brokers", required_argument, SETUP_KAFKA },
	{ 'c', "config", required_argument, SETUP_CONFIG },
	{ 'v', "verbose", no_argument, SETUP_CONFIG },
	{ 'X', NULL, required_argument, SETUP_KAFKA },
};

static void add_long(struct option *all, int *n, const struct option *o)
{
	if (*n < OPTS_MAX)
		all[(*n)++] = *o;
}

/* The role's options after the shared ones, then -h and a zero row. */
static void build(const struct setup_opts *o, unsigned flags,
		  struct option *all, char *letters)
{
	static const struct option help = { "help", no_argument, NULL, 'h' };
	int n = 0;

	snprintf(letters, SHORT_MAX, "h");
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		if (!(shared[i].flag & flags))
			continue;
		snprintf(letters + strlen(letters), SHORT_MAX - strlen(letters),
			 "%c%s", shared[i].letter,
			 shared[i].has_arg ? ":" : "");
		if (shared[i].name)
			add_long(all, &n, &(struct option){ shared[i].name,
				 shared[i].has_arg, NULL, shared[i].letter });
	}
	snprintf(letters + strlen(letters), SHORT_MAX - strlen(letters), "%s",
		 o->shortopts ? o->shortopts : "");
	for (const struct option *l = o->longopts; l && l->name; l++)
		add_long(all, &n, l);
	add_long(all, &n, &help);
	memset(&all[n < OPTS_MAX ? n : OPTS_MAX - 1], 0, sizeof(*all));
}

static bool is_shared(int opt, unsigned flags)
{
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
		if (shared[i].letter == opt && (shared[i].flag & flags))
			return true;
	return false;
}

/* The options: -1 to go on, else the exit status. */
static int parse(struct setup *s, const struct setup_opts *o, int argc,
		 char **argv)
{
	struct option all[OPTS_MAX + 1];
	char letters[SHORT_MAX];
	int opt, r;

	build(o, s->flags, all, letters);
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, letters, all, NULL)) != -1) {
		if (opt == 'h') {
			fputs(o->usage, stdout);
			return EXIT_OK;
		}
		if (is_shared(opt, s->flags))
			r = conf_opt(&s->args, opt, optarg) < 0 ? EXIT_USAGE : 0;
		else if (opt != '?' && opt != ':' && o->opt)
			r = o->opt(o->ctx, opt, optarg);
		else
			r = opt_error(argv, optind, optopt);
		if (r)
			return r;
	}
	return -1;
}

/* The preamble: -1 when the role goes on with s ready, else the exit status. */
static int setup_begin(struct setup *s, const struct setup_opts *o, int argc,
		       char **argv)
{
	int r = 0;

	memset(s, 0, sizeof(*s));
	s->flags = role_flags;
	if ((r = parse(s, o, argc, argv)) >= 0)
		return r;
	s->argc = argc - optind;
	s->argv = argv + optind;
	if (o->operands && (r = o->operands(o->ctx, s->argc, s->argv)) > 0)
		return r;
	if (!(s->flags & SETUP_CONFIG) || r == SETUP_NO_CONFIG)
		return -1;
	if (conf_load(&s->conf, &s->args))
		return EXIT_USAGE;
	s->loaded = true;
	return -1;
}

static void setup_end(struct setup *s)
{
	if (s->loaded)
		conf_free(&s->conf);
	conf_args_free(&s->args);
	s->loaded = false;
}

int setup_run(const struct setup_opts *o, int argc, char **argv)
{
	struct setup su;
	int ret;

	if ((ret = setup_begin(&su, o, argc, argv)) < 0)
		ret = o->run(o->ctx, &su);
	setup_end(&su);
	return ret;
}

struct bus *setup_bus(struct setup *s)
{
	int flags = 0;

	if (s->flags & SETUP_PRODUCER)
		flags |= BUS_PRODUCER;
	if (s->flags & SETUP_CONSUMER)
		flags |= BUS_CONSUMER;
	return bus_open(&s->conf, flags, NULL);
}
