#!/usr/bin/env bash
# Install everything the test suite needs (Debian bookworm, run as root) and run the whole suite.
# This is the README's test command and what .ci/run calls: one source of truth.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(haproxy socat curl openssl certbot pebble openssh-server rsync shellcheck nix-bin busybox-static)

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

# Incus (apply/rollback against a real container) is in bookworm-backports, not in the default
# sources: add a source with the same URIs as the main Debian entry (../shared/reference/tools-here.md).
if ! command -v incus >/dev/null; then
  echo "== installing: incus (bookworm-backports)"
  if [ ! -f /etc/apt/sources.list.d/backports.sources ]; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      >/etc/apt/sources.list.d/backports.sources
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -t bookworm-backports incus >/dev/null
fi
# Start incusd (no systemd here) unless it runs; the incus test fails loudly if it cannot.
if ! incus admin waitready --timeout 2 >/dev/null 2>&1; then
  echo "== starting incusd"
  nohup /usr/libexec/incus/incusd --group root >/tmp/edgeplan-incusd.log 2>&1 &
  incus admin waitready --timeout 60 || { cat /tmp/edgeplan-incusd.log; echo "incusd did not start" >&2; exit 1; }
fi
if ! incus storage show default >/dev/null 2>&1; then
  incus admin init --preseed <<'YAML'
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
YAML
fi

echo "== cargo test"
cargo test --locked --all-targets -- --test-threads="${EDGEPLAN_TEST_THREADS:-4}"
