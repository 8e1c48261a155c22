#!/usr/bin/env bash
# Compares dc_server with Redis and memcached on this machine, server and
# load generator pinned to different CPUs.
#
#   bench/compare.sh                  # 10 s per case and server
#   CASE_SECONDS=3 bench/compare.sh   # quicker
#
# For each case it starts a fresh server, runs the load, stops the server:
#   1. 1 connection, 1 request in flight
#   2. 16 connections x 1 in flight
#   3. 16 connections x 16 in flight (pipelined)
#   4. a new unix-socket connection per operation (Apache's way; distcache
#      through dc_client, Redis on its unix socket)
# and, for dc_server alone, case 2 again paced at half the peak it just
# measured (dc_test -rate), for the tail latency at a load with headroom.
# distcache is driven by `dc_test` in load mode (10,000 ids of 32 bytes,
# sessions of 100-1500 bytes, 20% ADD / 70% GET / 10% REMOVE, every answer
# checked); Redis by `redis-benchmark` running SET NX PX, GET and DEL on
# 10,000 keys of 32 bytes with 800-byte values, one command at a time, the
# three rates combined with the mix's weights (see docs/performance.md).
#
# Then, with the same generator for both sides (dc_test -proto, same
# workload, every answer checked): dc_server's RESP listener against
# redis-server, and its memcache listener (text and binary) against
# memcached, at 16 connections x 1 and 16 x 16 in flight; and
# `redis-benchmark -t set,get -c 16 -n 200000 -d 800 -r 10000`, with and
# without -P 16, against dc_server's RESP listener and redis-server.
#
# Pinning: on these VMs waking a process on the other CPU is slow, and
# where the scheduler puts things changes from run to run, so every server
# runs on SERVER_CPU (taskset -c 0) and every load generator on CLIENT_CPU
# (taskset -c 1). dc_client sits with the generator on CLIENT_CPU, as it
# would sit on the TLS host next to Apache.
#
# Environment: CASE_SECONDS (10), SERVER_CPU (0), CLIENT_CPU (1),
# SKIP_BUILD=1 (use the binaries already built), NO_REDIS=1, NO_MEMCACHED=1,
# ONLY_PEERS=1 (skip the distcache and redis-benchmark-mix sections),
# CARGO_TARGET_DIR (where cargo builds; default ./target),
# RESULTS (where the figures go as CSV; default docs/performance.csv),
# CHART (the chart of them, drawn by dc_bench_chart from bench/chart;
# default docs/performance.svg; CHART= to draw none).
# At the end, every figure measured goes to RESULTS, one line per server
# and case, and dc_bench_chart draws them all in one chart to CHART.
# Redis is installed from the distribution's packages (redis-server,
# redis-tools) when missing and running as root; otherwise the Redis
# columns say it was skipped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASE_SECONDS=${CASE_SECONDS:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
RESULTS=${RESULTS:-$ROOT/docs/performance.csv}
CHART=${CHART-$ROOT/docs/performance.svg}
IDS=10000
VALUE_LEN=800 # the mean of 100..1500
TTL_MS=300000
# Weights of the mix, in percent.
W_ADD=20 W_GET=70 W_DEL=10

WORK=$(mktemp -d /tmp/dc-compare.XXXXXX)
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }

