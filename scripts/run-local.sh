#!/usr/bin/env bash
# Runs the whole pipeline locally on the embedded broker: wxbridge-devbroker,
# wxbridge-ingress, wxbridge-router with the example rules, wxbridge-replier
# and a fake WeChat API (wxbridge-sim api); sends demo pushes the way WeChat
# does, and shows what reached Kafka (the inbound record, the routed record,
# the reply command and its result) and the greeting the fake API received.
# Ctrl-C stops everything. RUN_ONCE=1 stops after the demo (used by tests).
set -euo pipefail
BIN=${1:-build/bin}
VAR=${WXB_VAR:-$PWD/var/run-local}
export WXB_VAR=$VAR
export WX_TOKEN=${WX_TOKEN:-AAAAA}
export WX_AES_KEY=${WX_AES_KEY:-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}
export WXB_INGRESS_PORT=${WXB_INGRESS_PORT:-0}
APPID=wxba5fad812f8e6fb9

rm -rf "$VAR" && mkdir -p "$VAR"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_file() {
    for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.05; done
    echo "run-local: $1 never appeared; see $VAR/*.log" >&2
    exit 1
}

"$BIN/wxbridge-devbroker" --ready-file "$VAR/broker.ready" \
    --admin-ready-file "$VAR/broker.admin" 2>"$VAR/devbroker.log" &
pids+=($!)
wait_file "$VAR/broker.ready"
KAFKA_BROKERS=$(cat "$VAR/broker.ready")
export KAFKA_BROKERS

"$BIN/wxbridge-ingress" --config deploy/ingress.local.json \
    --ready-file "$VAR/ingress.ready" 2>"$VAR/ingress.log" &
pids+=($!)
wait_file "$VAR/ingress.ready"
URL=$(cat "$VAR/ingress.ready")

"$BIN/wxbridge-sim" api --ready-file "$VAR/api.ready" 2>"$VAR/sim-api.log" &
pids+=($!)
wait_file "$VAR/api.ready"
WX_API_BASE=$(cat "$VAR/api.ready")
export WX_API_BASE
export WX_SECRET=${WX_SECRET:-$APPID-secret}

"$BIN/wxbridge-replier" --config deploy/replier.local.json \
    --ready-file "$VAR/replier.ready" 2>"$VAR/replier.log" &
pids+=($!)

"$BIN/wxbridge-router" --config deploy/router.local.json \
    --ready-file "$VAR/router.ready" 2>"$VAR/router.log" &
pids+=($!)
wait_file "$VAR/router.ready"
wait_file "$VAR/replier.ready"

cat <<MSG
wxbridge is running locally
  Kafka (devbroker):  $KAFKA_BROKERS
  ingress:            $URL/wx/$APPID   (metrics: $URL/metrics)
  fake WeChat API:    $WX_API_BASE   (calls it accepted: $WX_API_BASE/_sim/calls)
  logs:               $VAR/*.log

Sending a safe-mode (encrypted) text push as WeChat would:
MSG
"$BIN/wxbridge-sim" push --url "$URL/wx/$APPID" --token "$WX_TOKEN" --aes-key "$WX_AES_KEY" \
    --mode safe --format xml --type text --content "hello from wxbridge-sim"
echo
echo "What landed in wx.inbound (read back with kcat):"
kcat -C -b "$KAFKA_BROKERS" -t wx.inbound -o beginning -e -q -c 1 -f 'key=%k\n%s\n'
echo
echo "A user opens the chat; WeChat retries the push twice (3 copies, one greeting):"
"$BIN/wxbridge-sim" push --url "$URL/wx/$APPID" --token "$WX_TOKEN" --aes-key "$WX_AES_KEY" \
    --mode safe --format xml --type user_enter_tempsession --count 3 --from o-demo-user
echo
echo "Routed by wxbridge-router (topic reply-service.in.$APPID for text, per the example rules):"
timeout 30 kcat -C -b "$KAFKA_BROKERS" -t "reply-service.in.$APPID" -o beginning -c 1 -q -f '%s\n' \
    -X topic.metadata.refresh.interval.ms=500 2>/dev/null | cut -c1-160
echo
echo "Reply command in wx.replies (one for the three copies):"
timeout 30 kcat -C -b "$KAFKA_BROKERS" -t wx.replies -o beginning -c 1 -q -f '%s\n' 2>/dev/null
echo
echo "Its result in wx.replies.results, written by wxbridge-replier:"
timeout 30 kcat -C -b "$KAFKA_BROKERS" -t wx.replies.results -o beginning -c 1 -q -f '%s\n' 2>/dev/null
echo
echo "What the fake WeChat API received (GET $WX_API_BASE/_sim/calls, sends only):"
sleep 1 # a second greeting would have arrived by now
curl -s "$WX_API_BASE/_sim/calls" | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    if c["path"].startswith("/cgi-bin/message/"):
        print(json.dumps({"path": c["path"], "body": c["body"]}, ensure_ascii=False, separators=(",", ":")))'
cat <<MSG

Watch the routed topics:
  kcat -C -b $KAFKA_BROKERS -t wx.event.user_enter_tempsession -o beginning
  kcat -C -b $KAFKA_BROKERS -t reply-service.in.$APPID -o beginning
  kcat -C -b $KAFKA_BROKERS -t wx.replies -o beginning
  kcat -C -b $KAFKA_BROKERS -t wx.replies.results -o beginning
Push more:
  $BIN/wxbridge-sim push --url $URL/wx/$APPID --token $WX_TOKEN --aes-key $WX_AES_KEY --mode safe --type image
Metrics: see router_ops_ready / replier_ops_ready in $VAR/router.log and $VAR/replier.log
MSG
[ "${RUN_ONCE:-0}" = 1 ] && exit 0
echo "Ctrl-C to stop."
wait
