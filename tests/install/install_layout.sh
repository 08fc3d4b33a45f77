#!/usr/bin/env bash
# `cmake --install` into a DESTDIR, for prefix /usr (the package layout) and /opt/kairos,
# and check where everything lands and that the unit names the installed paths.
#   install_layout.sh BUILD_DIR UNITDIR    (UNITDIR as configured: KAIROS_SYSTEMD_UNITDIR)
set -euo pipefail
build=$1 unitdir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
has() { [ -e "$1" ] || fail "missing $1"; }

unit_path() {  # unit_path DESTDIR PREFIX
    case $unitdir in /*) echo "$1$unitdir/kairosd.service" ;; *) echo "$1$2/$unitdir/kairosd.service" ;; esac
}

install_into() {  # install_into DESTDIR PREFIX
    DESTDIR=$1 cmake --install "$build" --prefix "$2" >"$tmp/install.log" 2>&1 \
        || { cat "$tmp/install.log"; fail "cmake --install --prefix $2"; }
}

# --- /usr: the layout the .deb has --------------------------------------------------
d=$tmp/usr-root
install_into "$d" /usr
for f in usr/bin/kairosd usr/bin/kairosctl \
         etc/kairos/kairos.yaml \
         usr/share/kairos/kairos.schema.json \
         usr/share/doc/kairos/README.md usr/share/doc/kairos/service.md \
         usr/share/doc/kairos/migrating.md usr/share/doc/kairos/configuration.md \
         usr/share/doc/kairos/examples/kairos.yaml usr/share/doc/kairos/examples/jobs.d \
         usr/share/bash-completion/completions/kairosctl; do
    has "$d/$f"
done
[ -d "$d/etc/kairos/jobs.d" ] || fail "missing directory etc/kairos/jobs.d"
[ -x "$d/usr/bin/kairosd" ] && [ -x "$d/usr/bin/kairosctl" ] || fail "binaries not executable"
[ ! -e "$d/usr/etc" ] || fail "configuration went to usr/etc instead of etc"
unit=$(unit_path "$d" /usr)
has "$unit"
grep -qx 'ExecStart=/usr/bin/kairosd --config /etc/kairos/kairos.yaml' "$unit" \
    || fail "unit ExecStart: $(grep ExecStart= "$unit")"
"$d/usr/bin/kairosd" --version >/dev/null || fail "installed kairosd does not run"
# The shipped configuration and the examples load (kairosctl validate is the loader).
"$d/usr/bin/kairosctl" validate "$d/etc/kairos/kairos.yaml" >"$tmp/v.log" 2>&1 \
    || { cat "$tmp/v.log"; fail "installed /etc/kairos/kairos.yaml does not validate"; }
"$d/usr/bin/kairosctl" validate "$d/usr/share/doc/kairos/examples/kairos.yaml" >"$tmp/v.log" 2>&1 \
    || { cat "$tmp/v.log"; fail "installed example config does not validate"; }

# Editors check the shipped configuration with the installed schema (when the test has
# the Python modules the config tests use).
if python3 -c 'import jsonschema, yaml' 2>/dev/null; then
    python3 - "$d/usr/share/kairos/kairos.schema.json" "$d/etc/kairos/kairos.yaml" <<'PY' \
        || fail "installed kairos.yaml does not match the installed schema"
import json, sys, jsonschema, yaml
jsonschema.validate(yaml.safe_load(open(sys.argv[2])), json.load(open(sys.argv[1])))
PY
fi

# A second install keeps a configuration someone edited.
echo "# edited" >>"$d/etc/kairos/kairos.yaml"
install_into "$d" /usr
grep -q '^# edited$' "$d/etc/kairos/kairos.yaml" || fail "re-install overwrote /etc/kairos/kairos.yaml"

# --- another prefix: the unit follows it ----------------------------------------------
d=$tmp/opt-root
install_into "$d" /opt/kairos
has "$d/opt/kairos/bin/kairosd"
has "$d/opt/kairos/etc/kairos/kairos.yaml"
unit=$(unit_path "$d" /opt/kairos)
grep -qx 'ExecStart=/opt/kairos/bin/kairosd --config /opt/kairos/etc/kairos/kairos.yaml' "$unit" \
    || fail "unit ExecStart for /opt/kairos: $(grep ExecStart= "$unit")"

echo "ok: install layout for /usr and /opt/kairos"