# Stops one process started by this script.
stop() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# A TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
    local port
    for _ in $(seq 50); do
        # Below the ephemeral range (32768-60999), which the load
        # generators' own connections take ports from.
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Waits until a TCP port accepts connections (deadline: 10 s).
wait_tcp() {
    local port=$1 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# Waits until a unix socket exists (deadline: 10 s) while $2 is alive.
wait_socket() {
    local path=$1 pid=$2 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        [[ -S $path ]] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# Pulls a number out of dc_test's --json object: json_field FILE KEY
# (KEY may be "latency_us.p50").
json_field() {
    local file=$1 key=$2
    if [[ $key == *.* ]]; then
        grep -o "\"${key%%.*}\":{[^}]*}" "$file" | grep -o "\"${key#*.}\":[0-9.]*" | cut -d: -f2
    else
        grep -o "\"$key\":[0-9.]*" "$file" | head -1 | cut -d: -f2
    fi
}

# ---------------------------------------------------------------- build
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries (cargo build --release -p dc_server -p dc_client -p dc_test -p dc_bench_chart)"
    (cd "$ROOT" && cargo build --release -q -p dc_server -p dc_client -p dc_test -p dc_bench_chart)
fi
NEEDED=(dc_server dc_test)
[[ -z $CHART ]] || NEEDED+=(dc_bench_chart)
for b in "${NEEDED[@]}"; do
    [[ -x $BIN/$b ]] || { echo "missing $BIN/$b" >&2; exit 1; }
done

log "machine: $(nproc) CPUs, $(uname -r); server on CPU $SERVER_CPU, generator on CPU $CLIENT_CPU; $CASE_SECONDS s per case"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average now: $LOADAVG (other work on the machine skews the figures)"

# ---------------------------------------------------------------- distcache
DC_OPS=() DC_P50=() DC_P99=() DC_P999=() DC_NOTE=()

# Starts dc_server pinned, on a port the kernel picks; sets DC_PID and
# DC_PORT (read from its "listening on" log line).
DC_STARTS=0
start_dc_server() {
    DC_STARTS=$((DC_STARTS + 1))
    # A log per start: the shell truncates a reused one only once the child
    # runs, so an old port could be read in between.
    local log=$WORK/dc_server.$DC_STARTS.log
    taskset -c "$SERVER_CPU" "$BIN/dc_server" -listen IP:127.0.0.1:0 "$@" >"$log" 2>&1 &
    DC_PID=$!
    PIDS+=("$DC_PID")
    local deadline=$((SECONDS + 10))
    DC_PORT=
    while ((SECONDS < deadline)) && [[ -z $DC_PORT ]]; do
        DC_PORT=$(grep -so 'listening on IP:127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        [[ -n $DC_PORT ]] || sleep 0.05
    done
    [[ -n $DC_PORT ]] || { cat "$log" >&2; echo "dc_server did not start" >&2; exit 1; }
    wait_tcp "$DC_PORT" || { echo "dc_server does not accept connections" >&2; exit 1; }
}

# Runs dc_test's load mode; records ops/s, p50 and p99 for case $1.
run_dc_test() {
    local case=$1 address=$2
    shift 2
    local out=$WORK/dc_test.$case.json
    if timeout $((CASE_SECONDS + 120)) taskset -c "$CLIENT_CPU" "$BIN/dc_test" \
        -connect "$address" -ids "$IDS" -id-len 32 -data-min 100 -data-max 1500 \
        -mix add=$W_ADD,get=$W_GET,remove=$W_DEL,have=0 -ttl-ms "$TTL_MS" \
        -duration "$CASE_SECONDS" -prefill -json "$@" >"$out" 2>"$WORK/dc_test.$case.err"; then
        DC_OPS[$case]=$(json_field "$out" ops_per_sec)
        DC_P50[$case]=$(json_field "$out" latency_us.p50)
        DC_P99[$case]=$(json_field "$out" latency_us.p99)
        DC_P999[$case]=$(json_field "$out" latency_us.p999)
        grep '^Info, load: .* ops in' "$WORK/dc_test.$case.err" >&2 || true
    else
        DC_NOTE[$case]="dc_test failed"
        tail -5 "$WORK/dc_test.$case.err" >&2
    fi
}

if [[ ${ONLY_PEERS:-0} != 1 ]]; then
for case in 1 2 3; do
    start_dc_server
    case $case in
        1) args=(-conns 1 -depth 1) ;;
        2) args=(-conns 16 -depth 1) ;;
        3) args=(-conns 16 -depth 16) ;;
    esac
    log "dc_server case $case: dc_test ${args[*]}"
    run_dc_test $case "IP:127.0.0.1:$DC_PORT" "${args[@]}"
    stop "$DC_PID"
done

# Case 2 at half its peak, paced: the tail latency with headroom.
HALF_RATE=""
if [[ -n ${DC_OPS[2]:-} ]]; then
    HALF_RATE=$(awk -v r="${DC_OPS[2]}" 'BEGIN { printf "%.0f", r / 2 }')
    start_dc_server
    log "dc_server case 2 at half its peak: dc_test -conns 16 -depth 1 -rate $HALF_RATE"
    run_dc_test 5 "IP:127.0.0.1:$DC_PORT" -conns 16 -depth 1 -rate "$HALF_RATE"
    stop "$DC_PID"
