/* conf_test.c: unit tests of lib/conf.c (evc.yaml, precedence, shared options, catalogue). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "test/unit/check.h"

static char dir[64];		/* the test's own temporary directory */
static char err[4096];		/* what the last captured call printed on stderr */

static const char *tmp_path(const char *name)
{
	static char paths[4][256];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

static const char *write_file(const char *name, const char *text)
{
	const char *path = tmp_path(name);
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(1);
	}
	return path;
}

/* Sends stderr to a temporary file until capture_end() copies it to err[]. */
static FILE *capture_file;
static int capture_saved = -1;

static void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	capture_saved = dup(2);
	if (!capture_file || capture_saved < 0 || dup2(fileno(capture_file), 2) < 0) {
		perror("capture");
		exit(1);
	}
}

static void capture_end(void)
{
	size_t n;

	fflush(stderr);
	dup2(capture_saved, 2);
	close(capture_saved);
	rewind(capture_file);
	n = fread(err, 1, sizeof(err) - 1, capture_file);
	err[n] = '\0';
	fclose(capture_file);
}

static int load_captured(struct conf *c, const struct conf_args *a)
{
	int r;

	capture_begin();
	r = conf_load(c, a);
	capture_end();
	return r;
}

static int cat_captured(struct catalogue *cat, const char *path)
{
	int r;

	capture_begin();
	r = catalogue_load(cat, path);
	capture_end();
	return r;
}

/* Loads yaml as evc.yaml: 0 and c filled, or -1 and err[] holds the message. */
static int load_yaml(struct conf *c, const char *yaml)
{
	struct conf_args a = { .config = write_file("evc.yaml", yaml) };

	return load_captured(c, &a);
}

/* Loading yaml fails with a message containing want (after "evc.yaml:"). */
static void expect_error(const char *title, const char *yaml, const char *want)
{
	struct conf c;
	char full[512];
	int r = load_yaml(&c, yaml);

	snprintf(full, sizeof(full), "evc.yaml:%s", want);
	check(r == -1 && strstr(err, full) && !c.file, "%s", title);
	if (r == 0 || !strstr(err, full))
		fprintf(stderr, "# want '%s', got '%s'\n", full, err);
	conf_free(&c);
}

static void test_defaults(void)
{
	struct conf c;
	int same = 1;

	conf_defaults(&c);
	for (int t = 0; t < T_COUNT; t++)
		same &= !strcmp(c.topics[t], topic_default_names[t]);
	check(same, "defaults: the topic names");
	check(!strcmp(c.brokers, "localhost:9092") && !strcmp(c.brokers_from, "default"),
	      "defaults: localhost:9092 as the broker");
	check(c.partitions == 3 && c.replication == 1 && c.nprops == 0 && !c.file,
	      "defaults: 3 partitions, replication 1, no property, no file");
	check(!c.central.catalogue && !c.central.allow_unknown &&
	      fabs(c.central.default_price - 0.30) < 1e-9 &&
	      !strcmp(c.central.default_location, "unknown") &&
	      c.central.health_timeout_ms == 3000 && c.central.auth_timeout_ms == 10000 &&
	      !strcmp(c.central.group, "evc-central"), "defaults: central");
	check(c.cp.tick_ms == 1000 && c.cp.power_kw == 22 && c.cp.default_kwh == 10 &&
	      c.cp.default_seconds == 0 && c.cp.health_ms == 1000 && !strcmp(c.cp.location, "") &&
	      !strcmp(c.cp.state_dir, "/home/evc-test/.local/state/evc"), "defaults: cp");
	check(c.driver.wait_ms == 4000 && c.driver.timeout_ms == 10000 &&
	      c.driver.lookback_s == 3600, "defaults: driver");
	conf_free(&c);

	setenv("XDG_STATE_HOME", "/var/xdg", 1);
	conf_defaults(&c);
	check(!strcmp(c.cp.state_dir, "/var/xdg/evc"), "defaults: state_dir under XDG_STATE_HOME");
	conf_free(&c);
	setenv("STATE_DIRECTORY", "/var/lib/evc:/var/lib/other", 1);
	conf_defaults(&c);
	check(!strcmp(c.cp.state_dir, "/var/lib/evc"), "defaults: state_dir from STATE_DIRECTORY");
	conf_free(&c);
	unsetenv("STATE_DIRECTORY");
	unsetenv("XDG_STATE_HOME");
}

static void test_no_file(void)
{
	struct conf c;
	struct stat st;

	if (stat("/etc/evc/evc.yaml", &st) == 0) {
		check(1, "no file: skipped, /etc/evc/evc.yaml exists here");
		return;
	}
	check(load_captured(&c, NULL) == 0 && !c.file && c.partitions == 3 && !err[0],
	      "no file at all: the defaults, silently");
	conf_free(&c);
}

