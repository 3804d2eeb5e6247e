/* conf.c: evc.yaml, the catalogue, the environment and the options, merged. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>

#include "conf.h"
#include "log.h"
#include "msg.h"
#include "xalloc.h"
#include "ydoc.h"

#define CONF_SYSTEM_FILE "/etc/evc/evc.yaml"
#define CONF_DEFAULT_BROKERS "localhost:9092"
#define FILE_MAX (4 << 20)	/* bigger is a mistake, not a config */
#define DAY_MS 86400000u
#define TOPIC_NAME_MAX 249	/* Kafka's own limit */

const char *const topic_default_names[T_COUNT] = {
	[T_CP_REGISTER] = "cp-register",
	[T_CP_REGISTER_ACK] = "cp-register-ack",
	[T_AUTH_REQUEST] = "auth-request",
	[T_AUTH_RESPONSE] = "auth-response",
	[T_CP_COMMANDS] = "cp-commands",
	[T_TELEMETRY] = "telemetry",
	[T_HEALTH] = "health",
	[T_CONTROL] = "control",
	[T_CP_STATE] = "cp-state",
	[T_CENTRAL_LEASE] = "central-lease",
	[T_CP_CATALOGUE] = "cp-catalogue",
	[T_AUDIT] = "audit",
};

/* The schema below spells these again: a unit test keeps them in step. */
const char *const topic_keys[T_COUNT] = {
	[T_CP_REGISTER] = "cp_register",
	[T_CP_REGISTER_ACK] = "cp_register_ack",
	[T_AUTH_REQUEST] = "auth_request",
	[T_AUTH_RESPONSE] = "auth_response",
	[T_CP_COMMANDS] = "cp_commands",
	[T_TELEMETRY] = "telemetry",
	[T_HEALTH] = "health",
	[T_CONTROL] = "control",
	[T_CP_STATE] = "cp_state",
	[T_CENTRAL_LEASE] = "central_lease",
	[T_CP_CATALOGUE] = "cp_catalogue",
	[T_AUDIT] = "audit",
};

/*
 * One partition makes the lease exclusive: its one holder serves. The
 * audit trail has one too, so that it reads in the order it was written.
 */
unsigned conf_partitions(const struct conf *c, enum topic t)
{
	return t == T_CENTRAL_LEASE || t == T_AUDIT ? 1 : c->partitions;
}

static void replace(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

/* A relative path in a file means relative to that file's directory. */
static char *path_near(const char *file, const char *p)
{
	const char *slash = file ? strrchr(file, '/') : NULL;

	if (p[0] == '/' || !slash)
		return xstrdup(p);
	return xasprintf("%.*s/%s", (int)(slash - file), file, p);
}

/*
 * Where an engine keeps an interrupted session: systemd's StateDirectory=
 * first (the first of its list), then the XDG base directory rules.
 */
static char *default_state_dir(void)
{
	const char *s = getenv("STATE_DIRECTORY");

	if (s && *s)
		return xstrndup(s, strcspn(s, ":"));
	s = getenv("XDG_STATE_HOME");
	if (s && *s == '/')
		return xasprintf("%s/evc", s);
	s = getenv("HOME");
	if (s && *s == '/')
		return xasprintf("%s/.local/state/evc", s);
	return xasprintf("/tmp/evc-%u/state", (unsigned)getuid());
}

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->brokers = xstrdup(CONF_DEFAULT_BROKERS);
	c->brokers_from = "default";
	for (int t = 0; t < T_COUNT; t++)
		c->topics[t] = xstrdup(topic_default_names[t]);
	c->partitions = 3;
	c->replication = 1;	/* what the default single broker can hold */
	c->central.allow_unknown = false;
	c->central.default_price = 0.30;
	c->central.default_location = xstrdup("unknown");
	c->central.health_timeout_ms = 3000;
	c->central.auth_timeout_ms = 10000;
	c->central.group = xstrdup("evc-central");
	c->cp.tick_ms = 1000;
	c->cp.power_kw = 22;
	c->cp.default_kwh = 10;
	c->cp.default_seconds = 0;
	c->cp.health_ms = 1000;
	c->cp.location = xstrdup("");
	c->cp.state_dir = default_state_dir();
	c->driver.wait_ms = 4000;
	c->driver.timeout_ms = 10000;
	c->driver.lookback_s = 3600;
	c->ocpp.listen = xstrdup("127.0.0.1:9000");
	c->ocpp.path = xstrdup("/ocpp/");
	c->ocpp.heartbeat_s = 60;
	c->ocpp.retry_s = 30;
	c->ocpp.central_wait_ms = 5000;
	c->ocpp.call_timeout_ms = 10000;
	c->ocpp.start_timeout_s = 120;
	c->ocpp.stop_wait_ms = 2000;
	c->ocpp.offline_s = 900;
	c->ocpp.ping_s = 30;
	c->ocpp.max_frame = 65536;
	c->web.listen = xstrdup("127.0.0.1:8080");
}

