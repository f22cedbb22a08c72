# revserve: `make demo` builds and runs it, `make test` runs the whole suite. Both install the
# Debian packages the build needs when they are missing (as root, or through sudo).

SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

APT_PACKAGES := libhdf5-dev libpng-dev libopenblas-dev zlib1g-dev pkg-config
# The demo talks to the daemon with curl too.
DEMO_APT_PACKAGES := curl
# The checkpoint interoperability tests read and write files with Debian's h5py; the
# tritonclient test makes a virtual environment (python3-venv, needed when python3 is Debian's).
TEST_APT_PACKAGES := python3-h5py python3-venv
SWIFT_RELEASE := -c release
# Tests build with -enable-testing in their own folder, so `make demo` and `make test` do not
# rebuild each other's products.
TEST_FLAGS := -c release -Xswiftc -enable-testing --scratch-path .build-test
REVSERVE := .build/release/revserve

.PHONY: all deps test-deps install-packages build test test-sanitize overload fuzz demo bench bench-kernels bench-compare models clean

all: build

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(APT_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(APT_PACKAGES) $(TEST_APT_PACKAGES)"

install-packages:
	@command -v swift >/dev/null || { echo "error: swift is not on PATH (expected the Swift 6 toolchain in /opt/swift)"; exit 1; }
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build: deps
	swift build $(SWIFT_RELEASE)

# Tests that assert how fast something happens run alone after the rest: in the parallel run
# some forty suites share the machine's cores, and a 5 s "served within seconds" bound measured
# there says more about the neighbours than about the daemon (it failed CI once at 5.4 s; the
# hostile suite's "good requests keep flowing" once saw 3.9 s per good request before it began).
# They also run one after another: run side by side, the overload test's 256 clients slowed the
# hostile suite's daemon enough that its memory check failed CI once (+10.04% against 10%). The
# hot swap test's memory check joins them: how many requests overlap a swap (and so what a
# retired version still holds when it is measured) depends on the neighbours' load too (+0.6–5%
# alone, up to +11.6% in the parallel run, against 10%).
TIMED_TESTS := OverloadTests|killNineFiftyTimesNeverTearsACheckpoint|LoadIsolationTests|killNineUnderLoadThenARestartOnTheSamePathWorksAtOnce|ExtremeValueTests|IndependentProbeTests|aTrainedVersionIsServedWithinSeconds|twentySwapsUnderLoadLoseNothing|HostileInputTests\.HostileInputTests/

test: test-deps
	swift build $(TEST_FLAGS) --build-tests
	swift test $(TEST_FLAGS) --skip-build --skip '$(TIMED_TESTS)'
	swift test $(TEST_FLAGS) --skip-build --no-parallel --filter '$(TIMED_TESTS)'

# libFuzzer with AddressSanitizer on the decoders that take outside bytes (Sources/FuzzTargets),
# FUZZ_SECONDS each (default 300; FUZZ_TARGETS picks targets), from the committed seeds in
# Fuzz/corpus. Inputs that crash land in Fuzz/regressions/TARGET/: fix the bug and commit the
# file; make test replays them all.
# The checkpoint target exercises libhdf5 1.10.8 as much as our reader, and libhdf5 fails on
# damaged files in ways we cannot fix (it loops, it reads past buffers: Fuzz/libhdf5/README.md;
# revserve reads checkpoints only in a child process because of that). So that target runs in
# fork mode, going on past timeouts (10 s), crashes and leaks (libhdf5 leaks ~2 KB on some
# damaged files), and leaves what it found in .build-fuzz/artifacts/checkpoint for triage: a
# fault in libhdf5 goes to Fuzz/libhdf5/checkpoint (replayed through the reading child), one
# in revserve's own code is fixed and goes to Fuzz/regressions/checkpoint.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= png infer config multipart checkpoint transfer
FUZZ_FLAGS := -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
fuzz: test-deps
	swift build $(FUZZ_FLAGS) --product revserve-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t Fuzz/regressions/$$t; \
	  echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  leaks=1; nullok=0; artifacts=Fuzz/regressions/$$t/; mode=""; fatal=1; \
	  if [ $$t = checkpoint ]; then \
	    leaks=0; nullok=1; artifacts=.build-fuzz/artifacts/$$t/; mkdir -p $$artifacts; fatal=0; \
	    mode="-fork=1 -ignore_timeouts=1 -ignore_crashes=1 -ignore_ooms=1 -timeout=10"; \
	  fi; \
	  ASAN_OPTIONS=allocator_may_return_null=$$nullok:detect_leaks=$$leaks SWIFT_BACKTRACE=enable=no REVSERVE_FUZZ_TARGET=$$t \
	    .build-fuzz/release/revserve-fuzz -max_total_time=$(FUZZ_SECONDS) \
	      -max_len=65536 -detect_leaks=$$leaks -print_final_stats=1 -artifact_prefix=$$artifacts $$mode \
	      .build-fuzz/corpus/$$t Fuzz/corpus/$$t || [ $$fatal = 0 ] || exit 1; \
	done
	@found=$$(ls .build-fuzz/artifacts/checkpoint 2>/dev/null | wc -l); \
	echo "checkpoint target: $$found inputs to triage in .build-fuzz/artifacts/checkpoint (see the Makefile's note)"

# The whole suite under ThreadSanitizer, then under AddressSanitizer + LeakSanitizer (optimised
# builds in their own folders; fails on any sanitizer report from any process; slower than CI's
# budget, so not part of `make test`; results in docs/SECURITY.md). scripts/test-sanitize.sh.
test-sanitize: test-deps
	scripts/test-sanitize.sh thread
	scripts/test-sanitize.sh address

# The overload test for a full minute (make test runs it for 8 seconds).
overload: test-deps
	swift build $(TEST_FLAGS) --build-tests
	REVSERVE_OVERLOAD_SECONDS=60 swift test $(TEST_FLAGS) --skip-build --filter OverloadTests

# Starts the daemon on the bundled models, classifies samples/ with `revserve classify` and
# with curl, and stops it (scripts/demo.sh).
demo: build
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEMO_APT_PACKAGES)"
	scripts/demo.sh $(REVSERVE)

