#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: mkfs.xfs's write order as recorded on tmpfs, replayed into
# a FIFO and a file with window=128M ahead=64M.
#
# tmpfs has no FALLOC_FL_ZERO_RANGE, so mkfs.xfs there writes its 64 MiB
# log as zero data, in the middle of the disk, and rewrites the superblock
# at 0 last.  With detect-zeroes=true (the default) those zero pages cost
# no window and do not move it, so the stream and the file are both the
# tool's image.  With detect-zeroes=false the log's zeros slide the window
# past the superblock: the FIFO fails naming window=, the file is still the
# image and nbdkit exits 1.
#
# 300 MiB is the smallest disk mkfs.xfs 6.1 takes, and its log is still
# 64 MiB written as zeros.

source ./functions.sh
requires strace -V
requires mkfs.xfs -V
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_memory_tmpdir
# The capture must be on tmpfs: elsewhere mkfs.xfs zeroes its log with
# fallocate instead of writing it.
if [ "$(stat -f -c %T .)" != tmpfs ]; then
    requires_root
    mount_small_tmpfs shm 1G
    # (Hooks run last first: out of the mount before it is unmounted.)
    cleanup_fn cd /
    tmp="$tmp/shm"
    cd "$tmp"
fi
test "$(stat -f -c %T .)" = tmpfs
find_write_orders
MiB=$((1024 * 1024))

capture_write_orders xfs 300M mkfs.xfs -q -f xfs.img
# The log really was written as data: of the bytes mkfs.xfs wrote, at
# least 48 MiB are whole 4 KiB pages of zeros (what detect-zeroes= finds).
zero_pages="$(/usr/bin/python3 - xfs.orders xfs.img <<'PYEOF'
import json, sys
orders = json.load(open(sys.argv[1]))
img = open(sys.argv[2], "rb").read()
written = set()
for o in orders:
    if o[0] == "w":
        _, off, length = o
        first = (off + 4095) // 4096
        last = (off + length) // 4096
        written.update(range(first, last))
zero = bytes(4096)
print(sum(1 for p in written if img[p * 4096:(p + 1) * 4096] == zero))
PYEOF
)"
echo "zero pages written as data: $zero_pages"
test "$zero_pages" -ge $(( 48 * MiB / 4096 ))

# replay DETECT DIR: replays xfs.orders into DIR/fifo (read into
# DIR/stream.out) and DIR/out.img; sets $nbdkit_status.
replay ()
{
    local detect="$1" dir="$2"
    mkdir "$dir"
    start_fifo_reader "$dir/fifo" "$dir/stream.out"
    start_nbdkit -P "$dir/nbdkit.pid" -U "$tmp/$dir/nbdkit.sock" \
        "$FANOUT_PLUGIN" dest="$dir/fifo" dest="$dir/out.img" size=300M \
        window=128M ahead=64M detect-zeroes="$detect" status="$dir/s.json" \
        2> "$dir/nbdkit.err"
    /usr/bin/python3 "$orders" replay "nbd+unix://?socket=$tmp/$dir/nbdkit.sock" \
        xfs.orders xfs.img
    nbdkit_status=0
    stop_nbdkit "$dir/nbdkit.pid" || nbdkit_status=$?
    cat "$dir/nbdkit.err"
    wait_fifo_reader
}

# detect-zeroes=true: both are the image.
replay true detect
test "$nbdkit_status" -eq 0
cmp xfs.img detect/out.img
cmp xfs.img detect/stream.out
if grep -F ': error: ' detect/nbdkit.err; then
    echo "$0: errors logged with detect-zeroes=true"
    exit 1
fi
check_status_json detect/s.json <<'PYEOF'
assert s["state"] == "finished", s
assert s["detect_zeroes"] is True, s
for x in s["destinations"]:
    assert x["state"] == "done", x
    assert x["error"] is None, x
# The log's zeros were zeroed, not written as data, in the file.
f = d["detect/out.img"]
assert f["zero_bytes"] >= 48 * MiB, f
assert f["data_bytes"] <= 4 * MiB, f
PYEOF
# So the file is sparse where the tool's image holds the log's zeros.
du -B1 xfs.img detect/out.img
test $(( $(stat -c '%b * %B' detect/out.img) )) -le $(( 4 * MiB ))
rm detect/stream.out

# detect-zeroes=false: the FIFO fails on the superblock, the file does not.
replay false nodetect
test "$nbdkit_status" -eq 1
cmp xfs.img nodetect/out.img
# (The offsets and the window that would have been needed are mkfs.xfs's.)
grep -E '^nbdkit: error: nodetect/fifo: write at offset [0-9]+ \(length [0-9]+\) is behind the stream position [0-9]+, which streams have already received; window=[0-9]+M would have been needed \(window is 128M\)$' \
    nodetect/nbdkit.err
if cmp -s xfs.img nodetect/stream.out; then
    echo "$0: the FIFO streamed the xfs image with detect-zeroes=false"
    exit 1
fi
check_status_json nodetect/s.json <<'PYEOF'
assert s["detect_zeroes"] is False, s
fifo = d["nodetect/fifo"]
f = d["nodetect/out.img"]
assert fifo["state"] == "failed", fifo
assert "window=" in fifo["error"], fifo
assert f["state"] == "done" and f["error"] is None, f
PYEOF
