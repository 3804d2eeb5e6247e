/* conf.h: evc.yaml, environment and command-line settings, merged once. */
#ifndef EVC_CONF_H
#define EVC_CONF_H

#include <stdbool.h>
#include <stddef.h>

/* The topics evc uses; their names are configurable. */
enum topic {
	T_CP_REGISTER,		/* CP engine -> Central */
	T_CP_REGISTER_ACK,	/* Central -> CP engine */
	T_AUTH_REQUEST,		/* driver -> Central */
	T_AUTH_RESPONSE,	/* Central -> driver */
	T_CP_COMMANDS,		/* Central -> CP engine */
	T_TELEMETRY,		/* CP engine -> Central */
	T_HEALTH,		/* CP monitor -> Central */
	T_CONTROL,		/* operator tools -> Central (stop/resume) */
	T_CP_STATE,		/* Central -> anyone (compacted: last state per CP) */
	T_CENTRAL_LEASE,	/* one partition: the Central holding it serves */
	T_CP_CATALOGUE,		/* operators -> Central (compacted: the CPs known) */
	T_AUDIT,		/* Central, operator tools -> auditors (long retention) */
	T_COUNT
};

/* Default names: the seed's seven topics, then the five evc adds. */
extern const char *const topic_default_names[T_COUNT];
/* Keys of the topics: section of evc.yaml ("cp_register", ...). */
extern const char *const topic_keys[T_COUNT];
/* Partitions topic t is created with: the lease and audit one, others c's. */
struct conf;
unsigned conf_partitions(const struct conf *c, enum topic t);

struct conf_prop {
	char *name;
	char *value;
};

struct conf_central {
	char *catalogue;	/* YAML file of known CPs; NULL: none */
	bool allow_unknown;	/* accept CPs missing from the catalogue */
	double default_price;	/* EUR/kWh for unknown CPs */
	char *default_location;
	unsigned health_timeout_ms;	/* monitor silent this long: DISCONNECTED */
	unsigned auth_timeout_ms;	/* requests older than this are not granted */
	char *group;		/* consumer group id */
	/*
	 * The most power, kW, a CP the catalogue gives none for can deliver:
	 * figures beyond it are not believed. 0 in the file: cp.power_kw.
	 */
	double max_power_kw;
};

struct conf_cp {
	unsigned tick_ms;	/* telemetry period */
	double power_kw;	/* power delivered while supplying */
	double default_kwh;	/* target when the request names none */
	unsigned default_seconds;
	unsigned health_ms;	/* monitor check and heartbeat period */
	char *location;		/* reported at registration */
	char *state_dir;	/* where the engine keeps an interrupted session */
};

struct conf_driver {
	unsigned wait_ms;	/* pause between services of --file */
	unsigned timeout_ms;	/* how long to wait for Central's answer */
	unsigned lookback_s;	/* how far back a restarted driver looks */
};

/* One charger's password for `evc ocpp`, as crypt(3) hashed it. */
struct conf_password {
	char *id;
	char *hash;
};

struct conf_ocpp {
	char *listen;		/* ADDR:PORT of the WebSocket server */
	char *path;		/* chargers connect to PATH<CP id> */
	unsigned heartbeat_s;	/* the interval BootNotification gives */
	unsigned retry_s;	/* ... when Central refuses, or is silent */
	unsigned central_wait_ms;	/* a charger's request waits this for Central */
	unsigned call_timeout_ms;	/* a charger answers the gateway within */
	unsigned start_timeout_s;	/* a granted start waits for StartTransaction */
	unsigned stop_wait_ms;	/* an end asked for waits for StopTransaction */
	unsigned offline_s;	/* a charger gone mid-transaction is awaited */
	unsigned ping_s;	/* an idle connection is pinged; silent twice as long, closed */
	unsigned max_frame;	/* bytes of one message from a charger */
	char *state_dir;	/* the journal of transactions; NULL: cp.state_dir */
	char *tls_cert, *tls_key;	/* profile 2: both, or neither */
	struct conf_password *passwords;	/* profile 1, by CP id */
	unsigned npasswords;
};

struct conf_web {
	char *listen;		/* ADDR:PORT of the HTTP server */
	char *token;		/* writes need it; $EVC_WEB_TOKEN beats it */
	char *read_token;	/* reads need it (or token); NULL: open */
	char *tls_cert, *tls_key;	/* HTTPS: both, or neither */
};

struct conf {
	char *file;		/* the file loaded, NULL when none */
	char *brokers;		/* comma-separated host:port list */
	const char *brokers_from;	/* "--brokers", "EVC_BROKERS", file, ... */
	struct conf_prop *props;	/* librdkafka properties, in order */
	unsigned nprops;
	char *topics[T_COUNT];
	unsigned partitions;
	unsigned replication;
	struct conf_central central;
	struct conf_cp cp;
	struct conf_driver driver;
	struct conf_ocpp ocpp;
	struct conf_web web;
};

/*
 * What the command line said; lib/setup.c fills it from the shared
 * options (-c/--config, -b/--brokers, -X name=value, -v) with conf_opt().
 */
struct conf_args {
	const char *config;
	const char *brokers;
	struct conf_prop *props;
	unsigned nprops;
};

/*
 * Handles one of the shared options. Returns 1 when opt was one of them,
 * 0 when it was not, -1 (message printed) when its argument is bad.
 */
int conf_opt(struct conf_args *a, int opt, const char *arg);
void conf_args_free(struct conf_args *a);

/*
 * Loads the configuration: the file (--config, $EVC_CONFIG, then
 * /etc/evc/evc.yaml if it exists), then $EVC_BROKERS and the command line
 * on top; with no broker anywhere, the address `evc broker` left in the
 * runtime file. Returns 0, or -1 after printing "FILE:LINE: what".
 */
int conf_load(struct conf *c, const struct conf_args *a);
void conf_free(struct conf *c);

/* Sets defaults only; conf_load() calls it first. */
void conf_defaults(struct conf *c);

/* One entry of Central's catalogue of known CPs. */
struct cp_entry {
	char *id;
	char *location;
	double price;		/* EUR/kWh */
	double power_kw;	/* rated power; 0: central.max_power_kw */
};

struct catalogue {
	struct cp_entry *cps;
	unsigned ncps;
};

/*
 * Loads the catalogue file ("cps:" list of id, location, price).
 * Returns 0, or -1 after printing "FILE:LINE: what" (bad id, duplicate
 * id, negative price, unknown key...).
 */
int catalogue_load(struct catalogue *cat, const char *path);
void catalogue_free(struct catalogue *cat);

/* Whether s is ADDR:PORT for a listener (ocpp.listen, web.listen, -l). */
bool conf_listen_ok(const char *s);

/* The per-user file where `evc broker` writes its address. */
int conf_broker_file(char *buf, size_t len);

/* A token of web.token: 16 to 256 printable ASCII bytes, no blank. */
bool conf_token_ok(const char *s);

#endif
