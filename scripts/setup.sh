#!/usr/bin/env bash
# Sets up a fresh machine for building and testing hyperion. Idempotent; safe to run twice.
#
# Today the core needs only the Rust toolchain (cargo, rustc, rustfmt, clippy). The OpenTelemetry
# adapter's tests will add their real backends here (rotel from PyPI, Prometheus from Debian), so
# that CI installs everything it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required but not on PATH ($2)" >&2; exit 1; }
}
need cargo "install Rust with rustup"
need rustc "install Rust with rustup"

# rustfmt and clippy come with the default rustup profile; add them if this toolchain lacks them.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  need rustup "rustfmt/clippy are missing and rustup is not available to add them"
  rustup component add rustfmt clippy
fi

# Fetch every crate once, so that the build and test steps that follow work from the lock file.
cargo fetch --locked
echo "setup: ok ($(rustc --version))"
