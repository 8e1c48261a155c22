#!/usr/bin/env bash
# Builds the Debian package of the four tools: contrib/deb/build.sh
# (from anywhere in the checkout). Prints the .deb's path on its last line.
#
#   1. dc_docgen writes the man pages and completions into
#      <target dir>/release/dist (where dc_server/Cargo.toml's assets look:
#      cargo-deb maps target/release/ to the real target directory, so
#      CARGO_TARGET_DIR works), and the man pages are gzipped (-9n, as
#      dh_compress does), since cargo-deb leaves files under the target
#      directory as they are;
#   2. cargo deb builds the four binaries in release and packages them
#      with everything listed in [package.metadata.deb] (--strip: the
#      release profile keeps line tables for backtraces, Debian wants
#      stripped binaries).
#
# Needs cargo-deb (cargo install cargo-deb --locked). The pages are dated
# by the last commit (SOURCE_DATE_EPOCH), so rebuilding the same commit
# gives the same pages.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "error: cargo-deb is not installed: cargo install cargo-deb --locked" >&2
    exit 1
fi

target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
dist="$target_dir/release/dist"

if [ -z "${SOURCE_DATE_EPOCH:-}" ] && git rev-parse --git-dir >/dev/null 2>&1; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
    export SOURCE_DATE_EPOCH
fi

rm -rf "$dist"
cargo run --quiet -p dc_docgen -- "$dist" >/dev/null
gzip -9nf "$dist"/man/*

cargo deb -p dc_server --strip --output "$target_dir/debian/" "$@"
