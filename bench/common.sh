# bench/common.sh: helpers sourced by bench/compare, bench/cluster and
# bench/story_cost (bash).
#
#   free_port              a TCP port of 127.0.0.1 nobody listens on, below
#                          the ephemeral range
#   median                 the median of the numbers on stdin, one a line
#   cpu_us PID             the CPU time (user + system, every thread, in
#                          microseconds; the kernel counts it in ticks of
#                          1/CLK_TCK s) process PID has used so far
#   ingest_rate EP N ARGS  median articles/s of N runs of compare's ingest
#                          workload against artstore at EP (ARGS: --writers,
#                          --batch, --articles); runs with errors are named
#                          in cluster_errors
#
# The three-node measurements. The caller sets ARTSTORED, CLI (the artstore
# CLI), CMP (bench/compare's driver) and tmp (a temporary directory it
# removes), and calls cluster_stop from its exit trap.
#
#   cluster_start          three nodes on loopback (free ports, data under
#                          $tmp/n1..n3), waits for a leader; sets
#                          CLUSTER_SERVERS (every member's client endpoint,
#                          the EP a client that knows every member uses)
#   cluster_failover K     kills (SIGKILL) the leader K times; each time the
#                          time from the kill to the first acknowledged put
#                          (a client that knows every member, retrying within
#                          a 20 s budget), then restarts it and lets the
#                          cluster settle; sets FAILOVER_P50, FAILOVER_MAX
#                          (ms) and FAILOVER_ALL; a put that failed counts
#                          as 20 s and is named in cluster_errors
#   cluster_stop           stops the nodes by PID

# Below the kernel's ephemeral range, so that no outgoing connection holds
# it (a bound port that does not listen looks free to the probe); a port
# that another program takes between the probe and the bind can still
# fail the bind: callers that bind retry on a new port.
free_port() {
  local p lo
  lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
  while :; do
    p=$((10000 + RANDOM % (lo - 10000)))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# Fields 14 and 15 of /proc/PID/stat: user and system time in ticks. The
# command name (field 2) has no space for artstored, so plain fields work.
cpu_us() {
  awk -v t="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1e6 / t }' "/proc/$1/stat"
}

declare -A CLUSTER_PID
CLUSTER_RP=(); CLUSTER_LP=()
CLUSTER_MEMBERS=""; CLUSTER_SERVERS=""

cluster_node() {
  "$ARTSTORED" --data "$tmp/n$1" --listen "tcp://127.0.0.1:${CLUSTER_LP[$1]}" \
    --feed "ipc://$tmp/n$1.feed" --node-id "$1" \
    --raft "127.0.0.1:${CLUSTER_RP[$1]}" --cluster "$CLUSTER_MEMBERS" \
    --log-level warn 2>>"$tmp/n$1.log" &
  CLUSTER_PID[n$1]=$!
}

cluster_leader() {
  "$CLI" --server "$CLUSTER_SERVERS" cluster status -o json 2>/dev/null |
    sed -n 's/.*"leader":\([0-9]*\).*/\1/p'
}

cluster_start() {
  local n
  for n in 1 2 3; do
    CLUSTER_RP[$n]=$(free_port); CLUSTER_LP[$n]=$(free_port)
    CLUSTER_MEMBERS="$CLUSTER_MEMBERS${CLUSTER_MEMBERS:+,}$n=127.0.0.1:${CLUSTER_RP[$n]}"
    CLUSTER_SERVERS="$CLUSTER_SERVERS${CLUSTER_SERVERS:+,}tcp://127.0.0.1:${CLUSTER_LP[$n]}"
  done
  for n in 1 2 3; do cluster_node $n; done
  for _ in $(seq 200); do [ -n "$(cluster_leader)" ] && return 0; sleep 0.1; done
  echo "the three-node cluster elected no leader" >&2
  return 1
}

# A run that reports errors (a put that failed past its deadline) still
# gives its rate; it is named in $tmp/cluster.errors (cluster_errors).
ingest_rate() {
  local ep=$1 reps=$2 out; shift 2
  for _ in $(seq "$reps"); do
    out=$("$CMP" ingest artstore --server "$ep" "$@") ||
      echo "ingest $* reported errors: $out" >>"$tmp/cluster.errors"
    printf '%s\n' "$out" | sed -n 's/.* rate=\([0-9.]*\).*/\1/p'
  done | median
}

# What went wrong in the cluster measurements, one a line (none: empty).
cluster_errors() { cat "$tmp/cluster.errors" 2>/dev/null || true; }

cluster_failover() {
  local kills=$1 k l t0 t1 lag n times=()
  for k in $(seq "$kills"); do
    l=$(cluster_leader)
    [ -n "$l" ] || { echo "no leader before kill $k" >&2; return 1; }
    kill -9 "${CLUSTER_PID[n$l]}"; wait "${CLUSTER_PID[n$l]}" 2>/dev/null || true
    t0=$(date +%s%N)
    # A put not acknowledged within the budget counts as the whole budget
    # (a lower bound) and is named in cluster_errors.
    printf 'failover %s\n' "$k" | "$CLI" --server "$CLUSTER_SERVERS" --timeout 20s \
      put --url "https://failover.example/$k" >/dev/null 2>&1 ||
      echo "failover $k: no put acknowledged within 20 s" >>"$tmp/cluster.errors"
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
    cluster_node "$l"
    # Settle: every member answers and the restarted node has caught up.
    for _ in $(seq 100); do
      lag=$("$CLI" --server "$CLUSTER_SERVERS" cluster status -o json 2>/dev/null |
        grep -o '"lag":[0-9]*' | grep -vc '"lag":0' || true)
      n=$("$CLI" --server "$CLUSTER_SERVERS" cluster status -o json 2>/dev/null |
        grep -o '"lag":' | wc -l)
      [ "$n" = 3 ] && [ "$lag" = 0 ] && break
      sleep 0.2
    done
  done
  FAILOVER_P50=$(printf '%s\n' "${times[@]}" | median)
  FAILOVER_MAX=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
  FAILOVER_ALL="${times[*]}"
}

cluster_stop() {
  local p
  for p in "${CLUSTER_PID[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${CLUSTER_PID[@]}"; do wait "$p" 2>/dev/null || true; done
  CLUSTER_PID=()
}
