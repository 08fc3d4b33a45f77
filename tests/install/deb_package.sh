#!/usr/bin/env bash
# Build the .deb from the already built binaries (cpack on this build's CPackConfig.cmake,
# packages and staging in a temp dir) and check what dpkg sees in it.
#   deb_package.sh CPACK_CONFIG UNITDIR
set -euo pipefail
config=$1 unitdir=$2
fail() { echo "FAIL: $*"; exit 1; }

for tool in cpack dpkg-deb dpkg-shlibdeps; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool not installed (dpkg-shlibdeps: Debian package dpkg-dev)"
        exit 77
    fi
done
[ -f "$config" ] || fail "no $config"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpack --config "$config" -G DEB -B "$tmp" >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }
debs=("$tmp"/kairos_*.deb)
[ -f "${debs[0]}" ] || { cat "$tmp/cpack.log"; fail "no kairos_*.deb in $tmp"; }
deb=${debs[0]}

info=$(dpkg-deb -I "$deb")
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
echo "$info" | grep -q '^ Package: kairos$' || fail "package name: $info"
# dpkg-shlibdeps found the shared libraries kairosd links.
# (libdate-tz3: always a shared library; libuv, yaml-cpp and SQLite are static by default.)
echo "$info" | grep -q '^ Depends: .*libdate-tz3' || fail "Depends lacks libdate-tz3: $info"
# kairosd speaks sd_notify's protocol itself (daemon/notify.h): no libsystemd0.
! echo "$info" | grep -q '^ Depends: .*libsystemd0' || fail "Depends has libsystemd0: $info"
echo "$info" | grep -q '^ Depends: .*adduser' || fail "Depends lacks adduser: $info"
# A DT_RELR kairosd (linked with -z pack-relative-relocs) needs glibc >= 2.36, which
# dpkg-shlibdeps cannot see: the package must say so itself.
dpkg-deb -x "$deb" "$tmp/root"
if readelf -d "$tmp/root/usr/bin/kairosd" | grep -q '(RELR)'; then
    echo "$info" | grep -Eq '^ Depends: .*libc6 \(>= 2\.(3[6-9]|[4-9][0-9])' ||
        fail "kairosd uses DT_RELR but Depends lacks libc6 (>= 2.36): $info"
fi

case $unitdir in /*) unit=".$unitdir/kairosd.service" ;; *) unit="./usr/$unitdir/kairosd.service" ;; esac
for f in ./usr/bin/kairosd ./usr/bin/kairosctl "$unit" ./etc/kairos/kairos.yaml ./etc/kairos/jobs.d/ \
         ./usr/share/kairos/kairos.schema.json ./usr/share/doc/kairos/service.md \
         ./usr/share/bash-completion/completions/kairosctl; do
    grep -qxF "$f" <<<"$contents" || fail "$f not in the package:
$contents"
done
! grep -q '^\./usr/etc' <<<"$contents" || fail "configuration packaged under /usr/etc"

dpkg-deb -e "$deb" "$tmp/control"
dpkg-deb -x "$deb" "$tmp/root"
grep -qx '/etc/kairos/kairos.yaml' "$tmp/control/conffiles" || fail "conffiles: $(cat "$tmp/control/conffiles")"
for s in postinst prerm postrm; do
    [ -x "$tmp/control/$s" ] || fail "$s missing or not executable"
    sh -n "$tmp/control/$s" || fail "$s is not valid sh"
done
grep -q 'addgroup --system kairos' "$tmp/control/postinst" || fail "postinst does not create the kairos group"
grep -q 'systemctl daemon-reload' "$tmp/control/postinst" || fail "postinst does not reload systemd"
# Run postinst against stub commands: the group is created only when missing, and
# systemctl is called only when systemd runs (/run/systemd/system), as here or not.
mkdir "$tmp/stubs"
for c in addgroup systemctl; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$c" "$tmp" >"$tmp/stubs/$c"
done
printf '#!/bin/sh\n[ "$1 $2" = "group kairos" ] && [ -n "$KAIROS_GROUP_EXISTS" ]\n' >"$tmp/stubs/getent"
chmod +x "$tmp/stubs"/*
PATH="$tmp/stubs:$PATH" sh "$tmp/control/postinst" configure "" || fail "postinst configure failed"
grep -qx 'addgroup --system kairos' "$tmp/calls" || fail "postinst did not add the group: $(cat "$tmp/calls")"
if [ -d /run/systemd/system ]; then want=1; else want=0; fi
[ "$(grep -c '^systemctl daemon-reload' "$tmp/calls")" = "$want" ] || fail "postinst systemctl calls: $(cat "$tmp/calls")"
rm "$tmp/calls"; touch "$tmp/calls"
KAIROS_GROUP_EXISTS=1 PATH="$tmp/stubs:$PATH" sh "$tmp/control/postinst" configure 0.1.0 || fail "postinst upgrade failed"
! grep -q addgroup "$tmp/calls" || fail "postinst added an existing group"

grep -qx 'ExecStart=/usr/bin/kairosd --config /etc/kairos/kairos.yaml' "$tmp/root/$unit" \
    || fail "packaged unit ExecStart: $(grep ExecStart= "$tmp/root/$unit")"

echo "ok: $(basename "$deb")"
echo "$info" | grep -E '^ (Package|Version|Architecture|Depends):'
