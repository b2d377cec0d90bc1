#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# a bounded time, starting from the seed corpus in tests/fuzz/corpus/.
#
#   tests/fuzz/run.sh                 # 60 s per target
#   FUZZ_SECONDS=300 tests/fuzz/run.sh
#   FUZZ_BUILD=/tmp/fz FUZZ_JOBS=1 tests/fuzz/run.sh
#
# Exit status: 0 when no target found a crash, leak or sanitizer error;
# 1 otherwise (the reproducer is left in the build dir as crash-*/leak-*).
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$src/build-fuzz}
mkdir -p "$build"
build=$(cd "$build" && pwd)   # the fuzzers run from inside it
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}

# Without the dashboard: the fuzzers do not need it, and CI thereby builds
# the server the way a machine without node would.
CC=${CC:-clang} cmake -S "$src" -B "$build" -DARTSTORE_FUZZ=ON \
    -DARTSTORE_BUILD_TESTS=OFF -DARTSTORE_BUILD_BENCH=OFF \
    -DARTSTORE_DASHBOARD=OFF \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_request fuzz_json fuzz_spframe \
    fuzz_gen_corpus

# The request seeds are generated (valid envelopes), the JSON ones are
# committed; the fuzzers add what they find in a scratch corpus.
mkdir -p "$src/tests/fuzz/corpus/fuzz_request"
"$build/tests/fuzz/fuzz_gen_corpus" "$src/tests/fuzz/corpus/fuzz_request"

status=0
for t in fuzz_request fuzz_json fuzz_spframe; do
    work="$build/corpus-$t"
    mkdir -p "$work"
    # fuzz_spframe starts from nothing: no seed corpus is committed.
    seeds="$src/tests/fuzz/corpus/$t"
    [ -d "$seeds" ] || seeds=""
    echo "== $t for ${seconds}s"
    # detect_leaks: a leak in a handler is a finding like a crash.
    if ! (cd "$build" && ASAN_OPTIONS=detect_leaks=1 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
          "./tests/fuzz/$t" -max_total_time="$seconds" -max_len=65536 \
          -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          "$work" $seeds 2>&1 | tee "$build/$t.log" |
          grep -E '^(#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)'); then
        :
    fi
    if ! grep -q 'stat::number_of_executed_units' "$build/$t.log"; then
        echo "$t: did not run to the end, see $build/$t.log"
        status=1
    elif grep -qE '==[0-9]+==ERROR|runtime error|SUMMARY: (Address|Undefined|Leak)' "$build/$t.log"; then
        echo "$t: FOUND a problem, see $build/$t.log"
        status=1
    fi
done
exit $status
