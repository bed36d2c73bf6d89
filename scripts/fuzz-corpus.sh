#!/usr/bin/env bash
# (Re)build the fuzz targets' seed corpus from the spec fixtures and the bundled specs: one input
# per specs directory, its files joined with the `//--file--` separator lines that
# `edgeplan::fuzzing::split` reads back (edge.kdl first, then up to two env files, then
# `extra.kdl`). A directory's other files (what its `include` lines name) are joined into
# `extra.kdl` and its `include` lines name that file, so an include seed still loads. Names are
# stable (the fixture's) and the order is byte order, so re-running changes nothing unless a
# fixture changed. Usage: bash scripts/fuzz-corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
out=fuzz/corpus/load
mkdir -p "$out"
one() { # DIR NAME
  local dir=$1 name=$2 env_files extra_files
  mapfile -t env_files < <(find "$dir/env" -maxdepth 1 -name '*.kdl' -type f 2>/dev/null | sort | head -n 2)
  mapfile -t extra_files < <(find "$dir" -name '*.kdl' -type f ! -path "$dir/edge.kdl" ! -path "$dir/env/*" 2>/dev/null | sort)
  {
    if ((${#extra_files[@]})); then
      # Every included file is now extra.kdl: each distinct path becomes one "extra.kdl" (a
      # path named twice stays twice, the fault some fixtures are about).
      awk -v files="$(printf '%s\n' "${extra_files[@]#"$dir"/}")" '
        BEGIN { n = split(files, f, "\n"); for (i = 1; i <= n; i++) if (f[i] != "") extra["\"" f[i] "\""] = 1 }
        /^[[:space:]]*include[[:space:]]/ {
          out = ""; first = ""
          for (i = 1; i <= NF; i++) {
            if ($i in extra) {
              if (first == "") first = $i
              if ($i != first) continue
              $i = "\"extra.kdl\""
            }
            out = out (out == "" ? "" : " ") $i
          }
          match($0, /^[[:space:]]*/); print substr($0, 1, RLENGTH) out; next
        }
        { print }' "$dir/edge.kdl"
    else
      cat "$dir/edge.kdl" 2>/dev/null || true
    fi
    for f in "${env_files[@]}"; do printf '\n//--file--\n'; cat "$f"; done
    if ((${#extra_files[@]})); then
      for _ in $(seq $((${#env_files[@]} + 1)) 2); do printf '\n//--file--\n'; done
      printf '\n//--file--\n'
      for f in "${extra_files[@]}"; do cat "$f"; printf '\n'; done
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
