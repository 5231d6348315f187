#!/usr/bin/env bash
# Builds the Debian package of site-agent with Debian's own dpkg-deb:
#   target/debian/site-agent_<version>_<arch>.deb
# Contents: /usr/bin/site-agent (release build), the hardened unit (run as the system user
# `site-agent`, made by sysusers.d; state in /var/lib/site-agent, made by tmpfiles.d), example
# configs under /usr/share/doc/site-agent/examples, a man page made from --help. The package
# ships nothing under /etc/waldur (only makes the directory), so it never touches the config
# the admin writes there; `dpkg --purge` removes the state and leaves that config.
# Usage: scripts/build-deb.sh [--binary PATH]   (default: build the release binary)
set -euo pipefail
# Files made here are world-readable whatever the builder's umask.
umask 022
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
BIN=""
if [ "${1:-}" = "--binary" ]; then BIN=$2; fi
if [ -z "$BIN" ]; then
  cargo build --release --locked -p site-agent
  BIN="$TARGET/release/site-agent"
fi
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
ARCH=$(dpkg --print-architecture)
OUT="$TARGET/debian"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
P="$STAGE/site-agent_${VERSION}_${ARCH}"

install -D -m 0755 "$BIN" "$P/usr/bin/site-agent"
# The unit as shipped, for a packaged install: the binary in /usr/bin, the system user.
install -d "$P/lib/systemd/system"
sed -e 's|/usr/local/bin/site-agent|/usr/bin/site-agent|g' \
    -e 's|^DynamicUser=yes$|User=site-agent\nGroup=site-agent|' \
    -e '/^# Install: /,/^#          systemctl enable/d' \
    systemd/site-agent.service > "$P/lib/systemd/system/site-agent.service"
install -D -m 0644 /dev/stdin "$P/usr/lib/sysusers.d/site-agent.conf" <<'EOF'
# The user the agent runs as (no login, no home but its state).
u site-agent - "Waldur site agent" /var/lib/site-agent /usr/sbin/nologin
EOF
install -D -m 0644 /dev/stdin "$P/usr/lib/tmpfiles.d/site-agent.conf" <<'EOF'
# State (the SQLite database, its lock, the heartbeat): the agent's alone.
d /var/lib/site-agent 0700 site-agent site-agent -
# The config the admin writes: readable by the agent, never shipped by the package.
d /etc/waldur 0750 root site-agent -
d /etc/site-agent 0700 root root -
EOF
install -d "$P/usr/share/doc/site-agent/examples"
install -m 0644 README.md "$P/usr/share/doc/site-agent/README.md"
install -m 0644 config/*.yaml "$P/usr/share/doc/site-agent/examples/"
install -D -m 0644 /dev/stdin "$P/usr/share/doc/site-agent/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: site-agent
License: Apache-2.0

Files: *
Copyright: the site-agent authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
# The man page: --help of the command and of each subcommand.
install -d "$P/usr/share/man/man1"
{
  echo ".TH SITE-AGENT 1 \"$(date -u +%Y-%m-%d)\" \"site-agent $VERSION\" \"User Commands\""
  echo ".SH NAME"
  echo "site-agent \\- sells S3 object storage through a Waldur marketplace"
  echo ".SH DESCRIPTION"
  echo ".nf"
  "$BIN" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
  for sub in run check-config diagnostics load-components healthz adopt usage; do
    echo
    echo "site-agent $sub"
    "$BIN" "$sub" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
  done
  echo ".fi"
  echo ".SH FILES"
  echo "/etc/waldur/waldur-site-agent-config.yaml, /var/lib/site-agent, /usr/share/doc/site-agent/examples"
} | gzip -9n > "$P/usr/share/man/man1/site-agent.1.gz"

install -d "$P/DEBIAN"
SIZE=$(du -sk --exclude=DEBIAN "$P" | cut -f1)
# The newest glibc version the binary needs (a build on a newer system needs a newer libc6
# than the one it was written for): its version references, where packed relocations
# (GLIBC_ABI_DT_RELR, agent/build.rs) came with glibc 2.36.
GLIBC=$( { objdump -p "$P/usr/bin/site-agent" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//'
           objdump -p "$P/usr/bin/site-agent" | grep -q 'GLIBC_ABI_DT_RELR' && echo 2.36; } | sort -V | tail -n1)
cat > "$P/DEBIAN/control" <<EOF
Package: site-agent
Version: $VERSION
Architecture: $ARCH
Maintainer: site-agent maintainers <site-agent@invalid>
Installed-Size: $SIZE
Depends: libc6 (>= ${GLIBC:-2.31}), systemd
Section: net
Priority: optional
Homepage: https://github.com/waldur
Description: Waldur site agent for S3 object storage
 Sells S3 object storage through a Waldur marketplace: takes orders by STOMP
 events and polling, creates users, quotas and keys on the storage backend
 (Ceph, SeaweedFS, Dell ECS, Cloudian HyperStore, MyFSIO), bills usage exactly
 once. A drop-in for the Python waldur-site-agent's config and command line.
EOF
cat > "$P/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
  systemd-sysusers site-agent.conf
  systemd-tmpfiles --create site-agent.conf
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
  if [ ! -e /etc/waldur/waldur-site-agent-config.yaml ]; then
    echo "site-agent: write /etc/waldur/waldur-site-agent-config.yaml (examples: /usr/share/doc/site-agent/examples) and the Waldur token to /etc/site-agent/waldur-token (mode 600; the unit loads it as the credential waldur-api-token), then: systemctl enable --now site-agent"
  fi
  # An upgrade: the running agent is restarted on the new binary (if it runs).
  if [ -n "$2" ] && [ -d /run/systemd/system ]; then
    systemctl try-restart site-agent.service || true
  fi
fi
EOF
cat > "$P/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
  systemctl disable --now site-agent.service >/dev/null 2>&1 || true
fi
EOF
cat > "$P/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "purge" ]; then
  # The state goes; the config the admin wrote stays (and with it /etc/waldur).
  rm -rf /var/lib/site-agent
  rmdir --ignore-fail-on-non-empty /etc/waldur /etc/site-agent 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
EOF
chmod 0755 "$P/DEBIAN/postinst" "$P/DEBIAN/prerm" "$P/DEBIAN/postrm"
mkdir -p "$OUT"
dpkg-deb --root-owner-group --build "$P" "$OUT/site-agent_${VERSION}_${ARCH}.deb" >&2
echo "$OUT/site-agent_${VERSION}_${ARCH}.deb"