static void props_free(struct conf_prop *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static void prop_add(struct conf_prop **p, unsigned *n, const char *name,
		     size_t name_len, const char *value)
{
	*p = xrealloc(*p, (*n + 1) * sizeof(**p));
	(*p)[*n].name = xstrndup(name, name_len);
	(*p)[*n].value = xstrdup(value);
	(*n)++;
}

void conf_free(struct conf *c)
{
	free(c->file);
	free(c->brokers);
	props_free(c->props, c->nprops);
	for (int t = 0; t < T_COUNT; t++)
		free(c->topics[t]);
	free(c->central.catalogue);
	free(c->central.default_location);
	free(c->central.group);
	free(c->cp.location);
	free(c->cp.state_dir);
	free(c->ocpp.listen);
	free(c->ocpp.path);
	free(c->ocpp.state_dir);
	free(c->ocpp.tls_cert);
	free(c->ocpp.tls_key);
	for (unsigned i = 0; i < c->ocpp.npasswords; i++) {
		free(c->ocpp.passwords[i].id);
		free(c->ocpp.passwords[i].hash);
	}
	free(c->ocpp.passwords);
	free(c->web.listen);
	free(c->web.token);
	free(c->web.read_token);
	free(c->web.tls_cert);
	free(c->web.tls_key);
	memset(c, 0, sizeof(*c));
}

/* -X name=value: kept in order, after the file's, so that the last wins. */
static int opt_prop(struct conf_args *a, const char *arg)
{
	const char *eq = arg ? strchr(arg, '=') : NULL;

	if (!eq || eq == arg)
		return error("-X expects name=value: '%s'", arg ? arg : "");
	prop_add(&a->props, &a->nprops, arg, (size_t)(eq - arg), eq + 1);
	return 1;
}

int conf_opt(struct conf_args *a, int opt, const char *arg)
{
	switch (opt) {
	case 'b':
		if (!arg || !*arg)
			return error("--brokers expects host:port,...: '%s'",
				     arg ? arg : "");
		a->brokers = arg;
		return 1;
	case 'c':
		if (!arg)
			return error("--config expects a file");
		a->config = arg;
		return 1;
	case 'v':
		log_verbose = 1;
		return 1;
	case 'X':
		return opt_prop(a, arg);
	}
	return 0;
}

void conf_args_free(struct conf_args *a)
{
	props_free(a->props, a->nprops);
	a->props = NULL;
	a->nprops = 0;
}

/*
 * Appends the comma-separated host:port items of s to *list, trimmed.
 * Returns -1 on an empty item or one with blanks inside.
 */
static int brokers_append(char **list, const char *s)
{
	const char *end;
	size_t n, len;

	for (;;) {
		end = s + strcspn(s, ",");
		while (s < end && isspace((unsigned char)*s))
			s++;
		n = (size_t)(end - s);
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (!n)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!isgraph((unsigned char)s[i]))
				return -1;
		len = *list ? strlen(*list) : 0;
		*list = xrealloc(*list, len + n + 2);
		if (len)
			(*list)[len++] = ',';
		memcpy(*list + len, s, n);
		(*list)[len + n] = '\0';
		if (!*end)
			return 0;
		s = end + 1;
	}
}

