#!/usr/bin/env bash
# Replier benchmark: one wxbridge-replier sending a pre-filled wx.replies
# (text commands to many users) through wxbridge-sim api with added latency,
# beside the ceiling of that setup: in-flight limit / API latency sends per
# second. Reports sends/s over the steady middle of the run (10% to 90% of
# the results), the ratio to the ceiling and the send latency the replier
# measured.
#
#   bench/replier.sh [BIN_DIR]   BENCH_COMMANDS=20000 BENCH_LATENCY_MS=50 BENCH_IN_FLIGHT="64 256"
set -euo pipefail
BIN=${1:-build/bin}
N=${BENCH_COMMANDS:-20000}
LAT=${BENCH_LATENCY_MS:-50}
FLIGHTS=${BENCH_IN_FLIGHT:-"64 256"}
USERS=${BENCH_USERS:-5000}
BENCH_NAME=pbench
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

APPID=wxbench0000000001
echo "| in flight | latency ms | commands | ceiling sends/s | replier sends/s | ratio | send p50 ms | send p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for F in $FLIGHTS; do
    rm -f "$W"/*.ready
    "$BIN/wxbridge-devbroker" --ready-file "$W/broker.ready" --admin-ready-file "$W/admin.ready" \
        --topic wx.replies:12 --topic wx.replies.results:12 2>"$W/devbroker-$F.log" &
    BROKER_PID=$!
    pids+=("$BROKER_PID")
    wait_file "$W/broker.ready"
    B=$(cat "$W/broker.ready")
    echo "{\"faults\":{\"latency_ms\":$LAT}}" >"$W/api.json"
    "$BIN/wxbridge-sim" api --config "$W/api.json" --ready-file "$W/api.ready" 2>"$W/api-$F.log" &
    API_PID=$!
    pids+=("$API_PID")
    wait_file "$W/api.ready"
    API=$(cat "$W/api.ready")

    python3 - "$N" "$USERS" "$APPID" >"$W/commands.txt" <<'PY'
import json, sys
n, users, appid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(n):
    u = f"o-bench-{i % users}"
    print(u + "\t" + json.dumps({"schema": "wxbridge.reply.v1", "id": f"b:{i}", "appid": appid,
          "touser": u, "msgtype": "text", "text": {"content": f"bench {i}"}},
          separators=(",", ":")))
PY
    kcat -P -b "$B" -t wx.replies -K $'\t' <"$W/commands.txt"

    cat >"$W/replier.json" <<JSON
{"kafka":{"bootstrap.servers":"$B"},"api_base":"$API","apps":[{"appid":"$APPID","secret":"$APPID-secret"}],
 "metrics_listen":"127.0.0.1:0","quota_guard":false,"max_in_flight":$F,"max_pending":20000,
 "log_level":"warn"}
JSON
    "$BIN/wxbridge-replier" --config "$W/replier.json" --ready-file "$W/replier.ready" \
        --log-level info 2>"$W/replier-$F.log" &
    REPLIER_PID=$!
    pids+=("$REPLIER_PID")
    wait_file "$W/replier.ready"
    OPS=$(grep -o '"ops_url":"[^"]*"' "$W/replier-$F.log" | head -1 | cut -d'"' -f4)

    python3 - "$OPS" "$N" "$F" "$LAT" <<'PY'
import sys, time, urllib.request
ops, n, flight, lat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def scrape():
    text = urllib.request.urlopen(ops + "/metrics", timeout=10).read().decode()
    done, hist = 0, {}
    for line in text.splitlines():
        if line.startswith("wxbridge_replier_results_total{"):
            done += float(line.rsplit(" ", 1)[1])
        elif line.startswith("wxbridge_replier_send_seconds_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            hist[le] = float(line.rsplit(" ", 1)[1])
    return done, hist
marks, deadline = {}, time.monotonic() + 600
while time.monotonic() < deadline:
    done, hist = scrape()
    t = time.monotonic()
    for q in (0.1, 0.9):
        if q not in marks and done >= q * n:
            marks[q] = (t, done)
    if done >= n:
        break
    time.sleep(0.05)
(t1, d1), (t2, d2) = marks[0.1], marks[0.9]
rate = (d2 - d1) / (t2 - t1)
ceiling = flight / (lat / 1000.0)
def quantile(q):
    total = hist.get("+Inf", 0)
    for le, c in sorted(((float(k), v) for k, v in hist.items() if k != "+Inf")):
        if c >= q * total:
            return le * 1000
    return float("inf")
print(f"| {flight} | {lat} | {n} | {ceiling:,.0f} | {rate:,.0f} | {rate / ceiling:.2f} "
      f"| <={quantile(0.5):.0f} | <={quantile(0.99):.0f} |")
PY
    kill -TERM "$REPLIER_PID" "$API_PID" "$BROKER_PID" 2>/dev/null || true
    wait "$REPLIER_PID" "$API_PID" "$BROKER_PID" 2>/dev/null || true
    pids=()
done