fi

# Case 4: dc_test -> unix socket -> dc_client -> TCP -> dc_server.
start_dc_server
SOCK=$WORK/dc_client.sock
if [[ -x $BIN/dc_client ]]; then
    taskset -c "$CLIENT_CPU" "$BIN/dc_client" -listen "UNIX:$SOCK" -server "IP:127.0.0.1:$DC_PORT" \
        >"$WORK/dc_client.log" 2>&1 &
    CLIENT_PID=$!
    PIDS+=("$CLIENT_PID")
    if wait_socket "$SOCK" "$CLIENT_PID"; then
        log "dc_server case 4: dc_test -new-conn-per-op through dc_client on UNIX:$SOCK"
        run_dc_test 4 "UNIX:$SOCK" -new-conn-per-op -conns 1
    else
        DC_NOTE[4]="skipped: dc_client did not start ($(head -c 120 "$WORK/dc_client.log" | head -1))"
        log "${DC_NOTE[4]}"
    fi
    stop "$CLIENT_PID"
else
    DC_NOTE[4]="skipped: no dc_client binary"
fi
stop "$DC_PID"
fi # ONLY_PEERS

# ---------------------------------------------------------------- redis
REDIS_OPS=() REDIS_P50=() REDIS_P99=() REDIS_NOTE=""

have_redis() { command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; }

if [[ ${NO_REDIS:-0} == 1 ]]; then
    REDIS_NOTE="skipped (NO_REDIS=1)"
elif ! have_redis; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing redis-server and redis-tools from the distribution"
        apt-get update -qq >/dev/null 2>&1 || true
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >"$WORK/apt.log" 2>&1; then
            tail -5 "$WORK/apt.log" >&2
            REDIS_NOTE="skipped: apt-get install redis-server redis-tools failed"
        fi
        # If the package started a system-wide instance, ours is separate
        # (its own port and socket) all the same.
    else
        REDIS_NOTE="skipped: redis-server not installed (install redis-server and redis-tools, or run as root)"
    fi
fi
if [[ -z $REDIS_NOTE ]] && ! have_redis; then
    REDIS_NOTE="skipped: redis-server or redis-benchmark not found after installing"
fi

# One redis-benchmark run of a command; prints "rps p50_ms p99_ms".
bench_redis() {
    local n=$1
    shift
    # --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
    #        "p95_latency_ms","p99_latency_ms","max_latency_ms"
    timeout $((CASE_SECONDS * 3 + 60)) taskset -c "$CLIENT_CPU" redis-benchmark -n "$n" -r "$IDS" --csv "$@" \
        2>/dev/null | tail -1 | tr -d '"' | awk -F, '{ print $2, $5, $7 }'
}

# Runs SET NX PX, GET and DEL for case $1 with connection options $2...;
# each gets its share of CASE_SECONDS, sized from a short calibration run.
run_redis_case() {
    local case=$1
    shift
    local key="dcache:session:key:__rand_int__" # 20 + 12 digits = 32 bytes
    local value
    value=$(head -c "$VALUE_LEN" /dev/zero | tr '\0' 'v')
    local -a names=(set get del) weights=($W_ADD $W_GET $W_DEL)
    local -a cmds
    local i rps p50 p99 calib n inv=0 p50_get="" p99_get=""
    for i in 0 1 2; do
        case ${names[$i]} in
            set) cmds=(SET "$key" "$value" NX PX "$TTL_MS") ;;
            get) cmds=(GET "$key") ;;
            del) cmds=(DEL "$key") ;;
        esac
        read -r calib _ _ <<<"$(bench_redis 2000 "$@" "${cmds[@]}")"
        [[ -n $calib ]] || { REDIS_NOTE="redis-benchmark failed"; return; }
        n=$(awk -v r="$calib" -v t="$CASE_SECONDS" -v w="${weights[$i]}" \
            'BEGIN { n = int(r * t * w / 100); if (n < 1000) n = 1000; print n }')
        read -r rps p50 p99 <<<"$(bench_redis "$n" "$@" "${cmds[@]}")"
        [[ -n $rps ]] || { REDIS_NOTE="redis-benchmark failed"; return; }
        log "redis case $case ${names[$i]^^}: $rps requests/s, p50 ${p50} ms (n=$n)"
        inv=$(awk -v inv="$inv" -v r="$rps" -v w="${weights[$i]}" 'BEGIN { print inv + (w / 100) / r }')
        if [[ ${names[$i]} == get ]]; then p50_get=$p50 p99_get=$p99; fi
    done
    REDIS_OPS[$case]=$(awk -v inv="$inv" 'BEGIN { printf "%.0f", 1 / inv }')
    REDIS_P50[$case]=$(awk -v ms="$p50_get" 'BEGIN { printf "%.0f", ms * 1000 }')
    REDIS_P99[$case]=$(awk -v ms="$p99_get" 'BEGIN { printf "%.0f", ms * 1000 }')
}

