#!/bin/sh
# Sets up and runs artstored on its defaults (data in ./artstore-data,
# requests on tcp://127.0.0.1:7400). Extra arguments go to artstored.
set -eu
cd "$(dirname "$0")/.."
sh deploy/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release \
  -DARTSTORE_BUILD_TESTS=OFF -DARTSTORE_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
exec build/release/server/artstored "$@"