static const char full_yaml[] =
	"# every key\n"
	"kafka:\n"
	"  brokers: [192.168.1.100:9092, 192.168.1.101:9092, 192.168.1.102:9092]\n"
	"  properties:\n"
	"    security.protocol: plaintext\n"
	"    linger.ms: 5\n"
	"topics:\n"
	"  partitions: 6\n"
	"  replication: 3\n"
	"  names:\n"
	"    cp_register: a1\n"
	"    cp_register_ack: a2\n"
	"    auth_request: a3\n"
	"    auth_response: a4\n"
	"    cp_commands: a5\n"
	"    telemetry: a6\n"
	"    health: a7\n"
	"    control: a8\n"
	"    cp_state: a9\n"
	"    central_lease: a10\n"
	"    cp_catalogue: a11\n"
	"    audit: a12\n"
	"central:\n"
	"  catalogue: cps.yaml\n"
	"  allow_unknown: yes\n"
	"  default_price: 0.42\n"
	"  default_location: somewhere\n"
	"  health_timeout_ms: 1500\n"
	"  auth_timeout_ms: 2500\n"
	"  group: g1\n"
	"cp:\n"
	"  tick_ms: 200\n"
	"  power_kw: 7.4\n"
	"  default_kwh: 2.5\n"
	"  default_seconds: 30\n"
	"  health_ms: 250\n"
	"  location: \"Calle Mayor 1, Alicante\"\n"
	"  state_dir: state\n"
	"driver:\n"
	"  wait_ms: 0\n"
	"  timeout_ms: 600\n"
	"  lookback_s: 60\n";

static void test_full(void)
{
	struct conf_args a = { 0 };
	struct conf c;
	char want[300];
	int names = 1;

	conf_opt(&a, 'X', "linger.ms=1");
	a.config = write_file("evc.yaml", full_yaml);
	check(load_captured(&c, &a) == 0, "a file with every key loads");
	check(!strcmp(c.file, tmp_path("evc.yaml")), "c->file names it");
	check(!strcmp(c.brokers, "192.168.1.100:9092,192.168.1.101:9092,192.168.1.102:9092") &&
	      c.brokers_from == c.file, "kafka.brokers: a list, joined with commas");
	check(c.nprops == 3 && !strcmp(c.props[0].name, "security.protocol") &&
	      !strcmp(c.props[0].value, "plaintext") && !strcmp(c.props[1].name, "linger.ms") &&
	      !strcmp(c.props[1].value, "5") && !strcmp(c.props[2].name, "linger.ms") &&
	      !strcmp(c.props[2].value, "1"), "kafka.properties in order, then -X after them");
	for (int t = 0; t < T_COUNT; t++) {
		snprintf(want, sizeof(want), "a%d", t + 1);
		names &= !strcmp(c.topics[t], want);
	}
	check(names && c.partitions == 6 && c.replication == 3,
	      "topics: every key of topic_keys, partitions, replication");
	snprintf(want, sizeof(want), "%s/cps.yaml", dir);
	check(!strcmp(c.central.catalogue, want), "central.catalogue relative to the file");
	check(c.central.allow_unknown && c.central.default_price == 0.42 &&
	      !strcmp(c.central.default_location, "somewhere") &&
	      c.central.health_timeout_ms == 1500 && c.central.auth_timeout_ms == 2500 &&
	      !strcmp(c.central.group, "g1"), "central: every value");
	snprintf(want, sizeof(want), "%s/state", dir);
	check(c.cp.tick_ms == 200 && c.cp.power_kw == 7.4 && c.cp.default_kwh == 2.5 &&
	      c.cp.default_seconds == 30 && c.cp.health_ms == 250 &&
	      !strcmp(c.cp.location, "Calle Mayor 1, Alicante") && !strcmp(c.cp.state_dir, want),
	      "cp: every value, state_dir relative to the file");
	check(c.driver.wait_ms == 0 && c.driver.timeout_ms == 600 && c.driver.lookback_s == 60,
	      "driver: every value");
	conf_free(&c);
	conf_args_free(&a);
}

static void test_forms(void)
{
	struct conf c;

	check(load_yaml(&c, "kafka:\n  brokers: 'a:1 , b:2'\n") == 0 &&
	      !strcmp(c.brokers, "a:1,b:2"), "kafka.brokers: a string, trimmed");
	conf_free(&c);
	check(load_yaml(&c, "") == 0 && c.file && c.partitions == 3, "an empty file: defaults");
	conf_free(&c);
	check(load_yaml(&c, "kafka:\ntopics:\ncentral: ~\n"
			    "cp:\n  # all commented\ndriver:\n") == 0 &&
	      c.cp.tick_ms == 1000, "empty sections: defaults");
	conf_free(&c);
	check(load_yaml(&c, "kafka:\n  brokers:\n  properties:\n") == 0 &&
	      !strcmp(c.brokers_from, "default") && c.nprops == 0,
	      "empty brokers and properties: as if absent");
	conf_free(&c);
	check(load_yaml(&c, "central:\n  allow_unknown: FALSE\n"
			    "  catalogue: /etc/evc/cps.yaml\n") == 0 &&
	      !c.central.allow_unknown && !strcmp(c.central.catalogue, "/etc/evc/cps.yaml"),
	      "allow_unknown FALSE; an absolute catalogue stays as it is");
	conf_free(&c);
	check(load_yaml(&c, "cp:\n  state_dir: ''\n") == 0 && c.cp.state_dir[0] == '/',
	      "an empty state_dir keeps the default");
	conf_free(&c);
}

