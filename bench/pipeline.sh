#!/usr/bin/env bash
# End-to-end benchmark: push -> ingress -> wx.inbound -> router (greeting rule)
# -> wx.replies -> replier -> fake WeChat API, all on one machine. N pushes of
# user_enter_tempsession, one per user, are sent as WeChat does (plaintext
# JSON, signed); each greeting the fake API receives is matched to its push.
# Reports throughput (pushes answered, greetings received) and the latency
# from push to greeting at p50/p99, beside the ceiling of the push driver
# itself (the same driver against wxbridge-bench-ceiling, in the same run).
#
#   bench/pipeline.sh [BIN_DIR]   BENCH_PUSHES=5000 BENCH_API_LATENCY_MS=20 BENCH_THREADS=8
set -euo pipefail
BIN=${1:-build/bin}
N=${BENCH_PUSHES:-5000}
LAT=${BENCH_API_LATENCY_MS:-20}
THREADS=${BENCH_THREADS:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_NAME=e2e
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
APPID=wxbenchpipe000001
# librdkafka's mock cluster answers a long-polling fetch only when its wait is
# over, even if records arrived meanwhile (real Kafka answers at once): keep the
# consumers' waits short, as deploy/*.local.json do. KAFKA_EXTRA='' measures without.
KX=${KAFKA_EXTRA-',"fetch.wait.max.ms":10'}
TOKEN=pipetoken

# Ceiling: what the push driver can send at all, against a server that only answers success.
"$BIN/wxbridge-bench-ceiling" --ready-file "$W/ceiling.ready" 2>"$W/ceiling.log" &
CEIL_PID=$!
pids+=("$CEIL_PID")
wait_file "$W/ceiling.ready"
CEIL=$(python3 "$HERE/push_driver.py" --url "$(cat "$W/ceiling.ready")/wx/$APPID" \
    --token "$TOKEN" -n "$N" --threads "$THREADS" --prefix o-ceil-)
kill -TERM "$CEIL_PID"

"$BIN/wxbridge-devbroker" --ready-file "$W/broker.ready" --admin-ready-file "$W/admin.ready" \
    --topic wx.inbound:12 --topic wx.replies:12 --topic wx.replies.results:12 \
    --topic wx.replies.inflight:12 --topic wx.event.user_enter_tempsession:12 \
    2>"$W/devbroker.log" &
pids+=($!)
echo "{\"faults\":{\"latency_ms\":$LAT}}" >"$W/api.json"
"$BIN/wxbridge-sim" api --config "$W/api.json" --ready-file "$W/api.ready" 2>"$W/api.log" &
pids+=($!)
wait_file "$W/broker.ready"
wait_file "$W/api.ready"
B=$(cat "$W/broker.ready")
API=$(cat "$W/api.ready")
cat >"$W/ingress.json" <<JSON
{"listen":"127.0.0.1:0","kafka":{"bootstrap.servers":"$B"},"spool_dir":"$W/spool",
 "log_level":"warn","apps":[{"appid":"$APPID","token":"$TOKEN"}]}
JSON
cat >"$W/router.json" <<JSON
{"kafka":{"bootstrap.servers":"$B"$KX},"rules":"$PWD/deploy/router.rules.example.json",
 "log_level":"warn","metrics_listen":"127.0.0.1:0"}
JSON
cat >"$W/replier.json" <<JSON
{"kafka":{"bootstrap.servers":"$B"$KX},"api_base":"$API","apps":[{"appid":"$APPID","secret":"$APPID-secret"}],
 "log_level":"warn","metrics_listen":"127.0.0.1:0","max_in_flight":128${REPLIER_EXTRA:-}}
JSON
"$BIN/wxbridge-ingress" --config "$W/ingress.json" --ready-file "$W/ingress.ready" 2>"$W/ingress.log" &
pids+=($!)
"$BIN/wxbridge-router" --config "$W/router.json" --ready-file "$W/router.ready" 2>"$W/router.log" &
pids+=($!)
"$BIN/wxbridge-replier" --config "$W/replier.json" --ready-file "$W/replier.ready" 2>"$W/replier.log" &
pids+=($!)
wait_file "$W/ingress.ready"
wait_file "$W/router.ready"
wait_file "$W/replier.ready"

PUSH=$(python3 "$HERE/push_driver.py" --url "$(cat "$W/ingress.ready")/wx/$APPID" --token "$TOKEN" \
    -n "$N" --threads "$THREADS" --times "$W/times.json")

python3 - "$API" "$N" "$W/times.json" "$CEIL" "$PUSH" "$LAT" "$B" <<'PY'
import json, subprocess, sys, time, urllib.request
api, n, times_file, ceil, push, lat, brokers = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    json.loads(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
times = json.load(open(times_file))
deadline = time.monotonic() + 300
while True:
    stats = json.loads(urllib.request.urlopen(api + "/_sim/stats", timeout=30).read())
    calls = json.loads(urllib.request.urlopen(api + "/_sim/calls", timeout=60).read())
    sends = [c for c in calls if c["path"] == "/cgi-bin/message/custom/send"]
    if len(sends) >= n or time.monotonic() > deadline:
        break
    time.sleep(1)
lat_ms = sorted(c["at_ms"] - times[c["body"]["touser"]] for c in sends
                if c["body"]["touser"] in times)
per_user = {}
for c in sends:
    per_user[c["body"]["touser"]] = per_user.get(c["body"]["touser"], 0) + 1
first = min(times.values())
last = max(c["at_ms"] for c in sends) if sends else first
def q(p):
    return lat_ms[min(len(lat_ms) - 1, int(p * len(lat_ms)))] if lat_ms else float("nan")
e2e = len(sends) / ((last - first) / 1000.0)
print("| pushes | driver ceiling push/s | ingress push/s | greetings | greetings/s end to end "
      "| ratio to ceiling | push->greeting p50 ms | p99 ms | API latency ms | greeted twice |")
print("|---|---|---|---|---|---|---|---|---|---|")
print(f"| {n} | {ceil['pushes_per_s']:,.0f} | {push['pushes_per_s']:,.0f} | {len(sends)} "
      f"| {e2e:,.0f} | {e2e / ceil['pushes_per_s']:.2f} | {q(0.5):.0f} | {q(0.99):.0f} | {lat} "
      f"| {sum(1 for v in per_user.values() if v > 1)} |")
# Where the time goes: Kafka timestamps of each stage's record, per user.
def stamps(topic):
    out = subprocess.run(["kcat", "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-f", "%k %T\\n"], capture_output=True, timeout=120).stdout
    first = {}
    for line in out.decode().splitlines():
        k, _, t = line.partition(" ")
        first.setdefault(k, int(t))
    return first
inbound, replies = stamps("wx.inbound"), stamps("wx.replies")
api_at = {c["body"]["touser"]: c["at_ms"] for c in sends}
def p50(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")
users = [u for u in times if u in inbound and u in replies and u in api_at]
print()
print("| stage (p50 ms) | push -> wx.inbound | wx.inbound -> wx.replies (router) "
      "| wx.replies -> API (replier) |")
print("|---|---|---|---|")
print(f"| | {p50([inbound[u] - times[u] for u in users]):.0f} "
      f"| {p50([replies[u] - inbound[u] for u in users]):.0f} "
      f"| {p50([api_at[u] - replies[u] for u in users]):.0f} |")
if push["errors"] or len(sends) < n:
    sys.exit(f"pipeline bench: {push['errors']} push errors, {len(sends)}/{n} greetings")
PY
