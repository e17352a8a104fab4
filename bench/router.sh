#!/usr/bin/env bash
# Router benchmark: one wxbridge-router routing a pre-filled wx.inbound
# (text, image and user_enter_tempsession pushes, 10% of them WeChat
# retries) on the devbroker, beside the ceiling of simply consuming the same
# topic with kcat in the same run, and the dedup memory per id.
#
#   bench/router.sh [BIN_DIR]      BENCH_RECORDS=200000
set -euo pipefail
BIN=${1:-build/bin}
N=${BENCH_RECORDS:-200000}
BENCH_NAME=rbench
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
now() { date +%s.%N; }
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m {print $2}' || true; }

"$BIN/wxbridge-devbroker" --ready-file "$W/broker" --admin-ready-file "$W/admin" \
    --topic wx.inbound:32 --topic wx.msg.text:12 --topic wx.msg.image:12 \
    --topic wx.event.user_enter_tempsession:12 2>"$W/devbroker.log" &
pids+=($!)
wait_file "$W/broker"
B=$(cat "$W/broker")
cat >"$W/ingress.json" <<JSON
{"listen":"127.0.0.1:0","kafka":{"bootstrap.servers":"$B"},"spool_dir":"$W/spool",
 "log_level":"warn","apps":[{"appid":"wxplain","token":"plaintok"}]}
JSON
"$BIN/wxbridge-ingress" --config "$W/ingress.json" --ready-file "$W/ingress" 2>"$W/ingress.log" &
ING_PID=$!
pids+=("$ING_PID")
wait_file "$W/ingress"

# Fill: each run cycles a pool 10% smaller than its request count, so 10% are retries.
fill() { # type requests
    "$BIN/wxbridge-sim" load --url "$(cat "$W/ingress")/wx/wxplain" --token plaintok \
        --format json --type "$1" --max-requests "$2" --pool $(($2 * 9 / 10)) --users 1000 \
        --concurrency 128 --json 2>/dev/null | tail -1 | cut -c1-120
}
fill text $((N / 2))
fill image $((N / 4))
fill user_enter_tempsession $((N - N / 2 - N / 4))
kill -TERM "$ING_PID"
TOTAL=$(kcat -Q -b "$B" -t wx.inbound:0:-1 >/dev/null 2>&1; kcat -C -b "$B" -t wx.inbound -o beginning -e -q -f '\n' | wc -l)
echo "wx.inbound holds $TOTAL records"

# Ceiling: an independent client reading the same topic once.
t0=$(now)
kcat -C -b "$B" -t wx.inbound -o beginning -e -q -f '%k\n' >/dev/null
t1=$(now)
CEIL=$(python3 -c "print($TOTAL / ($t1 - $t0))")

cat >"$W/router.json" <<JSON
{"kafka":{"bootstrap.servers":"$B"${ROUTER_KAFKA_EXTRA:-}},"metrics_listen":"127.0.0.1:0","log_level":"${ROUTER_LOG:-info}"${ROUTER_EXTRA:-}}
JSON
"$BIN/wxbridge-router" --config "$W/router.json" --ready-file "$W/router" 2>"$W/router.log" &
pids+=($!)
wait_file "$W/router"
OPS=$(python3 -c "
import json,sys
for l in open(sys.argv[1]):
    try: e=json.loads(l)
    except ValueError: continue
    if e.get('event')=='router_ops_ready': print(e['ops_url'])" "$W/router.log")
# Time from the assignment (ready file) until every record was consumed and committed.
if [ -n "${BENCH_PERF:-}" ]; then
    perf record -F 999 -g -p "$(pgrep -f "wxbridge-router --config $W")" -o "$BENCH_PERF" -- sleep 4 \
        >/dev/null 2>&1 &
fi
t0=$(now)
while :; do
    c=$(metric "$OPS" wxbridge_router_consumed_total)
    c=${c:-0}
    [ -n "${BENCH_TRACE:-}" ] && echo "$(now) $c $(metric "$OPS" wxbridge_router_commits_total)"
    [ "${c%.*}" -ge "$TOTAL" ] && break
    sleep 0.05
done
t1=$(now)
[ -n "${BENCH_TRACE:-}" ] && curl -s "$OPS/metrics" | grep batch_commit
RPS=$(python3 -c "print($TOTAL / ($t1 - $t0))")
DUP=$(metric "$OPS" wxbridge_router_duplicates_total)
IDS=$(metric "$OPS" wxbridge_router_dedup_ids)
BYTES=$(metric "$OPS" wxbridge_router_dedup_bytes)
printf '%-28s %12s\n' "records" "$TOTAL"
printf '%-28s %12.0f\n' "ceiling (kcat) records/s" "$CEIL"
printf '%-28s %12.0f\n' "router records/s" "$RPS"
printf '%-28s %12.2f\n' "ratio" "$(python3 -c "print($RPS / $CEIL)")"
printf '%-28s %12s\n' "duplicates skipped" "$DUP"
printf '%-28s %12s\n' "ids remembered" "$IDS"
printf '%-28s %12s\n' "dedup bytes (preallocated)" "$BYTES"
printf '%-28s %12s\n' "bytes per id" "32 (16 hash + 8 time + 2 x 4 slots)"
