#!/usr/bin/env sh
# Lays out the image's file tree from a static binary: the Dockerfile's runtime stage
# copies it as is, and scripts/image-test.sh runs the same tree under chroot.
#
#   scripts/image-rootfs.sh BINARY OUT
#
# OUT/rootfs/  usr/local/bin/enos-cert-mock (stripped), etc/enos-cert-mock/fixtures/
#              (the shipped fixtures and test CA, also built into the binary),
#              etc/passwd and etc/group naming the one user, enos (uid/gid 10001)
# OUT/data/    the state directory (empty), owned by 10001 when run as root
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 BINARY OUT" >&2
    exit 2
fi
bin=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)

rm -rf "$out/rootfs" "$out/data"
mkdir -p "$out/rootfs/usr/local/bin" "$out/rootfs/etc/enos-cert-mock" "$out/data"
cp "$bin" "$out/rootfs/usr/local/bin/enos-cert-mock"
strip "$out/rootfs/usr/local/bin/enos-cert-mock"
cp -R "$root/fixtures" "$out/rootfs/etc/enos-cert-mock/fixtures"
# No shell and no NSS modules in the image: these two files only let tools that
# read them (ps, ls -l, id in a debug container) show a name for uid 10001.
printf 'root:x:0:0:root:/:/nonexistent\nenos:x:10001:10001:enos-cert-mock:/nonexistent:/nonexistent\n' \
    >"$out/rootfs/etc/passwd"
printf 'root:x:0:\nenos:x:10001:\n' >"$out/rootfs/etc/group"
chmod -R u=rwX,go=rX "$out/rootfs"
chmod 0755 "$out/rootfs/usr/local/bin/enos-cert-mock"
chmod 0750 "$out/data"
if [ "$(id -u)" -eq 0 ]; then
    chown 10001:10001 "$out/data"
fi
