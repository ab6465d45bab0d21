#!/bin/sh
# run_fuzz.sh [seconds] - build tests/fuzz/fuzz_decode.c with clang's
# libFuzzer + ASan + UBSan straight from the proto sources, seed it with the
# reference vectors, and fuzz for the given time (default 15 s).
# Exit 77 (CTest "skipped") when clang or libFuzzer is missing.
# Env: LTXHTTP_SRC (source tree), LTX_VECTORS (vectors), FUZZ_WORK (work dir,
# default a temp dir removed at the end), FUZZ_JOBS (parallel workers, 1).
set -eu
secs=${1:-15}
here=$(cd "$(dirname "$0")" && pwd)
src=${LTXHTTP_SRC:-$(cd "$here/../.." && pwd)}
vec=${LTX_VECTORS:-$src/../shared/ltx-vectors}
cc=${CLANG:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIP: $cc not found; the fuzz run needs clang with libFuzzer"
    exit 77
fi
work=${FUZZ_WORK:-}
cleanup=0
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/ltxfuzz.XXXXXX")
    cleanup=1
fi
trap '[ "$cleanup" = 1 ] && rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/corpus" "$work/seeds"
bin="$work/fuzz_decode"
if ! "$cc" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I"$src/proto" -I"$src/common" \
        "$here/fuzz_decode.c" "$src/proto/crc64.c" "$src/proto/codec.c" "$src/proto/verify.c" \
        "$src/proto/encoder.c" "$src/proto/ltx_err.c" -llz4 -lpthread -o "$bin" 2>"$work/cc.log"; then
    if grep -q -- "-lclang_rt.fuzzer\|libFuzzer\|fuzzer" "$work/cc.log"; then
        cat "$work/cc.log"
        echo "SKIP: $cc cannot build libFuzzer targets"
        exit 77
    fi
    cat "$work/cc.log"
    exit 1
fi
# Seeds: every vector file (small ones whole, all of them are < 1 MiB).
n=0
if [ -d "$vec" ]; then
    for f in $(find "$vec" -name '*.ltx' -size -1024k | sort); do
        n=$((n + 1))
        cp "$f" "$work/seeds/seed$n.ltx"
    done
fi
echo "fuzz_decode: $n seed files, ${secs}s"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export ASAN_OPTIONS
jobs=${FUZZ_JOBS:-1}
if [ "$jobs" -gt 1 ]; then
    set -- -jobs="$jobs" -workers="$jobs"
else
    set --
fi
# Crash reproducers (crash-*, leak-*, timeout-*) go to the current directory.
"$bin" -max_total_time="$secs" -max_len=140000 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$@" "$work/corpus" "$work/seeds"
