#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout and the tee filter: the same destination named twice is
# refused at start by what it is, not by its name: a FIFO twice or through
# a symlink (two writers would interleave in one pipe), a character device
# twice or through a symlink, a file and a hard link to it, a block device
# twice or through a second device node (which would otherwise fail as
# "in use"), a loop device (with or without an offset, or a partition of
# one) and the file it is over, in either order.  One line names both
# dest= values and says what the two are; nothing is written, a file the
# refused start created is removed again, and a file that was there is
# left as it was.

source ./functions.sh
set -e
set -x

make_tmpdir

# FIFOs.  A reader waits on f1 throughout: a refused start must send it
# nothing (it sees end of file once the test opens and closes f1).
mkfifo f1
ln -s f1 f1.link
timeout 60 cat f1 > f1.out &
reader=$!
cleanup_fn _kill_job "$reader"
refused fifo-twice 'dest=f1: the same FIFO as dest=f1; name each destination once' \
    f1 f1 size=1M
refused fifo-symlink 'dest=f1.link: the same FIFO as dest=f1; name each destination once' \
    dest=f1 dest=f1.link size=1M
exec 3> f1
exec 3>&-
wait "$reader"
test ! -s f1.out

# Character devices: /dev/null is a stream destination on its own (it is
# written and done, as before), but not twice.
ln -s /dev/null null.link
refused null-twice \
    'dest=/dev/null: the same character device as dest=/dev/null; name each destination once' \
    /dev/null /dev/null size=1M
refused null-symlink \
    'dest=null.link: the same character device as dest=/dev/null; name each destination once' \
    /dev/null null.link size=1M
test -c /dev/null
fanout_nbdkit -U - "$FANOUT_PLUGIN" /dev/null one.img size=1M status=null.json \
    --run 'nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 512, 0)"'
check_status_json null.json <<'PYEOF'
assert d["/dev/null"]["state"] == "done" and d["/dev/null"]["kind"] == "fifo", d
assert d["one.img"]["state"] == "done", d
PYEOF

# Files: a hard link is the same file (a symlink and the same name are
# covered by test-bad-params.sh).  The file was there: it stays as it was.
make_random x.img 1M
cp x.img x.orig
ln x.img x.hard
refused file-hardlink 'dest=x.hard: the same file as dest=x.img; name each destination once' \
    x.img x.hard
cmp x.img x.orig
# A new file named twice: the first name creates it, the second is the same
# file; the refused start removes what it created.
refused new-file-twice 'dest=./new.img: the same file as dest=new.img; name each destination once' \
    new.img ./new.img size=1M
test ! -e new.img

# The tee filter goes through the same check.
truncate -s 1M base.img
refused_target=(--filter="$TEE_FILTER" file base.img)
refused tee-fifo-symlink 'tee=f1.link: the same FIFO as tee=f1; name each destination once' \
    tee=f1 tee=f1.link
refused tee-null-twice \
    'tee=/dev/null: the same character device as tee=/dev/null; name each destination once' \
    tee=/dev/null tee=/dev/null
refused_target=()

# Block devices (root): a loop device twice, and through a second device
# node for the same device.  The second open would have failed its O_EXCL
# with "the device is in use", which is not the reason.
if [ "$(id -u)" -ne 0 ]; then
    echo "$0: not root: skipping the block device cases"
    exit 0
fi
make_random backing.img 1M 7
cp backing.img backing.orig
attach_loop_device backing.img
refused loop-twice \
    "dest=$loop: the same block device as dest=$loop; name each destination once" \
    "$loop" "$loop"
mknod loop.node b "$(stat -c '0x%t' "$loop")" "$(stat -c '0x%T' "$loop")"
test -b loop.node
refused loop-node \
    "dest=loop.node: the same block device as dest=$loop; name each destination once" \
    "$loop" loop.node
if grep -F 'in use' loop-twice.err loop-node.err; then
    echo "$0: a duplicate device was reported in use"
    exit 1
fi
cmp backing.img backing.orig
test -b loop.node

# A loop device over a file is the same storage as the file: the image
# would go into the file twice, the device's copy at its offset (with -o,
# the file would then not hold the image).  Refused in either order, with
# and without an offset, before anything is written; the file was there,
# so it stays as it was.
make_random lo.img 5M 9
cp lo.img lo.orig
attach_loop_at ()
{
    if ! loop_at="$(losetup -f --show "$@")"; then
        echo "SKIP: $0: cannot attach a loop device here"
        exit 77
    fi
    cleanup_fn losetup -d "$loop_at"
    test -b "$loop_at"
}
attach_loop_at lo.img
plain="$loop_at"
attach_loop_at -o 1048576 --sizelimit 4194304 lo.img
offset="$loop_at"
refused loop-after-file \
    "dest=$plain: a loop device over dest=lo.img (the same storage); name each destination once" \
    lo.img "$plain" size=1M
refused file-after-loop \
    "dest=lo.img: the backing file of dest=$plain (the same storage); name each destination once" \
    "$plain" lo.img size=1M
refused offset-loop-after-file \
    "dest=$offset: a loop device over dest=lo.img (the same storage); name each destination once" \
    lo.img "$offset" size=1M
refused file-after-offset-loop \
    "dest=lo.img: the backing file of dest=$offset (the same storage); name each destination once" \
    "$offset" lo.img size=1M
# By any name of the file (a hard link) and of the device (a second node).
ln lo.img lo.hard
mknod lo.node b "$(stat -c '0x%t' "$offset")" "$(stat -c '0x%T' "$offset")"
refused hardlink-after-loop \
    "dest=lo.hard: the backing file of dest=lo.node (the same storage); name each destination once" \
    lo.node lo.hard size=1M
cmp lo.img lo.orig
# The tee filter goes through the same check.
refused_target=(--filter="$TEE_FILTER" file base.img)
refused tee-loop-after-file \
    "tee=$offset: a loop device over tee=lo.img (the same storage); name each destination once" \
    tee=lo.img tee="$offset"
refused_target=()
cmp lo.img lo.orig
# A loop device over another file is a destination as before.
make_random other.img 1M 3
attach_loop_at other.img
fanout_nbdkit -U - "$FANOUT_PLUGIN" "$loop_at" one.img size=1M \
    --run 'nbdsh -u "$uri" -c "h.pwrite(b\"y\" * 512, 0)"'
cmp -n 512 "$loop_at" one.img

# A partition of a loop device over the file: the same storage too.
if ! command -v sfdisk > /dev/null; then
    echo "$0: no sfdisk: skipping the partition case"
    exit 0
fi
truncate -s 4M part.img
echo 'start=2048, size=4096' | sfdisk -q part.img
cp part.img part.orig
if ! part="$(losetup -f --show -P part.img)"; then
    echo "$0: cannot attach a partitioned loop device: skipping the partition case"
    exit 0
fi
cleanup_fn losetup -d "$part"
for i in 1 2 3 4 5 6 7 8 9 10; do
    test -b "${part}p1" && break
    sleep 0.5
done
if ! test -b "${part}p1"; then
    echo "$0: no ${part}p1: skipping the partition case"
    exit 0
fi
refused partition-after-file \
    "dest=${part}p1: a partition of a loop device over dest=part.img (the same storage); name each destination once" \
    part.img "${part}p1" size=1M
refused file-after-partition \
    "dest=part.img: the backing file of the loop device under dest=${part}p1 (the same storage); name each destination once" \
    "${part}p1" part.img size=1M
cmp part.img part.orig
