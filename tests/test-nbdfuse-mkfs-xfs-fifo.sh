#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: mkfs.xfs on the whole 512 MiB export through nbdfuse into
# a FIFO and a file, window=128M ahead=64M.  mkfs.xfs writes the last
# 128 KiB of the disk first and then comes back to the start: the ahead
# map keeps the FIFO going.  The stream, the file and what the client
# reads back through the export are the same bytes, and xfs_repair -n
# finds the file system clean.

source ./functions.sh
requires nbdfuse --version
requires fusermount3 --version
requires mkfs.xfs -V
requires xfs_repair -V
requires test -c /dev/fuse -a -r /dev/fuse -a -w /dev/fuse
set -e
set -x

make_tmpdir

make_xfs ()
{
    mkfs.xfs -q -f -L fanout mnt/nbd
}

run_tool_through_fanout 64M ahead 512M make_xfs
cd ahead
test "$nbdkit_status" -eq 0
test "$(stat -c %s readback.img)" -eq $((512 * 1024 * 1024))
cmp readback.img file.img
cmp readback.img stream.out
xfs_repair -n -f stream.out
xfs_db -r -c 'label' stream.out | grep -F '"fanout"'
check_tool_run_clean 512
