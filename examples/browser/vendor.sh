#!/bin/sh
# Fetch sql.js-httpvfs (pinned version) from npm and copy the three files
# the page needs into DIR (default: vendor/ next to this script):
#   examples/browser/vendor.sh [DIR]
# Nothing is committed: vendor/ is in .gitignore; node_modules stays in a
# temporary folder that is removed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-"$here/vendor"}
version=0.8.12
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --ignore-scripts --no-save --prefix "$tmp" "sql.js-httpvfs@$version"
mkdir -p "$dest"
for f in index.js sqlite.worker.js sql-wasm.wasm; do
    cp "$tmp/node_modules/sql.js-httpvfs/dist/$f" "$dest/"
done
echo "sql.js-httpvfs $version -> $dest"
