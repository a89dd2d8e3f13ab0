# ebm: build, test and demo entry points (CMake does the real work in build/).
PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEBIAN_PACKAGES = cmake g++ make libeigen3-dev libcli11-dev nlohmann-json3-dev doctest-dev libfccp-dev
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test demo install clean datasets check-deps

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

demo: check-deps all
	bash scripts/demo.sh $(BUILD)

datasets: all
	$(BUILD)/make-datasets data

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/ebm-train $(BUILD)/ebm-predict $(BUILD)/ebm-sample $(DESTDIR)$(PREFIX)/bin

clean:
	rm -rf $(BUILD)
