# ebm: build, test and demo entry points (CMake does the real work in build/).
PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEBIAN_PACKAGES = cmake g++ make libeigen3-dev libcli11-dev nlohmann-json3-dev doctest-dev python3 parallel
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: man all deps deps-fuzz deps-dev test demo install clean datasets check-deps test-sanitize fuzz fuzz-build

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

# libFuzzer targets for the CSV reader and the checkpoint loader (clang from Debian),
# configured by fuzz/CMakeLists.txt in build-fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_CXX ?= clang++-14
FUZZ_PACKAGES = clang-14 libclang-rt-14-dev
# Installs the fuzzing toolchain if it is missing.
deps-fuzz:
	@command -v $(FUZZ_CXX) >/dev/null && [ -d /usr/lib/llvm-14/lib/clang ] && dpkg -s $(FUZZ_PACKAGES) >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(FUZZ_PACKAGES); }

# Everything CI needs: the build's packages and the fuzzing toolchain.
deps-dev: deps deps-fuzz

fuzz-build: deps-fuzz
	cmake -S fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=$(FUZZ_CXX)
	cmake --build build-fuzz -j $(JOBS)

# Runs each fuzzer for FUZZ_SECONDS (single-threaded) on a copy of its seed corpus. A
# crash, a sanitizer report, a broken invariant, an input slower than 30 s or an
# allocation above 2 GB fails the target; the input is saved as build-fuzz/crash-*.
# The log is shown in full on failure and as libFuzzer's final statistics otherwise.
fuzz: fuzz-build
	@for target in csv checkpoint; do \
	  rm -rf build-fuzz/corpus-$$target && cp -r fuzz/corpus/$$target build-fuzz/corpus-$$target && \
	  echo "fuzz_$$target: $(FUZZ_SECONDS) s" && \
	  if build-fuzz/fuzz_$$target -max_total_time=$(FUZZ_SECONDS) -max_len=32768 -timeout=30 -rss_limit_mb=2048 \
	       -print_final_stats=1 -artifact_prefix=build-fuzz/crash-$$target- build-fuzz/corpus-$$target \
	       > build-fuzz/fuzz_$$target.log 2>&1; then \
	    grep -E '^(stat::|#[0-9]+ +DONE)' build-fuzz/fuzz_$$target.log; \
	  else \
	    cat build-fuzz/fuzz_$$target.log; echo "fuzz_$$target FAILED: see build-fuzz/crash-$$target-*" >&2; exit 1; \
	  fi; \
	done

demo: check-deps all
	bash scripts/demo.sh $(BUILD)

datasets: all
	$(BUILD)/make-datasets data

# Man pages generated from each tool's --help and --version by help2man (installed on
# demand, like the build's packages), into man/.
MAN_PAGES = man/ebm-train.1 man/ebm-predict.1 man/ebm-sample.1 man/ebm-inspect.1
man: all
	@command -v help2man >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends help2man; }
	mkdir -p man
	help2man --no-info --section=1 --source=ebm --name="train an energy-based regression model p(y|x) on a CSV file" \
	  --output=man/ebm-train.1 $(BUILD)/ebm-train
	help2man --no-info --section=1 --source=ebm --name="predict distributions p(y|x) for the rows of a CSV file" \
	  --output=man/ebm-predict.1 $(BUILD)/ebm-predict
	help2man --no-info --section=1 --source=ebm --name="draw samples from p(y|x) for the rows of a CSV file" \
	  --output=man/ebm-sample.1 $(BUILD)/ebm-sample
	help2man --no-info --section=1 --source=ebm --name="describe a trained ebm model and the importance of its features" \
	  --output=man/ebm-inspect.1 $(BUILD)/ebm-inspect

install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/ebm-train $(BUILD)/ebm-predict $(BUILD)/ebm-sample $(BUILD)/ebm-inspect $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1

clean:
	rm -rf $(BUILD)