bench-kernels: build
	$(REVSERVE) bench kernels

bench: build
	$(REVSERVE) bench kernels
	bench/engine.sh $(REVSERVE)
	bench/serving.sh $(REVSERVE)
	bench/compare.sh --revserve $(REVSERVE)

# revserve against PyTorch and ONNX Runtime only (docs/BENCHMARKS.md); COMPARE="--sections infer".
bench-compare: build
	bench/compare.sh --revserve $(REVSERVE) $(COMPARE)

clean:
	rm -rf .build .build-test

# Retrains the bundled models exactly as models/README.md records (about an hour on two cores).
# The runs publish new versions next to the committed ones.
models: build
	@$(MAKE) --no-print-directory install-packages PACKAGES="dataset-fashion-mnist"
	$(REVSERVE) train --arch hamiltonian --units 2,2,2 --channels 32,64,112 --h 0.5 --dataset fashion-mnist \
	    --epochs 8 --batch-size 100 --lr 0.1 --schedule cosine --warmup-steps 100 --augment on --seed 1 --threads 2 \
	    --repository models --model hamiltonian
	$(REVSERVE) train --resume models/hamiltonian/.training/model.h5 --epochs 12 --threads 1 --repository models --model hamiltonian
	$(REVSERVE) train --arch midpoint --units 2,2,2 --channels 24,48,96 --h 0.5 --dataset fashion-mnist \
	    --epochs 6 --batch-size 100 --lr 0.1 --schedule cosine --warmup-steps 100 --augment on --seed 1 --threads 1 \
	    --repository models --model midpoint
	$(REVSERVE) train --resume models/midpoint/.training/model.h5 --epochs 9 --threads 1 --repository models --model midpoint
	$(REVSERVE) train --resume models/midpoint/.training/model.h5 --epochs 10 --threads 1 --repository models --model midpoint
	$(REVSERVE) train --resume models/midpoint/.training/model.h5 --epochs 12 --threads 2 --repository models --model midpoint
	$(REVSERVE) train --arch leapfrog --units 2,2,2 --channels 24,48,96 --h 0.5 --dataset fashion-mnist \
	    --epochs 6 --batch-size 100 --lr 0.1 --schedule cosine --warmup-steps 100 --augment on --seed 1 --threads 1 \
	    --repository models --model leapfrog
	$(REVSERVE) train --resume models/leapfrog/.training/model.h5 --epochs 8 --threads 2 --repository models --model leapfrog
