#!/bin/sh
# Runs artstored under valgrind (memcheck), drives every method the CLI
# has (ping, put, put --json, import (PutBatch), get by id and URL, query
# and tags (Query, ListTags), watch (Changes, and a live change through
# the feed thread), backup, delete, stats) plus a few refused
# requests, stops it with SIGTERM and fails on any memory error or leak
# (definite or indirect) in the server.
#
#   tests/valgrind.sh [BUILD_DIR]      # default: ./build
#
# Exit status: 0 clean, 1 errors or leaks (log printed), 2 setup failure.
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
server="$build/server/artstored"
cli="$build/client/artstore"
[ -x "$server" ] && [ -x "$cli" ] || { echo "build $build first" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 2; }

tmp=$(mktemp -d /tmp/as-vg-XXXXXX)
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
export ARTSTORE_SERVER="ipc://$tmp/rpc"
export ARTSTORE_TIMEOUT=20s

valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --error-exitcode=1 \
    --log-file="$tmp/valgrind.log" \
    "$server" --data "$tmp/data" --listen "$ARTSTORE_SERVER" --workers 2 \
    2>"$tmp/server.log" &
pid=$!

i=0
until "$cli" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 120 ] || ! kill -0 $pid 2>/dev/null; then
        echo "server did not start under valgrind" >&2
        cat "$tmp/server.log" "$tmp/valgrind.log" >&2
        kill $pid 2>/dev/null
        exit 2
    fi
    sleep 0.5
done

fail=0
run() {   # run EXPECTED_EXIT CLI-ARGS...: one CLI call, checked
    want=$1; shift
    "$cli" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    got=$?
    if [ $got -ne "$want" ]; then
        echo "artstore $*: exit $got, wanted $want: $(cat "$tmp/err")" >&2
        fail=1
    fi
}

run 0 ping
printf 'Title one\n\nBody one\n' >"$tmp/a.txt"
run 0 put --url https://vg.test/1 --tag World --tag news --source wire "$tmp/a.txt"
id=$(cat "$tmp/out")
run 0 put --url https://vg.test/1 --tag World --tag news --source wire "$tmp/a.txt"
printf 'Title two\n\nBody two\n' >"$tmp/b.txt"
run 0 put --url https://vg.test/1 --tag sport "$tmp/b.txt"
printf '{"url":"https://vg.test/2","title":"J","body":"b","tags":["x"],"meta":{"k":"v"},"authors":["A"]}\n' >"$tmp/c.json"
run 0 put --json "$tmp/c.json"
run 0 get "$id"
run 0 get --url https://vg.test/2 -o json
run 1 get 999999
run 1 put --url 'not a url' "$tmp/a.txt"
run 1 put --url https://vg.test/3 --tag "$(printf 'bad\377')" "$tmp/a.txt"
printf '{"url":"https://vg.test/b%d","title":"B","body":"b","tags":["batch"]}\n' 1 2 3 >"$tmp/batch.jsonl"
run 0 import "$tmp/batch.jsonl"
run 0 query --tag batch --count
run 0 query --tag news --tag world --limit 1 -o json
run 0 tags
run 0 watch --since 0 --limit 3 -o jsonl
run 0 watch --since 0 --tag batch --limit 3
run 1 watch --since 999999 --limit 1
# A watch from the current end gets a change made after it started (from
# the feed, or from Changes if it missed the frame).
"$cli" watch --limit 1 >"$tmp/watch.out" 2>&1 &
wpid=$!
sleep 1
run 0 put --url https://vg.test/late --tag late "$tmp/a.txt"
wait $wpid || { echo "watch of a live change failed" >&2; fail=1; }
run 0 backup "$tmp/backup"
run 1 backup "$tmp/backup"
run 0 delete "$id"
run 1 delete "$id"
run 0 stats
run 0 stats -o json

kill -TERM $pid
wait $pid
vg=$?
if [ $vg -ne 0 ] || [ $fail -ne 0 ]; then
    echo "valgrind exit $vg, CLI failures $fail" >&2
    cat "$tmp/valgrind.log" >&2
    exit 1
fi
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost' "$tmp/valgrind.log"
echo "valgrind: clean"
