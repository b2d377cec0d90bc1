#!/bin/sh
# Installs the Debian 12 packages artstore needs, if any are missing.
#   deploy/deps.sh          what building and running the server needs
#   deploy/deps.sh test     that, plus what the full test run needs (and
#                           what bench/ links: hiredis, libpq; bench/compare
#                           installs the Redis and PostgreSQL servers itself)
# The dashboard is built with node and npm (npm ci fetches its pinned build
# tools from the npm registry); a node already on PATH is used as it is.
set -eu
pkgs="build-essential cmake pkg-config libprotobuf-c-dev protobuf-c-compiler
libnanomsg-dev liblmdb-dev libjansson-dev libunistring-dev libxxhash-dev
libinih-dev libsystemd-dev libzstd-dev libraft-dev libuv1-dev
libmicrohttpd-dev"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  pkgs="$pkgs nodejs npm"
fi
if [ "${1:-}" = test ]; then
  # chromium and python3: the dashboard's browser test.
  pkgs="$pkgs check libsubunit-dev clang libclang-rt-14-dev valgrind
lmdb-utils nanomsg-utils protobuf-compiler libhiredis-dev libpq-dev faketime
chromium python3"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
