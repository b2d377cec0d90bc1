#!/bin/sh
# install_test.sh BUILD_DIR - installs artstore into a temp prefix and uses
# it as an outside user would: builds a small C program against the
# installed libartstore with pkg-config (shared) and with find_package in a
# tiny CMake project (static), starts the installed artstored from a config
# file on a temp data dir and ipc endpoint, and runs both programs against
# it (ping, put, get). Exits 0 on success.
set -eu

build=$(cd "$1" && pwd)
tmp=$(mktemp -d /tmp/as-inst-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "install_test: $*" >&2; [ -f "$tmp/server.log" ] && cat "$tmp/server.log" >&2; exit 1; }

prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null || fail "cmake --install failed"
for f in sbin/artstored bin/artstore include/artstore.h share/man/man1/artstore.1 \
         share/man/man8/artstored.8; do
    [ -e "$prefix/$f" ] || fail "missing $f"
done
libdir=$(dirname "$(find "$prefix" -name artstore.pc)")/..
[ -e "$libdir/libartstore.a" ] || fail "missing libartstore.a"
ls "$libdir"/libartstore.so.* >/dev/null 2>&1 || fail "missing libartstore.so.N"

# The outside program: ping, put, get by id, check the title.
mkdir -p "$tmp/app"
cat > "$tmp/app/app.c" <<'CEOF'
#include <stdio.h>
#include <string.h>
#include <artstore.h>

int main(int argc, char **argv)
{
    as_client_t *c;
    as_ping_info_t info;
    const char *tags[] = { "install" };
    as_article_t a = { 0 }, *got = NULL;
    as_put_result_t r;
    int rc;

    if (argc != 3 || as_client_connect(argv[1], 5000, &c) != AS_OK)
        return 2;
    if ((rc = as_ping(c, &info)) != AS_OK) {
        fprintf(stderr, "ping: %s\n", as_client_errmsg(c));
        return 1;
    }
    a.url = argv[2];
    a.title = "installed";
    a.body = "hello from outside";
    a.tags = tags;
    a.n_tags = 1;
    if ((rc = as_put(c, &a, AS_REV_ANY, &r)) != AS_OK ||
        (rc = as_get(c, r.id, 0, &got)) != AS_OK) {
        fprintf(stderr, "%s: %s\n", as_code_name(rc), as_client_errmsg(c));
        return 1;
    }
    if (strcmp(got->title, "installed") != 0 || strcmp(got->body, a.body) != 0)
        return 1;
    printf("ok %s id=%llu lib=%s\n", info.version, (unsigned long long)r.id,
           as_version());
    as_article_free(got);
    as_client_close(c);
    return 0;
}
CEOF

# 1. pkg-config, shared library.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists artstore || fail "pkg-config does not find artstore"
# shellcheck disable=SC2046
cc -Wall -Wextra -Wwrite-strings -Werror -o "$tmp/app/app-pc" "$tmp/app/app.c" \
    $(pkg-config --cflags --libs artstore) \
    || fail "cannot build against the installed library with pkg-config"

# 2. find_package, static library.
cat > "$tmp/app/CMakeLists.txt" <<'CEOF'
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(artstore 0.1 REQUIRED)
add_executable(app-static app.c)
target_link_libraries(app-static PRIVATE artstore::artstore_static)
add_executable(app-shared app.c)
target_link_libraries(app-shared PRIVATE artstore::artstore)
CEOF
cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null \
    || fail "find_package(artstore) failed"
cmake --build "$tmp/app/build" >/dev/null || fail "cannot build with find_package"
if ldd "$tmp/app/build/app-static" | grep -q libartstore; then
    fail "app-static links libartstore.so"
fi

# 3. The installed server, from a config file, on a temp dir.
cat > "$tmp/artstored.conf" <<CEOF
[server]
data = $tmp/data
listen = ipc://$tmp/rpc
workers = 2
CEOF
"$prefix/sbin/artstored" --config "$tmp/artstored.conf" 2>"$tmp/server.log" &
pid=$!
i=0
until "$prefix/bin/artstore" -s "ipc://$tmp/rpc" --timeout 200ms ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 50 ] || fail "installed artstored does not answer"
    kill -0 "$pid" 2>/dev/null || fail "installed artstored exited"
done

LD_LIBRARY_PATH="$libdir" "$tmp/app/app-pc" "ipc://$tmp/rpc" https://example.com/pc \
    || fail "the pkg-config program failed"
"$tmp/app/build/app-static" "ipc://$tmp/rpc" https://example.com/static \
    || fail "the find_package (static) program failed"
"$tmp/app/build/app-shared" "ipc://$tmp/rpc" https://example.com/shared \
    || fail "the find_package (shared) program failed"
n=$("$prefix/bin/artstore" -s "ipc://$tmp/rpc" stats | sed -n 's/^articles: //p')
[ "$n" = 3 ] || fail "expected 3 articles, stats says '$n'"

kill -TERM "$pid"
wait "$pid" || fail "artstored did not stop cleanly"
pid=
echo "install_test: ok"
