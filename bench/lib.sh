# Shared by the bench scripts (sourced): a work directory W removed at exit
# (BENCH_KEEP=1 keeps it), the PIDs in `pids` terminated at exit, and
# wait_file PATH, which waits up to a minute for a program's ready file.
# shellcheck shell=bash
W=$(mktemp -d "/tmp/wxb-${BENCH_NAME:-bench}.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
wait_file() { for _ in $(seq 1 1200); do [ -s "$1" ] && return 0; sleep 0.05; done; exit 1; }
