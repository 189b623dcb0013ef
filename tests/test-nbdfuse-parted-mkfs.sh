#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: real tools on the export through nbdfuse (4 connections,
# multi-conn): parted writes a GPT (both ends of the disk), mkfs.ext4 trims
# the partition and writes thousands of small pieces and flushes.  After
# nbdkit exits, both destination files hold the same disk, whose partition
# table parted reads and whose file system e2fsck finds clean.

source ./functions.sh
requires nbdfuse --version
requires fusermount3 --version
requires parted --version
requires mkfs.ext4 -V
requires e2fsck -V
requires test -c /dev/fuse -a -r /dev/fuse -a -w /dev/fuse
set -e
set -x

make_tmpdir

start_nbdkit -P nbdkit.pid -U "$tmp/nbdkit.sock" \
    "$FANOUT_PLUGIN" dest=disk.img dest=disk2.img size=512M
nbdsh -u "nbd+unix://?socket=$tmp/nbdkit.sock" \
    -c 'assert h.can_multi_conn()'

mkdir mnt
start_nbdfuse mnt "$tmp/nbdkit.sock"
test "$(stat -c %s mnt/nbd)" -eq $((512 * 1024 * 1024))

parted -s mnt/nbd mklabel gpt mkpart p1 ext4 1MiB 100%
mkfs.ext4 -F -L fanout -E offset=1048576 mnt/nbd 510M
sync mnt/nbd
# A read back through the export of what mkfs wrote: the ext4 magic.
test "$(od -A n -t x2 -j $((1048576 + 1024 + 56)) -N 2 mnt/nbd | tr -d ' ')" = ef53

fusermount3 -u mnt
wait "$nbdfuse_pid"
stop_nbdkit nbdkit.pid

test "$(stat -c %s disk.img)" -eq $((512 * 1024 * 1024))
cmp disk.img disk2.img
parted -s disk.img print | tee parted.out
grep -E '^ *1 +1049kB .* p1' parted.out
dd if=disk.img of=part.img bs=1M skip=1 count=510 status=none
e2fsck -fn part.img
dumpe2fs -h part.img | grep -E '^Filesystem volume name: +fanout$'
