#!/usr/bin/env bash
# (Re)build the fuzz targets' seed corpus from the spec fixtures and the bundled specs: one input
# per specs directory, its files joined with the `//--file--` separator lines that
# `edgeplan::fuzzing::split` reads back (edge.kdl first, then up to two env files, then the
# first included file). Names are stable (the fixture's), so re-running changes nothing unless
# a fixture changed. Usage: bash scripts/fuzz-corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus/load
mkdir -p "$out"
one() { # DIR NAME
  local dir=$1 name=$2 env_files extra
  {
    cat "$dir/edge.kdl" 2>/dev/null || true
    mapfile -t env_files < <(find "$dir/env" -maxdepth 1 -name '*.kdl' -type f 2>/dev/null | sort | head -n 2)
    for f in "${env_files[@]}"; do printf '\n//--file--\n'; cat "$f"; done
    extra=$(find "$dir" -name '*.kdl' -type f ! -path "$dir/edge.kdl" ! -path "$dir/env/*" 2>/dev/null | sort | head -n 1)
    if [ -n "$extra" ]; then
      for _ in $(seq $((${#env_files[@]} + 1)) 2); do printf '\n//--file--\n'; done
      printf '\n//--file--\n'; cat "$extra"
    fi
  } > "$out/$name"
}
one specs bundled
for kind in valid invalid; do
  for dir in "tests/specs/$kind"/*/; do
    one "${dir%/}" "$kind-$(basename "$dir")"
  done
done
echo "$(find "$out" -type f | wc -l) inputs in $out"
