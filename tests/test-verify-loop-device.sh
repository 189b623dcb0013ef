#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: verify=true on a block device (a loop device; root only),
# read back with O_DIRECT, and on ramfs, which refuses O_DIRECT (tmpfs takes
# it since Linux 6.6): there the cache is dropped instead.  Both "verified" with the right SHA-256.  Then
# the loop device's backing file is changed under the device after the
# image was written (the device's own page cache still holds what the plugin
# wrote): the read-back sees the media, so the device is a "mismatch" at
# that page, and nbdkit exits 1.

source ./functions.sh
requires_root
requires losetup --version
requires nbdcopy --version
requires sha256sum --version
requires test -e /dev/loop-control
set -e
set -x

make_tmpdir

make_fill backing.img 64M '\252'
attach_loop_device backing.img
mkdir mnt
if ! mount -t ramfs ramfs mnt; then
    echo "SKIP: $0: cannot mount a ramfs here"
    exit 77
fi
cleanup_fn umount "$tmp/mnt"

make_random src.img 48M 53
truncate -s 64M src.img
digest="$(sha256sum < src.img | cut -d' ' -f1)"

fanout_nbdkit -v -U - "$FANOUT_PLUGIN" dest="$loop" dest=mnt/t.img verify=true \
    status=s.json --run 'nbdcopy src.img "$uri"' 2> nbdkit.err
grep -v 'debug:' nbdkit.err
grep -F "$loop: verifying with O_DIRECT" nbdkit.err
grep -F "mnt/t.img: verifying with the page cache dropped" nbdkit.err
cmp src.img "$loop"
cmp src.img mnt/t.img
check_status_json s.json <<PYEOF
assert s["sha256"] == "$digest", s
assert d["$loop"]["kind"] == "block" and d["$loop"]["state"] == "verified", d["$loop"]
assert d["mnt/t.img"]["state"] == "verified", d["mnt/t.img"]
PYEOF

# Changed under the device, after the copy and before the end of the stream.
# nbdcopy --flush: the device's dirty pages must reach the backing file
# before it is changed, or the final sync would overwrite the change.
at=$(( 33 * 1024 * 1024 + 8192 ))
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" verify=true \
    status=s2.json --run "nbdcopy --flush src.img \"\$uri\" &&
        printf 'XXXXXXXX' | dd of=backing.img bs=1 seek=$at conv=notrunc status=none" \
    2> nbdkit2.err || status=$?
cat nbdkit2.err
test "$status" -eq 1
check_status_json s2.json <<PYEOF
m = d["$loop"]
assert m["state"] == "mismatch" and m["offset"] == $at, m
PYEOF
grep -F "$loop: verify: differs from the image in the 4 KiB page at offset $at" nbdkit2.err
