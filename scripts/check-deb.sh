#!/usr/bin/env bash
# Installs a built site-agent .deb on this machine, checks it the way an operator would, and
# removes it again: `dpkg -i`, `systemd-analyze verify` of the installed unit, `check-config`
# on an installed example, then `dpkg --purge`, which must leave no file of the package — only
# the config the admin wrote under /etc/waldur. Needs root. Usage: scripts/check-deb.sh DEB
set -euo pipefail
DEB=$1
[ "$(id -u)" = 0 ] || { echo "check-deb.sh: needs root (dpkg -i)" >&2; exit 1; }
if dpkg -s site-agent >/dev/null 2>&1; then
  echo "check-deb.sh: site-agent is installed already; not touching it" >&2
  exit 1
fi
# Whatever happens below, the machine is left without the package.
trap 'dpkg --purge site-agent >/dev/null 2>&1 || true' EXIT
# The declared libc6 is at least what the binary asks the loader for (packed relocations
# need glibc 2.36).
NEEDS=$(dpkg-deb -f "$DEB" Depends | grep -o 'libc6 (>= [0-9.]*)' | grep -o '[0-9][0-9.]*')
BIN=$(mktemp)
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/bin/site-agent > "$BIN"
if objdump -p "$BIN" | grep -q GLIBC_ABI_DT_RELR; then
  dpkg --compare-versions "$NEEDS" ge 2.36 || { echo "check-deb.sh: libc6 (>= $NEEDS) but the binary needs 2.36" >&2; exit 1; }
fi
rm -f "$BIN"
dpkg -i "$DEB"
FILES=$(dpkg -L site-agent | while read -r f; do [ -f "$f" ] && echo "$f"; done)
echo "installed $(echo "$FILES" | wc -l) files"
id site-agent
test -d /var/lib/site-agent && test -d /etc/waldur
test "$(stat -c %U /var/lib/site-agent)" = site-agent
UNIT=/lib/systemd/system/site-agent.service
grep -q '^User=site-agent$' "$UNIT"
grep -q '^ExecStart=/usr/bin/site-agent run' "$UNIT"
systemd-analyze verify "$UNIT"
# The packaged unit (a system user instead of DynamicUser) stays as locked down.
systemd-analyze security --offline=true --threshold=20 "$UNIT" 2>&1 | tail -n 1
/usr/bin/site-agent --version
/usr/bin/site-agent check-config -c /usr/share/doc/site-agent/examples/myfsio.yaml >/dev/null
man -w site-agent >/dev/null 2>&1 || test -f /usr/share/man/man1/site-agent.1.gz
# The admin's config, and a state file the agent would have made.
ADMIN_CONFIG=/etc/waldur/waldur-site-agent-config.yaml
KEEP_CONFIG=0
if [ -e "$ADMIN_CONFIG" ]; then KEEP_CONFIG=1; else
  cp /usr/share/doc/site-agent/examples/myfsio.yaml "$ADMIN_CONFIG"
fi
touch /var/lib/site-agent/state.sqlite3
dpkg --purge site-agent
for f in $FILES; do
  if [ -e "$f" ]; then echo "check-deb.sh: $f left after purge" >&2; exit 1; fi
done
test ! -e /var/lib/site-agent || { echo "check-deb.sh: state left after purge" >&2; exit 1; }
test -f "$ADMIN_CONFIG" || { echo "check-deb.sh: purge removed the admin's config" >&2; exit 1; }
if [ "$KEEP_CONFIG" = 0 ]; then rm -f "$ADMIN_CONFIG"; rmdir --ignore-fail-on-non-empty /etc/waldur; fi
echo "check-deb.sh: installed, verified and purged cleanly (the admin's config kept)"
