#!/usr/bin/env bash
# Runs the whole test suite. Some tests use real peers (a one-node Ceph RadosGW; RabbitMQ
# web-stomp): unless RGW_ENDPOINT is already set, this installs them (apt, needs root) and
# starts them from ../shared/peers, and stops them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(pwd)/../shared}
PEERS=""
cleanup() {
  if [ -n "$PEERS" ]; then
    RMQ_STOP_FAST=1 bash "$SHARED/peers/stop-rabbitmq.sh" "$PEERS/rmq" --purge >/dev/null 2>&1 || true
    bash "$SHARED/peers/stop-ceph-rgw.sh" "$PEERS/ceph" --purge >/dev/null 2>&1 || true
    rm -rf "$PEERS"
  fi
}
trap cleanup EXIT
if [ -z "${RGW_ENDPOINT:-}" ]; then
  [ -d "$SHARED/peers" ] || { echo "test.sh: $SHARED/peers not found (set SHARED=...)" >&2; exit 1; }
  bash "$SHARED/peers/install-peers.sh" >&2
  PEERS=$(mktemp -d /tmp/site-agent-peers.XXXXXX)
  echo "test.sh: starting RabbitMQ and Ceph RGW under $PEERS" >&2
  # Assign first: a failed start must stop the run (an `eval "$(...)"` would hide it).
  rmq_env=$(bash "$SHARED/peers/start-rabbitmq.sh" "$PEERS/rmq")
  eval "$rmq_env"
  rgw_env=$(bash "$SHARED/peers/start-ceph-rgw.sh" "$PEERS/ceph")
  eval "$rgw_env"

  export RMQ_WS_URL RMQ_MGMT_URL RMQ_ADMIN_USER RMQ_ADMIN_PASS RMQ_STOMP_HOST RMQ_STOMP_PORT RMQ_DATA_DIR
  export RGW_ENDPOINT RGW_ADMIN_ACCESS_KEY RGW_ADMIN_SECRET_KEY
  # The event tests restart the broker with the peers' own scripts.
  export SHARED
fi
cargo test --workspace --locked "$@"
