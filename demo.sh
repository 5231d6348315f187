#!/usr/bin/env bash
# One command demo: builds site-agent and the simulators, then shows a marketplace order go from
# pending-provider to done on a (simulated) croit-managed Ceph: S3 user, quotas and two keys.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo.sh: cargo not found. Install Rust 1.95 or newer (https://rustup.rs) and gcc (apt-get install -y gcc)." >&2
  exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
  echo "demo.sh: installing gcc (needed to build the bundled SQLite)" >&2
  apt-get update -q && apt-get install -y -q gcc
fi
cargo build --locked -p site-agent -p site-agent-sims --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
exec "$bin/demo" "$bin/site-agent"
