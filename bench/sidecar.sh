#!/usr/bin/env bash
# The three ratios of dc_client as every node's sidecar (docs/performance.md,
# "dc_client as a sidecar"), each with the same generator on both sides, in
# one sitting, alternating, RUNS times:
#   1. pool: dc_test -conns 16 through dc_client to a pool of 3 dc_servers
#      (-replicas 1, and -replicas 2) against the same through dc_client to
#      one dc_server: p50 and throughput.
#   2. redis: redis-benchmark -t set,get -c 16 -d 800 -r 10000 through
#      dc_client's RESP front door with a Redis backend, and through
#      twemproxy (nutcracker, if installed) as the reference proxy, against
#      the same redis-benchmark straight to that redis-server; each proxy
#      beside the generator, then beside the server.
#   3. per-op: a new unix connection per operation (Apache's way), 16
#      clients, through dc_client to dc_server, against memcached on its own
#      unix socket (dc_test -proto memcache for it).
# Servers (dc_server, redis-server, memcached) on SERVER_CPU; dc_client
# with the generator on CLIENT_CPU, as on a TLS node.
#
#   bench/sidecar.sh                 # 5 s runs, 3 of each
#   SECONDS_PER_RUN=2 RUNS=1 bench/sidecar.sh
#   ONLY=1 DC_CLIENT_ARGS="-spin-us 50" bench/sidecar.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECONDS_PER_RUN:-5}
RUNS=${RUNS:-3}
SERVER_CPU=${SERVER_CPU:-0}
# Options for every dc_client started (e.g. "-spin-us 50"), and which of
# the three parts to run (e.g. ONLY=2).
DC_CLIENT_ARGS=${DC_CLIENT_ARGS:-}
ONLY=${ONLY:-1 2 3}
want() { [[ " $ONLY " == *" $1 "* ]]; }
CLIENT_CPU=${CLIENT_CPU:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
[ "${SKIP_BUILD:-}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p dc_server -p dc_client -p dc_test)

WORK=$(mktemp -d /tmp/dc-sidecar.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

on_server() { taskset -c "$SERVER_CPU" "$@" >"$WORK/log.$RANDOM" 2>&1 & PIDS+=($!); }
on_client() { taskset -c "$CLIENT_CPU" "$@" >"$WORK/log.$RANDOM" 2>&1 & PIDS+=($!); }
wait_for() { # a unix socket path or a TCP port
    for _ in $(seq 200); do
        if [[ $1 == /* ]]; then [ -S "$1" ] && return 0
        else (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; fi
        sleep 0.05
    done
    echo "error: nothing listens on $1" >&2; exit 1
}
stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
    rm -f "$WORK"/*.sock
}
# dc_test's summary as "ops_per_sec p50_us".
dc_test_load() {
    taskset -c "$CLIENT_CPU" "$BIN/dc_test" -connect "$1" -load -duration "$SECS" -json "${@:2}" 2>/dev/null |
        python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["errors"]==0, j; print(round(j["ops_per_sec"]), j["latency_us"]["p50"])'
}
# redis-benchmark's SET and GET rates as "set_rps get_rps".
benchmark() {
    taskset -c "$CLIENT_CPU" redis-benchmark "$@" -t set,get -c 16 -n 100000 -d 800 -r 10000 -q 2>/dev/null |
        tr '\r' '\n' | awk '/^SET:/{s=$2} /^GET:/{g=$2} END{print s, g}'
}

if want 1; then
echo "# 1. pool of 3 against one server, through dc_client (dc_test -conns 16 -depth 1, ${SECS} s)"
# As fast as answers come (closed loop: p50 is then the queue of 16 over
# the throughput), and paced at RATE requests/s in all (latency at the
# same offered load; dc_test counts from when each request was due).
RATE=${RATE:-20000}
echo "run,servers,replicas,ops_per_sec,p50_us,paced_ops_per_sec,paced_p50_us"
for run in $(seq "$RUNS"); do
    for setup in "1 1" "3 1" "3 2"; do
        set -- $setup
        servers=()
        for i in $(seq "$1"); do
            on_server "$BIN/dc_server" -listen "UNIX:$WORK/s$i.sock" -threads 1
            wait_for "$WORK/s$i.sock"
            servers+=(-server "UNIX:$WORK/s$i.sock")
        done
        on_client "$BIN/dc_client" -listen "UNIX:$WORK/c.sock" "${servers[@]}" -replicas "$2" $DC_CLIENT_ARGS
        wait_for "$WORK/c.sock"
        sleep 0.2 # the links' connects and probes
        closed=$(dc_test_load "UNIX:$WORK/c.sock" -conns 16 -depth 1 -prefill | tr ' ' ',')
        paced=$(dc_test_load "UNIX:$WORK/c.sock" -conns 16 -depth 1 -rate "$RATE" | tr ' ' ',')
        echo "$run,$1,$2,$closed,$paced"
        stop_all
    done
done

fi

if want 2; then
echo "# 2. redis-benchmark through dc_client's Redis backend, and through twemproxy, against redis-server direct (-c 16)"
# Each proxy runs beside the generator (CPU $CLIENT_CPU, as on a TLS node)
# and then beside the server (CPU $SERVER_CPU, the generator alone on its
# CPU, as for the direct run). cpu_us_per_req is the proxy's own CPU time
# (utime + stime from /proc) per request.
echo "run,path,proxy_cpu,set_rps,get_rps,cpu_us_per_req"
TWEMPROXY=$(command -v nutcracker || true)
[ -n "$TWEMPROXY" ] || echo "# (twemproxy rows left out: apt-get install nutcracker)"
cat >"$WORK/twemproxy.yml" <<YML
cache:
  listen: 127.0.0.1:7392
  redis: true
  servers:
   - 127.0.0.1:7390:1
YML
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "set get cpu_us_per_req" of redis-benchmark on port $1 with the proxy $2.
through() {
    local before after
    before=$(ticks "$2")
    local rates; rates=$(benchmark -p "$1")
    after=$(ticks "$2")
    echo "$rates $(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t * 1e6 / hz / 200000}')"
}
for run in $(seq "$RUNS"); do
    on_server redis-server --port 7390 --bind 127.0.0.1 --save "" --appendonly no
    wait_for 7390
    echo "$run,direct,,$(benchmark -p 7390 | tr ' ' ',')"
    for cpu in "$CLIENT_CPU" "$SERVER_CPU"; do
        taskset -c "$cpu" "$BIN/dc_client" -listen-redis IP:127.0.0.1:7391 -server redis://127.0.0.1:7390 $DC_CLIENT_ARGS >"$WORK/log.dc" 2>&1 &
        proxy=$!
        wait_for 7391
        sleep 0.2
        echo "$run,dc_client,$cpu,$(through 7391 $proxy | tr ' ' ',')"
        kill $proxy; wait $proxy 2>/dev/null || true
        if [ -n "$TWEMPROXY" ]; then
            taskset -c "$cpu" "$TWEMPROXY" -c "$WORK/twemproxy.yml" >"$WORK/log.tw" 2>&1 &
            proxy=$!
            wait_for 7392
            echo "$run,twemproxy,$cpu,$(through 7392 $proxy | tr ' ' ',')"
            kill $proxy; wait $proxy 2>/dev/null || true
        fi
    done
    stop_all
done

fi

if want 3; then
echo "# 3. a new unix connection per operation, 16 clients, ${SECS} s"
echo "run,path,ops_per_sec,p50_us"
for run in $(seq "$RUNS"); do
    on_server "$BIN/dc_server" -listen "UNIX:$WORK/s.sock" -threads 1
    wait_for "$WORK/s.sock"
    on_server "$BIN/dc_client" -listen "UNIX:$WORK/c.sock" -server "UNIX:$WORK/s.sock" $DC_CLIENT_ARGS
    wait_for "$WORK/c.sock"
    chmod 1777 "$WORK"; user=(); [ "$(id -u)" = 0 ] && user=(-u nobody)
    on_server memcached "${user[@]}" -t 1 -s "$WORK/m.sock" -a 0777 -m 256
    wait_for "$WORK/m.sock"
    sleep 0.2
    echo "$run,dc_client,$(dc_test_load "UNIX:$WORK/c.sock" -new-conn-per-op -conns 16 | tr ' ' ',')"
    echo "$run,memcached,$(dc_test_load "UNIX:$WORK/m.sock" -proto memcache -new-conn-per-op -conns 16 | tr ' ' ',')"
    stop_all
done
fi