/* Files that must be refused, and the message: "LINE: what". */
static const struct bad_case {
	const char *title, *yaml, *want;
} bad_cases[] = {
	{ "unknown key: reported at its own line",
	  "kafka:\n  properties:\n    a: b\n\ncentral:\n  group: g\n  brokrs: [x:1]\n",
	  "7: unknown key 'brokrs'" },
	{ "unknown key at the top level",
	  "topics:\n  partitions: 3\nbrokers: x\n",
	  "3: unknown key 'brokers'" },
	{ "unknown key in topics.names",
	  "topics:\n  names:\n    health: h\n    nope: x\n",
	  "4: unknown key 'nope'" },
	{ "unknown key in kafka",
	  "kafka:\n  brokers: [a:1]\n  props: {}\n",
	  "3: unknown key 'props'" },
	{ "duplicate key: the second one",
	  "cp:\n  tick_ms: 100\n  power_kw: 2\n  tick_ms: 300\n",
	  "4: duplicate key 'tick_ms'" },
	{ "wrong type: text for an integer",
	  "cp:\n  power_kw: 3\n  tick_ms: abc\n",
	  "3: expected an unsigned integer for 'tick_ms'" },
	{ "wrong type: a negative integer",
	  "driver:\n  wait_ms: -5\n",
	  "2: expected an unsigned integer for 'wait_ms'" },
	{ "wrong type: a list for an integer",
	  "topics:\n  partitions: [1]\n",
	  "2: expected an unsigned integer for 'partitions'" },
	{ "wrong type: text for a number",
	  "cp:\n  power_kw: lots\n",
	  "2: expected a number for 'power_kw'" },
	{ "wrong type: a scalar for a section",
	  "driver: 3\n",
	  "1: expected a mapping for 'driver'" },
	{ "wrong type: a list for a string",
	  "central:\n  group: [a]\n",
	  "2: expected a string for 'group'" },
	{ "wrong type: not a boolean",
	  "central:\n  allow_unknown: maybe\n",
	  "2: expected true or false for 'allow_unknown'" },
	{ "wrong type: a list at the top",
	  "- a\n",
	  "1: expected a mapping for the top level" },
	{ "out of range: tick_ms below 10",
	  "cp:\n  tick_ms: 5\n",
	  "2: expected an integer from 10 to 86400000 for 'tick_ms'" },
	{ "out of range: health_ms below 10",
	  "cp:\n  health_ms: 0\n",
	  "2: expected an integer from 10 to 86400000 for 'health_ms'" },
	{ "out of range: partitions 0",
	  "topics:\n  partitions: 0\n",
	  "2: expected an integer from 1 to 10000 for 'partitions'" },
	{ "out of range: partitions 10001",
	  "topics:\n  partitions: 10001\n",
	  "2: expected an integer from 1 to 10000 for 'partitions'" },
	{ "out of range: replication 0",
	  "topics:\n\n  replication: 0\n",
	  "3: expected an integer from 1 to 32767 for 'replication'" },
	{ "out of range: power_kw 0",
	  "cp:\n  power_kw: 0\n",
	  "2: expected a number above 0 for 'power_kw'" },
	{ "out of range: power_kw infinite",
	  "cp:\n  power_kw: .inf\n",
	  "2: expected a number" },
	{ "out of range: a negative price",
	  "central:\n  default_price: -0.1\n",
	  "2: expected a number of at least 0 for 'default_price'" },
	{ "out of range: an integer beyond 32 bits",
	  "driver:\n  lookback_s: 99999999999\n",
	  "2: expected an unsigned integer for 'lookback_s'" },
	{ "trailing text after an integer",
	  "cp:\n  tick_ms: 100abc\n",
	  "2: expected an unsigned integer for 'tick_ms'" },
	{ "an exponent for an integer",
	  "cp:\n  tick_ms: 1e3\n",
	  "2: expected an unsigned integer for 'tick_ms'" },
	{ "a decimal comma",
	  "central:\n  default_price: 0,30\n",
	  "2: expected a number for 'default_price'" },
	{ "a unit after a number",
	  "cp:\n  power_kw: 7.4kW\n",
	  "2: expected a number for 'power_kw'" },
	{ "an empty group",
	  "central:\n  group: ''\n",
	  "2: empty value for 'group'" },
	{ "a control character in a location",
	  "cp:\n  location: \"a\\nb\"\n",
	  "2: control character in 'location'" },
	{ "bad property value: a list",
	  "kafka:\n  properties:\n    a: 1\n    b: [1, 2]\n",
	  "4: expected a single value for property 'b'" },
	{ "bad property value: a mapping",
	  "kafka:\n  properties:\n    b:\n      c: d\n",
	  "4: expected a single value for property 'b'" },
	{ "bad property value: none",
	  "kafka:\n  properties:\n    a: ~\n",
	  "3: no value for property 'a'" },
	{ "duplicate property",
	  "kafka:\n  properties:\n    a: 1\n    a: 2\n",
	  "4: duplicate property 'a'" },
	{ "properties not a mapping",
	  "kafka:\n  properties: [a]\n",
	  "2: expected a mapping for 'properties'" },
	{ "brokers: a mapping",
	  "kafka:\n  brokers: {a: 1}\n",
	  "2: expected a list of host:port for 'brokers'" },
	{ "brokers: an empty list",
	  "kafka:\n  brokers: []\n",
	  "2: no broker in 'brokers'" },
	{ "brokers: an empty item",
	  "kafka:\n  brokers:\n    - a:1\n    - ''\n",
	  "4: expected host:port in 'brokers'" },
	{ "brokers: blanks inside",
	  "kafka:\n  brokers: 'a 1'\n",
	  "2: expected host:port,... for 'brokers'" },
	{ "invalid topic name",
	  "topics:\n  names:\n    telemetry: 'a b'\n",
	  "3: invalid topic name for 'telemetry': 'a b'" },
	{ "one topic name for two topics",
	  "topics:\n  names:\n    telemetry: health\n",
	  "3: topic name used twice: 'health'" },
	{ "a YAML syntax error",
	  "cp:\n  tick_ms: [1\n  health_ms: 2\n",
	  "3: invalid YAML: " },
	{ "aliases are refused",
	  "cp:\n  tick_ms: &t 100\n  health_ms: *t\n",
	  "3: aliases are not supported" },
	{ "a second document is refused",
	  "cp: {}\n---\ncp: {}\n",
	  "2: more than one document" },
	{ "duplicate key in kafka: the second one",
	  "kafka:\n  brokers: a:1\n  brokers: b:1\n",
	  "3: duplicate key 'brokers'" },
	{ "duplicate section: the second one",
	  "cp:\n  tick_ms: 100\ndriver: {}\ncp:\n  tick_ms: 200\n",
	  "4: duplicate key 'cp'" },
	{ "a key that is not a plain scalar",
	  "? [a, b]\n: 1\n",
	  "1: expected a plain key" },
	{ "wrong type on the line after its key: the key's line",
	  "cp:\n  tick_ms:\n    - 1\n",
	  "2: expected an unsigned integer for 'tick_ms'" },
	{ "wrong type deep in topics.names",
	  "topics:\n  names:\n    health: {a: b}\n",
	  "3: expected a string for 'health'" },
	{ "wrong type: a mapping for a number",
	  "central:\n  group: g\n  default_price:\n    eur: 1\n",
	  "3: expected a number for 'default_price'" },
	{ "nested too deeply in a property",
	  "kafka:\n  properties:\n    a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	  "3: nested too deeply" },
	{ "an alias after a wrong value outranks it",
	  "cp:\n  tick_ms: [1]\n  health_ms: &a 100\n  power_kw: *a\n",
	  "4: aliases are not supported" },
	{ "a second document after a wrong value outranks it",
	  "cp:\n  tick_ms: x\n---\ncp: {}\n",
	  "3: more than one document" },
	{ "a wrong value before a duplicate key: the first in the file",
	  "cp:\n  tick_ms: x\n  tick_ms: 1\n",
	  "2: expected an unsigned integer for 'tick_ms'" },
	{ "properties: a mapping starting on the line after its name",
	  "kafka:\n  properties:\n    a: 1\n    b:\n\n      - c\n",
	  "6: expected a single value for property 'b'" },
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		expect_error(bad_cases[i].title, bad_cases[i].yaml,
			     bad_cases[i].want);
}

/* The web section: its keys read, its token and TLS rules kept. */
static void test_web(void)
{
	struct conf c;

	check(load_yaml(&c, "web:\n  listen: \"[::1]:0\"\n"
			"  token: abcdefghijklmnop\n  read_token: 0123456789abcdef!\n"
			"  tls:\n    cert: a.pem\n    key: a.key\n") == 0 &&
	      !strcmp(c.web.listen, "[::1]:0") &&
	      !strcmp(c.web.token, "abcdefghijklmnop") &&
	      !strcmp(c.web.read_token, "0123456789abcdef!") &&
	      strstr(c.web.tls_cert, "/a.pem") && strstr(c.web.tls_key, "/a.key"),
	      "web: listen, token, read_token and tls are read");
	conf_free(&c);
	check(load_yaml(&c, "cp:\n  tick_ms: 200\n") == 0 &&
	      !strcmp(c.web.listen, "127.0.0.1:8080") && !c.web.token &&
	      !c.web.read_token && !c.web.tls_cert,
	      "web: by default on 127.0.0.1:8080, no token, no TLS");
	conf_free(&c);
	expect_error("web: a token of 15 characters", "web:\n  token: abcdefghijklmno\n",
		     "2: expected 16 to 256 printable characters");
	expect_error("web: a token with a blank", "web:\n  token: \"abcdefgh ijklmnop\"\n",
		     "2: expected 16 to 256 printable characters");
	expect_error("web: a read token too short", "web:\n  read_token: x\n",
		     "2: expected 16 to 256 printable characters");
	expect_error("web: a bad listen", "web:\n  listen: nowhere\n",
		     "2: expected ADDR:PORT for 'listen'");
	expect_error("web: a cert without its key", "web:\n  tls:\n    cert: a.pem\n",
		     "2: 'tls' needs both 'cert' and 'key'");
	expect_error("web: an unknown key", "web:\n  port: 80\n", "2: unknown key 'port'");
}

static void test_missing(void)
{
	struct conf_args a = { .config = tmp_path("nope.yaml") };
	struct conf c;
	char want[300];

	snprintf(want, sizeof(want), "cannot read config: '%s': No such file or directory",
		 a.config);
	check(load_captured(&c, &a) == -1 && strstr(err, want),
	      "--config of a missing file: an error");
	conf_free(&c);
	setenv("EVC_CONFIG", tmp_path("nope.yaml"), 1);
	check(load_captured(&c, NULL) == -1 && strstr(err, want),
	      "EVC_CONFIG of a missing file: an error");
	conf_free(&c);
	setenv("EVC_CONFIG", write_file("env.yaml", "cp:\n  tick_ms: 123\n"), 1);
	check(load_captured(&c, NULL) == 0 && c.cp.tick_ms == 123, "EVC_CONFIG names the file");
	conf_free(&c);
	a.config = write_file("flag.yaml", "cp:\n  tick_ms: 456\n");
	check(load_captured(&c, &a) == 0 && c.cp.tick_ms == 456, "--config wins over EVC_CONFIG");
	conf_free(&c);
	unsetenv("EVC_CONFIG");
	a.config = dir;
	check(load_captured(&c, &a) == -1 && strstr(err, "cannot read config: "),
	      "a directory as config: an error");
	conf_free(&c);
}

static void test_broker_file(void)
{
	char path[300], want[300];

	setenv("XDG_RUNTIME_DIR", "/run/user/77", 1);
	check(conf_broker_file(path, sizeof(path)) == 0 && !strcmp(path, "/run/user/77/evc/broker"),
	      "broker file under XDG_RUNTIME_DIR");
	unsetenv("XDG_RUNTIME_DIR");
	snprintf(want, sizeof(want), "/tmp/evc-%u/broker", (unsigned)getuid());
	check(conf_broker_file(path, sizeof(path)) == 0 && !strcmp(path, want),
	      "broker file in /tmp/evc-UID without XDG_RUNTIME_DIR");
	check(conf_broker_file(path, 8) == -1, "broker file: a short buffer is an error");
}

static void expect_brokers(const char *title, const struct conf_args *a, const char *brokers,
			   const char *from)
{
	struct conf c;
	int r = load_captured(&c, a);

	check(r == 0 && !strcmp(c.brokers, brokers) && !strcmp(c.brokers_from, from), "%s", title);
	if (r == 0 && (strcmp(c.brokers, brokers) || strcmp(c.brokers_from, from)))
		fprintf(stderr, "# got '%s' from '%s'\n", c.brokers, c.brokers_from);
	conf_free(&c);
}

static void test_precedence(void)
{
	struct conf_args none = { .config = write_file("plain.yaml", "cp: {}\n") };
	struct conf_args file = { .config = write_file("b.yaml", "kafka:\n  brokers: [f:1]\n") };
	struct conf_args flag = file;
	char sub[300];

	setenv("XDG_RUNTIME_DIR", dir, 1);
	expect_brokers("no broker anywhere: localhost:9092", &none, "localhost:9092", "default");
	snprintf(sub, sizeof(sub), "%s/evc", dir);
	mkdir(sub, 0700);
	write_file("evc/broker", "127.0.0.1:1111\n");
	expect_brokers("the broker file over the default", &none, "127.0.0.1:1111", "evc broker");
	expect_brokers("the file over the broker file", &file, "f:1", file.config);
	setenv("EVC_BROKERS", "e:1,e:2", 1);
	expect_brokers("EVC_BROKERS over the file", &file, "e:1,e:2", "EVC_BROKERS");
	flag.brokers = "b:1";
	expect_brokers("--brokers over EVC_BROKERS", &flag, "b:1", "--brokers");
	unsetenv("EVC_BROKERS");
	unlink(tmp_path("evc/broker"));
	rmdir(sub);
	unsetenv("XDG_RUNTIME_DIR");
}

static void test_opts(void)
{
	struct conf_args a = { 0 };
	int bad;

	check(conf_opt(&a, 'X', "a=b=c") == 1 && a.nprops == 1 && !strcmp(a.props[0].name, "a") &&
	      !strcmp(a.props[0].value, "b=c"), "-X name=value splits at the first '='");
	check(conf_opt(&a, 'X', "empty=") == 1 && a.nprops == 2 && !strcmp(a.props[1].value, ""),
	      "-X name= gives an empty value");
	capture_begin();
	bad = conf_opt(&a, 'X', "noequal");
	bad += conf_opt(&a, 'X', "=value");
	capture_end();
	check(bad == -2 && a.nprops == 2 && strstr(err, "-X") && strstr(err, "'noequal'"),
	      "-X without '=' or without a name: an error naming -X");
	check(conf_opt(&a, 'c', "x.yaml") == 1 && !strcmp(a.config, "x.yaml"), "-c sets the file");
	check(conf_opt(&a, 'b', "h:1") == 1 && !strcmp(a.brokers, "h:1"), "-b sets the brokers");
	log_verbose = 0;
	check(conf_opt(&a, 'v', NULL) == 1 && log_verbose, "-v sets verbose");
	log_verbose = 0;
	check(conf_opt(&a, 'h', NULL) == 0, "another option is not ours");
	conf_args_free(&a);
	check(a.nprops == 0 && !a.props, "conf_args_free empties the properties");
}

static void test_catalogue(void)
{
	struct catalogue cat;
	const char *p;

	p = write_file("cps.yaml", "cps:\n  - {id: CP001, location: \"Alicante\", price: 0.35}\n"
				   "  - id: CP002\n    location: Elche\n    price: 0\n");
	check(cat_captured(&cat, p) == 0 && cat.ncps == 2 && !strcmp(cat.cps[0].id, "CP001") &&
	      !strcmp(cat.cps[0].location, "Alicante") && cat.cps[0].price == 0.35 &&
	      !strcmp(cat.cps[1].id, "CP002") && cat.cps[1].price == 0,
	      "catalogue: loads in order");
	catalogue_free(&cat);
	p = write_file("cps.yaml", "cps:\n  - {id: CP001, location: a, price: 1}\n"
				   "  - {id: 'CP 2', location: b, price: 1}\n");
	check(cat_captured(&cat, p) == -1 && strstr(err, "cps.yaml:3: invalid CP id: 'CP 2'") &&
	      !cat.ncps, "catalogue: a bad id at its line");
	p = write_file("cps.yaml", "cps:\n  - {id: CP001, location: a, price: 1}\n"
				   "  - {id: CP002, location: b, price: 1}\n"
				   "  - id: CP001\n    location: c\n    price: 2\n");
	check(cat_captured(&cat, p) == -1 && strstr(err, "cps.yaml:4: duplicate CP id: 'CP001'"),
	      "catalogue: a duplicate id at its line");
	p = write_file("cps.yaml", "cps:\n  - {id: CP001, location: a, price: -1}\n");
	check(cat_captured(&cat, p) == -1 &&
	      strstr(err, "cps.yaml:2: expected a number of at least 0 for 'price'"),
	      "catalogue: a negative price");
	p = write_file("cps.yaml", "cps:\n  - {id: CP001, location: a, price: 1}\n"
				   "  - id: CP002\n    location: b\n");
	check(cat_captured(&cat, p) == -1 && strstr(err, "cps.yaml:3: missing key 'price'"),
	      "catalogue: a missing price, at the entry's line");
	p = write_file("cps.yaml", "cps:\n  - id: CP001\n    location: a\n"
				   "    price: 1\n    colour: red\n");
	check(cat_captured(&cat, p) == -1 && strstr(err, "cps.yaml:5: unknown key 'colour'"),
	      "catalogue: an unknown key");
	p = write_file("cps.yaml", "cps:\n  - CP001\n");
	check(cat_captured(&cat, p) == -1 &&
	      strstr(err, "cps.yaml:2: expected a mapping for entry 1 of 'cps'"),
	      "catalogue: an entry that is not a mapping");
	p = write_file("cps.yaml", "cps:\n  - id: CP001\n    location: a\n    price: 0,35\n");
	check(cat_captured(&cat, p) == -1 &&
	      strstr(err, "cps.yaml:4: expected a number for 'price'"),
	      "catalogue: a decimal comma in a price");
	p = write_file("cps.yaml", "cps: []\n");
	check(cat_captured(&cat, p) == 0 && cat.ncps == 0, "catalogue: an empty list");
	catalogue_free(&cat);
	check(cat_captured(&cat, tmp_path("none.yaml")) == -1 &&
	      strstr(err, "cannot read catalogue: ") && strstr(err, "No such file"),
	      "catalogue: a missing file");
}

/* Loads text as cps.yaml: the message names want after "cps.yaml:". */
static void expect_cat_error(const char *title, const char *text,
			     const char *want)
{
	struct catalogue cat;
	char full[512];
	int r;

	r = cat_captured(&cat, write_file("cps.yaml", text));
	snprintf(full, sizeof(full), "cps.yaml:%s", want);
	check(r == -1 && strstr(err, full) && !cat.ncps, "%s", title);
	if (r == 0 || !strstr(err, full))
		fprintf(stderr, "# want '%s', got '%s'\n", full, err);
	catalogue_free(&cat);
}

/* "cps:", n good entries of three lines each, then text. */
static char *cat_text(unsigned n, const char *text)
{
	size_t cap = (size_t)n * 64 + strlen(text) + 8, len;
	char *s = malloc(cap);

	len = (size_t)snprintf(s, cap, "cps:\n");
	for (unsigned i = 1; i <= n; i++)
		len += (size_t)snprintf(s + len, cap - len,
				"  - id: CP%05u\n    location: here\n    price: 0.3\n", i);
	snprintf(s + len, cap - len, "%s", text);
	return s;
}

/* Catalogues refused at the line of the node the parse stopped on. */
static const struct cat_case {
	const char *title;
	unsigned good;		/* entries before text, from line 2 */
	const char *text, *want;
} cat_cases[] = {
	{ "catalogue: a mapping for a location, third entry", 2,
	  "  - id: CP3\n    price: 1\n    location:\n      street: x\n",
	  "10: expected a string for 'location'" },
	{ "catalogue: a list for a price", 0,
	  "  - id: CP1\n    location: a\n    price: [1]\n",
	  "4: expected a number for 'price'" },
	{ "catalogue: a duplicate key in an entry", 0,
	  "  - id: CP1\n    id: CP2\n    location: a\n    price: 1\n",
	  "3: duplicate key 'id'" },
	{ "catalogue: cps not a list", 0,
	  "  {id: CP1}\n",
	  "1: expected a list for 'cps'" },
	{ "catalogue: a missing id in a flow entry on its own line", 1,
	  "  -\n    {location: b, price: 2}\n",
	  "6: missing key 'id'" },
	{ "catalogue: a syntax error", 1,
	  "  - {id: CP2, location: a, price: 1\n",
	  "6: invalid YAML: " },
	{ "catalogue: an unknown key in entry 1001, line 3004", 1000,
	  "  - id: CP01001\n    location: here\n    colour: red\n",
	  "3004: unknown key 'colour'" },
	{ "catalogue: a wrong type in entry 1001, line 3003", 1000,
	  "  - id: CP01001\n    location: [here]\n    price: 1\n",
	  "3003: expected a string for 'location'" },
	{ "catalogue: a duplicate id in entry 1001, line 3002", 1000,
	  "  - id: CP00500\n    location: here\n    price: 1\n",
	  "3002: duplicate CP id: 'CP00500'" },
	{ "catalogue: a decimal comma in entry 1001, line 3004", 1000,
	  "  - id: CP01001\n    location: here\n    price: 0,5\n",
	  "3004: expected a number for 'price'" },
};

static void test_catalogue_lines(void)
{
	for (size_t i = 0; i < sizeof(cat_cases) / sizeof(cat_cases[0]); i++) {
		const struct cat_case *k = &cat_cases[i];
		char *text = cat_text(k->good, k->text);

		expect_cat_error(k->title, text, k->want);
		free(text);
	}
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * libcyaml's own log lines are never read: a refused file prints one
 * line, ours; with -v they go to debug output as they are, before it.
 */
static void test_cyaml_log(void)
{
	static const char want[] = "evc.yaml:2: expected a number for 'power_kw'\n";
	struct conf c;
	size_t n;

	load_yaml(&c, "cp:\n  power_kw: [1]\n");
	check(count_lines(err) == 1 && strstr(err, want),
	      "a refused file: one line, none of libcyaml's");
	conf_free(&c);
	log_verbose = 1;
	load_yaml(&c, "cp:\n  power_kw: [1]\n");
	log_verbose = 0;
	n = strlen(err);
	check(count_lines(err) > 1 && strstr(err, "conf_test: libcyaml: ") &&
	      n > strlen(want) && !strcmp(err + n - strlen(want), want),
	      "-v: libcyaml's lines as debug output, then the message");
	conf_free(&c);
}

/* The examples shipped in etc/ load; run from the top or from test/unit. */
static void test_examples(void)
{
	const char *top = access("etc/evc.yaml", R_OK) == 0 ? "." : "../..";
	char path[256], cps[256];
	struct conf_args a = { .config = path };
	struct catalogue cat;
	struct conf c;
	int r;

	snprintf(path, sizeof(path), "%s/etc/evc.yaml", top);
	snprintf(cps, sizeof(cps), "%s/etc/cps.yaml", top);
	r = load_captured(&c, &a);
	check(r == 0 && c.replication == 3 && c.partitions == 3 &&
	      !strcmp(c.brokers, "kafka1:9092,kafka2:9092,kafka3:9092") &&
	      !strcmp(c.central.catalogue, cps), "etc/evc.yaml loads");
	if (r)
		fprintf(stderr, "# %s", err);
	if (r == 0)
		conf_free(&c);
	r = cat_captured(&cat, cps);
	check(r == 0 && cat.ncps >= 5 && !strcmp(cat.cps[0].id, "CP001"),
	      "etc/cps.yaml loads");
	if (r)
		fprintf(stderr, "# %s", err);
	catalogue_free(&cat);
}

static void test_free_after_failure(void)
{
	struct conf c;

	load_yaml(&c, "cp:\n  tick_ms: 1\n");
	conf_free(&c);
	conf_free(&c);
	check(!c.brokers && !c.topics[0], "conf_free after a failed load, twice");
}

/*
 * Regressions found by fuzzing (test/fuzz/run.sh conf, catalogue): one
 * case per input the fuzzer reduced, then what must still pass beside it.
 */

/* C1 controls (U+0080..U+009F) come from YAML escapes; a terminal may obey them. */
static void test_fuzz_c1_controls(void)
{
	struct catalogue cat;
	struct conf c;
	const char *p;

	expect_error("fuzz: a C1 control (CSI) in the catalogue path",
		     "central:\n  catalogue: \"\\u009b\"\n",
		     "2: control character in 'catalogue'");
	expect_error("fuzz: a C1 control (NEL, YAML's \\N) in a location",
		     "cp:\n  location: \"a\\Nb\"\n",
		     "2: control character in 'location'");
	expect_error("fuzz: a C1 control in default_location",
		     "central:\n  default_location: \"\\x80\"\n",
		     "2: control character in 'default_location'");
	check(load_yaml(&c, "cp:\n  location: \"\\u00a0Col\u00f3n \\u00bf \u20ac\"\n") == 0 &&
	      !strcmp(c.cp.location, "\u00a0Col\u00f3n \u00bf \u20ac"),
	      "fuzz: U+00A0 and other letters next to the C1 range are text");
	if (!c.file)
		fprintf(stderr, "# %s", err);
	conf_free(&c);
	p = write_file("cps.yaml", "cps:\n  - {id: CP001, location: \"x\\u0085\", price: 1}\n");
	check(cat_captured(&cat, p) == -1 &&
	      strstr(err, "cps.yaml:2: control character in 'location'") && !cat.ncps,
	      "fuzz: a C1 control in a catalogue location");
}

/* Control characters a message quotes from the file go out as \xHH, on one line. */
static void test_fuzz_quoted_controls(void)
{
	struct catalogue cat;
	const char *p;

	expect_error("fuzz: a tab and an escape sequence in a bad topic name",
		     "topics:\n  names:\n    health: \"a\\tb\\e[2J\"\n",
		     "3: invalid topic name for 'health': 'a\\x09b\\x1b[2J'");
	check(!strchr(err, '\x1b') && strchr(err, '\n') == err + strlen(err) - 1,
	      "fuzz: ... and the message is one line without the escape");
	expect_error("fuzz: an OSC sequence and a C1 CSI in an unknown key",
		     "cp:\n  tick_ms: 100\n\"\\e]0;x\\a\\u009b\": 1\n",
		     "3: unknown key '\\x1b]0;x\\x07\\xc2\\x9b'");
	p = write_file("cps.yaml", "cps:\n  - {id: \"CP\\n001\", location: a, price: 1}\n");
	check(cat_captured(&cat, p) == -1 &&
	      strstr(err, "cps.yaml:2: invalid CP id: 'CP\\x0a001'\n"),
	      "fuzz: a newline in a bad CP id");
}

static void test_fuzz_findings(void)
{
	test_fuzz_c1_controls();
	test_fuzz_quoted_controls();
}

int main(void)
{
	static const char *const files[] = {
		"evc.yaml", "plain.yaml", "b.yaml", "env.yaml", "flag.yaml", "cps.yaml",
	};

	log_init("conf_test");
	snprintf(dir, sizeof(dir), "/tmp/evc-conf-test.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	unsetenv("EVC_BROKERS");
	unsetenv("EVC_CONFIG");
	unsetenv("STATE_DIRECTORY");
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/home/evc-test", 1);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	test_defaults();
	test_no_file();
	test_full();
	test_forms();
	test_errors();
	test_missing();
	test_web();
	test_broker_file();
	test_precedence();
	test_opts();
	test_catalogue();
	test_examples();
	test_free_after_failure();
	test_catalogue_lines();
	test_cyaml_log();
	test_fuzz_findings();
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(tmp_path(files[i]));
	rmdir(dir);
	return check_done();
}
