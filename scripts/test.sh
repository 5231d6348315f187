#!/usr/bin/env bash
# Runs the whole test suite. Some tests use real peers (a one-node Ceph RadosGW, SeaweedFS,
# RabbitMQ web-stomp): unless RGW_ENDPOINT is already set, this installs them (apt and pip;
# apt needs root) and starts them from ../shared/peers, and stops them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(pwd)/../shared}
PEERS=""
cleanup() {
  if [ -n "$PEERS" ]; then
    RMQ_STOP_FAST=1 bash "$SHARED/peers/stop-rabbitmq.sh" "$PEERS/rmq" --purge >/dev/null 2>&1 || true
    bash "$SHARED/peers/stop-ceph-rgw.sh" "$PEERS/ceph" --purge >/dev/null 2>&1 || true
    bash "$SHARED/peers/stop-seaweedfs.sh" "$PEERS/sw" --purge >/dev/null 2>&1 || true
    rm -rf "$PEERS"
  fi
}
trap cleanup EXIT
if [ -z "${RGW_ENDPOINT:-}" ]; then
  [ -d "$SHARED/peers" ] || { echo "test.sh: $SHARED/peers not found (set SHARED=...)" >&2; exit 1; }
  bash "$SHARED/peers/install-peers.sh" >&2
  # start-seaweedfs.sh pip-installs `weed` into a venv: Debian keeps venv support apart.
  python3 -c 'import ensurepip' 2>/dev/null || { apt-get update -q >&2 && apt-get install -y -q python3-venv >&2; }
  PEERS=$(mktemp -d /tmp/site-agent-peers.XXXXXX)
  echo "test.sh: starting RabbitMQ, Ceph RGW and SeaweedFS under $PEERS" >&2
  # Assign first: a failed start must stop the run (an `eval "$(...)"` would hide it).
  rmq_env=$(bash "$SHARED/peers/start-rabbitmq.sh" "$PEERS/rmq")
  eval "$rmq_env"
  rgw_env=$(bash "$SHARED/peers/start-ceph-rgw.sh" "$PEERS/ceph")
  eval "$rgw_env"
  # The weed binary comes from PyPI into a venv kept beside the peers (reused between runs).
  sw_env=$(SEAWEEDFS_VENV=${SEAWEEDFS_VENV:-/var/tmp/site-agent-seaweedfs-venv} bash "$SHARED/peers/start-seaweedfs.sh" "$PEERS/sw")
  eval "$sw_env"

  export RMQ_WS_URL RMQ_MGMT_URL RMQ_ADMIN_USER RMQ_ADMIN_PASS RMQ_STOMP_HOST RMQ_STOMP_PORT RMQ_DATA_DIR
  export RGW_ENDPOINT RGW_ADMIN_ACCESS_KEY RGW_ADMIN_SECRET_KEY
  export SEAWEEDFS_S3_ENDPOINT SEAWEEDFS_REGION SEAWEEDFS_ADMIN_ACCESS_KEY SEAWEEDFS_ADMIN_SECRET_KEY SEAWEEDFS_SHELL
  # The event tests restart the broker with the peers' own scripts.
  export SHARED
fi
cargo test --workspace --locked "$@"
