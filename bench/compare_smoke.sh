#!/bin/sh
# compare_smoke.sh BUILD_DIR: runs each bench/compare workload once, tiny,
# against a real artstored only (CI has no Redis or PostgreSQL server), so
# that the benchmark keeps building and working, then checks the store
# offline. Fails if a workload fails or prints no result line, if --check
# finds a problem or if no article was stored compressed.
set -eu
build=$1
tmp=$(mktemp -d /tmp/as-cs-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
ep="ipc://$tmp/rpc"
"$build/server/artstored" --data "$tmp/data" --listen "$ep" \
  --feed "ipc://$tmp/feed" --log-level warn 2>"$tmp/log" &
pid=$!
i=0
until [ -S "$tmp/rpc" ]; do
  i=$((i + 1)); [ $i -lt 100 ] || { cat "$tmp/log" >&2; exit 1; }
  sleep 0.1
done
cmp="$build/bench/compare"
run() {
  w=$1; shift
  out=$("$cmp" "$w" artstore --server "$ep" "$@" 2>&1) || {
    echo "compare $*: failed: $out" >&2; exit 1; }
  case $out in result*) echo "$out" ;; *) echo "compare $*: $out" >&2; exit 1 ;; esac
}
run seed --articles 200
run ingest --writers 2 --batch 1 --articles 10 --run 1
run ingest --writers 2 --batch 20 --articles 40 --run 2
run get --articles 50 --max-id 200
run getbatch --articles 5 --batch 50 --max-id 200
run qload --articles 500
run query --articles 5
run fanout --articles 5 --run 3
kill "$pid"; wait "$pid" || true; pid=""
# The store is consistent, and its articles (3-5 KB) are stored compressed.
out=$("$build/server/artstored" --check --data "$tmp/data")
echo "$out"
case $out in *"articles (0 compressed)"*) echo "nothing compressed" >&2; exit 1 ;; esac
