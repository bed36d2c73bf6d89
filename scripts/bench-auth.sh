#!/usr/bin/env bash
# What basic auth costs under the real haproxy (issue 20): haproxy runs crypt(3) on every request
# that carries credentials, in its event loop. Prints, per accepted hash scheme and cost, the
# median and p99 latency of a request with the right password (keep-alive, one connection) and
# what it adds to a request without credentials; then the latency of requests *without*
# credentials while two other clients send credentials of the costliest accepted hash (the stall
# every other connection of the thread sees). One haproxy thread, loopback only. Asserts
# nothing: the figures go in the closing note of a change to the accepted costs.
#
#   bash scripts/bench-auth.sh [REQUESTS]     (default 300 per case)
#
# The rules are those edgeplan renders (src/rules/policy.rs: set-var from http_auth, then
# `http-request auth`, then the Authorization header removed); the answer is haproxy's own
# (`http-request return`), so no upstream is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench-auth.sh: REQUESTS is a positive number, not '$n'" >&2; exit 2; }
command -v haproxy >/dev/null || { echo "bench-auth.sh: needs haproxy (apt-get install haproxy)" >&2; exit 2; }
# edgeplan only makes the hashes here (the figures are haproxy's): the debug build will do.
cargo build -q
bin=target/debug/edgeplan
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# name scheme cost
cases=(
  "sha512crypt-5000 sha512crypt 5000"
  "sha512crypt-10000 sha512crypt 10000"
  "sha256crypt-5000 sha256crypt 5000"
  "bcrypt-4 bcrypt 4"
  "bcrypt-5 bcrypt 5"
  "bcrypt-6 bcrypt 6"
)
users=""
for c in "${cases[@]}"; do
  read -r name scheme cost <<< "$c"
  hash=$(printf 'pw-%s\n' "$name" | "$bin" hash-password --scheme "$scheme" --cost "$cost")
  users+="    user $name password $hash"$'\n'
done

start() {
  local port=$1
  cat > "$tmp/haproxy.cfg" <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
userlist team
$users
frontend bench
    bind 127.0.0.1:$port
    http-request set-var(txn.auth_1) bool(1) if { path_beg /auth/ } { http_auth(team) }
    http-request auth realm "bench" if { path_beg /auth/ } !{ var(txn.auth_1) -m bool }
    http-request del-header Authorization if { path_beg /auth/ }
    http-request return status 200
CFG
  haproxy -db -f "$tmp/haproxy.cfg" > "$tmp/haproxy.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
port=""
for _ in 1 2 3 4 5; do
  p=$(( 20000 + RANDOM % 40000 ))
  if start "$p"; then port=$p; break; fi
done
[ -n "$port" ] || { echo "bench-auth.sh: haproxy did not start:" >&2; cat "$tmp/haproxy.log" >&2; exit 1; }

# Median and p99 (ms) of the per-request times of `curl … URL×n` on one connection.
timed() {
  local path=$1; shift
  local urls=() out
  out=$(mktemp -p "$tmp")
  for _ in $(seq "$n"); do urls+=("http://127.0.0.1:$port$path"); done
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$@" "${urls[@]}" > "$out"
  if grep -vq '^200 ' "$out"; then
    echo "bench-auth.sh: a request of $path did not get 200:" >&2; grep -v "^200 " "$out" | head -3 >&2; return 1
  fi
  awk '{print $2 * 1000}' "$out" | sort -n |
    awk '{v[NR]=$1} END {printf "%.3f %.3f", v[int((NR+1)/2)], v[int(NR*0.99 + 0.999)]}'
}

r=$(timed /open/) || exit 1
read -r base base99 <<< "$r"
printf '%-20s %10s %10s %12s\n' "case" "p50 ms" "p99 ms" "added p50 ms"
printf '%-20s %10s %10s %12s\n' "no credentials" "$base" "$base99" "-"
for c in "${cases[@]}"; do
  read -r name _ _ <<< "$c"
  r=$(timed /auth/ -u "$name:pw-$name") || exit 1
  read -r p50 p99 <<< "$r"
  printf '%-20s %10s %10s %12s\n' "$name" "$p50" "$p99" "$(awk -v a="$p50" -v b="$base" 'BEGIN{printf "%.3f", a-b}')"
done

# Two clients hammer the costliest accepted hash; a third sends no credentials meanwhile.
worst=bcrypt-6
for _ in 1 2; do
  ( for _ in $(seq 20); do timed /auth/ -u "$worst:pw-$worst" > /dev/null; done ) &
  pids+=("$!")
done
sleep 0.5
r=$(timed /open/) || exit 1
read -r busy busy99 <<< "$r"
echo
echo "requests without credentials while 2 clients send $worst credentials (one haproxy thread):"
printf '%-20s %10s %10s\n' "" "p50 ms" "p99 ms"
printf '%-20s %10s %10s\n' "idle" "$base" "$base99"
printf '%-20s %10s %10s\n' "under $worst load" "$busy" "$busy99"
