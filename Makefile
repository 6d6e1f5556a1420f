# depot — plain Makefile. `make` builds build/depot; `make SANITIZE=address,undefined`
# builds an instrumented copy into build-san/. `make run` and `make test` are the two
# set-up commands from the README.

PKGS      := libmicrohttpd jansson sqlite3 libcrypto libpcre2-8 libpq libcurl expat libarchive
CC        ?= cc
WARN      := -Wall -Wextra -Werror -Wvla -Wstrict-prototypes -Wmissing-prototypes \
             -Wwrite-strings -Wshadow -Wformat=2
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c17 -D_GNU_SOURCE $(WARN) $(SRC_INC) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS    += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

ifdef SANITIZE
BUILD     := build-san
CFLAGS    += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=$(SANITIZE)
else
BUILD     := build
endif

# One folder per layer (docs/ARCHITECTURE.md); every folder is on the include path, so a
# source names a header by its file name alone.
SRC_DIRS  := $(sort $(dir $(wildcard src/*/*.c src/*/*.h)))
SRC_INC   := $(patsubst %/,-I%,$(SRC_DIRS))
HDRS      := $(wildcard src/*/*.h)
SRCS      := $(wildcard src/*/*.c)
LIB_SRCS  := $(filter-out src/cli/main.c,$(SRCS))
# The web interface's files (web/), compiled in as byte arrays (tools/embed_web.py).
WEB_FILES := $(shell find web -type f 2>/dev/null)
WEB_OBJ   := $(BUILD)/obj/web_assets.o
OBJS      := $(SRCS:src/%.c=$(BUILD)/obj/%.o) $(WEB_OBJ)
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o) $(WEB_OBJ)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_TARGETS := route validate auth headers regex semver
FUZZ_SECONDS ?= 60
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)

# Debian packages: what building needs, and what the tests need on top.
BUILD_DEPS := gcc make pkg-config python3 libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libpcre2-dev \
              libpq-dev libcurl4-openssl-dev libexpat1-dev libarchive-dev
TEST_DEPS  := curl jq unzip tar openssl python3 python3-requests python3-gitlab gitlab-cli python3-pytest valgrind strace \
              cppcheck clang-tidy python3-prometheus-client chromium nodejs npm
# The real servers of the scale-out tests (tests/servers): PostgreSQL 15 (and psycopg2, with
# which the suite reads it), a single-host Ceph RGW (see tests/servers/README.md) and HAProxy.
SCALE_DEPS := postgresql-15 python3-psycopg2 ceph-mon ceph-osd radosgw ceph-common uuid-runtime \
              haproxy

.PHONY: all run test unit integration integration-pg integration-s3 integration-migrate integration-nodes valgrind bench torture fuzz fuzz-replay lint deps test-deps \
        scale-deps test-servers test-scale clean
all: $(BUILD)/depot

$(BUILD)/depot: $(OBJS)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/web_assets.c: tools/embed_web.py $(WEB_FILES) | $(BUILD)/gen
	@echo "  EMBED   web/"
	@python3 tools/embed_web.py web $@
$(WEB_OBJ): $(BUILD)/gen/web_assets.c src/web/web_assets.h | $(BUILD)/obj
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

# GET /version's revision: the short git revision (or "unknown" outside a checkout); the
# file changes only when the revision does, so only api_users.c is rebuilt then.
REVISION  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
$(BUILD)/obj/api/api_users.o: CFLAGS += -DDEPOT_REVISION='"$(REVISION)"'
$(BUILD)/obj/api/api_users.o: $(BUILD)/revision
$(BUILD)/revision: FORCE | $(BUILD)/obj
	@echo "$(REVISION)" | cmp -s - $@ || echo "$(REVISION)" > $@
FORCE:

$(BUILD)/unit/%: tests/unit/%.c tests/unit/check.h $(LIB_OBJS) | $(BUILD)/unit
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS)

$(BUILD)/fuzz/replay-%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/replay.c $(LIB_OBJS) | $(BUILD)/fuzz
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB_OBJS) $(LDLIBS)

