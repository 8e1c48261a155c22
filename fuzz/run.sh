#!/usr/bin/env bash
# Runs every fuzz target for a while (default 60 s each), starting from the
# seeds made from the captured vectors, with the protocol dictionary.
#   fuzz/run.sh            # a minute per target
#   fuzz/run.sh 600        # ten minutes per target
#   RUNS=10000000 fuzz/run.sh 3600   # stop each at 10 million executions
# Needs cargo-fuzz (cargo install cargo-fuzz). cargo-fuzz wants a nightly
# compiler for its sanitizer flags; RUSTC_BOOTSTRAP=1 lets the stable one
# accept them. A crash is saved under fuzz/artifacts/<target>/ and makes the
# script exit non-zero: turn it into a unit test beside the code it broke.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
runs="${RUNS:-0}"
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    dict=distcache.dict
    case "$target" in resp_*) dict=resp.dict ;; memcache_*) dict=memcache.dict ;; esac
    echo "== $target (${seconds}s)"
    cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        -dict="$dict" -max_total_time="$seconds" -runs="$runs" \
        -print_final_stats=1 2>&1 | grep -E "^stat::number_of_executed_units|^Done|ERROR|panicked" || true
    if [ -d "artifacts/$target" ] && [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "crash found: see fuzz/artifacts/$target"
        exit 1
    fi
done
