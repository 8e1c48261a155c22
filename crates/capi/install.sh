#!/bin/sh
# Installs libdistcache (the C API, crates/capi) under a prefix:
#
#   <libdir>/libdistcache.so.1.0.0, and the symlinks libdistcache.so.1 (the
#            soname, what programs load) and libdistcache.so (what -ldistcache
#            links against)
#   <libdir>/libdistcache.a
#   <libdir>/pkgconfig/distcache.pc
#   <prefix>/include/distcache/dc_client.h
#
# It installs what cargo built; build first:
#
#   cargo build --release -p dc_capi
#   crates/capi/install.sh --prefix /usr/local
#
# Options:
#   --prefix DIR   where to install (required)
#   --libdir DIR   library directory (default: <prefix>/lib)
#   --from DIR     where the built libraries are (default:
#                  ${CARGO_TARGET_DIR:-<workspace>/target}/release)
#   --destdir DIR  staging root prepended to every path written, for
#                  packaging; the .pc still names the final paths
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=
libdir=
from=
destdir=
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --libdir) libdir=$2; shift 2 ;;
        --libdir=*) libdir=${1#*=}; shift ;;
        --from) from=$2; shift 2 ;;
        --from=*) from=${1#*=}; shift ;;
        --destdir) destdir=$2; shift 2 ;;
        --destdir=*) destdir=${1#*=}; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$prefix" ]; then
    echo "install.sh: --prefix DIR is required (see --help)" >&2
    exit 2
fi
case "$prefix" in
    /*) ;;
    *) prefix=$(pwd)/$prefix ;;
esac
[ -n "$libdir" ] || libdir=$prefix/lib
[ -n "$from" ] || from=${CARGO_TARGET_DIR:-$here/../../target}/release

for built in libdistcache.so libdistcache.a; do
    if [ ! -f "$from/$built" ]; then
        echo "install.sh: $from/$built not found: build it first (cargo build --release -p dc_capi), or say where it is with --from" >&2
        exit 1
    fi
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n 1)
real=libdistcache.so.1.0.0

install -d "$destdir$libdir/pkgconfig" "$destdir$prefix/include/distcache"
install -m 0755 "$from/libdistcache.so" "$destdir$libdir/$real"
ln -sf "$real" "$destdir$libdir/libdistcache.so.1"
ln -sf libdistcache.so.1 "$destdir$libdir/libdistcache.so"
install -m 0644 "$from/libdistcache.a" "$destdir$libdir/libdistcache.a"
install -m 0644 "$here/include/distcache/dc_client.h" "$destdir$prefix/include/distcache/dc_client.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$libdir|" \
    -e "s|@INCLUDEDIR@|$prefix/include|" -e "s|@VERSION@|$version|" \
    "$here/distcache.pc.in" > "$destdir$libdir/pkgconfig/distcache.pc"
chmod 0644 "$destdir$libdir/pkgconfig/distcache.pc"
echo "installed libdistcache $version under $destdir$prefix"