$(BUILD)/obj $(BUILD)/unit $(BUILD)/fuzz $(BUILD)/gen:
	mkdir -p $@

# Replays the committed corpus of every fuzz target (make test runs it under ASan+UBSan).
fuzz-replay: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay-%)
	@for t in $(FUZZ_TARGETS); do printf "== fuzz corpus %-9s " $$t; \
	  $(BUILD)/fuzz/replay-$$t tests/fuzz/corpus/$$t/* || exit 1; done

# libFuzzer campaigns (clang), FUZZ_SECONDS each; new inputs land in build-fuzz/corpus.
fuzz: deps
	@command -v clang >/dev/null || apt-get install -y -q clang libclang-rt-14-dev
	@mkdir -p build-fuzz build-fuzz/gen
	@python3 tools/embed_web.py web build-fuzz/gen/web_assets.c
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/corpus/$$t; \
	  clang -g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined $(SRC_INC) \
	    $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -o build-fuzz/fuzz-$$t \
	    tests/fuzz/fuzz_$$t.c $(LIB_SRCS) build-fuzz/gen/web_assets.c \
	    $(LDLIBS) || exit 1; \
	  build-fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus/$$t \
	    tests/fuzz/corpus/$$t || exit 1; done

# Installs only what is missing, so a machine that has everything never calls apt-get.
deps:
	@missing=$$(for p in $(BUILD_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi

# A command already on the PATH counts too: Node.js from NodeSource ships npm inside its nodejs
# package, and Debian's npm package conflicts with it.
test-deps: deps
	@missing=$$(for p in $(TEST_DEPS); do dpkg -s $$p >/dev/null 2>&1 || \
	  command -v $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi

# Their package scripts would start the daemons system-wide (PostgreSQL's main cluster on
# 5432, Ceph's units): an executable policy-rc.d exiting 101 keeps them from it. It is
# created only if absent and removed again afterwards, so a machine whose services should
# start from later installs keeps that behaviour; one that already had it keeps its own.
scale-deps: test-deps
	@missing=$$(for p in $(SCALE_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing:" $$missing; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then trap 'rm -f /usr/sbin/policy-rc.d' EXIT INT TERM; \
	    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $$missing; fi

# `make run PORT=8081` when 8080 is taken.
PORT      ?= 8080
run: deps
	$(MAKE) all
	$(BUILD)/depot serve --demo --data ./depot-data --listen 127.0.0.1:$(PORT)

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do echo "== $$t"; ./$$t || exit 1; done

integration: $(BUILD)/depot
	DEPOT_BIN=$(CURDIR)/$(BUILD)/depot /usr/bin/python3 -m pytest -q -x tests/integration

# The suite again with the metadata in PostgreSQL: a private cluster for the session, a fresh
# database per server (tests/integration/conftest.py), plus test_meta_pg.py.
integration-pg: scale-deps $(BUILD)/depot
	DEPOT_TEST_META=pg DEPOT_BIN=$(CURDIR)/$(BUILD)/depot /usr/bin/python3 -m pytest -q -x tests/integration
# The suite again with file contents in a Ceph RGW bucket (tests/servers), 5 MiB parts so
# that multipart uploads are exercised, and the S3 tests (test_s3.py) that need it.
integration-s3: $(BUILD)/depot scale-deps
	DEPOT_TEST_BLOBS=s3 DEPOT_TEST_S3_PART_SIZE=5242880 DEPOT_BIN=$(CURDIR)/$(BUILD)/depot \
	/usr/bin/python3 -m pytest -q -x tests/integration

# depot migrate-store: a registry of 1,000 packages moved from SQLite and blobs/ into the
# session's PostgreSQL and RGW (tests/servers), interrupted, run twice, refusals.
integration-migrate: $(BUILD)/depot scale-deps
	DEPOT_TEST_MIGRATE=1 DEPOT_BIN=$(CURDIR)/$(BUILD)/depot \
	/usr/bin/python3 -m pytest -q -x tests/integration/test_migrate_store.py
# The suite again over two nodes sharing PostgreSQL and the RGW bucket, behind HAProxy
# (round robin, checked on /-/readiness; tests/integration/conftest.py), 5 MiB parts, plus
# the cross-node and fault tests of test_nodes.py.
integration-nodes: $(BUILD)/depot scale-deps
	DEPOT_TEST_NODES=2 DEPOT_TEST_META=pg DEPOT_TEST_BLOBS=s3 DEPOT_TEST_S3_PART_SIZE=5242880 \
	DEPOT_BIN=$(CURDIR)/$(BUILD)/depot /usr/bin/python3 -m pytest -q -x tests/integration

# A short integration subset with the server under valgrind's memcheck: any error or
# definite leak makes the server exit non-zero, which the harness turns into a failure.
valgrind: $(BUILD)/depot
	DEPOT_BIN=$(CURDIR)/$(BUILD)/depot DEPOT_SANITIZED=1 \
	DEPOT_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	/usr/bin/python3 -m pytest -q -x tests/integration/test_upload.py tests/integration/test_clients.py

# cppcheck and clang-tidy (checks in .clang-tidy) over every source: any finding fails.
# Both cores: cppcheck's own jobs, clang-tidy over two halves of the files at once (xargs
# fails when any batch does).
lint:
	@cppcheck -j 2 --enable=warning,performance,portability --std=c11 --inline-suppr --quiet \
	  --error-exitcode=1 $(SRC_INC) -D_GNU_SOURCE $(SRCS)
	@printf '%s\n' $(SRCS) | xargs -P 2 -n 12 sh -c \
	  'clang-tidy --quiet "$$@" -- $(CFLAGS) 2>/dev/null' clang-tidy

# The whole suite: plain build (unit + integration, over SQLite then PostgreSQL), valgrind on
# a subset, then everything again under ASan+UBSan.
test: test-deps
	$(MAKE) -j2 all unit
	$(MAKE) lint
	$(MAKE) integration
	$(MAKE) integration-pg
	$(MAKE) integration-s3
	$(MAKE) integration-migrate
	$(MAKE) integration-nodes
	$(MAKE) valgrind
	$(MAKE) -j2 SANITIZE=address,undefined all unit
	$(MAKE) SANITIZE=address,undefined fuzz-replay
	DEPOT_SANITIZED=1 $(MAKE) SANITIZE=address,undefined integration

# Smoke tests of the test-server harness (tests/servers): each server started from its
# Debian package, checked, stopped. Not part of make test (integration-pg uses PostgreSQL).
test-servers: scale-deps
	/usr/bin/python3 -m pytest -q tests/servers

# Not part of make test (several minutes, 6 GiB of disk): a 6 GiB file up through one node
# and down through another, over PostgreSQL and an RGW on a BlueStore file, with each node's
# peak memory checked; prints its figures.
test-scale: scale-deps $(BUILD)/depot
	DEPOT_TEST_SCALE=1 DEPOT_TEST_META=pg DEPOT_TEST_BLOBS=s3 DEPOT_RGW_OBJECTSTORE=bluestore \
	DEPOT_TEST_S3_PART_SIZE=16777216 DEPOT_BIN=$(CURDIR)/$(BUILD)/depot \
	/usr/bin/python3 -m pytest -q -s tests/integration/test_scale.py

# The crash harness at length: 500 SIGKILLs instead of make test's 50.
torture: $(BUILD)/depot
	DEPOT_BIN=$(CURDIR)/$(BUILD)/depot DEPOT_CRASH_KILLS=500 \
	/usr/bin/python3 -m pytest -q -x tests/integration/test_crash.py

# Not part of make test: several minutes, and it measures, it does not check. The
# scale-out rows need PostgreSQL and Ceph (BENCH_SCALE=0 leaves them out).
bench: scale-deps
	BENCH_LDLIBS="$(LDLIBS)" bash bench/run.sh

clean:
	rm -rf build build-san build-fuzz
