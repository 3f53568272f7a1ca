#!/usr/bin/env bash
# Sets up a fresh machine for building and testing hyperion. Idempotent; safe to run twice.
#
# Installs what the tests need besides Rust: rotel, a real OTLP collector (PyPI), and Prometheus
# (Debian), which the OpenTelemetry adapter's tests start on ports of their own; the OpenTelemetry
# Python SDK (PyPI) and Chromium with chromedriver (Debian) for the telemetry viewer's tests; and starts the
# machine's PostgreSQL and NATS if they are stopped (the SQL and NATS integrations' tests use them). CI runs this
# on a clean machine, so nothing may be assumed installed by hand.
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

# The OpenTelemetry Python SDK and its OTLP exporters (gRPC and HTTP/protobuf), in the same venv:
# the telemetry viewer's tests (tools/viewer/tests/python_sdk.rs) send from them, an OTLP
# implementation other than ours. One release train: the SDK and both exporters share a version.
OTEL_PYTHON_VERSION=1.45.2
otel_python_packages="opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-otlp-proto-http"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(any(m.version(p) != '$OTEL_PYTHON_VERSION' for p in sys.argv[1:]))" $otel_python_packages 2>/dev/null; then
  pins=""
  for package in $otel_python_packages; do pins="$pins $package==$OTEL_PYTHON_VERSION"; done
  # shellcheck disable=SC2086 # one argument per pin
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $pins \
    || { echo "setup: pip could not install$pins into $venv" >&2; exit 1; }
fi
"$venv/bin/python" -c "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc.trace_exporter, opentelemetry.exporter.otlp.proto.http.trace_exporter" \
  || { echo "setup: the OpenTelemetry Python SDK in $venv does not import" >&2; exit 1; }
echo "setup: OpenTelemetry Python SDK and OTLP exporters $OTEL_PYTHON_VERSION in $venv"

# Prometheus: Debian's package (2.42 on bookworm), which the OpenTelemetry adapter's metrics tests
# start on a port of their own (with --enable-feature=exemplar-storage) to scrape the adapter's
# endpoint. The package's postinst would start its own daemon on :9090 (a SysV init script run via
# invoke-rc.d when there is no systemd) and enable it at boot; the tests need neither, so the
# start is denied during the install and the service is stopped and disabled afterwards.
if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: prometheus is not installed and this is not root; run as root or" \
      "'sudo apt-get install -y --no-install-recommends prometheus' first" >&2
    exit 1
  fi
  command -v apt-get >/dev/null 2>&1 || { echo "setup: prometheus is missing and there is no apt-get to install it" >&2; exit 1; }
  policy=/usr/sbin/policy-rc.d
  own_policy=no
  if [ ! -e "$policy" ]; then
    own_policy=yes
    # Deny service starts during the install only (101 = action forbidden, see invoke-rc.d(8)).
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ "$own_policy" = yes ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  if [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi
echo "setup: $(prometheus --version 2>&1 | head -n 1) at $(command -v prometheus)"

# docker-compose: Debian's package (1.29 on bookworm), which the demo's compose tests run as
# `docker-compose config` to validate compose/docker-compose.yml offline; no Docker engine is
# needed or installed for that (--no-install-recommends leaves docker.io out).
if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: docker-compose is not installed and this is not root; run as root or" \
      "'sudo apt-get install -y --no-install-recommends docker-compose' first" >&2
    exit 1
  fi
  command -v apt-get >/dev/null 2>&1 || { echo "setup: docker-compose is missing and there is no apt-get to install it" >&2; exit 1; }
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
echo "setup: $(docker-compose version --short 2>&1 | head -n 1) (docker-compose) at $(command -v docker-compose)"

# Chromium and chromedriver: Debian's packages (one source package, so their versions match),
# which the telemetry viewer's browser test (tools/viewer/tests/browser.rs) drives headless over
# WebDriver. --no-install-recommends keeps out the desktop extras a headless run does not need.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: chromium or chromedriver is not installed and this is not root; run as root or" \
      "'sudo apt-get install -y --no-install-recommends chromium chromium-driver' first" >&2
    exit 1
  fi
  command -v apt-get >/dev/null 2>&1 || { echo "setup: chromium is missing and there is no apt-get to install it" >&2; exit 1; }
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
    || { echo "setup: chromium and chromium-driver were installed but chromium/chromedriver are not on PATH" >&2; exit 1; }
fi
echo "setup: $(chromium --version 2>/dev/null | head -n 1) at $(command -v chromium);" \
  "$(chromedriver --version 2>/dev/null | head -n 1 | cut -d' ' -f1-2) at $(command -v chromedriver)"

# Fetch every crate once, so that the build and test steps that follow work from the lock file.
# PostgreSQL and NATS (with JetStream): the SQL and messaging integrations' tests run against the
# real servers on 127.0.0.1 (:5432, database `test`; :4222). This machine kind runs both from
# Debian's packages; a stopped one is started here with the same commands the machine uses, and a
# missing one is an error, never a skipped test.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.2; done
  return 1
}
if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null 2>&1 || { echo "setup: PostgreSQL is not running on 127.0.0.1:5432 and pg_ctlcluster is not installed" >&2; exit 1; }
  echo "setup: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  wait_port 5432 || { echo "setup: PostgreSQL did not start listening on 127.0.0.1:5432" >&2; exit 1; }
fi
if command -v psql >/dev/null 2>&1 && ! psql -h 127.0.0.1 -U postgres -d test -Atc 'SELECT 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test' >/dev/null \
    || { echo "setup: cannot reach database test on 127.0.0.1:5432 as postgres (trust auth expected)" >&2; exit 1; }
fi
if ! port_open 4222; then
  [ -x /usr/sbin/nats-server ] || { echo "setup: NATS is not running on 127.0.0.1:4222 and /usr/sbin/nats-server is not installed" >&2; exit 1; }
  echo "setup: starting NATS with JetStream"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222 || { echo "setup: NATS did not start listening on 127.0.0.1:4222" >&2; exit 1; }
fi
echo "setup: PostgreSQL on 127.0.0.1:5432 and NATS on 127.0.0.1:4222 are up"

cargo fetch --locked
echo "setup: ok ($(rustc --version); rotel $ROTEL_VERSION at $rotel_agent)"
