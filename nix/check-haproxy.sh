#!/usr/bin/env bash
# Validate a rendered edge tree with `haproxy -c`, inside a Nix build (or anywhere else).
#
#   check-haproxy.sh TREE [CONFIG]     CONFIG defaults to etc/haproxy/haproxy.cfg (relative to TREE)
#
# TREE is read only: nothing in it is changed. The check runs on a scratch copy of the config
# in which only what a build sandbox cannot provide is pointed elsewhere, line for line (so
# haproxy's line numbers are those of the real file):
#   * the argument of every `crt` -> a directory holding one placeholder self-signed PEM made
#     here with openssl (the real certificates only exist on the box);
#   * every argument that names a file of the tree by its path on the box (`/etc/haproxy/...`)
#     -> that file in TREE (error pages, bodies);
#   * `user` / `group` in `global` -> commented out (the sandbox has no such accounts);
#   * `parse-resolv-conf` -> a loopback `nameserver` (the sandbox has no /etc/resolv.conf).
# Scratch files go under $TMPDIR (the build directory in Nix). Needs haproxy, openssl, awk.
set -euo pipefail

tree=${1:?usage: check-haproxy.sh TREE [CONFIG]}
rel=${2:-etc/haproxy/haproxy.cfg}
cfg="$tree/$rel"
if [[ ! -f $cfg ]]; then
  echo "check-haproxy: $cfg does not exist: nothing to validate" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/edgeplan-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/certs"

# A config of our own: the sandbox has no /etc/ssl/openssl.cnf.
printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = placeholder.edgeplan.invalid\n' \
  >"$work/openssl.cnf"
if ! OPENSSL_CONF="$work/openssl.cnf" openssl req -config "$work/openssl.cnf" -x509 \
  -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$work/placeholder.key" -out "$work/placeholder.crt" >"$work/openssl.log" 2>&1; then
  echo "check-haproxy: openssl could not make the placeholder certificate:" >&2
  cat "$work/openssl.log" >&2
  exit 1
fi
cat "$work/placeholder.crt" "$work/placeholder.key" >"$work/certs/placeholder.pem"

# Files of the tree, as `/path/on/the/box<TAB>path in TREE`.
(cd "$tree" && find . -type f ! -name manifest.json | LC_ALL=C sort) |
  while IFS= read -r f; do
    f=${f#./}
    printf '/%s\t%s/%s\n' "$f" "$tree" "$f"
  done >"$work/files.tsv"

awk -v certs="$work/certs/" -F '\t' '
  FNR == NR { file[$1] = $2; next }
  {
    line = $0
    n = split(line, w, /[ \t]+/)
    first = (w[1] == "") ? w[2] : w[1]
    if (first ~ /^[a-z]/ && line !~ /^[ \t]/) section = first
    if (section == "global" && (first == "user" || first == "group")) {
      print "# edgeplan-check: " line; next
    }
    if (first == "parse-resolv-conf") {
      print "    nameserver edgeplan_check 127.0.0.1:53"; next
    }
    changed = 0
    for (i = 1; i <= n; i++) {
      if (w[i - 1] == "crt" && i > 1) { w[i] = certs; changed = 1 }
      else if (w[i] in file) { w[i] = file[w[i]]; changed = 1 }
    }
    if (!changed) { print line; next }
    out = (w[1] == "") ? "   " : ""
    for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") w[i]
    print out
  }
' "$work/files.tsv" "$cfg" >"$work/haproxy.cfg"

if ! haproxy -c -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1; then
  echo "check-haproxy: haproxy -c rejected $rel (line numbers are those of the rendered file):" >&2
  cat "$work/haproxy.log" >&2
  exit 1
fi
echo "check-haproxy: $rel is valid ($(haproxy -v | head -n 1))"