if [[ -z $REDIS_NOTE && ${ONLY_PEERS:-0} != 1 ]]; then
    log "$(redis-server --version | head -1)"
    for case in 1 2 3 4; do
        port=$(free_port)
        RSOCK=$WORK/redis.sock
        rm -f "$RSOCK"
        taskset -c "$SERVER_CPU" redis-server --port "$port" --bind 127.0.0.1 \
            --unixsocket "$RSOCK" --unixsocketperm 700 --save "" --appendonly no \
            --daemonize no --logfile "$WORK/redis.log" &
        RPID=$!
        PIDS+=("$RPID")
        if ! wait_tcp "$port" || ! wait_socket "$RSOCK" "$RPID"; then
            REDIS_NOTE="redis-server did not start (see its log)"
            stop "$RPID"
            break
        fi
        case $case in
            1) run_redis_case 1 -h 127.0.0.1 -p "$port" -c 1 -P 1 ;;
            2) run_redis_case 2 -h 127.0.0.1 -p "$port" -c 16 -P 1 ;;
            3) run_redis_case 3 -h 127.0.0.1 -p "$port" -c 16 -P 16 ;;
            4) run_redis_case 4 -s "$RSOCK" -k 0 -c 1 -P 1 ;;
        esac
        stop "$RPID"
        [[ -z $REDIS_NOTE ]] || break
    done
fi

# ---------------------------------------------------------------- same generator
# dc_test -proto against dc_server's front doors and against the real
# servers: the same workload, the same generator, the same pinning.
declare -A P_OPS=() P_P50=() P_P99=() P_NOTE=()

# Runs dc_test's load mode for key $1 against $2 with protocol $3; records
# ops/s, p50 and p99 under that key.
run_load() {
    local key=$1 address=$2 proto=$3
    shift 3
    local out=$WORK/load.$key.json
    if timeout $((CASE_SECONDS + 120)) taskset -c "$CLIENT_CPU" "$BIN/dc_test" \
        -connect "$address" -proto "$proto" -ids "$IDS" -id-len 32 -data-min 100 -data-max 1500 \
        -mix add=$W_ADD,get=$W_GET,remove=$W_DEL,have=0 -ttl-ms "$TTL_MS" \
        -duration "$CASE_SECONDS" -prefill -json "$@" >"$out" 2>"$WORK/load.$key.err"; then
        P_OPS[$key]=$(json_field "$out" ops_per_sec)
        P_P50[$key]=$(json_field "$out" latency_us.p50)
        P_P99[$key]=$(json_field "$out" latency_us.p99)
        grep '^Info, load: .* ops in' "$WORK/load.$key.err" >&2 || true
    else
        P_NOTE[$key]="dc_test failed: $(grep -m1 '^Error' "$WORK/load.$key.err" || tail -1 "$WORK/load.$key.err")"
        tail -5 "$WORK/load.$key.err" >&2
    fi
}

