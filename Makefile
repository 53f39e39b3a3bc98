# Lookout: the two commands are `make run` and `make test` (see README.md).
# Everything else here is a building block of those two.
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
BUILD_ASAN := build/asan
BUILD_REL  := build/release
BUILD_FUZZ := build/fuzz
BUILD_TSAN := build/tsan
# Unit tests of state shared across threads, also run under ThreadSanitizer.
TSAN_TESTS := $(foreach t,test_verifier test_log test_shtab test_registry test_audit test_enroll test_spsc,\
	$(if $(wildcard tests/unit/$(t).c),$(t)))
CTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: all deps build release run test unit integration fuzz tsan checksrc bench clean

all: release

deps:
	@scripts/install-deps

release: deps
	@cmake -S . -B $(BUILD_REL) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_REL) -j $(JOBS) --target lookout

build: release

run: release
	@scripts/run-agent $(BUILD_REL)/lookout

# make test: ASan+UBSan build with -Werror, unit + integration suites via
# ctest, then the fuzz smoke runs when clang is present.
test: deps checksrc
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DLK_ASAN=ON -DLK_UBSAN=ON \
		-DLK_WERROR=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory tsan
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

unit: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DLK_ASAN=ON -DLK_UBSAN=ON \
		-DLK_WERROR=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) -L unit

fuzz: deps
	@if command -v clang >/dev/null; then \
		CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DLK_FUZZ=ON \
			-DLK_WERROR=ON >/dev/null && \
		cmake --build $(BUILD_FUZZ) -j $(JOBS) && \
		ctest --test-dir $(BUILD_FUZZ) --output-on-failure -L fuzz; \
	else echo "fuzz: clang not found, skipping the fuzz smoke"; fi

tsan: deps
	@cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=Debug -DLK_TSAN=ON -DLK_WERROR=ON >/dev/null
	@cmake --build $(BUILD_TSAN) -j $(JOBS) --target $(TSAN_TESTS)
	@TSAN_OPTIONS=halt_on_error=1 ctest --test-dir $(BUILD_TSAN) --output-on-failure -L tsan \
		-R '^unit/($(subst $(eval) ,|,$(strip $(TSAN_TESTS))))$$'

checksrc:
	@scripts/checksrc

# make bench: the agent beside HAProxy and nginx on mock-engine, plain and TLS
# (bench/run; options in bench/README.md;
# e.g. make bench BENCH_ARGS='-d 5 -only lookout,haproxy -tls plain'). Never
# part of test.
bench:
	@scripts/install-deps bench
	@cmake -S . -B $(BUILD_REL) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_REL) -j $(JOBS) --target lookout mock-engine lk-load
	@bench/run $(BENCH_ARGS)

clean:
	rm -rf build
