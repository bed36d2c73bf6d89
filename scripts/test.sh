#!/usr/bin/env bash
# Install everything the test suite needs (Debian bookworm, run as root) and run the whole suite.
# This is the README's test command and what .ci/run calls: one source of truth.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(haproxy socat curl openssl certbot pebble openssh-server rsync shellcheck nix-bin)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== cargo test"
cargo test --locked --all-targets -- --test-threads="${EDGEPLAN_TEST_THREADS:-4}"
