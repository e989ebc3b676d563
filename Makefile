# Comanda build. `make` builds the programs into build/bin; `make SAN=1` builds
# the same with AddressSanitizer + UndefinedBehaviorSanitizer into build/san.
# `make help` lists the targets.

SAN      ?= 0
CC       ?= cc
ifeq ($(SAN),1)
BUILD    := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT      := -O1 -g
else
BUILD    := build
SANFLAGS :=
OPT      := -O2 -g
endif

# V=1 shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS     := libprotobuf-c libpq libmongoc-1.0 libbson-1.0 librabbitmq libmicrohttpd json-c libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# NNG is built from third_party/nng (third_party/README.md says why and which
# version) into a static library per build, with CMake and NNG's own warning
# flags: optimized for build/, and for SAN=1 with the same sanitizers and
# NNG's internal assertions on (its Debug type), so a misuse of NNG by lib/rpc
# is caught inside NNG too. The fuzz targets link build/'s.
NNG_SRC  := third_party/nng
NNG_LIB  := $(BUILD)/nng/libnng.a
ifeq ($(SAN),1)
NNG_CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="$(OPT) $(SANFLAGS)"
else
NNG_CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="-g"
endif

CFLAGS   := -std=c17 $(OPT) -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-missing-field-initializers \
            -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DNNG_STATIC_LIB \
            -Ilib -Igen -I$(NNG_SRC)/include $(PKG_CFLAGS) $(SANFLAGS) $(EXTRA_CFLAGS)
# Generated code is compiled with the same warnings except the prototype ones
# protoc-c does not satisfy.
GEN_CFLAGS := $(filter-out -Wmissing-prototypes -Wstrict-prototypes,$(CFLAGS))
LDFLAGS  := $(SANFLAGS) -Wl,--as-needed $(EXTRA_LDFLAGS)
LDLIBS   := $(NNG_LIB) $(PKG_LIBS) -lpthread -lm

PROTOS   := $(sort $(wildcard proto/comanda/*.proto))
GEN_SRC  := $(sort $(wildcard gen/comanda/*.c))
LIB_SRC  := $(sort $(wildcard lib/*.c))
PROGRAMS := gateway svc-user svc-order svc-payment

OBJ      := $(BUILD)/obj
LIB_OBJ  := $(LIB_SRC:%.c=$(OBJ)/%.o) $(GEN_SRC:%.c=$(OBJ)/%.o)
LIBCOMANDA := $(BUILD)/lib/libcomanda.a

# Each program directory: main.c plus modules; the modules also go into the
# unit-test binary, so tests can call a service's pure logic directly.
define program_vars
$(1)_MODS := $$(filter-out $(1)/main.c,$$(sort $$(wildcard $(1)/*.c)))
$(1)_MOD_OBJ := $$($(1)_MODS:%.c=$$(OBJ)/%.o)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_vars,$(p))))

BINS := $(PROGRAMS:%=$(BUILD)/bin/%) $(BUILD)/bin/comanda-probe

TEST_SRC := $(sort $(wildcard tests/unit/*.c tests/unit/*/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(OBJ)/%.o)
ALL_MOD_OBJ := $(foreach p,$(PROGRAMS),$($(p)_MOD_OBJ))

.PHONY: all help config-doc gen openapi check-gen deps up down run test unit integration live clean fuzz fuzz-smoke fuzz-build bench soak
all: $(BINS)

help:
	@echo "make            build build/bin/{gateway,svc-user,svc-order,svc-payment,comanda-probe}"
	@echo "make SAN=1      the same with ASan+UBSan, into build/san"
	@echo "make run        start the whole local stack in the foreground (Ctrl-C stops it)"
	@echo "make up / down  start it in the background / stop it"
	@echo "make test       build with sanitizers and run every test against a private stack"
	@echo "make unit       unit tests only (no servers)"
	@echo "make gen        regenerate gen/ from proto/;  make check-gen fails when gen/ is stale"
	@echo "make openapi    embed docs/openapi.yaml into the gateway (GET /openapi.json) after editing it"
	@echo "make deps       install the Debian packages and FerretDB (root)"
	@echo "make bench      benchmarks on a private stack: table on stdout, build/bench/results.json"
	@echo "make soak       10 min of mixed load on a private stack: RSS per round (BENCH_SOAK_MINUTES)"
	@echo "make fuzz       build the libFuzzer targets (clang, ASan+UBSan) and run each FUZZ_SECONDS (60)"
	@echo "make fuzz-smoke the same, 10 s each (CI)"

$(OBJ)/gen/%.o: gen/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(GEN_CFLAGS) -MMD -MP -c -o $@ $<

# Unit tests see every program's headers: they test the modules directly.
$(OBJ)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(PROGRAMS:%=-I%) -MMD -MP -c -o $@ $<

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# NNG_LIB is a prerequisite (not archived) so that everything linking
# LIBCOMANDA (every program, test and tool) relinks when NNG is rebuilt.
$(LIBCOMANDA): $(LIB_OBJ) $(NNG_LIB)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $(filter %.o,$^)

# Only what Comanda uses: no TLS, no HTTP or WebSocket transports, no tools.
# Its sources are prerequisites so that a patch (third_party/patches)
# rebuilds it; CMake's own build is incremental.
NNG_SOURCES := $(shell find $(NNG_SRC)/src $(NNG_SRC)/include -name '*.[ch]' 2>/dev/null)
$(NNG_LIB): $(NNG_SRC)/CMakeLists.txt $(NNG_SOURCES)
	@echo "  CMAKE   $(NNG_SRC) -> $(@D)"
	@mkdir -p $(@D)
	$(Q)cmake -S $(NNG_SRC) -B $(@D) $(NNG_CMAKE_FLAGS) -DBUILD_SHARED_LIBS=OFF \
	    -DNNG_TESTS=OFF -DNNG_TOOLS=OFF -DNNG_ENABLE_NNGCAT=OFF -DNNG_ENABLE_TLS=OFF \
	    -DNNG_ENABLE_HTTP=OFF >$(@D)/cmake-configure.log 2>&1 \
	    || { cat $(@D)/cmake-configure.log; exit 1; }
	$(Q)cmake --build $(@D) -j $$(nproc) >$(@D)/cmake-build.log 2>&1 \
	    || { cat $(@D)/cmake-build.log; exit 1; }
	$(Q)touch $@

define program_rule
$$(BUILD)/bin/$(1): $$(OBJ)/$(1)/main.o $$($(1)_MOD_OBJ) $$(LIBCOMANDA)
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rule,$(p))))

