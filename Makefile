# lowdim — the commands a newcomer runs. Every target installs what it needs
# (Debian packages, via apt-get) before building.
#
#   make demo            JL distortion experiment on Fashion-MNIST (table + SVG plot)
#   make test            build and run every test (ctest)
#   make test-sanitize   the whole test suite under AddressSanitizer + UBSan
#   make bench           benchmarks and peer comparisons (ratios from one run)
#   make fuzz            libFuzzer runs of every file reader: 10^6 executions or 300 s per target
#   make docs            the API reference (Doxygen; an undocumented public name fails it)
#   make deps | build | install PREFIX=... | clean

SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 300
FUZZ_RUNS ?= 1000000

PACKAGES_BUILD := cmake make g++ pkg-config libopenblas-dev liblapacke-dev libfmt-dev catch2 \
  libcli11-dev librandom123-dev zlib1g-dev
PACKAGES_TEST := tmux bsdutils python3 python3-numpy python3-sklearn python3-threadpoolctl python3-dev pybind11-dev python3-pip python3-setuptools python3-wheel
PACKAGES_DEMO := dataset-fashion-mnist
PACKAGES_BENCH := libbenchmark-dev python3-sklearn python3-faiss python3-hnswlib python3-torch python3-threadpoolctl
PACKAGES_FUZZ := clang libclang-rt-14-dev libomp-dev
PACKAGES_DOCS := doxygen
PACKAGES_MPI := libopenmpi-dev openmpi-bin
PACKAGES := $(PACKAGES_BUILD) $(PACKAGES_TEST) $(PACKAGES_DEMO) $(PACKAGES_BENCH) $(PACKAGES_FUZZ) $(PACKAGES_DOCS) $(PACKAGES_MPI)

# Installs only what is missing; says what to run when it cannot (not root).
define install_packages
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing missing Debian packages:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "error: these packages are missing and you are not root: $$missing"; \
	    echo "run: sudo apt-get install $$missing"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || { echo "error: apt-get could not install: $$missing"; exit 1; }; \
	fi
endef

.PHONY: all deps deps-build deps-test deps-demo deps-bench deps-fuzz deps-docs build test test-sanitize demo bench fuzz docs install clean

all: build

deps: ; $(call install_packages,$(PACKAGES))
deps-build: ; $(call install_packages,$(PACKAGES_BUILD))
deps-test: ; $(call install_packages,$(PACKAGES_BUILD) $(PACKAGES_TEST) $(PACKAGES_DEMO) $(PACKAGES_MPI))
deps-demo: ; $(call install_packages,$(PACKAGES_BUILD) $(PACKAGES_DEMO))
deps-bench: ; $(call install_packages,$(PACKAGES_BUILD) $(PACKAGES_BENCH) $(PACKAGES_DEMO))
deps-fuzz: ; $(call install_packages,$(PACKAGES_BUILD) $(PACKAGES_FUZZ))
deps-docs: ; $(call install_packages,$(PACKAGES_DOCS))

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps-build $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-sanitize: deps-test
	cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOWDIM_SANITIZE=ON
	cmake --build build-sanitize -j $(JOBS)
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 ctest --output-on-failure -j $(JOBS)

demo: deps-demo build
	@bash tools/demo.sh $(BUILD)

bench: deps-bench
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DLOWDIM_BUILD_BENCHMARKS=ON -DLOWDIM_BUILD_TESTS=OFF
	cmake --build build-bench -j $(JOBS)
	@bash benchmarks/run.sh build-bench

fuzz: deps-fuzz
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOWDIM_BUILD_FUZZERS=ON \
	  -DLOWDIM_BUILD_TESTS=OFF -DLOWDIM_BUILD_TOOLS=OFF -DLOWDIM_WITH_MPI=OFF
	cmake --build build-fuzz -j $(JOBS)
	@bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_RUNS)

docs: deps-docs
	@rm -rf build-docs
	doxygen docs/Doxyfile
	@echo "API reference: build-docs/html/index.html"

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf build build-sanitize build-bench build-fuzz build-docs
