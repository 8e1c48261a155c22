#!/usr/bin/env bash
# Builds the Debian package and checks it the way an operator would meet
# it: contrib/deb/check.sh (as root; .ci/run runs it after the tests).
#
#   - dpkg-deb -c lists it, and the list must be exactly the files below;
#   - lintian: any E: line fails, warnings are printed and allowed;
#   - dpkg -i installs it: dc_server -h from PATH, man -w finds the pages,
#     the distcache user exists, the units are enabled (and verified by
#     systemd-analyze with their man: links), nothing was started;
#   - dpkg -r removes the programs, dpkg -P the /etc/default files.
#
# It refuses to run where a distcache package is already installed (it
# would remove it at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
    echo "error: run as root (it installs and removes the package)" >&2
    exit 1
fi
if dpkg-query -W -f='${Status}' distcache 2>/dev/null | grep -q "ok installed"; then
    echo "error: a distcache package is installed already; remove it first (dpkg -r distcache)" >&2
    exit 1
fi

start=$(date +%s)
deb=$(contrib/deb/build.sh | tail -n1)
built=$(date +%s)
echo "built $deb in $((built - start)) s"

echo "== dpkg-deb -c"
dpkg-deb -c "$deb"
listed=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|' | sort)
expected=$(
    {
        for p in dc_server dc_client dc_test dc_snoop; do
            echo "/usr/bin/$p"
            echo "/usr/share/man/man1/$p.1.gz"
            echo "/usr/share/bash-completion/completions/$p"
            echo "/usr/share/zsh/vendor-completions/_$p"
            echo "/usr/share/fish/vendor_completions.d/$p.fish"
        done
        echo /usr/share/man/man8/distcache.8.gz
        echo /etc/default/dc_server
        echo /etc/default/dc_client
        echo /usr/lib/systemd/system/dc_server.service
        echo /usr/lib/systemd/system/dc_client.service
        echo /usr/lib/sysusers.d/distcache.conf
        echo /usr/share/doc/distcache/README.md
        echo /usr/share/doc/distcache/deployment.md
        echo /usr/share/doc/distcache/copyright
        echo /usr/share/doc/distcache/changelog.Debian.gz
    } | sort
)
if [ "$listed" != "$expected" ]; then
    echo "error: the package's files differ from the expected list:" >&2
    diff <(echo "$expected") <(echo "$listed") >&2 || true
    exit 1
fi

echo "== lintian (errors fail, warnings allowed)"
# lintian warns that it runs as root; that is CI's way, not the package's.
report=$(lintian "$deb" 2>&1 | grep -v '^running with root privileges' || true)
[ -n "$report" ] && echo "$report"
if echo "$report" | grep -q '^E: '; then
    echo "error: lintian reports errors" >&2
    exit 1
fi

echo "== dpkg -i"
dpkg -i "$deb"
cleanup() { dpkg -P distcache >/dev/null 2>&1 || true; }
trap cleanup EXIT

fail() { echo "error: $*" >&2; exit 1; }
[ "$(command -v dc_server)" = /usr/bin/dc_server ] || fail "dc_server is not /usr/bin/dc_server on PATH"
dc_server -h | grep -q -- "--listen" || fail "dc_server -h does not list --listen"
for p in dc_client dc_test dc_snoop; do
    "$p" -V | grep -qx "$p $(dc_server -V | cut -d' ' -f2)" || fail "$p -V"
done
for page in dc_server dc_client dc_test dc_snoop distcache; do
    man -w "$page" || fail "man -w $page finds nothing"
done
getent passwd distcache || fail "no distcache user"
getent group distcache || fail "no distcache group"
for unit in dc_server dc_client; do
    [ -L "/etc/systemd/system/multi-user.target.wants/$unit.service" ] ||
        fail "$unit.service is not enabled"
    # Installed: the binaries and the man pages of Documentation= exist.
    systemd-analyze verify "/usr/lib/systemd/system/$unit.service" ||
        fail "systemd-analyze verify $unit.service"
done
if [ ! -d /run/systemd/system ] && pgrep -x dc_server >/dev/null; then
    fail "the install started dc_server without systemd"
fi

echo "== dpkg -r, dpkg -P"
dpkg -r distcache
[ ! -e /usr/bin/dc_server ] || fail "/usr/bin/dc_server is still there after dpkg -r"
[ -e /etc/default/dc_server ] || fail "dpkg -r removed the conffiles (only purge should)"
dpkg -P distcache
[ ! -e /etc/default/dc_server ] || fail "/etc/default/dc_server is still there after dpkg -P"
trap - EXIT
echo "package checked in $(($(date +%s) - start)) s (build $((built - start)) s)"
