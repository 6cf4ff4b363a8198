# Front door: `make demo` and `make test` install what is missing, build, and run.
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
FUZZ_DIR  ?= build-fuzz
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build install demo test test-asan fuzz bench format clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The binary, the systemd unit, the docs and (if absent) /etc/soroka/soroka.toml; see
# docs/deploy.en.md. PREFIX defaults to /usr/local; DESTDIR is honoured.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)
	@echo "then: systemctl daemon-reload && systemctl enable --now soroka"

demo: build
	@./scripts/demo.sh $(BUILD_DIR)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer. The service's workers
# run the release binary (SOROKA_WORKER_BINARY): a sanitized worker carries hundreds of MiB of
# shadow memory and quarantine, more than the cgroup limits the service tests are sized for.
test-asan: build
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DSOROKA_SANITIZE=ON -DSOROKA_BUILD_BENCH=OFF
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && SOROKA_WORKER_BINARY=$(abspath $(BUILD_DIR))/soroka \
	  ctest --output-on-failure -j $(JOBS) --timeout 600

# libFuzzer targets (fuzz/) under ASan+UBSan, built with clang 16 (clang 14 cannot compile
# libstdc++'s <expected>), each run for FUZZ_SECONDS (default 60) or FUZZ_RUNS executions;
# fails if any target crashes, leaks or breaks an invariant. See scripts/run-fuzz.sh.
fuzz:
	@./scripts/install-deps.sh --fuzz
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOROKA_FUZZ=ON -DSOROKA_BUILD_TESTS=OFF -DSOROKA_BUILD_BENCH=OFF
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target soroka_fuzzers
	./scripts/run-fuzz.sh $(FUZZ_DIR)

bench: build
	@./bench/run-all.sh $(BUILD_DIR)

format:
	find src tests bench -name '*.cpp' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
