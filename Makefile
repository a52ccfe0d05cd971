# hubrt — build, test, bench, install.  `make help` lists the targets.
#
# Sources are picked up by folder: hf/ kernels/ tokenizer/ models/ runtime/ chat/ go
# into libhubrt; tools/run-model.c + tools/cli_*.c make run-model; every
# tests/test_*.c is one test binary; every bench/bench-*.c one bench binary.
# Files named *_avx2.c / *_avx512.c get their ISA flags (and only they do when
# PORTABLE=1), so the fast paths are chosen at run time from CPUID.

CC      ?= gcc
CXX     ?= g++
PREFIX  ?= /usr/local
BUILD   ?= build
PORTABLE ?= 0
VERSION := $(shell sed -n 's/^\#define HUBRT_VERSION "\(.*\)"/\1/p' include/hubrt.h)

PKGS      := libcjson libpcre2-8 libutf8proc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lsentencepiece

ifeq ($(PORTABLE),1)
ARCH := -march=x86-64 -mtune=generic
else
ARCH := -march=native
endif

OPT      ?= -O2
SAN      ?=
WARN     := -Wall -Wextra -Werror
CPPFLAGS := -I. -Iinclude -D_GNU_SOURCE $(PKG_CFLAGS)
# OpenBLAS only for bench-kernels, which sets the kernels beside cblas_sgemm;
# the library does not link it (its start-up spins under a memory limit).
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null)
CFLAGS   := -std=c11 $(OPT) -g $(ARCH) $(WARN) -fPIC -fopenmp -fvisibility=hidden $(SAN)
CXXFLAGS := -std=c++17 $(OPT) -g $(ARCH) $(WARN) -fPIC -fvisibility=hidden $(SAN)
LDLIBS   := $(PKG_LIBS) -lstdc++ -lm -fopenmp $(SAN)
AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni

