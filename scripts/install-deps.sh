#!/usr/bin/env bash
# Install the Debian 12 packages ltxhttp needs to build, test and benchmark.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev liblz4-dev
      libsqlite3-dev sqlite3 libcmocka-dev libssl-dev curl python3
      nginx-light wrk hyperfine)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
