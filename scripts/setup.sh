#!/usr/bin/env bash
# Sets up a fresh machine for building and testing hyperion. Idempotent; safe to run twice.
#
# Installs what the tests need besides Rust: rotel, a real OTLP collector (PyPI), which the
# OpenTelemetry adapter's export tests start on their own ports. CI runs this on a clean machine,
# so nothing may be assumed installed by hand.
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

# rotel: an OTLP collector, installed into the project's own virtualenv (.tools/venv, ignored by
# git) so that no system Python is touched (PEP 668). The wheel ships the `rotel-agent` binary
# inside the package folder, not on PATH; the tests look for it there (or in $ROTEL_AGENT_BIN).
need python3 "install CPython 3"
ROTEL_VERSION=0.0.1a15
venv=.tools/venv
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 needs python3-venv for this.
    rm -rf "$venv"
    command -v apt-get >/dev/null 2>&1 || { echo "setup: python3 cannot create a venv" >&2; exit 1; }
    apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('rotel') != '$ROTEL_VERSION')" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "rotel==$ROTEL_VERSION"
fi
rotel_agent="$("$venv/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
[ -x "$rotel_agent" ] || { echo "setup: rotel-agent not found at $rotel_agent" >&2; exit 1; }

# Fetch every crate once, so that the build and test steps that follow work from the lock file.
cargo fetch --locked
echo "setup: ok ($(rustc --version); rotel $ROTEL_VERSION at $rotel_agent)"
