/* fuzz_conf.c: libFuzzer harness of conf_load: any bytes as evc.yaml; no crash, no leak, no value out of its range. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "fuzz.h"

#define DAY_MS 86400000u	/* evc.yaml(5): the longest period of any timer */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz");
	fuzz_quiet(argc, argv);
	fuzz_file_init("evc.yaml");
	return 0;
}

static void check_range(const char *name, unsigned v, unsigned min,
			unsigned max)
{
	if (v < min || v > max)
		fuzz_fail("%s %u accepted, outside %u..%u", name, v, min, max);
}

static void check_text(const char *name, const char *s, int nonempty)
{
	if (!s)
		fuzz_fail("%s is NULL after a load", name);
	if (nonempty && !*s)
		fuzz_fail("%s accepted empty", name);
	if (!fuzz_text_ok(s))
		fuzz_fail("%s accepted with a control character", name);
}

static void check_real(const char *name, double v, int positive)
{
	if (!isfinite(v) || v < 0 || (positive && v == 0))
		fuzz_fail("%s %g accepted", name, v);
}

/* Kafka's rule for topic names (evc.yaml(5)), and no name used twice. */
static void check_topics(const struct conf *c)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

	for (int t = 0; t < T_COUNT; t++) {
		size_t n = strlen(c->topics[t]);

		if (!n || n > 249 || strspn(c->topics[t], ok) != n ||
		    !strcmp(c->topics[t], ".") || !strcmp(c->topics[t], ".."))
			fuzz_fail("topic name '%s' accepted", c->topics[t]);
		for (int u = 0; u < t; u++)
			if (!strcmp(c->topics[t], c->topics[u]))
				fuzz_fail("topic '%s' accepted twice", c->topics[t]);
	}
}

/* What a successful load promises, per evc.yaml(5). */
static void check_loaded(const struct conf *c)
{
	if (!c->file || strcmp(c->file, fuzz_path()))
		fuzz_fail("loaded file not recorded");
	check_text("brokers", c->brokers, 1);
	for (const char *p = c->brokers; *p; p++)
		if (*p == ' ' || *p == '\t' || (p[0] == ',' && (p[1] == ',' || !p[1])))
			fuzz_fail("broker list '%s' accepted", c->brokers);
	for (unsigned i = 0; i < c->nprops; i++)
		if (!*c->props[i].name || !c->props[i].value)
			fuzz_fail("property %u accepted without name or value", i);
	check_topics(c);
	check_range("partitions", c->partitions, 1, 10000);
	check_range("replication", c->replication, 1, 32767);
	check_real("default_price", c->central.default_price, 0);
	check_text("default_location", c->central.default_location, 0);
	check_range("health_timeout_ms", c->central.health_timeout_ms, 10, DAY_MS);
	check_range("auth_timeout_ms", c->central.auth_timeout_ms, 10, DAY_MS);
	check_text("group", c->central.group, 1);
	if (c->central.catalogue)
		check_text("catalogue", c->central.catalogue, 1);
	check_range("tick_ms", c->cp.tick_ms, 10, DAY_MS);
	check_real("power_kw", c->cp.power_kw, 1);
	check_real("default_kwh", c->cp.default_kwh, 0);
	check_range("health_ms", c->cp.health_ms, 10, DAY_MS);
	check_text("cp.location", c->cp.location, 0);
	check_text("state_dir", c->cp.state_dir, 1);
	check_range("wait_ms", c->driver.wait_ms, 0, DAY_MS);
	check_range("driver.timeout_ms", c->driver.timeout_ms, 10, DAY_MS);
}

/*
 * The line `evc broker` left in $XDG_RUNTIME_DIR/evc/broker, or no such
 * file when line is NULL.
 */
static void write_broker_file(const char *line)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/evc", getenv("XDG_RUNTIME_DIR"));
	if (line)
		mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/evc/broker", getenv("XDG_RUNTIME_DIR"));
	if (!line) {
		unlink(path);
		return;
	}
	if (!(f = fopen(path, "w")) || fputs(line, f) < 0 || fclose(f))
		fuzz_fail("cannot write '%s'", path);
}

/* A message about the file ("evc fuzz: FILE:LINE: ..."), not the options. */
static int about_file(const char *out)
{
	size_t n = strlen(fuzz_path());

	return !strncmp(out + 10, fuzz_path(), n) && out[10 + n] == ':';
}

/*
 * YAML cannot hold a NUL byte: what follows the first one, in up to
 * three NUL-separated parts, is the argument of -b, that of -X and the
 * broker file (an empty part: none), so that the precedence of brokers
 * is fuzzed too.
 */
static void load(char *buf, size_t size)
{
	size_t yaml = strnlen(buf, size);
	char *part[3] = { NULL, NULL, NULL }, *p = buf + yaml;
	struct conf_args a = { .config = fuzz_path() };
	struct conf c;
	int r;

	for (int i = 0; i < 3 && p < buf + size; i++) {
		part[i] = *++p ? p : NULL;	/* empty: not given */
		p += strlen(p);
	}
	fuzz_write((const uint8_t *)buf, yaml);
	write_broker_file(part[2]);
	if ((part[0] && conf_opt(&a, 'b', part[0]) < 0) ||
	    (part[1] && conf_opt(&a, 'X', part[1]) < 0)) {
		conf_args_free(&a);
		return;
	}
	fuzz_capture_begin();
	r = conf_load(&c, &a);
	fuzz_check_messages(fuzz_capture_end(), fuzz_path(),
			    (const uint8_t *)buf, yaml);
	if (r == 0) {
		check_loaded(&c);
		if (part[0] && strcmp(c.brokers_from, "--brokers"))
			fuzz_fail("brokers from %s, over --brokers", c.brokers_from);
	} else if (!fuzz_captured()[0]) {
		fuzz_fail("a failed load said nothing");
	} else if (about_file(fuzz_captured()) &&
		   strchr(fuzz_captured(), '\n')[1]) {
		fuzz_fail("a failed load said more than one line: '%s'",
			  fuzz_captured());
	} else if (c.file || c.brokers || c.topics[0]) {
		fuzz_fail("a failed load left a half-filled struct conf");
	}
	conf_free(&c);
	conf_args_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);	/* the parts end with a NUL */

	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	load(buf, size);
	free(buf);
	return 0;
}
