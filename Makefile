# ebm: build, test and demo entry points (CMake does the real work in build/).
PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEBIAN_PACKAGES = cmake g++ make libeigen3-dev libcli11-dev nlohmann-json3-dev doctest-dev libfccp-dev
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps deps-fuzz test demo install clean datasets check-deps test-sanitize fuzz

all: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

# Installs the Debian packages the build needs (with sudo when not root).
deps:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

# Installs the packages only if one of them is missing.
check-deps:
	@missing=0; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing=1; done; \
	if [ $$missing = 1 ]; then $(MAKE) deps; fi

test: check-deps all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole test suite (unit tests and CLI scripts) built with AddressSanitizer and
# UndefinedBehaviorSanitizer; any finding aborts the test that triggered it.
test-sanitize: check-deps
	cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBM_SANITIZE=address,undefined -DEBM_BENCH=OFF
	cmake --build build-sanitize -j $(JOBS)
	cd build-sanitize && ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

# libFuzzer targets for the CSV reader and the checkpoint loader (clang from Debian).
FUZZ_SECONDS ?= 60
FUZZ_CXX ?= clang++-14
FUZZ_FLAGS = -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Ilib -I/usr/include/eigen3 -DEBM_VERSION='"fuzz"' -DEIGEN_DONT_PARALLELIZE
deps-fuzz:
	@command -v $(FUZZ_CXX) >/dev/null && [ -d /usr/lib/llvm-14/lib/clang ] && dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev; }

build-fuzz/fuzz_csv: fuzz/fuzz_csv.cpp lib/ebm/*.cpp lib/ebm/*.h
	mkdir -p build-fuzz
	$(FUZZ_CXX) $(FUZZ_FLAGS) fuzz/fuzz_csv.cpp lib/ebm/csv.cpp -o $@

build-fuzz/fuzz_checkpoint: fuzz/fuzz_checkpoint.cpp lib/ebm/*.cpp lib/ebm/*.h
	mkdir -p build-fuzz
	$(FUZZ_CXX) $(FUZZ_FLAGS) fuzz/fuzz_checkpoint.cpp lib/ebm/checkpoint.cpp lib/ebm/csv.cpp lib/ebm/model.cpp \
	  lib/ebm/nn.cpp -o $@ -lpthread

# Runs each fuzzer for FUZZ_SECONDS on a copy of the seed corpus; a crash fails the target.
fuzz: deps-fuzz build-fuzz/fuzz_csv build-fuzz/fuzz_checkpoint
	for target in csv checkpoint; do \
	  rm -rf build-fuzz/corpus-$$target && cp -r fuzz/corpus/$$target build-fuzz/corpus-$$target && \
	  build-fuzz/fuzz_$$target -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/crash-$$target- build-fuzz/corpus-$$target || exit 1; \
	done

demo: check-deps all
	bash scripts/demo.sh $(BUILD)

datasets: all
	$(BUILD)/make-datasets data

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/ebm-train $(BUILD)/ebm-predict $(BUILD)/ebm-sample $(DESTDIR)$(PREFIX)/bin

clean:
	rm -rf $(BUILD)
