#!/usr/bin/env bash
# Builds the libFuzzer targets in their own build directory and runs each for
# SECONDS (default 30). Exits non-zero if a target crashes, leaks, times out
# or fails to build; the reproducers are kept under $BUILD/fuzz-artifacts.
#
#   fuzz/run.sh [SECONDS]
#
# Environment: WXB_FUZZ_BUILD (default build-fuzz), WXB_FUZZ_TARGETS (default
# all four), WXB_FUZZ_JOBS (build parallelism). With CI=true, missing build
# dependencies are installed with scripts/install-deps.sh first.
#
# The seed corpora in fuzz/corpus/<target> are only read: what the fuzzer
# finds goes into $BUILD/fuzz-corpus/<target>, kept between runs.
set -euo pipefail

secs=${1:-30}
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=${WXB_FUZZ_BUILD:-$root/build-fuzz}
targets=${WXB_FUZZ_TARGETS:-"fuzz_wx_parse fuzz_wx_decrypt fuzz_push_handler fuzz_reply_cmd"}
jobs=${WXB_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

# libFuzzer needs clang and its runtime (libclang-rt-14-dev on Debian 12).
fuzzer_toolchain_ok() {
    local tmp
    tmp=$(mktemp -d)
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$tmp/t.c"
    if command -v clang >/dev/null &&
        clang -fsanitize=fuzzer,address,undefined "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1; then
        rm -rf "$tmp"
        return 0
    fi
    rm -rf "$tmp"
    return 1
}

# On CI the machine may be fresh: install what is missing (a no-op when all is there).
if [ "${CI:-}" = true ]; then
    "$root/scripts/install-deps.sh"
fi
if ! fuzzer_toolchain_ok; then
    echo "fuzz: clang with libFuzzer is missing (scripts/install-deps.sh installs" \
        "clang and libclang-rt-14-dev)" >&2
    exit 1
fi

# A build directory configured with another compiler cannot be switched: start afresh.
if [ -f "$build/CMakeCache.txt" ] &&
    ! grep -q '^CMAKE_C_COMPILER_ID:.*Clang\|^CMAKE_C_COMPILER:.*clang' "$build/CMakeCache.txt"; then
    echo "fuzz: $build was configured without clang; reconfiguring from scratch" >&2
    rm -rf "$build"
fi
CC=clang cmake -S "$root" -B "$build" -DWXB_FUZZ=ON -DWXB_SANITIZE=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086 # targets is a word list
cmake --build "$build" -j "$jobs" --target $targets

failed=()
for t in $targets; do
    work="$build/fuzz-corpus/$t"
    art="$build/fuzz-artifacts/$t"
    mkdir -p "$work" "$art"
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$art/")
    case "$t" in
    fuzz_wx_parse | fuzz_push_handler) args+=(-dict="$root/fuzz/wx.dict") ;;
    esac
    echo "fuzz: $t for ${secs}s" >&2
    log="$build/fuzz-artifacts/$t.log"
    if "$build/bin/$t" "${args[@]}" "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log" |
            sed "s/^/fuzz: $t: /" >&2 || true
    else
        echo "fuzz: $t FAILED; last lines of $log:" >&2
        tail -n 40 "$log" >&2
        ls -l "$art" >&2 || true
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (reproducers in $build/fuzz-artifacts)" >&2
    exit 1
fi
echo "fuzz: all targets ran ${secs}s without a crash" >&2
