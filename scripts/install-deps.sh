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
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
