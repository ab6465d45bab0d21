#!/bin/sh
# Regenerate the options table of docs/server.md ("## Flags and environment")
# from ltxpaged's option table: scripts/gen-server-options.sh [build-dir]
# The server_unit_config test fails while the two differ.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$src/build"}
doc="$src/docs/server.md"
table=$(mktemp)
trap 'rm -f "$table" "$table.new"' EXIT
"$build/server/ltxpaged" --help-markdown >"$table"
# replace the lines from the table's header row to the first blank line after it
awk -v tf="$table" '
    !done && /^\| flag \| env \| default \| meaning \|$/ { while ((getline l < tf) > 0) print l; skip = 1; next }
    skip && /^$/ { skip = 0; done = 1 }
    !skip { print }
' "$doc" >"$table.new"
mv "$table.new" "$doc"