/* Reads a whole (small) file; -1 with errno set when it cannot. */
static int read_file(const char *path, char **bufp, size_t *lenp)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int e;

	if (!f)
		return -1;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap + 1);
		}
		len += fread(buf + len, 1, cap - len, f);
	} while (len == cap && len <= FILE_MAX);
	e = ferror(f) ? errno : len > FILE_MAX ? EFBIG : 0;
	fclose(f);
	if (e) {
		free(buf);
		errno = e;
		return -1;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

/* evc.yaml as libcyaml reads it: NULL pointers for absent keys. */
struct ykafka {
	char unused;		/* both keys are read from the nodes: apply_kafka() */
};

struct ynames {
	char *n[T_COUNT];
};

struct ytopics {
	unsigned *partitions;
	unsigned *replication;
	struct ynames *names;
};

struct ycentral {
	char *catalogue;
	int *allow_unknown;
	double *default_price;
	char *default_location;
	unsigned *health_timeout_ms;
	unsigned *auth_timeout_ms;
	char *group;
	double *max_power_kw;
};

struct ycp {
	unsigned *tick_ms;
	double *power_kw;
	double *default_kwh;
	unsigned *default_seconds;
	unsigned *health_ms;
	char *location;
	char *state_dir;
};

struct ydriver {
	unsigned *wait_ms;
	unsigned *timeout_ms;
	unsigned *lookback_s;
};

struct ytls {
	char *cert;
	char *key;
};

struct yocpp {
	char *listen;
	char *path;
	unsigned *heartbeat_s;
	unsigned *retry_s;
	unsigned *central_wait_ms;
	unsigned *call_timeout_ms;
	unsigned *start_timeout_s;
	unsigned *stop_wait_ms;
	unsigned *offline_s;
	unsigned *ping_s;
	unsigned *max_frame;
	char *state_dir;
	struct ytls *tls;
};

struct yweb {
	char *listen;
	char *token;
	char *read_token;
	struct ytls *tls;
};

struct yconf {
	struct ykafka *kafka;
	struct ytopics *topics;
	struct ycentral *central;
	struct ycp *cp;
	struct ydriver *driver;
	struct yocpp *ocpp;
	struct yweb *web;
};

#define Y_OPT CYAML_FLAG_OPTIONAL
/* An empty section ("cp:" with every line below commented) is no section. */
#define Y_SECTION (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL_STR)
#define Y_MAP(key, type, member, fields) \
	CYAML_FIELD_MAPPING_PTR(key, Y_SECTION, type, member, fields)
#define Y_STR(key, type, member) \
	CYAML_FIELD_STRING_PTR(key, Y_OPT, type, member, 0, CYAML_UNLIMITED)
#define Y_UINT(key, type, member) \
	CYAML_FIELD_UINT_PTR(key, Y_OPT, type, member)
#define Y_FLOAT(key, type, member) \
	CYAML_FIELD_FLOAT_PTR(key, Y_OPT, type, member)

/* YAML 1.1's booleans, and no others: libcyaml's BOOL takes anything. */
static const cyaml_strval_t y_bools[] = {
	{ "false", 0 }, { "true", 1 }, { "no", 0 },
	{ "yes", 1 }, { "off", 0 }, { "on", 1 },
};

static const cyaml_schema_field_t y_kafka_fields[] = {
	CYAML_FIELD_IGNORE("brokers", Y_OPT),
	CYAML_FIELD_IGNORE("properties", Y_OPT),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_names_fields[] = {
	Y_STR("cp_register", struct ynames, n[T_CP_REGISTER]),
	Y_STR("cp_register_ack", struct ynames, n[T_CP_REGISTER_ACK]),
	Y_STR("auth_request", struct ynames, n[T_AUTH_REQUEST]),
	Y_STR("auth_response", struct ynames, n[T_AUTH_RESPONSE]),
	Y_STR("cp_commands", struct ynames, n[T_CP_COMMANDS]),
	Y_STR("telemetry", struct ynames, n[T_TELEMETRY]),
	Y_STR("health", struct ynames, n[T_HEALTH]),
	Y_STR("control", struct ynames, n[T_CONTROL]),
	Y_STR("cp_state", struct ynames, n[T_CP_STATE]),
	Y_STR("central_lease", struct ynames, n[T_CENTRAL_LEASE]),
	Y_STR("cp_catalogue", struct ynames, n[T_CP_CATALOGUE]),
	Y_STR("audit", struct ynames, n[T_AUDIT]),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_topics_fields[] = {
	Y_UINT("partitions", struct ytopics, partitions),
	Y_UINT("replication", struct ytopics, replication),
	Y_MAP("names", struct ytopics, names, y_names_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_central_fields[] = {
	Y_STR("catalogue", struct ycentral, catalogue),
	CYAML_FIELD_ENUM_PTR("allow_unknown", Y_OPT | CYAML_FLAG_STRICT |
			     CYAML_FLAG_CASE_INSENSITIVE, struct ycentral,
			     allow_unknown, y_bools, CYAML_ARRAY_LEN(y_bools)),
	Y_FLOAT("default_price", struct ycentral, default_price),
	Y_STR("default_location", struct ycentral, default_location),
	Y_UINT("health_timeout_ms", struct ycentral, health_timeout_ms),
	Y_UINT("auth_timeout_ms", struct ycentral, auth_timeout_ms),
	Y_STR("group", struct ycentral, group),
	Y_FLOAT("max_power_kw", struct ycentral, max_power_kw),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_cp_fields[] = {
	Y_UINT("tick_ms", struct ycp, tick_ms),
	Y_FLOAT("power_kw", struct ycp, power_kw),
	Y_FLOAT("default_kwh", struct ycp, default_kwh),
	Y_UINT("default_seconds", struct ycp, default_seconds),
	Y_UINT("health_ms", struct ycp, health_ms),
	Y_STR("location", struct ycp, location),
	Y_STR("state_dir", struct ycp, state_dir),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_driver_fields[] = {
	Y_UINT("wait_ms", struct ydriver, wait_ms),
	Y_UINT("timeout_ms", struct ydriver, timeout_ms),
	Y_UINT("lookback_s", struct ydriver, lookback_s),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_tls_fields[] = {
	Y_STR("cert", struct ytls, cert),
	Y_STR("key", struct ytls, key),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_ocpp_fields[] = {
	Y_STR("listen", struct yocpp, listen),
	Y_STR("path", struct yocpp, path),
	Y_UINT("heartbeat_s", struct yocpp, heartbeat_s),
	Y_UINT("retry_s", struct yocpp, retry_s),
	Y_UINT("central_wait_ms", struct yocpp, central_wait_ms),
	Y_UINT("call_timeout_ms", struct yocpp, call_timeout_ms),
	Y_UINT("start_timeout_s", struct yocpp, start_timeout_s),
	Y_UINT("stop_wait_ms", struct yocpp, stop_wait_ms),
	Y_UINT("offline_s", struct yocpp, offline_s),
	Y_UINT("ping_s", struct yocpp, ping_s),
	Y_UINT("max_frame", struct yocpp, max_frame),
	Y_STR("state_dir", struct yocpp, state_dir),
	Y_MAP("tls", struct yocpp, tls, y_tls_fields),
	CYAML_FIELD_IGNORE("passwords", Y_OPT),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_web_fields[] = {
	Y_STR("listen", struct yweb, listen),
	Y_STR("token", struct yweb, token),
	Y_STR("read_token", struct yweb, read_token),
	Y_MAP("tls", struct yweb, tls, y_tls_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t y_conf_fields[] = {
	Y_MAP("kafka", struct yconf, kafka, y_kafka_fields),
	Y_MAP("topics", struct yconf, topics, y_topics_fields),
	Y_MAP("central", struct yconf, central, y_central_fields),
	Y_MAP("cp", struct yconf, cp, y_cp_fields),
	Y_MAP("driver", struct yconf, driver, y_driver_fields),
	Y_MAP("ocpp", struct yconf, ocpp, y_ocpp_fields),
	Y_MAP("web", struct yconf, web, y_web_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t y_conf = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct yconf, y_conf_fields),
};

/* An error about the value of key in mapping sec, at the line of the key. */
__attribute__((format(printf, 4, 5)))
static int key_error(const struct ydoc *d, const struct ynode *sec,
		     const char *key, const char *fmt, ...)
{
	const struct ynode *n = ydoc_child(d, sec, key);
	va_list ap;

	va_start(ap, fmt);
	ydoc_verror(d, n ? n->line : 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* The text of the scalar value of key in sec; NULL when there is none. */
static const char *key_text(const struct ydoc *d, const struct ynode *sec,
			    const char *key)
{
	const struct ynode *n = ydoc_child(d, sec, key);

	return n ? n->text : NULL;
}

/* Decimal digits only, as the text of the file has them. */
static bool uint_text(const char *s, unsigned *out)
{
	unsigned long long v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > UINT_MAX)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

static bool double_text(const char *s, double *out)
{
	char *end;

	if (!s || !*s || !strchr("+-.0123456789", *s))
		return false;
	*out = strtod(s, &end);
	return !*end;
}

/*
 * libcyaml checked the type of key in sec, and v is what it read (NULL:
 * the key is absent); the value is read again from the text, strictly,
 * and then its range is checked.
 */
static int set_uint(const struct ydoc *d, const struct ynode *sec,
		    const char *key, const unsigned *v, unsigned min,
		    unsigned max, unsigned *out)
{
	unsigned u;

	if (!v)
		return 0;
	if (!uint_text(key_text(d, sec, key), &u))
		return key_error(d, sec, key,
				 "expected an unsigned integer for '%s'", key);
	if (u < min || u > max)
		return key_error(d, sec, key,
				 "expected an integer from %u to %u for '%s'",
				 min, max, key);
	*out = u;
	return 0;
}

static int set_double(const struct ydoc *d, const struct ynode *sec,
		      const char *key, const double *v, bool positive,
		      double *out)
{
	double x;

	if (!v)
		return 0;
	if (!double_text(key_text(d, sec, key), &x))
		return key_error(d, sec, key, "expected a number for '%s'",
				 key);
	if (!isfinite(x) || x < 0 || (positive && x == 0))
		return key_error(d, sec, key, "expected a number %s for '%s'",
				 positive ? "above 0" : "of at least 0", key);
	*out = x;
	return 0;
}

/* A power in kW: above 0, and within what a message can carry. */
static int set_kw(const struct ydoc *d, const struct ynode *sec,
		  const char *key, const double *v, double *out)
{
	if (set_double(d, sec, key, v, true, out))
		return -1;
	if (*out > MSG_KW_MAX)
		return key_error(d, sec, key, "expected at most %g for '%s'",
				 MSG_KW_MAX, key);
	return 0;
}

/*
 * Text meant for a panel or a log line has no control characters, C1
 * ones included: msg.c refuses them in a message, and a terminal may
 * obey them.
 */
static int set_str(const struct ydoc *d, const struct ynode *sec,
		   const char *key, const char *v, bool nonempty, char **out)
{
	if (!v)
		return 0;
	if (nonempty && !*v)
		return key_error(d, sec, key, "empty value for '%s'", key);
	if (!ydoc_text_ok(v))
		return key_error(d, sec, key, "control character in '%s'", key);
	replace(out, v);
	return 0;
}

/* A path relative to the file; empty_keeps: "" leaves *out as it is. */
static int set_path(const struct ydoc *d, const struct ynode *sec,
		    const char *key, const char *v, bool empty_keeps,
		    char **out)
{
	if (!v || (!*v && empty_keeps))
		return 0;
	if (!ydoc_text_ok(v))
		return key_error(d, sec, key, "control character in '%s'", key);
	free(*out);
	*out = *v ? path_near(d->file, v) : NULL;
	return 0;
}

/* Kafka's rule for topic names. */
static bool topic_name_ok(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	size_t n = strlen(s);

	if (!n || n > TOPIC_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	return strspn(s, ok) == n;
}

static int apply_names(struct conf *c, const struct ydoc *d,
		       const struct ynames *y)
{
	const struct ynode *sec = ydoc_find(d, "topics.names");
	int t;

	for (t = 0; t < T_COUNT; t++) {
		if (!y->n[t])
			continue;
		if (!topic_name_ok(y->n[t]))
			return key_error(d, sec, topic_keys[t],
					 "invalid topic name for '%s': '%s'",
					 topic_keys[t], y->n[t]);
		replace(&c->topics[t], y->n[t]);
	}
	/* Two roles sharing a topic would read each other's messages. */
	for (int i = 0; i < T_COUNT; i++)
		for (int j = i + 1; j < T_COUNT; j++) {
			if (strcmp(c->topics[i], c->topics[j]))
				continue;
			t = y->n[j] ? j : i;
			return key_error(d, sec, topic_keys[t],
					 "topic name used twice: '%s'",
					 c->topics[t]);
		}
	return 0;
}

static int apply_topics(struct conf *c, const struct ydoc *d,
			const struct ytopics *y)
{
	const struct ynode *sec = ydoc_find(d, "topics");

	if (set_uint(d, sec, "partitions", y->partitions, 1, 10000,
		     &c->partitions) ||
	    set_uint(d, sec, "replication", y->replication, 1, 32767,
		     &c->replication))
		return -1;
	return y->names ? apply_names(c, d, y->names) : 0;
}

static int apply_central(struct conf *c, const struct ydoc *d,
			 const struct ycentral *y)
{
	const struct ynode *sec = ydoc_find(d, "central");
	struct conf_central *o = &c->central;

	if (y->allow_unknown)
		o->allow_unknown = *y->allow_unknown != 0;
	if (set_path(d, sec, "catalogue", y->catalogue, false,
		     &o->catalogue) ||
	    set_double(d, sec, "default_price", y->default_price, false,
		       &o->default_price) ||
	    set_str(d, sec, "default_location", y->default_location, false,
		    &o->default_location) ||
	    set_uint(d, sec, "health_timeout_ms", y->health_timeout_ms, 10,
		     DAY_MS, &o->health_timeout_ms) ||
	    set_uint(d, sec, "auth_timeout_ms", y->auth_timeout_ms, 10,
		     DAY_MS, &o->auth_timeout_ms) ||
	    set_str(d, sec, "group", y->group, true, &o->group) ||
	    set_kw(d, sec, "max_power_kw", y->max_power_kw, &o->max_power_kw))
		return -1;
	return 0;
}

static int apply_cp(struct conf *c, const struct ydoc *d, const struct ycp *y)
{
	const struct ynode *sec = ydoc_find(d, "cp");
	struct conf_cp *o = &c->cp;

	if (set_uint(d, sec, "tick_ms", y->tick_ms, 10, DAY_MS,
		     &o->tick_ms) ||
	    set_double(d, sec, "power_kw", y->power_kw, true, &o->power_kw) ||
	    set_double(d, sec, "default_kwh", y->default_kwh, false,
		       &o->default_kwh) ||
	    set_uint(d, sec, "default_seconds", y->default_seconds, 0,
		     UINT_MAX, &o->default_seconds) ||
	    set_uint(d, sec, "health_ms", y->health_ms, 10, DAY_MS,
		     &o->health_ms) ||
	    set_str(d, sec, "location", y->location, false, &o->location) ||
	    set_path(d, sec, "state_dir", y->state_dir, true, &o->state_dir))
		return -1;
	return 0;
}

static int apply_driver(struct conf *c, const struct ydoc *d,
			const struct ydriver *y)
{
	const struct ynode *sec = ydoc_find(d, "driver");
	struct conf_driver *o = &c->driver;

	if (set_uint(d, sec, "wait_ms", y->wait_ms, 0, DAY_MS,
		     &o->wait_ms) ||
	    set_uint(d, sec, "timeout_ms", y->timeout_ms, 10, DAY_MS,
		     &o->timeout_ms) ||
	    set_uint(d, sec, "lookback_s", y->lookback_s, 0, UINT_MAX,
		     &o->lookback_s))
		return -1;
	return 0;
}

/*
 * ADDR:PORT, as a listener takes it: a host (an IPv6 address in
 * brackets) and a port of 0 to 65535 (0: any free one).
 */
bool conf_listen_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	unsigned port;

	if (!colon || colon == s || !uint_text(colon + 1, &port) || port > 65535)
		return false;
	for (const char *p = s; p < colon; p++)
		if (!isgraph((unsigned char)*p) || *p == '/')
			return false;
	return s[0] != '[' || colon[-1] == ']';
}

/* The prefix of the chargers' URL: "/", or "/" words "/". */
static bool url_path_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || s[0] != '/' || s[n - 1] != '/' || n > 128)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789/._-~") == n;
}

/* SECTION.tls (ocpp, web): cert and key, both or neither. */
static int apply_tls(const struct ydoc *d, const char *section,
		     const struct ytls *y, char **cert, char **key)
{
	const struct ynode *sec = ydoc_find(d, section);

	if (set_path(d, sec, "cert", y->cert, false, cert) ||
	    set_path(d, sec, "key", y->key, false, key))
		return -1;
	if (!*cert != !*key)
		return ydoc_error(d, sec ? sec->line : 0,
				  "'tls' needs both 'cert' and 'key'");
	return 0;
}

/* crypt(3)'s form: "$ID$...", printable, no blank: no clear text. */
static bool hash_ok(const char *s)
{
	if (s[0] != '$' || !strchr(s + 1, '$') || strlen(s) > 512)
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

/* ocpp.passwords: CP id to its password's hash; read from the nodes. */
static int apply_passwords(struct conf *c, const struct ydoc *d)
{
	const struct ynode *sec = ydoc_find(d, "ocpp.passwords"), *n;
	struct conf_ocpp *o = &c->ocpp;

	if (!sec || sec->type == YN_NULL)
		return 0;
	if (sec->type != YN_MAP)
		return ydoc_error(d, sec->vline,
				  "expected a mapping of CP ids to password hashes for 'passwords'");
	for (n = ydoc_first(d, sec); n; n = ydoc_next(d, n)) {
		if (!msg_cp_id_ok(n->key))
			return ydoc_error(d, n->line, "invalid CP id: '%s'",
					  n->key);
		if (ydoc_child(d, sec, n->key) != n)
			return ydoc_error(d, n->line, "duplicate CP id: '%s'",
					  n->key);
		if (n->type != YN_SCALAR || !hash_ok(n->text))
			return ydoc_error(d, n->vline,
					  "expected a crypt(3) hash ($ID$...) for '%s'",
					  n->key);
		o->passwords = xreallocarray(o->passwords, o->npasswords + 1,
					     sizeof(*o->passwords));
		o->passwords[o->npasswords].id = xstrdup(n->key);
		o->passwords[o->npasswords++].hash = xstrdup(n->text);
	}
	return 0;
}

static int apply_ocpp(struct conf *c, const struct ydoc *d,
		      const struct yocpp *y)
{
	const struct ynode *sec = ydoc_find(d, "ocpp");
	struct conf_ocpp *o = &c->ocpp;

	if (y->listen && !conf_listen_ok(y->listen))
		return key_error(d, sec, "listen",
				 "expected ADDR:PORT for 'listen': '%s'", y->listen);
	if (y->path && !url_path_ok(y->path))
		return key_error(d, sec, "path",
				 "expected a URL path from '/' to '/' for 'path': '%s'",
				 y->path);
	if (set_str(d, sec, "listen", y->listen, true, &o->listen) ||
	    set_str(d, sec, "path", y->path, true, &o->path) ||
	    set_uint(d, sec, "heartbeat_s", y->heartbeat_s, 1, 86400, &o->heartbeat_s) ||
	    set_uint(d, sec, "retry_s", y->retry_s, 1, 86400, &o->retry_s) ||
	    set_uint(d, sec, "central_wait_ms", y->central_wait_ms, 10, DAY_MS,
		     &o->central_wait_ms) ||
	    set_uint(d, sec, "call_timeout_ms", y->call_timeout_ms, 10, DAY_MS,
		     &o->call_timeout_ms) ||
	    set_uint(d, sec, "start_timeout_s", y->start_timeout_s, 1, 86400,
		     &o->start_timeout_s) ||
	    set_uint(d, sec, "stop_wait_ms", y->stop_wait_ms, 0, DAY_MS,
		     &o->stop_wait_ms) ||
	    set_uint(d, sec, "offline_s", y->offline_s, 0, 30 * 86400,
		     &o->offline_s) ||
	    set_uint(d, sec, "ping_s", y->ping_s, 0, 3600, &o->ping_s) ||
	    set_uint(d, sec, "max_frame", y->max_frame, 1024, 16 << 20,
		     &o->max_frame) ||
	    set_path(d, sec, "state_dir", y->state_dir, true, &o->state_dir) ||
	    (y->tls && apply_tls(d, "ocpp.tls", y->tls, &o->tls_cert,
				&o->tls_key)))
		return -1;
	return apply_passwords(c, d);
}

bool conf_token_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 16 || n > 256)
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || *s & 0x80)
			return false;
	return true;
}

static int apply_web(struct conf *c, const struct ydoc *d,
		     const struct yweb *y)
{
	const struct ynode *sec = ydoc_find(d, "web");
	struct conf_web *o = &c->web;

	if (y->listen && !conf_listen_ok(y->listen))
		return key_error(d, sec, "listen",
				 "expected ADDR:PORT for 'listen': '%s'", y->listen);
	if (y->token && *y->token && !conf_token_ok(y->token))
		return key_error(d, sec, "token",
				 "expected 16 to 256 printable characters, no blank, for 'token'");
	if (y->read_token && *y->read_token && !conf_token_ok(y->read_token))
		return key_error(d, sec, "read_token",
				 "expected 16 to 256 printable characters, no blank, for 'read_token'");
	if (set_str(d, sec, "listen", y->listen, true, &o->listen) ||
	    (y->token && *y->token &&
	     set_str(d, sec, "token", y->token, true, &o->token)) ||
	    (y->read_token && *y->read_token &&
	     set_str(d, sec, "read_token", y->read_token, true, &o->read_token)) ||
	    (y->tls && apply_tls(d, "web.tls", y->tls, &o->tls_cert,
				 &o->tls_key)))
		return -1;
	return 0;
}

static void props_append(struct conf_prop **p, unsigned *n,
			 const struct conf_prop *from, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		prop_add(p, n, from[i].name, strlen(from[i].name),
			 from[i].value);
}

/* kafka.brokers: a list of host:port, or one string of them with commas. */
static int apply_brokers(struct conf *c, const struct ydoc *d,
			 const struct ynode *n)
{
	const struct ynode *e;
	char *list = NULL;

	if (n->type == YN_NULL)
		return 0;
	if (n->type == YN_MAP)
		return ydoc_error(d, n->vline,
				  "expected a list of host:port for 'brokers'");
	if (n->type == YN_SCALAR && brokers_append(&list, n->text) < 0) {
		free(list);
		return ydoc_error(d, n->vline,
				  "expected host:port,... for 'brokers': '%s'",
				  n->text);
	}
	for (e = ydoc_first(d, n); e; e = ydoc_next(d, e))
		if (!e->text || brokers_append(&list, e->text) < 0) {
			free(list);
			return ydoc_error(d, e->vline,
					  "expected host:port in 'brokers'");
		}
	if (!list)
		return ydoc_error(d, n->vline, "no broker in 'brokers'");
	free(c->brokers);
	c->brokers = list;
	c->brokers_from = c->file;
	return 0;
}

/* One name: value of kafka.properties; librdkafka judges the value. */
static int apply_prop(struct conf *c, const struct ydoc *d,
		      const struct ynode *props, const struct ynode *p)
{
	if (!*p->key)
		return ydoc_error(d, p->line, "empty property name");
	if (ydoc_child(d, props, p->key) != p)
		return ydoc_error(d, p->line, "duplicate property '%s'",
				  p->key);
	if (!p->text)
		return ydoc_error(d, p->vline,
				  "expected a single value for property '%s'",
				  p->key);
	if (p->type == YN_NULL)
		return ydoc_error(d, p->vline, "no value for property '%s'",
				  p->key);
	prop_add(&c->props, &c->nprops, p->key, strlen(p->key), p->text);
	return 0;
}

/* kafka.properties: a free-form mapping of names to scalars, in order. */
static int apply_props(struct conf *c, const struct ydoc *d,
		       const struct ynode *n)
{
	const struct ynode *p;

	if (n->type == YN_NULL)
		return 0;
	if (n->type != YN_MAP)
		return ydoc_error(d, n->vline,
				  "expected a mapping for 'properties'");
	for (p = ydoc_first(d, n); p; p = ydoc_next(d, p))
		if (apply_prop(c, d, n, p) < 0)
			return -1;
	return 0;
}

/*
 * The kafka section: no schema can type it, so libcyaml skips it
 * (CYAML_IGNORE, duplicate keys included) and it is read from the nodes,
 * in the order of the file.
 */
static int apply_kafka(struct conf *c, const struct ydoc *d)
{
	const struct ynode *k = ydoc_find(d, "kafka"), *n;
	int r = 0;

	for (n = ydoc_first(d, k); n && r == 0; n = ydoc_next(d, n)) {
		if (ydoc_child(d, k, n->key) != n)
			r = ydoc_error(d, n->line, "duplicate key '%s'",
				       n->key);
		else if (!strcmp(n->key, "brokers"))
			r = apply_brokers(c, d, n);
		else if (!strcmp(n->key, "properties"))
			r = apply_props(c, d, n);
	}
	return r;
}

static int conf_apply(struct conf *c, const struct ydoc *d,
		      const struct yconf *y)
{
	if (!y)
		return 0;	/* an empty document */
	if ((y->kafka && apply_kafka(c, d)) ||
	    (y->topics && apply_topics(c, d, y->topics)) ||
	    (y->central && apply_central(c, d, y->central)) ||
	    (y->cp && apply_cp(c, d, y->cp)) ||
	    (y->driver && apply_driver(c, d, y->driver)) ||
	    (y->ocpp && apply_ocpp(c, d, y->ocpp)) ||
	    (y->web && apply_web(c, d, y->web)))
		return -1;
	return 0;
}

/* evc.yaml over the defaults. A missing file is an error only when named. */
static int conf_file(struct conf *c, const char *path, bool named)
{
	struct ydoc d;
	struct yconf *y;
	size_t len;
	char *buf;
	int r = -1;

	if (read_file(path, &buf, &len) < 0) {
		if (errno == ENOENT && !named)
			return 0;
		return error("cannot read config: '%s': %s", path,
			     strerror(errno));
	}
	c->file = xstrdup(path);
	if (ydoc_load(&d, c->file, buf, len, &y_conf, (void **)&y) == 0)
		r = conf_apply(c, &d, y);
	ydoc_free(&d);
	free(buf);
	return r;
}

int conf_broker_file(char *buf, size_t len)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n;

	if (run && *run == '/')
		n = snprintf(buf, len, "%s/evc/broker", run);
	else
		n = snprintf(buf, len, "/tmp/evc-%u/broker",
			     (unsigned)getuid());
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * The address `evc broker` left, or NULL. /tmp is shared: a file someone
 * else owns could send our traffic to their broker, so it is ignored.
 */
static char *broker_file_read(void)
{
	char path[4096], line[1024] = "";
	char *list = NULL;
	struct stat st;
	FILE *f;

	if (conf_broker_file(path, sizeof(path)) < 0 || !(f = fopen(path, "r")))
		return NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_uid != getuid())
		warn("ignoring a broker file owned by another user: '%s'",
		     path);
	else if (fgets(line, sizeof(line), f))
		line[strcspn(line, "\n")] = '\0';
	fclose(f);
	if (*line && brokers_append(&list, line) < 0) {
		warn("ignoring a bad address in '%s': '%s'", path, line);
		free(list);
		return NULL;
	}
	return list;
}

static int set_brokers(struct conf *c, const char *s, const char *from)
{
	char *list = NULL;

	if (brokers_append(&list, s) < 0) {
		free(list);
		return error("bad broker list in %s: '%s'", from, s);
	}
	free(c->brokers);
	c->brokers = list;
	c->brokers_from = from;
	return 0;
}

/* -b > $EVC_BROKERS > evc.yaml > the file of `evc broker` > the default. */
static int conf_brokers(struct conf *c, const struct conf_args *a)
{
	const char *env = getenv("EVC_BROKERS");
	char *list;

	if (a->brokers)
		return set_brokers(c, a->brokers, "--brokers");
	if (env && *env)
		return set_brokers(c, env, "EVC_BROKERS");
	if (strcmp(c->brokers_from, "default") || !(list = broker_file_read()))
		return 0;
	free(c->brokers);
	c->brokers = list;
	c->brokers_from = "evc broker";
	return 0;
}

int conf_load(struct conf *c, const struct conf_args *a)
{
	static const struct conf_args none;
	const char *env = getenv("EVC_CONFIG");
	const char *path = CONF_SYSTEM_FILE;
	bool named = true;

	if (!a)
		a = &none;
	conf_defaults(c);
	if (a->config)
		path = a->config;
	else if (env && *env)
		path = env;
	else
		named = false;
	if (conf_file(c, path, named) < 0 || conf_brokers(c, a) < 0) {
		conf_free(c);
		return -1;
	}
	props_append(&c->props, &c->nprops, a->props, a->nprops);
	if (!c->central.max_power_kw)
		c->central.max_power_kw = c->cp.power_kw;
	debug("config '%s', brokers '%s' from %s", c->file ? c->file : "(none)",
	      c->brokers, c->brokers_from);
	return 0;
}

/* The catalogue as libcyaml reads it. */
struct ycat_entry {
	char *id;
	char *location;
	double price;
	double *power_kw;
};

struct ycat {
	struct ycat_entry *cps;
	unsigned ncps;
};

/* Every key of an entry is required but power_kw. */
static const cyaml_schema_field_t y_entry_fields[] = {
	CYAML_FIELD_STRING_PTR("id", CYAML_FLAG_DEFAULT, struct ycat_entry,
			       id, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("location", CYAML_FLAG_DEFAULT,
			       struct ycat_entry, location, 0, CYAML_UNLIMITED),
	CYAML_FIELD_FLOAT("price", CYAML_FLAG_DEFAULT, struct ycat_entry,
			  price),
	Y_FLOAT("power_kw", struct ycat_entry, power_kw),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t y_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct ycat_entry,
			    y_entry_fields),
};

static const cyaml_schema_field_t y_cat_fields[] = {
	CYAML_FIELD_SEQUENCE_COUNT("cps", Y_SECTION, struct ycat, cps, ncps,
				   &y_entry, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t y_cat = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct ycat, y_cat_fields),
};

/* Entry e, whose node is n, checked and copied to the catalogue. */
static int cat_entry(struct catalogue *cat, const struct ydoc *d,
		     const struct ycat_entry *e, const struct ynode *n)
{
	struct cp_entry *o = &cat->cps[cat->ncps];

	if (!msg_cp_id_ok(e->id))
		return key_error(d, n, "id", "invalid CP id: '%s'", e->id);
	if (!ydoc_text_ok(e->location))
		return key_error(d, n, "location",
				 "control character in 'location'");
	o->power_kw = 0;
	if (set_double(d, n, "price", &e->price, false, &o->price) ||
	    set_kw(d, n, "power_kw", e->power_kw, &o->power_kw))
		return -1;
	o->id = xstrdup(e->id);
	o->location = xstrdup(e->location);
	cat->ncps++;
	return 0;
}

static const struct catalogue *sort_cat;

static int by_id(const void *a, const void *b)
{
	unsigned i = *(const unsigned *)a, j = *(const unsigned *)b;
	int c = strcmp(sort_cat->cps[i].id, sort_cat->cps[j].id);

	return c ? c : (i > j) - (i < j);
}

/*
 * Duplicate ids, found by sorting (a catalogue may list 50,000 CPs):
 * the second occurrence in the file is the one reported, at the line
 * of its node in ent.
 */
static int cat_unique(const struct catalogue *cat, const struct ydoc *d,
		      const struct ynode *const *ent)
{
	unsigned *idx = xreallocarray(NULL, cat->ncps, sizeof(*idx));
	int r = 0;

	for (unsigned i = 0; i < cat->ncps; i++)
		idx[i] = i;
	sort_cat = cat;
	qsort(idx, cat->ncps, sizeof(*idx), by_id);
	for (unsigned i = 1; i < cat->ncps && !r; i++) {
		if (strcmp(cat->cps[idx[i - 1]].id, cat->cps[idx[i]].id))
			continue;
		r = key_error(d, ent[idx[i]], "id", "duplicate CP id: '%s'",
			      cat->cps[idx[i]].id);
	}
	free(idx);
	return r;
}

int catalogue_load(struct catalogue *cat, const char *path)
{
	const struct ynode **ent = NULL, *n;
	struct ycat *y = NULL;
	struct ydoc d;
	size_t len;
	char *buf;
	int r = -1;

	memset(cat, 0, sizeof(*cat));
	if (read_file(path, &buf, &len) < 0)
		return error("cannot read catalogue: '%s': %s", path,
			     strerror(errno));
	if (ydoc_load(&d, path, buf, len, &y_cat, (void **)&y) < 0)
		goto out;
	/* libcyaml's entries and the nodes of the list, side by side. */
	n = ydoc_first(&d, ydoc_find(&d, "cps"));
	cat->cps = xreallocarray(NULL, y ? y->ncps : 0, sizeof(*cat->cps));
	ent = xreallocarray(NULL, y ? y->ncps : 0, sizeof(*ent));
	for (unsigned i = 0; y && i < y->ncps; i++) {
		ent[i] = n;
		if (cat_entry(cat, &d, &y->cps[i], n))
			goto out;
		n = n ? ydoc_next(&d, n) : NULL;
	}
	r = cat_unique(cat, &d, ent);
out:
	if (r)
		catalogue_free(cat);
	free(ent);
	ydoc_free(&d);
	free(buf);
	return r;
}

void catalogue_free(struct catalogue *cat)
{
	for (unsigned i = 0; i < cat->ncps; i++) {
		free(cat->cps[i].id);
		free(cat->cps[i].location);
	}
	free(cat->cps);
	memset(cat, 0, sizeof(*cat));
}
