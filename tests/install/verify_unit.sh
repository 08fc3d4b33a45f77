#!/usr/bin/env bash
# systemd-analyze verify on systemd/kairosd.service, ExecStart pointed at the built
# kairosd (verify insists the binary exists). Any diagnostic fails the test: verify
# exits 0 on unknown keys and unparsable values, it only prints them.
#   verify_unit.sh UNIT KAIROSD
set -euo pipefail
unit=$1 kairosd=$2

if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze not installed (Debian package: systemd)"
    exit 77
fi
[ -x "$kairosd" ] || { echo "FAIL: $kairosd is not built"; exit 1; }
kairosd=$(realpath "$kairosd")  # systemd wants an absolute path

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -q '^ExecStart=/usr/bin/kairosd ' "$unit" || { echo "FAIL: unexpected ExecStart in $unit"; exit 1; }
sed "s|^ExecStart=/usr/bin/kairosd |ExecStart=$kairosd |" "$unit" >"$tmp/kairosd.service"

# Directives the service relies on: fail loudly if someone drops one.
for want in Type=notify NotifyAccess=main 'ExecReload=/bin/kill -HUP $MAINPID' \
            StateDirectory=kairos RuntimeDirectory=kairos ConfigurationDirectory=kairos \
            KillMode=mixed Restart=on-failure WatchdogSec=30s; do
    grep -qxF "$want" "$unit" || { echo "FAIL: $unit lacks '$want'"; exit 1; }
done
# TimeoutStopSec must leave room for shutdown_grace (30s) + kill_grace (10s).
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
[ -n "$stop" ] && [ "$stop" -gt 40 ] || { echo "FAIL: TimeoutStopSec=${stop:-?}s must exceed 40s"; exit 1; }

out=$(systemd-analyze verify --man=no "$tmp/kairosd.service" 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify (exit $rc):"
    echo "$out"
    exit 1
fi
echo "ok: systemd-analyze verify passes on $unit"
