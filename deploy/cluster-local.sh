#!/bin/sh
# A three-node artstored cluster on one host, one loopback address per node
# (127.0.0.1, 127.0.0.2, 127.0.0.3; Linux routes all of 127/8 to lo).
#
#   deploy/cluster-local.sh start [DIR]   build if needed, start the nodes
#   deploy/cluster-local.sh stop [DIR]    stop them (SIGTERM, by PID)
#   deploy/cluster-local.sh status [DIR]  artstore cluster status
#
# Node N keeps its data in DIR/nN (default DIR: ./artstore-cluster), serves
# clients on tcp://127.0.0.N:7400 (feed :7401) and talks Raft on
# 127.0.0.N:7410. Clients take all three:
#   ARTSTORE_SERVER=tcp://127.0.0.1:7400,tcp://127.0.0.2:7400,tcp://127.0.0.3:7400
# The first start bootstraps the three data directories with --cluster;
# later starts reuse them (--cluster is ignored once a directory exists).
set -eu
cd "$(dirname "$0")/.."
cmd=${1:-}
dir=${2:-./artstore-cluster}
bin=${ARTSTORE_BUILD:-build/release}   # a build tree with artstored and artstore
members=1=127.0.0.1:7410,2=127.0.0.2:7410,3=127.0.0.3:7410
servers=tcp://127.0.0.1:7400,tcp://127.0.0.2:7400,tcp://127.0.0.3:7400

build() {
  if [ ! -x "$bin/server/artstored" ] || [ ! -x "$bin/client/artstore" ]; then
    sh deploy/deps.sh
    cmake -S . -B "$bin" -DCMAKE_BUILD_TYPE=Release \
      -DARTSTORE_BUILD_TESTS=OFF -DARTSTORE_BUILD_BENCH=OFF >/dev/null
    cmake --build "$bin" -j"$(nproc)" >/dev/null
  fi
}

case "$cmd" in
start)
  build
  mkdir -p "$dir"
  for n in 1 2 3; do
    if [ -f "$dir/n$n.pid" ] && kill -0 "$(cat "$dir/n$n.pid")" 2>/dev/null; then
      echo "node $n is already running (pid $(cat "$dir/n$n.pid"))"
      continue
    fi
    "$bin/server/artstored" --data "$dir/n$n" \
      --listen "tcp://127.0.0.$n:7400" --feed "tcp://127.0.0.$n:7401" \
      --node-id "$n" --raft "127.0.0.$n:7410" --cluster "$members" \
      2>>"$dir/n$n.log" &
    echo $! >"$dir/n$n.pid"
    echo "node $n: pid $!, tcp://127.0.0.$n:7400, log $dir/n$n.log"
  done
  echo "ARTSTORE_SERVER=$servers"
  ;;
stop)
  for n in 1 2 3; do
    if [ -f "$dir/n$n.pid" ]; then
      kill "$(cat "$dir/n$n.pid")" 2>/dev/null || true
      rm -f "$dir/n$n.pid"
    fi
  done
  ;;
status)
  build
  ARTSTORE_SERVER=$servers "$bin/client/artstore" cluster status
  ;;
*)
  echo "usage: $0 start|stop|status [DIR]" >&2
  exit 2
  ;;
esac
