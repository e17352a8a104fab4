# Entry points. `make run` and `make test` work on a fresh Debian 12 machine:
# both install missing system packages first (scripts/install-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build run test test-asan fuzz-smoke bench format clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DWXB_WERROR=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# The whole pipeline on the embedded broker, with a demo push (Ctrl-C stops it).
run: build
	@bash scripts/run-local.sh $(BUILD)/bin

test: build
	ctest --test-dir $(BUILD) --output-on-failure

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DWXB_WERROR=ON -DWXB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir $(ASAN_BUILD) --output-on-failure

# Each libFuzzer target for FUZZ_SECONDS (default 20).
fuzz-smoke: deps
	bash fuzz/run.sh $(or $(FUZZ_SECONDS),20)

bench: build
	WXB_BENCH=1 bash scripts/install-deps.sh
	bash bench/ingress.sh $(BUILD)/bin
	bash bench/router.sh $(BUILD)/bin
	bash bench/replier.sh $(BUILD)/bin
	bash bench/pipeline.sh $(BUILD)/bin

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
