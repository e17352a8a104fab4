#!/usr/bin/env bash
# Ingress benchmark: wxbridge-sim load against the real ingress (durable acks
# from the devbroker) and, in the same run, against wxbridge-bench-ceiling (a
# trivial libmicrohttpd server with the ingress's exact threading that only
# answers "success"). Prints req/s, p50, p99, the ratio to the ceiling and
# the ingress's peak RSS. Not a test: numbers depend on the machine.
#
#   bench/ingress.sh [BIN_DIR]      BENCH_SECONDS=10 BENCH_CONNS="64 256"
set -euo pipefail
BIN=${1:-build/bin}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64 256}
USERS=${BENCH_USERS:-1000}
BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

"$BIN/wxbridge-devbroker" --ready-file "$W/broker" --admin-ready-file "$W/admin" \
    --topic wx.inbound:12 2>"$W/devbroker.log" &
pids+=($!)
wait_file "$W/broker"
cat >"$W/ingress.json" <<JSON
{"listen":"127.0.0.1:0","kafka":{"bootstrap.servers":"$(cat "$W/broker")"},
 "spool_dir":"$W/spool","log_level":"warn",
 "apps":[{"appid":"wxba5fad812f8e6fb9","token":"AAAAA","aes_key":"$(printf 'A%.0s' $(seq 43))"},
         {"appid":"wxplain","token":"plaintok"}]}
JSON
"$BIN/wxbridge-ingress" --config "$W/ingress.json" --ready-file "$W/ingress" 2>"$W/ingress.log" &
ING_PID=$!
pids+=("$ING_PID")
"$BIN/wxbridge-bench-ceiling" --ready-file "$W/ceiling" 2>"$W/ceiling.log" &
pids+=($!)
wait_file "$W/ingress"
wait_file "$W/ceiling"
ING=$(cat "$W/ingress")
CEIL=$(cat "$W/ceiling")

load() { # url token mode format conns [aes]
    local extra=()
    [ -n "${6:-}" ] && extra=(--aes-key "$6")
    "$BIN/wxbridge-sim" load --url "$1" --token "$2" --mode "$3" --format "$4" \
        --concurrency "$5" --duration "$SECS" --users "$USERS" --pool 4096 --json "${extra[@]}" \
        2>/dev/null | tail -1
}
field() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, j))" "$1" "$2"; }

# Warm up: topic metadata, producer connections, idempotence init.
load "$ING/wx/wxplain" plaintok plain json 8 >/dev/null

KEY=$(printf 'A%.0s' $(seq 43))
printf '%-22s %6s %11s %9s %9s %11s %9s %9s %7s %7s\n' scenario conns ceil_rps ceil_p50 ceil_p99 \
    ingress_rps p50_ms p99_ms ratio non_ok
for scen in "safe-xml" "plain-json"; do
    for c in $CONNS; do
        if [ "$scen" = safe-xml ]; then
            args=(AAAAA safe xml "$c" "$KEY"); path=wx/wxba5fad812f8e6fb9
        else
            args=(plaintok plain json "$c"); path=wx/wxplain
        fi
        cj=$(load "$CEIL/$path" "${args[@]}")
        ij=$(load "$ING/$path" "${args[@]}")
        crps=$(field "$cj" rps); irps=$(field "$ij" rps)
        printf '%-22s %6s %11.0f %9.2f %9.2f %11.0f %9.2f %9.2f %7.2f %7s\n' "$scen" "$c" \
            "$crps" "$(field "$cj" "latency_ms['p50']")" "$(field "$cj" "latency_ms['p99']")" "$irps" \
            "$(field "$ij" "latency_ms['p50']")" "$(field "$ij" "latency_ms['p99']")" \
            "$(python3 -c "print($irps/$crps)")" \
            "$(field "$ij" "requests - ok")"
    done
done
echo "ingress peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$ING_PID/status)"
curl -s "$ING/metrics" | grep -E '^wxbridge_publish_total|^wxbridge_spool_pending' || true
