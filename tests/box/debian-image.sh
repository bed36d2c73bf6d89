#!/bin/sh
# Build the real edge box the tests run on: a Debian bookworm system container image for incus
# (systemd 252, udev, haproxy 2.6, certbot 2.1, openssh-server, socat, curl) — the box the
# reference team runs, with nothing of edgeplan on it. Recipe: ../shared/reference/tools-here.md,
# "A Debian system container as the edge box".
#
#   sh tests/box/debian-image.sh OUT_DIR
#
# writes OUT_DIR/metadata.tar.gz and OUT_DIR/rootfs.tar.zst (byte-identical for the same
# recipe and packages: SOURCE_DATE_EPOCH). The mirror is this machine's own apt source (the
# first `URIs:` of /etc/apt/sources.list.d/debian.sources, and the security suite beside it):
# no host is named here. mmdebstrap's scratch space stays under OUT_DIR.
set -eu
out=${1:?usage: debian-image.sh OUT_DIR}
mkdir -p "$out/tmp"
out=$(cd "$out" && pwd)

# The packages of the box. Changing this list (or anything in this file) changes the cache key.
PACKAGES=systemd,systemd-sysv,udev,dbus,haproxy,certbot,openssh-server,socat,curl,ca-certificates,iproute2,openssl

sources=/etc/apt/sources.list.d/debian.sources
main=$(awk '/^URIs:/ { print $2; exit }' "$sources")
security=$(awk '/^URIs:/ && /security/ { print $2; exit }' "$sources")
[ -n "$main" ] || { echo "no URIs: line in $sources" >&2; exit 1; }
[ -n "$security" ] || security="${main%/debian}/debian-security"

export SOURCE_DATE_EPOCH=1700000000
export TMPDIR="$out/tmp"
# The hooks run in mmdebstrap's shell, which sets $1 to the new root: single quotes on purpose.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
	--customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
	--customize-hook='truncate -s 0 "$1"/etc/machine-id' \
	--customize-hook='rm -f "$1"/etc/hostname' \
	--customize-hook='rm -f "$1"/etc/resolv.conf && : >"$1"/etc/resolv.conf' \
	--customize-hook='mkdir -p "$1"/root/.ssh && chmod 700 "$1"/root/.ssh' \
	--customize-hook='upload '"$(dirname "$0")"'/ssh-host-keys.service /etc/systemd/system/ssh-host-keys.service' \
	--customize-hook='upload '"$(dirname "$0")"'/eth0.network /etc/systemd/network/eth0.network' \
	--customize-hook='mkdir -p "$1"/etc/systemd/system/systemd-networkd-wait-online.service.d' \
	--customize-hook='upload '"$(dirname "$0")"'/wait-online.conf /etc/systemd/system/systemd-networkd-wait-online.service.d/edgeplan-test.conf' \
	--customize-hook='chroot "$1" systemctl enable systemd-networkd ssh-host-keys.service' \
	bookworm "$out/rootfs.tar.zst" \
	"deb $main bookworm main" \
	"deb $main bookworm-updates main" \
	"deb $security bookworm-security main"

cat >"$out/metadata.yaml" <<'YAML'
architecture: x86_64
creation_date: 1700000000
properties:
  description: edgeplan test edge box (Debian bookworm, systemd)
  os: debian
  release: bookworm
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
YAML
mkdir -p "$out/templates"
printf '{{ instance.name }}\n' >"$out/templates/hostname.tpl"
(cd "$out" && tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner \
	-czf metadata.tar.gz metadata.yaml templates)
rm -rf "$out/tmp"
