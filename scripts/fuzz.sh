#!/usr/bin/env bash
# Coverage-guided fuzzing of the spec loader and validator (target `load`) or of the whole
# pipeline — diagnostics, render, route (target `pipeline`) — with cargo-fuzz/libFuzzer, for
# DURATION (90s, 30m, 2h). See docs/fuzzing.md.
#
#   bash scripts/fuzz.sh 30m            the loader, 30 minutes
#   bash scripts/fuzz.sh 10m pipeline   the whole pipeline
#   FUZZ_ARGS="-max_len=256" bash scripts/fuzz.sh 30m   more libFuzzer flags (small inputs run
#                                        faster: the KDL parser costs about 1 µs a byte)
#
# The committed seeds (fuzz/corpus/load) are read, never written; what the fuzzer finds goes to
# fuzz/work/TARGET (ignored by git). A crash stops the run with a non-zero exit and its input in
# fuzz/artifacts/TARGET/: make it a fixture (docs/fuzzing.md). Prints the executions at the end.
# Works on the stable toolchain: no sanitizer (`-s none`), coverage through stable -C flags.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:?usage: scripts/fuzz.sh DURATION [load|pipeline]}
target=${2:-load}
if ! [[ $duration =~ ^([0-9]+)([smh]?)$ ]]; then
  echo "fuzz.sh: DURATION is a whole number of seconds, minutes or hours (90s, 30m, 2h), not '$duration'" >&2
  exit 2
fi
case ${BASH_REMATCH[2]} in # 10#: a leading zero is not octal
  h) seconds=$(( 10#${BASH_REMATCH[1]} * 3600 )) ;;
  m) seconds=$(( 10#${BASH_REMATCH[1]} * 60 )) ;;
  *) seconds=$(( 10#${BASH_REMATCH[1]} )) ;;
esac
if [ "$seconds" -eq 0 ]; then
  echo "fuzz.sh: DURATION must be more than 0 (libFuzzer reads 0 as: no limit)" >&2
  exit 2
fi
case $target in
  load | pipeline) ;;
  *) echo "fuzz.sh: the targets are load and pipeline, not '$target'" >&2; exit 2 ;;
esac
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p "fuzz/work/$target"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
read -r -a extra <<< "${FUZZ_ARGS:-}"
set +e
cargo fuzz run --sanitizer none --release "$target" "fuzz/work/$target" fuzz/corpus/load -- \
  -max_total_time="$seconds" -print_final_stats=1 -timeout=10 "${extra[@]}" 2>&1 | tee "$log" |
  grep --line-buffered -E '^#[0-9]+[[:space:]]+(pulse|DONE)|ERROR|panicked'
rc=${PIPESTATUS[0]}
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
echo "fuzz $target for $duration: ${execs:-?} executions, ${rate:-?} per second, exit $rc"
if [ "$rc" -ne 0 ]; then
  grep -E 'Test unit written to|panicked at' "$log" || true
fi
exit "$rc"
