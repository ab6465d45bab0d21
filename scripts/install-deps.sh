#!/usr/bin/env bash
# Install the Debian 12 packages ltxhttp needs to build, test and benchmark.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev liblz4-dev
      libsqlite3-dev sqlite3 libcmocka-dev libssl-dev curl python3
      prometheus chromium
      nginx-light wrk hyperfine groff-base man-db)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (for the better-sqlite3 binding test): a machine that already
# has them (NodeSource's nodejs ships its own npm) must keep them; Debian's npm
# package conflicts with NodeSource's nodejs, so ask for it only when neither
# command exists.
if ! command -v npm >/dev/null 2>&1; then
    if command -v node >/dev/null 2>&1; then
        echo "note: node without npm; the Node binding test will be skipped" >&2
    else
        missing+=(nodejs npm)
    fi
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
