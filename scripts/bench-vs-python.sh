#!/usr/bin/env bash
# Side-by-side benchmark of site-agent and the Python waldur-site-agent with its ceph-s3
# plugin (from PyPI, in a throw-away venv) on the same work: same simulators (waldur-sim and
# croit-sim, in the bench-agents process), same YAML config, same polling period. Prints one
# Markdown table (see BENCHMARKS.md). Needs python3 with venv, network access to PyPI, and a
# quiet machine: run nothing else meanwhile.
#
#   scripts/bench-vs-python.sh                    # defaults: 20 orders, burst of 50, 1,000 resources
#   scripts/bench-vs-python.sh --resources 200    # extra arguments go to bench-agents
#   PY_AGENT_VERSION=1.0.7 scripts/bench-vs-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version=${PY_AGENT_VERSION:-1.0.7}
venv=$(mktemp -d "${TMPDIR:-/tmp}/bench-python-agent.XXXXXX")
trap 'rm -rf "$venv"' EXIT

echo "== installing waldur-site-agent $version + waldur-site-agent-ceph-s3 $version into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "waldur-site-agent==$version" "waldur-site-agent-ceph-s3==$version"

echo "== building site-agent and bench-agents (release)" >&2
# Two builds: together, cargo would unify the simulators' dependency features into the agent.
cargo build --release --locked -p site-agent --bin site-agent >&2
cargo build --release --locked -p site-agent-sims --bin bench-agents >&2
target=${CARGO_TARGET_DIR:-target}/release

echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)" >&2
"$target/bench-agents" \
    --agent "site-agent $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)=$target/site-agent" \
    --agent "waldur-site-agent $version (Python $(python3 -c 'import platform; print(platform.python_version())'))=$venv/bin/waldur_site_agent" \
    --orders 20 --burst 50 --resources 1000 "$@"
