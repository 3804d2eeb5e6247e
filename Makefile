# evc: one multicall binary and its role links.
#
# Adding a role: a row in evc.c's table, cmd/ROLE.c, its name in ROLES
# below, man/evc-ROLE.1, and test/t*-ROLE.sh.

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
DESTDIR ?=

CC ?= cc
PKGS = rdkafka jansson libcyaml yaml-0.1 libwebsockets libuv libcrypt libedit
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS ?= -O2 -g
# Kept apart from CFLAGS so that `make CFLAGS=...` (asan, fuzz) keeps them.
EVC_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. $(PKG_CFLAGS) \
	-DEVC_VERSION='"$(VERSION)"'
LDLIBS += $(PKG_LIBS) -lpthread -lm

ROLES = central cp driver auth topics broker status fleet ocpp cps web audit
# lib/webui.c is made from the files of lib/webui/ (lib/webui.sh): each is
# served by evc web at /NAME (openapi.json at /api/openapi.json).
WEBUI = $(sort $(wildcard lib/webui/*))
LIB_SRC = $(filter-out lib/webui.c,$(wildcard lib/*.c)) lib/webui.c
CMD_SRC = $(addprefix cmd/,$(addsuffix .c,$(ROLES)))
OBJ = evc.o $(LIB_SRC:.c=.o) $(CMD_SRC:.c=.o)
LIB_OBJ = $(LIB_SRC:.c=.o)
HDR = $(wildcard lib/*.h) cmd/cmds.h
LINKS = $(addprefix evc-,$(ROLES))
MAN1 = man/evc.1 $(wildcard man/evc-*.1)
MAN5 = $(wildcard man/*.5)
MAN7 = $(wildcard man/*.7)
UNIT_TESTS = $(patsubst %.c,%,$(wildcard test/unit/*.c))

all: evc $(LINKS)

evc: $(OBJ)
	$(CC) $(EVC_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(LDLIBS)

%.o: %.c $(HDR)
	$(CC) $(EVC_CFLAGS) $(CFLAGS) -c -o $@ $<

lib/webui.c: lib/webui.sh $(WEBUI)
	lib/webui.sh $(WEBUI) >$@.tmp && mv $@.tmp $@

$(LINKS): evc
	ln -sf evc $@

test/unit/%: test/unit/%.c test/unit/check.h $(LIB_OBJ) $(HDR)
	$(CC) $(EVC_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

units: $(UNIT_TESTS)

# Installs what the test bed needs (as root), builds, fetches Kafka, tests.
check: deps
	$(MAKE) all units
	test/run.sh

deps:
	@test/deps.sh

# The first thing to run: installs what is missing, builds, and runs a
# small network (Central, three CPs, a driver) on evc broker (test/demo.sh).
demo: deps
	$(MAKE) all
	test/demo.sh

# AddressSanitizer and UndefinedBehaviorSanitizer; `make asan check`
# runs the whole suite on the instrumented binary.
asan:
	$(MAKE) clean
	$(MAKE) all units CFLAGS='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all' \
		LDFLAGS='-fsanitize=address,undefined'

# libFuzzer harnesses (clang) of the message codecs, evc.yaml, the
# catalogue and the audit records: `make fuzz` builds test/fuzz/*_fuzz and runs each one for
# FUZZ_SECONDS seconds (default 60; 0: the seeds once) from a scratch copy
# of test/fuzz/corpus/; it fails, naming the reproducer kept in
# test/fuzz/findings/, when one finds a crash or a broken invariant.
fuzz:
	FUZZ_SECONDS='$(FUZZ_SECONDS)' test/fuzz/run.sh

# Units name the binary and the configuration where they are installed;
# bash-completion finds a command's completion under its own name.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(SYSCONFDIR)/evc $(DESTDIR)$(SYSCONFDIR)/evc/drivers \
		$(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/evc/kafka $(DESTDIR)$(PREFIX)/share/doc/evc
	install -m 755 evc $(DESTDIR)$(BINDIR)/evc
	for r in $(ROLES); do ln -sf evc $(DESTDIR)$(BINDIR)/evc-$$r; done
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	test -z "$(MAN5)" || install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	test -z "$(MAN7)" || install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	install -m 644 etc/evc.yaml $(DESTDIR)$(SYSCONFDIR)/evc/evc.yaml.example
	test ! -f etc/cps.yaml || install -m 644 etc/cps.yaml $(DESTDIR)$(SYSCONFDIR)/evc/cps.yaml.example
	for u in etc/systemd/*.service; do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
			>$(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done
	install -m 644 etc/bash-completion/evc \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/evc
	for r in $(ROLES); do \
		ln -sf evc $(DESTDIR)$(PREFIX)/share/bash-completion/completions/evc-$$r; \
	done
	install -m 644 etc/kafka/* $(DESTDIR)$(PREFIX)/share/evc/kafka/
	chmod 755 $(DESTDIR)$(PREFIX)/share/evc/kafka/acl.sh
	install -m 644 etc/DEPLOY.md $(DESTDIR)$(PREFIX)/share/doc/evc/DEPLOY.md

# The -Werror build, the unit tests, the suite and the demo in a Debian 13
# root that mmdebstrap makes and test/distro.sh caches (as root; a few
# minutes the first time). TESTS='t2000 t3000' runs only those files.
distro-check:
	test/distro.sh $(TESTS)

# evc_VERSION_ARCH.deb for the Debian release this runs on (test/deb.sh):
# built from a copy of the tree with Debian's hardening flags, laid out by
# the install target above, dependencies from dpkg-shlibdeps. DEBDIR
# says where it goes (default: here).
deb:
	test/deb.sh -o '$(or $(DEBDIR),.)'

# Benchmarks, not tests (BENCHMARKS.md): programs in C on lib/*.o, then
# test/bench/run.sh, which starts and stops a Kafka of its own (~10 min).
# bench-progs builds them only (for one section: test/bench/run.sh ingest).
bench: bench-progs
	test/bench/run.sh

bench-progs: all $(LIB_OBJ)
	for b in auth echo ingest bare codec ocpp sse; do \
		$(CC) $(EVC_CFLAGS) $(CFLAGS) $(LDFLAGS) -o test/bench/bench_$$b \
			test/bench/bench_$$b.c test/bench/bench.c $(LIB_OBJ) \
			$(LDLIBS) || exit 1; \
	done

clean:
	rm -f evc $(LINKS) evc.o lib/*.o cmd/*.o lib/webui.c $(UNIT_TESTS)

.PHONY: all units check deps demo asan fuzz install deb distro-check clean bench bench-progs
