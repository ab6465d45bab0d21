#!/usr/bin/env bash
# Run the whole test suite: a normal build and an ASan+UBSan build, each
# running every CTest test. Usage: scripts/test.sh [--quick] (quick = normal build only)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

run_suite() {
    local dir=$1; shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600)
}

echo "== build + tests (RelWithDebInfo) =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ $quick = 0 ]; then
    echo "== build + tests (ASan+UBSan) =="
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DLTXHTTP_SANITIZE=ON
fi
echo "all tests passed"
