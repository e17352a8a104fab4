#!/usr/bin/env bash
# Installs the Debian 12 packages wxbridge builds, tests and runs with.
# Idempotent: packages already present are skipped, apt is only touched when
# something is missing. Needs root (or sudo) only in that case.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config
    librdkafka-dev libmicrohttpd-dev libjansson-dev libxml2-dev libssl-dev
    libcurl4-openssl-dev libcmocka-dev
    kcat python3 python3-kafka curl
    clang libclang-rt-14-dev
    # scripts/check-deploy.sh (promtool comes with prometheus)
    yamllint python3-yaml shellcheck prometheus
)
[ "${WXB_BENCH:-0}" = 1 ] && PKGS+=(wrk)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packages here are tools, not services: the prometheus package (for promtool)
# must not start a server on the build machine. policy-rc.d 101 = "do not start".
tmp_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    tmp_policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$tmp_policy" >/dev/null
    $SUDO chmod 755 "$tmp_policy"
fi
status=0
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || status=$?
if [ -n "$tmp_policy" ]; then
    $SUDO rm -f "$tmp_policy"
    # systemd hosts ignore policy-rc.d: keep prometheus.service from running there.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi
exit "$status"
