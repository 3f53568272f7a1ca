#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints (all targets, benches included),
# then every test of the workspace (unit, integration, conformance and doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