# Starts dc_server pinned with its RESP and memcache listeners; sets
# DC_PID, DC_REDIS_PORT and DC_MEMCACHE_PORT.
start_dc_doors() {
    local p0 log attempt p up
    # A port found free can be taken before dc_server binds it: try again.
    for attempt in 1 2 3; do
        p0=$(free_port) DC_REDIS_PORT=$(free_port) DC_MEMCACHE_PORT=$(free_port)
        DC_STARTS=$((DC_STARTS + 1))
        log=$WORK/dc_server.$DC_STARTS.log
        taskset -c "$SERVER_CPU" "$BIN/dc_server" -listen "IP:127.0.0.1:$p0" \
            -listen-redis "IP:127.0.0.1:$DC_REDIS_PORT" -listen-memcache "IP:127.0.0.1:$DC_MEMCACHE_PORT" \
            >"$log" 2>&1 &
        DC_PID=$!
        PIDS+=("$DC_PID")
        up=1
        for p in "$p0" "$DC_REDIS_PORT" "$DC_MEMCACHE_PORT"; do
            wait_tcp "$p" || { up=0; break; }
        done
        if ((up)) && kill -0 "$DC_PID" 2>/dev/null; then
            return 0
        fi
        kill "$DC_PID" 2>/dev/null || true
        wait "$DC_PID" 2>/dev/null || true
    done
    cat "$log" >&2
    echo "dc_server does not accept connections" >&2
    exit 1
}

# Starts a pinned redis-server; sets PEER_PID and PEER_PORT.
start_redis() {
    PEER_PORT=$(free_port)
    taskset -c "$SERVER_CPU" redis-server --port "$PEER_PORT" --bind 127.0.0.1 \
        --save '' --appendonly no --daemonize no --logfile "$WORK/redis.peer.log" &
    PEER_PID=$!
    PIDS+=("$PEER_PID")
    wait_tcp "$PEER_PORT"
}

# memcached with as many threads as CPUs it is pinned to (dc_server runs a
# worker per CPU it may use, so both get the same).
MEMCACHED_THREADS=$(taskset -c "$SERVER_CPU" nproc)
start_memcached() {
    PEER_PORT=$(free_port)
    local -a user=()
    [[ $(id -u) != 0 ]] || user=(-u root)
    taskset -c "$SERVER_CPU" memcached -l 127.0.0.1 -p "$PEER_PORT" -U 0 \
        -t "$MEMCACHED_THREADS" -m 1024 -c 4096 "${user[@]}" >"$WORK/memcached.log" 2>&1 &
    PEER_PID=$!
    PIDS+=("$PEER_PID")
    wait_tcp "$PEER_PORT"
}

SHAPES=("16x1:-conns 16 -depth 1" "16x16:-conns 16 -depth 16")
PEER_PROTOS=()
if [[ ${NO_REDIS:-0} != 1 ]] && command -v redis-server >/dev/null; then
    PEER_PROTOS+=(redis)
else
    P_NOTE[redis]="skipped: no redis-server (or NO_REDIS=1)"
fi
if [[ ${NO_MEMCACHED:-0} != 1 ]] && command -v memcached >/dev/null; then
    PEER_PROTOS+=(memcache memcache-binary)
    log "$(memcached -V), $MEMCACHED_THREADS thread(s)"
else
    P_NOTE[memcache]="skipped: no memcached (or NO_MEMCACHED=1)"
fi
for proto in "${PEER_PROTOS[@]}"; do
    for shape in "${SHAPES[@]}"; do
        name=${shape%%:*}
        read -r -a args <<<"${shape#*:}"
        start_dc_doors
        if [[ $proto == redis ]]; then port=$DC_REDIS_PORT; else port=$DC_MEMCACHE_PORT; fi
        log "dc_server $proto $name: dc_test -proto $proto ${args[*]}"
        run_load "dc.$proto.$name" "IP:127.0.0.1:$port" "$proto" "${args[@]}"
        stop "$DC_PID"
        if [[ $proto == redis ]]; then start_redis; else start_memcached; fi
        log "peer $proto $name: dc_test -proto $proto ${args[*]}"
        run_load "peer.$proto.$name" "IP:127.0.0.1:$PEER_PORT" "$proto" "${args[@]}"
        stop "$PEER_PID"
    done
done

