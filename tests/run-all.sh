#!/bin/sh
# Sets up and runs every test: the plain build (warnings are errors), then
# the whole suite again under AddressSanitizer + UBSan, then each libFuzzer
# target for a bounded time (FUZZ_SECONDS, default 60).
set -eu
cd "$(dirname "$0")/.."
sh deploy/deps.sh test
jobs=$(nproc)

echo "== plain build"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DARTSTORE_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"
(cd build/test && ctest --output-on-failure -j2)

echo "== ASan + UBSan build"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DARTSTORE_SANITIZE=ON \
  -DARTSTORE_WERROR=ON -DARTSTORE_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan -j"$jobs"
(cd build/asan &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j2)
echo "== fuzzing (libFuzzer, ${FUZZ_SECONDS:-60} s per target)"
FUZZ_BUILD=build/fuzz FUZZ_SECONDS=${FUZZ_SECONDS:-60} sh tests/fuzz/run.sh
echo "all tests passed"
