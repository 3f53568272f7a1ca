#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints (all targets, benches included),
# then every test of the workspace (unit, integration, conformance and doc tests), the docs
# (rustdoc warnings are errors) and a smoke test of the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked

# Quickstart smoke test: it runs, intercepts the call, and keeps the trace it extracts from the
# incoming `traceparent`.
quickstart_output=$(cargo run -q -p quickstart --locked 2>&1) || {
    printf '%s\n' "$quickstart_output"
    echo "quickstart smoke test: cargo run -p quickstart failed" >&2
    exit 1
}
for expected in "UserService.GetUser" "trace_id=4bf92f3577b34da6a3ce929d0e0e4736"; do
    if [[ "$quickstart_output" != *"$expected"* ]]; then
        printf '%s\n' "$quickstart_output"
        echo "quickstart smoke test: the output above lacks \"$expected\"" >&2
        exit 1
    fi
done
echo "quickstart smoke test: ok"