# redis-benchmark -t set,get against dc_server's RESP listener and
# redis-server; prints "set_rps get_rps".
RB_ARGS=(-t set,get -c 16 -n 200000 -d "$VALUE_LEN" -r "$IDS")
bench_set_get() {
    timeout 300 taskset -c "$CLIENT_CPU" redis-benchmark -h 127.0.0.1 -p "$1" "${RB_ARGS[@]}" \
        "${@:2}" --csv 2>/dev/null | tr -d '"' |
        awk -F, '$1 == "SET" { s = $2 } $1 == "GET" { g = $2 } END { print s, g }'
}
declare -A RB=()
if command -v redis-benchmark >/dev/null && [[ ${PEER_PROTOS[0]:-} == redis ]]; then
    for pipe in 1 16; do
        start_dc_doors
        read -r RB[dc.set.$pipe] RB[dc.get.$pipe] <<<"$(bench_set_get "$DC_REDIS_PORT" -P "$pipe")"
        stop "$DC_PID"
        start_redis
        read -r RB[peer.set.$pipe] RB[peer.get.$pipe] <<<"$(bench_set_get "$PEER_PORT" -P "$pipe")"
        stop "$PEER_PID"
        log "redis-benchmark ${RB_ARGS[*]} -P $pipe: dc SET ${RB[dc.set.$pipe]:-?} GET ${RB[dc.get.$pipe]:-?}; redis SET ${RB[peer.set.$pipe]:-?} GET ${RB[peer.get.$pipe]:-?}"
    done
fi

# ---------------------------------------------------------------- table
NAMES=("" "1 conn x 1 in flight" "16 conns x 1 in flight" "16 conns x 16 pipelined" "new unix conn per op")
echo
printf '%-26s | %12s %8s %8s | %12s %8s %8s | %8s\n' \
    "case" "dc ops/s" "p50 us" "p99 us" "redis ops/s" "p50 us" "p99 us" "dc/redis"
printf '%s\n' "---------------------------+-------------------------------+-------------------------------+---------"
for case in 1 2 3 4; do
    dc_ops=${DC_OPS[$case]:-}
    r_ops=${REDIS_OPS[$case]:-}
    ratio="-"
    if [[ -n $dc_ops && -n $r_ops ]]; then
        ratio=$(awk -v a="$dc_ops" -v b="$r_ops" 'BEGIN { printf "%.2f", a / b }')
    fi
    printf '%-26s | %12s %8s %8s | %12s %8s %8s | %8s\n' "${NAMES[$case]}" \
        "$( [[ -n $dc_ops ]] && printf '%.0f' "$dc_ops" || echo -)" "${DC_P50[$case]:--}" "${DC_P99[$case]:--}" \
        "${r_ops:--}" "${REDIS_P50[$case]:--}" "${REDIS_P99[$case]:--}" "$ratio"
done
echo
if [[ -n ${DC_OPS[5]:-} ]]; then
    printf 'dc_server, 16 conns x 1 paced at %s ops/s (half of case 2): %.0f ops/s, p50 %s us, p99 %s us, p99.9 %s us\n' \
        "$HALF_RATE" "${DC_OPS[5]}" "${DC_P50[5]}" "${DC_P99[5]}" "${DC_P999[5]}"
fi
for case in 1 2 3 4 5; do
    [[ -z ${DC_NOTE[$case]:-} ]] || echo "distcache case $case: ${DC_NOTE[$case]}"
done
[[ -z $REDIS_NOTE ]] || echo "redis: $REDIS_NOTE"
echo "dc: dc_test load mode, every answer checked, p50/p99 over the whole mix."
echo "redis: redis-benchmark, mix rate = 1 / sum(weight / rate) over SET NX PX, GET, DEL; p50/p99 are GET's."

ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo -; }
num() { [[ -n $1 ]] && printf '%.0f' "$1" || echo -; }
echo
echo "Same generator (dc_test -proto, every answer checked), server on CPU $SERVER_CPU, dc_test on CPU $CLIENT_CPU:"
printf '%-26s | %12s %8s %8s | %12s %8s %8s | %8s\n' \
    "case" "dc ops/s" "p50 us" "p99 us" "peer ops/s" "p50 us" "p99 us" "dc/peer"
printf '%s\n' "---------------------------+-------------------------------+-------------------------------+---------"
for proto in redis memcache memcache-binary; do
    for shape in "${SHAPES[@]}"; do
        name=${shape%%:*}
        d=dc.$proto.$name p=peer.$proto.$name
        printf '%-26s | %12s %8s %8s | %12s %8s %8s | %8s\n' "$proto $name" \
            "$(num "${P_OPS[$d]:-}")" "${P_P50[$d]:--}" "${P_P99[$d]:--}" \
            "$(num "${P_OPS[$p]:-}")" "${P_P50[$p]:--}" "${P_P99[$p]:--}" \
            "$(ratio "${P_OPS[$d]:-}" "${P_OPS[$p]:-}")"
        for k in "$d" "$p"; do
            [[ -z ${P_NOTE[$k]:-} ]] || echo "  $k: ${P_NOTE[$k]}"
        done
    done
