#!/usr/bin/env bash
# Soak test (not part of CI): an HTTP service traced through the otel adapter under steady load
# for SOAK_SECS (default 600) while its collector (rotel) is stopped and restarted every
# SOAK_TOGGLE_SECS (default 30). Prints RSS, span accounting, export recovery and latency per
# phase, and fails if memory grows, a span is unaccounted for, export does not resume or p99
# latency with the collector down is more than 5 % above p99 with it up.
# See benches/benches/soak.rs for the latest figures. Needs scripts/setup.sh (rotel) first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p hyperion-bench --bench soak --locked