$(BUILD)/bin/comanda-probe: $(OBJ)/tools/probe.o $(LIBCOMANDA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/configdoc: $(OBJ)/tools/configdoc.o $(LIBCOMANDA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The README's configuration table, from lib/cfg.def.
config-doc: $(BUILD)/tools/configdoc
	@$(BUILD)/tools/configdoc

$(BUILD)/tests/unit: $(TEST_OBJ) $(ALL_MOD_OBJ) $(LIBCOMANDA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The C programs the integration scripts drive against the stack's servers:
# every tests/integration/*_live.c, each linked with live.c (how it reports)
# and libcomanda, plus the objects named below for the ones that need a
# service's code; `make live` builds them all. Each one's header says what it
# checks and which script runs it (each script builds its own through
# lib.sh's live_build).
LIVE_PROGS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/*_live.c))
live: $(LIVE_PROGS)
$(BUILD)/tests/order_relay_live: $(OBJ)/svc-order/order_relay_lock.o
$(BUILD)/tests/payment_sim_live: $(OBJ)/svc-payment/payment_processor.o
$(LIVE_PROGS): $(BUILD)/tests/%: $(OBJ)/tests/integration/%.o $(OBJ)/tests/integration/live.o $(LIBCOMANDA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCOMANDA) $(LDLIBS)

# ---- contracts -------------------------------------------------------------
gen:
	rm -rf gen/comanda
	protoc-c -Iproto --c_out=gen $(PROTOS)
	python3 tools/stubgen.py gen $(PROTOS)
	python3 tools/embed_sql.py svc-user user
	python3 tools/embed_sql.py svc-payment payment
	python3 tools/embed_openapi.py

# The OpenAPI document served at /openapi.json, after editing docs/openapi.yaml.
openapi:
	python3 tools/embed_openapi.py

check-gen:
	@tmp=$$(mktemp -d) && protoc-c -Iproto --c_out=$$tmp $(PROTOS) && \
	python3 tools/stubgen.py $$tmp $(PROTOS) && \
	if diff -r $$tmp/comanda gen/comanda >/dev/null; then echo "gen/ is up to date"; rm -rf $$tmp; \
	else diff -r $$tmp/comanda gen/comanda | head -40; rm -rf $$tmp; \
	echo "gen/ is stale: run make gen and commit"; exit 1; fi
	@python3 tools/embed_sql.py --check svc-user user && python3 tools/embed_sql.py --check svc-payment payment
	@python3 tools/embed_openapi.py --check && echo "gateway/gw_openapi_doc.c matches docs/openapi.yaml"

# ---- running and testing ---------------------------------------------------
deps:
	scripts/deps.sh

# up and run install what is missing first (as make test does), so that one
# command runs the system on a fresh Debian machine; the build runs in a new
# make, which sees the libraries just installed.
up:
	@scripts/deps.sh --check >/dev/null 2>&1 || scripts/deps.sh
	$(MAKE) all
	scripts/stack.sh up

down:
	scripts/stack.sh down

run:
	@scripts/deps.sh --check >/dev/null 2>&1 || scripts/deps.sh
	$(MAKE) all
	scripts/stack.sh run

unit: $(BUILD)/tests/unit
	$(BUILD)/tests/unit

test:
	scripts/test.sh

# The benchmarks' own programs (docs/PERFORMANCE.md); bench/samples.c is
# what their clients share.
BENCH_BINS := $(BUILD)/bench/rpc_bench $(BUILD)/bench/rpc_echo_server $(BUILD)/bench/nng_floor

# The direct-RPC client of the benchmarks.
$(BUILD)/bench/rpc_bench: $(OBJ)/bench/rpc_bench.o $(OBJ)/bench/samples.o $(LIBCOMANDA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The "RPC runtime with no work" floor: comanda.Echo served through lib/rpc.
$(BUILD)/bench/rpc_echo_server: $(OBJ)/bench/rpc_echo_server.o $(LIBCOMANDA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The "NNG alone" floor: a REQ/REP echo with none of Comanda's code on the
# request path.
$(BUILD)/bench/nng_floor: $(OBJ)/bench/nng_floor.o $(OBJ)/bench/samples.o $(LIBCOMANDA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench: all $(BENCH_BINS)
	bench/run.sh

# The soak alone (bench/run.sh, "soak"): memory under a steady mix.
soak: all $(BENCH_BINS)
	BENCH_ONLY=soak bench/run.sh

# ---- fuzzing ---------------------------------------------------------------
# libFuzzer targets tests/fuzz/fuzz_*.c, built with clang under ASan+UBSan into
# build/fuzz (lib/, gen/ and the gateway's modules are compiled again there
# with coverage instrumentation). `make fuzz` runs each for FUZZ_SECONDS on its
# seed corpus tests/fuzz/corpus/<target>/ (new inputs go to build/fuzz/corpus/);
# a crash leaves its reproducer in tests/fuzz/crashes/. See tests/fuzz/README.md.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_OBJ     := $(FUZZ_DIR)/obj
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := $(filter-out $(OPT) $(SANFLAGS),$(CFLAGS)) -O1 -g -Igateway $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_GEN_CFLAGS := $(filter-out -Wmissing-prototypes -Wstrict-prototypes,$(FUZZ_CFLAGS))
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/bin/%)
FUZZ_DEPS    := $(FUZZ_DIR)/lib/libfuzzdeps.a

$(FUZZ_OBJ)/gen/%.o: gen/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_GEN_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

# An archive, so each target links only the objects it uses.
$(FUZZ_DEPS): $(LIB_SRC:%.c=$(FUZZ_OBJ)/%.o) $(GEN_SRC:%.c=$(FUZZ_OBJ)/%.o) $(gateway_MODS:%.c=$(FUZZ_OBJ)/%.o) $(NNG_LIB)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $(filter %.o,$^)

$(FUZZ_DIR)/bin/%: $(FUZZ_OBJ)/tests/fuzz/%.o $(FUZZ_DEPS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# keep the targets' objects (make would delete them as intermediates)
.PRECIOUS: $(FUZZ_OBJ)/%.o

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	tests/fuzz/run.sh 10 $(FUZZ_BINS)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