done
for k in redis memcache; do
    [[ -z ${P_NOTE[$k]:-} ]] || echo "$k: ${P_NOTE[$k]}"
done
echo "peer: redis-server --save '' --appendonly no; memcached -t $MEMCACHED_THREADS."
if [[ ${#RB[@]} -gt 0 ]]; then
    echo
    echo "redis-benchmark ${RB_ARGS[*]} [-P 16] (requests/s):"
    printf '%-26s | %12s | %12s | %8s\n' "test" "dc_server" "redis" "dc/redis"
    for pipe in 1 16; do
        for t in set get; do
            printf '%-26s | %12s | %12s | %8s\n' "${t^^} -P $pipe" "$(num "${RB[dc.$t.$pipe]:-}")" \
                "$(num "${RB[peer.$t.$pipe]:-}")" "$(ratio "${RB[dc.$t.$pipe]:-}" "${RB[peer.$t.$pipe]:-}")"
        done
    done
fi

# ---------------------------------------------------------------- results and chart
# One CSV line per server and case (see bench/chart/src/results.rs); no
# field may hold a comma.
{
    echo "# bench/compare.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $CASE_SECONDS s per case, load average $LOADAVG at the start"
    echo "section,case,server,ops_per_sec,p50_us,p99_us"
    row() { [[ -z $4 ]] || printf '%s,%s,%s,%.0f,%s,%s\n' "$1" "$2" "$3" "$4" "$5" "$6"; }
    s="distcache protocol: dc_test load mode; Redis: redis-benchmark SET NX PX / GET / DEL (p50 and p99 of GET)"
    for case in 1 2 3 4; do
        name=${NAMES[$case]}
        [[ $case != 4 ]] || name="new unix conn per op (dc: via dc_client)"
        row "$s" "${name// x / × }" dc_server "${DC_OPS[$case]:-}" "${DC_P50[$case]:-}" "${DC_P99[$case]:-}"
        row "$s" "${name// x / × }" redis-server "${REDIS_OPS[$case]:-}" "${REDIS_P50[$case]:-}" "${REDIS_P99[$case]:-}"
    done
    s="same generator: dc_test -proto against dc_server's front doors and the real servers"
    for proto in redis memcache memcache-binary; do
        case $proto in
            redis) label=RESP peer=redis-server ;;
            memcache) label="memcache text" peer=memcached ;;
            memcache-binary) label="memcache binary" peer=memcached ;;
        esac
        for shape in "${SHAPES[@]}"; do
            name=${shape%%:*}
            d=dc.$proto.$name p=peer.$proto.$name
            row "$s" "$label ${name/x/ × }" dc_server "${P_OPS[$d]:-}" "${P_P50[$d]:-}" "${P_P99[$d]:-}"
            row "$s" "$label ${name/x/ × }" "$peer" "${P_OPS[$p]:-}" "${P_P50[$p]:-}" "${P_P99[$p]:-}"
        done
    done
    s="redis-benchmark -t set/get -c 16 -d 800 against dc_server's RESP listener and redis-server"
    for pipe in 1 16; do
        for t in set get; do
            name=${t^^}
            [[ $pipe == 1 ]] || name="$name -P 16"
            row "$s" "$name" dc_server "${RB[dc.$t.$pipe]:-}" "" ""
            row "$s" "$name" redis-server "${RB[peer.$t.$pipe]:-}" "" ""
        done
    done
} >"$RESULTS"
echo
echo "figures: $RESULTS"
if [[ -n $CHART ]]; then
    REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
    "$BIN/dc_bench_chart" "$RESULTS" "$CHART" \
        -note "bench/compare.sh at $REV, $(date -u +%Y-%m-%d), $CASE_SECONDS s per case; $(nproc) CPUs: server on CPU $SERVER_CPU, load generator on CPU $CLIENT_CPU; load average $LOADAVG at the start"
    echo "chart: $CHART"
fi
