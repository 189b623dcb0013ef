#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a block device (a loop device) as a destination, next to a
# file.  The device must end up holding exactly the export (zeros where the
# source has holes, never the device's old contents), reads of never-written
# bytes return zeros, size= may not exceed the device, the device alone
# sizes the export, and a device in use (mounted) is refused: it is opened
# with O_EXCL.

source ./functions.sh
requires_root
requires losetup --version
requires nbdcopy --version
requires mkfs.ext4 -V
requires e2fsck -V
requires test -e /dev/loop-control
set -e
set -x

make_tmpdir

# A 64 MiB backing file full of 0xAA, on a loop device.
make_fill backing.img 64M '\252'
attach_loop_device backing.img
test "$(blockdev --getsize64 "$loop")" -eq $((64 * 1024 * 1024))

# Reads of never-written bytes are zeros, not 0xAA; the device alone sizes
# the export.
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" \
    --run 'nbdsh -u "$uri" -c "
assert h.get_size() == 64 * 1024 * 1024, h.get_size()
assert h.pread(1024 * 1024, 0) == bytes(1024 * 1024)
assert h.pread(1024 * 1024, 63 * 1024 * 1024) == bytes(1024 * 1024)
"'
# ... and the device ends up all zeros (the export's content).
cmp "$loop" <(head -c 64M /dev/zero)

# A random image, to the device and a file.
make_random src.img 64M 4
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" dest=file.img size=64M \
    --run 'nbdcopy src.img "$uri"'
cmp src.img "$loop"
cmp src.img file.img

# A sparse source (every other MiB a hole) over a device full of 0xAA: the
# holes must come out as zeros.
head -c 64M /dev/zero | tr '\000' '\252' | dd of="$loop" bs=1M oflag=direct status=none
cmp "$loop" backing.img
truncate -s 64M sparse.img
for (( i = 0; i < 64; i += 2 )); do
    dd if=src.img of=sparse.img bs=1M skip=$i seek=$i count=1 conv=notrunc status=none
done
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" dest=file.img size=64M \
    --run 'nbdcopy sparse.img "$uri"'
cmp sparse.img "$loop"
cmp sparse.img file.img

# size= larger than the device is refused, naming the device.
refused big \
    "dest=$loop: the device holds 67108864 bytes, smaller than the export size 134217728" \
    dest="$loop" size=128M

# A mounted device is in use: O_EXCL refuses it.
mkfs.ext4 -q -F "$loop"
mkdir mnt
mount "$loop" mnt
cleanup_fn umount "$tmp/mnt"
refused busy \
    "dest=$loop: the device is in use (mounted, or held open by another program)" \
    dest="$loop" dest=file.img size=64M
# ... and left the file system alone.
umount mnt
e2fsck -fn "$loop"
