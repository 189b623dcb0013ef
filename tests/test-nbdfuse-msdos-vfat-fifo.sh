#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: parted (msdos label) and mkfs.vfat through nbdfuse into a
# FIFO and a file, window=128M ahead=64M.  parted touches the end of the
# 256 MiB disk before mkfs.vfat writes its FAT32 from 1 MiB: without the
# ahead map the window would slide to the end and the FIFO would fail.
# With it the stream, the file and what the client reads back through the
# export are the same bytes, the partition table is there and fsck.vfat
# finds the file system clean.

source ./functions.sh
requires nbdfuse --version
requires fusermount3 --version
requires parted --version
requires mkfs.vfat --help
requires fsck.vfat --help
requires test -c /dev/fuse -a -r /dev/fuse -a -w /dev/fuse
set -e
set -x

make_tmpdir

make_vfat ()
{
    parted -s mnt/nbd mklabel msdos mkpart primary fat32 1MiB 100%
    # The partition: 1 MiB to the end, 255 MiB = 261120 blocks of 1 KiB.
    mkfs.vfat -F 32 -n FANOUT --offset=2048 mnt/nbd 261120
}

run_tool_through_fanout 64M ahead 256M make_vfat
cd ahead
test "$nbdkit_status" -eq 0
test "$(stat -c %s readback.img)" -eq $((256 * 1024 * 1024))
cmp readback.img file.img
cmp readback.img stream.out
parted -s file.img unit s print | tee parted.out
grep -E '^Partition Table: msdos$' parted.out
grep -E '^ *1 +2048s +524287s .* primary +fat32' parted.out
dd if=stream.out of=part.img bs=1M skip=1 status=none
fsck.vfat -n part.img
fatlabel part.img | grep -x FANOUT
check_tool_run_clean 256
