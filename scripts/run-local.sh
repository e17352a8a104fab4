#!/usr/bin/env bash
# Runs the pipeline locally on the embedded broker: wxbridge-devbroker and
# wxbridge-ingress (router and replier join as they land), sends a demo push
# the way WeChat does, and shows the record that reached Kafka.
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
export KAFKA_BROKERS=$(cat "$VAR/broker.ready")

"$BIN/wxbridge-ingress" --config deploy/ingress.local.json \
    --ready-file "$VAR/ingress.ready" 2>"$VAR/ingress.log" &
pids+=($!)
wait_file "$VAR/ingress.ready"
URL=$(cat "$VAR/ingress.ready")

cat <<MSG
wxbridge is running locally
  Kafka (devbroker):  $KAFKA_BROKERS
  ingress:            $URL/wx/$APPID   (metrics: $URL/metrics)
  logs:               $VAR/*.log

Sending a safe-mode (encrypted) text push as WeChat would:
MSG
"$BIN/wxbridge-sim" push --url "$URL/wx/$APPID" --token "$WX_TOKEN" --aes-key "$WX_AES_KEY" \
    --mode safe --format xml --type text --content "hello from wxbridge-sim"
echo
echo "What landed in wx.inbound (read back with kcat):"
kcat -C -b "$KAFKA_BROKERS" -t wx.inbound -o beginning -e -q -c 1 -f 'key=%k\n%s\n'
cat <<MSG

Try more:
  $BIN/wxbridge-sim push --url $URL/wx/$APPID --token $WX_TOKEN --aes-key $WX_AES_KEY --mode safe --type user_enter_tempsession
  kcat -C -b $KAFKA_BROKERS -t wx.inbound -o beginning -e -J
MSG
[ "${RUN_ONCE:-0}" = 1 ] && exit 0
echo "Ctrl-C to stop."
wait