LIB_C   := $(sort $(wildcard hf/*.c kernels/*.c tokenizer/*.c models/*.c runtime/*.c chat/*.c))
LIB_CC  := $(sort $(wildcard tokenizer/*.cc))
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_CC:%.cc=$(BUILD)/obj/%.o)
CLI_C   := tools/run-model.c $(sort $(wildcard tools/cli_*.c)) $(sort $(wildcard tools/serve_*.c))
CLI_OBJ := $(CLI_C:%.c=$(BUILD)/obj/%.o)
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(sort $(wildcard tests/test_*.c)))
TESTS_CXX := $(BUILD)/tests/test_include_header_cxx
BENCHES := $(patsubst bench/%.c,$(BUILD)/%,$(sort $(wildcard bench/bench-*.c)))
FIXTURE_OBJ := $(BUILD)/obj/tests/fixtures/test_model.o $(BUILD)/obj/tests/fixtures/test_model_quant.o

.PHONY: all deps test asan tsan bench install uninstall clean help fuzz fuzz-run

# Library (static + shared), the CLI and the helper tools.
all: $(BUILD)/libhubrt.a $(BUILD)/libhubrt.so $(BUILD)/run-model

help:
	@echo "make deps      install the Debian packages hubrt needs (root or sudo)"
	@echo "make           build build/libhubrt.{a,so} and build/run-model (PORTABLE=1: generic x86-64)"
	@echo "make test      build and run the test suite"
	@echo "make asan      the test suite under AddressSanitizer + UBSan (in build-asan/)"
	@echo "make tsan      the multi-threaded tests under ThreadSanitizer (in build-tsan/)"
	@echo "make bench     build the benchmarks (build/bench-*)"
	@echo "make fuzz-run  build the libFuzzer targets and run each SECONDS=60 seconds"
	@echo "make install   PREFIX=... header, libraries, hubrt.pc, run-model"

# Debian packages: compiler, pkg-config, OpenBLAS (OpenMP build), cJSON,
# sentencepiece, PCRE2, utf8proc; libmicrohttpd for `run-model serve`, and
# curl + haproxy for its tests. Then the npm packages of the server tests
# (tests/serve/package.json: the official OpenAI client), when npm is there.
DEB_PACKAGES := build-essential g++ pkg-config libopenblas-openmp-dev libcjson-dev \
                libsentencepiece-dev libpcre2-dev libutf8proc-dev clang libclang-rt-14-dev \
                libmicrohttpd-dev curl haproxy
deps:
	$(if $(shell [ `id -u` = 0 ] || echo sudo),sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEB_PACKAGES)
	@if command -v npm >/dev/null; then npm ci --prefix tests/serve --no-audit --no-fund; \
	else echo "npm not found: the OpenAI client tests of run-model serve will be skipped"; fi

$(BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libhubrt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libhubrt.so: $(LIB_OBJ)
	$(CXX) -shared -o $@ $^ -Wl,--version-script=include/hubrt.map $(LDLIBS)

# The HTTP server of `run-model serve` (libmicrohttpd) is linked into run-model only.
SERVE_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd) -lpthread
$(BUILD)/run-model: $(CLI_OBJ) $(BUILD)/libhubrt.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libhubrt.a $(LDLIBS) $(SERVE_LIBS)

# Test fixtures (random hub-format models) are linked into the tests and the
# make-model tool, never into libhubrt.
$(BUILD)/make-model: $(BUILD)/obj/tests/fixtures/make-model.o $(FIXTURE_OBJ) $(BUILD)/libhubrt.a
	$(CC) -o $@ $(filter %.o,$^) $(BUILD)/libhubrt.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(FIXTURE_OBJ) $(BUILD)/libhubrt.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(FIXTURE_OBJ) $(BUILD)/libhubrt.a $(TEST_LDFLAGS) $(LDLIBS)

# The allocation-failure sweep routes every allocation of libhubrt through
# its own failing allocator.
$(BUILD)/tests/test_runtime_nomem: TEST_LDFLAGS := \
	-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=posix_memalign,--wrap=strdup

# The public header compiled as C++ (test_include_header.c compiles it as C99).
$(TESTS_CXX): tests/test_include_header.c include/hubrt.h $(BUILD)/libhubrt.a
	@mkdir -p $(dir $@)
	$(CXX) -x c++ -std=c++11 $(WARN) $(CPPFLAGS) $(SAN) -o $@ $< -x none $(BUILD)/libhubrt.a $(LDLIBS)

$(BUILD)/bench-%: $(BUILD)/obj/bench/bench-%.o $(BUILD)/libhubrt.a
	$(CC) -o $@ $< $(BUILD)/libhubrt.a $(BENCH_LIBS) $(LDLIBS)
$(BUILD)/obj/bench/bench-kernels.o: CPPFLAGS += $(BLAS_CFLAGS)
$(BUILD)/bench-kernels: BENCH_LIBS := $(BLAS_LIBS)

# Runs every test binary from the repo root, then the checks that keep the
# layers one-way and the exports equal to hubrt.h; the last line is the summary.
CHECKS := tests/check_layers.sh tests/check_symbols.sh
test: all $(BUILD)/make-model $(TESTS) $(TESTS_CXX)
	HUBRT_BUILD=$(BUILD) tests/run.sh $(TESTS) $(TESTS_CXX) $(CHECKS)

# The same suite under AddressSanitizer + UBSan, in its own build folder.
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# The multi-threaded tests (one model shared by several threads) under
# ThreadSanitizer, in their own build folder. Each pass runs a team of one:
# libgomp is not instrumented, so its barriers would be reported as races.
# test_tools_serve runs the server (build-tsan/run-model: HTTP threads and the
# engine thread) with one thread per pass.
TSAN_TESTS := test_runtime_threads test_runtime_readonly test_runtime_chat test_tools_serve
tsan:
	$(MAKE) BUILD=build-tsan OPT=-O1 SAN="-fsanitize=thread" $(TSAN_TESTS:%=build-tsan/tests/%) build-tsan/run-model build-tsan/make-model
	HUBRT_BUILD=build-tsan HUBRT_TEST_TEAM=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" tests/run.sh $(TSAN_TESTS:%=build-tsan/tests/%)

bench: $(BENCHES) $(BUILD)/make-model

# libFuzzer targets for the parsers (clang, ASan+UBSan), each built from the few
# sources it needs: `make fuzz`, then e.g. build/fuzz/fuzz_safetensors -max_total_time=60.
# To add one: list tests/fuzz/fuzz_X.c and its sources below and in FUZZ_TARGETS.
FUZZ_TARGETS := $(BUILD)/fuzz/fuzz_safetensors $(BUILD)/fuzz/fuzz_config
$(BUILD)/fuzz/fuzz_safetensors: tests/fuzz/fuzz_safetensors.c hf/safetensors.c hf/jsonfile.c hf/error.c
$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c hf/config.c hf/jsonfile.c hf/error.c
# The tokenizer targets: tokenizer/ + the sentencepiece
# wrapper, compiled once with clang++ under the same sanitizers. Seeds: small
# hand-written files in tests/fuzz/corpus_tokenizer_{json,encode}; `make fuzz`
# copies stories260K's 8 KB tokenizer.model into build/fuzz/corpus_sentencepiece.
# Run one at a time, e.g. build/fuzz/fuzz_tokenizer_json -max_total_time=300
# -rss_limit_mb=4096 build/fuzz/work_json tests/fuzz/corpus_tokenizer_json
# (the first folder collects new inputs).
# Needs clang and Debian's libclang-rt-14-dev (in DEB_PACKAGES: CI fuzzes).
FUZZ_TOK_SRC := $(sort $(wildcard tokenizer/*.c)) hf/error.c \
                hf/jsonfile.c $(BUILD)/fuzz/sentencepiece_c.o
FUZZ_TOK_LIBS := -lpcre2-8 -lutf8proc -lsentencepiece -lstdc++
FUZZ_TARGETS += $(BUILD)/fuzz/fuzz_tokenizer_json $(BUILD)/fuzz/fuzz_tokenizer_encode $(BUILD)/fuzz/fuzz_sentencepiece
$(BUILD)/fuzz/fuzz_tokenizer_json: tests/fuzz/fuzz_tokenizer_json.c $(FUZZ_TOK_SRC)
$(BUILD)/fuzz/fuzz_tokenizer_encode: tests/fuzz/fuzz_tokenizer_encode.c $(FUZZ_TOK_SRC)
$(BUILD)/fuzz/fuzz_sentencepiece: tests/fuzz/fuzz_sentencepiece.c $(FUZZ_TOK_SRC)
$(BUILD)/fuzz/fuzz_tokenizer_json $(BUILD)/fuzz/fuzz_tokenizer_encode: tests/fuzz/fuzz_common.h $(wildcard tokenizer/*.h)
$(BUILD)/fuzz/fuzz_tokenizer_json $(BUILD)/fuzz/fuzz_tokenizer_encode $(BUILD)/fuzz/fuzz_sentencepiece: FUZZ_LIBS := $(FUZZ_TOK_LIBS)
# The chat-template engine: chat/ alone (with hf/error.c and utf8proc). Seeds:
# real templates and snippets in tests/fuzz/corpus_chat_template, e.g.
# build/fuzz/fuzz_chat_template -max_total_time=120 -dict=tests/fuzz/chat_template.dict
# build/fuzz/work_chat tests/fuzz/corpus_chat_template
FUZZ_TARGETS += $(BUILD)/fuzz/fuzz_chat_template
$(BUILD)/fuzz/fuzz_chat_template: tests/fuzz/fuzz_chat_template.c $(sort $(wildcard chat/*.c)) hf/error.c $(wildcard chat/*.h)
$(BUILD)/fuzz/fuzz_chat_template: FUZZ_LIBS := -lutf8proc
$(BUILD)/fuzz/sentencepiece_c.o: tokenizer/sentencepiece_c.cc tokenizer/sentencepiece_c.h
	@mkdir -p $(dir $@)
	clang++ -std=c++17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=vptr $(CPPFLAGS) -c -o $@ $<
$(BUILD)/fuzz/fuzz_%:
	@mkdir -p $(dir $@)
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(CPPFLAGS) -o $@ $(filter %.c %.o,$^) $(shell pkg-config --libs libcjson) $(FUZZ_LIBS)
fuzz: $(FUZZ_TARGETS)
	@mkdir -p $(BUILD)/fuzz/corpus_sentencepiece
	-cp -f ../shared/models/stories260K/tokenizer.model $(BUILD)/fuzz/corpus_sentencepiece/stories260K.model

# Every fuzz target for SECONDS each (CI runs this); a finding fails the run
# and the log carries the reproducer.
SECONDS ?= 60
fuzz-run: fuzz
	HUBRT_BUILD=$(BUILD) tests/fuzz/run.sh $(SECONDS)

install: all
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' hubrt.pc.in > $(BUILD)/hubrt.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/hubrt.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libhubrt.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libhubrt.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/hubrt.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(BUILD)/run-model $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The public header must compile as strict C99 too.
$(BUILD)/obj/tests/test_include_header.o: CFLAGS += -std=c99 -pedantic
