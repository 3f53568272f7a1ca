#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a given time each (default 60 s; `scripts/fuzz.sh 300`
# or FUZZ_SECS=300), and prints, per target, the inputs tried and whether it crashed. Not part
# of CI: the property tests in the normal suite (core/tests/parsers_prop.rs,
# adapters/sqlx/tests/sanitizer_prop.rs) cover the same parsers briefly on every run.
#
# cargo-fuzz needs nightly compiler flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1. A crash leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-${FUZZ_SECS:-60}}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
status=0
for target in $(cargo fuzz list --fuzz-dir fuzz); do
  log="$(mktemp)"
  if cargo fuzz run --fuzz-dir fuzz "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    result="ok"
  else
    result="CRASH (see fuzz/artifacts/$target/)"
    status=1
  fi
  runs="$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1 || true)"
  echo "fuzz: $target: ${runs:-no summary} in ${secs}s: $result"
  [ "$result" = "ok" ] || tail -n 30 "$log"
  rm -f "$log"
done
exit "$status"
