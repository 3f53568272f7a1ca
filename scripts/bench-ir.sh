#!/usr/bin/env bash
# Instruction counts (callgrind) per iteration of a bench's cases: repeatable on a shared,
# noisy machine where times are not. Usage:
#   scripts/bench-ir.sh BENCH CASE...        e.g. scripts/bench-ir.sh otel_sampling call_span
# The bench binary runs HYPERION_BENCH_CASE HYPERION_BENCH_ITERS times warm, then as many times
# inside its `measured` function (`hyperion_bench::run_ir_case`; cases are named GROUP/SIDE in
# the criterion benches, e.g. `otel span_start_end/hyperion_otel`). A case is counted inside `measured` only; a case whose name
# ends in `_export` is counted for the whole process (the exporter's threads too) as the
# difference between a run of 2*ITERS and one of ITERS, which cancels start-up and shutdown.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:?usage: scripts/bench-ir.sh BENCH CASE...}
shift
[ $# -gt 0 ] || { echo "bench-ir: name at least one case" >&2; exit 1; }
iters=${ITERS:-2000}
command -v valgrind >/dev/null || { echo "bench-ir: valgrind is required" >&2; exit 1; }
# The binary cargo built, as it reports it (not a guess in target/: CARGO_TARGET_DIR may move it).
binary=$(cargo bench -q -p hyperion-bench --bench "$bench" --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -n "$binary" ] && [ -x "$binary" ] \
  || { cargo bench -p hyperion-bench --bench "$bench" --no-run; echo "bench-ir: no binary for $bench" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }
count() { # case iterations [toggle]
  local file="$out/${1//\//_}-$2.out"
  HYPERION_BENCH_CASE=$1 HYPERION_BENCH_ITERS=$2 valgrind --tool=callgrind ${3:+"--toggle-collect=$3"} \
    --callgrind-out-file="$file" "$binary" >/dev/null 2>"$file.err" \
    || { cat "$file.err" >&2; exit 1; }
  total "$file"
}
printf '%-24s %12s\n' case "Ir/iter"
for case in "$@"; do
  if [[ $case == *_export ]]; then
    a=$(count "$case" "$iters")
    b=$(count "$case" $((2 * iters)))
    printf '%-24s %12d  (whole process)\n' "$case" $(((b - a) / (2 * iters)))
  else
    n=$(count "$case" "$iters" '*measured*')
    printf '%-24s %12d\n' "$case" $((n / iters))
  fi
done
