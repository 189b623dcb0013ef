#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: the ahead map on real write orders, replayed
# deterministically.  Each tool runs on a plain sparse image file under
# strace, which records the order of its writes and flushes to the image:
#
#   parted GPT on 512 MiB      (primary at 0, backup in the last 17 KiB,
#                               then both again)
#   parted msdos + mkfs.vfat   (parted touches the end of the 256 MiB disk,
#     on 256 MiB                then mkfs.vfat writes from 1 MiB)
#   mkfs.xfs on 512 MiB        (its first write is in the last 128 KiB)
#
# Each order is replayed through one NBD connection into a fanout with a
# FIFO and a file, window=128M ahead=64M: every write carries the tool's
# final bytes for its range, so after nbdkit exits the FIFO's stream and
# the file must both be the tool's image, byte for byte.  The orders are
# checked to jump back by more than the window, so without the ahead map
# the FIFO could not take them: the mkfs.xfs order replayed with ahead=0
# fails the FIFO (window=) while the file is still the tool's image, and
# nbdkit exits 1.

source ./functions.sh
requires strace -V
requires parted --version
requires mkfs.vfat --help
requires mkfs.xfs -V
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir
find_write_orders
MiB=$((1024 * 1024))

# summary_field NAME FIELD
summary_field ()
{
    /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$1.summary" "$2"
}

# replay NAME SIZE AHEAD DIR: replays NAME.orders into a fanout with
# DIR/fifo (read into DIR/stream.out) and DIR/out.img; sets $nbdkit_status.
replay ()
{
    local name="$1" size="$2" ahead="$3" dir="$4"
    mkdir "$dir"
    start_fifo_reader "$dir/fifo" "$dir/stream.out"
    start_nbdkit -P "$dir/nbdkit.pid" -U "$tmp/$dir/nbdkit.sock" \
        "$FANOUT_PLUGIN" dest="$dir/fifo" dest="$dir/out.img" size="$size" \
        window=128M ahead="$ahead" status="$dir/s.json" 2> "$dir/nbdkit.err"
    /usr/bin/python3 "$orders" replay "nbd+unix://?socket=$tmp/$dir/nbdkit.sock" \
        "$name.orders" "$name.img"
    nbdkit_status=0
    stop_nbdkit "$dir/nbdkit.pid" || nbdkit_status=$?
    cat "$dir/nbdkit.err"
    wait_fifo_reader
}

# replay_ok NAME SIZE: with the ahead map, both destinations are the image.
replay_ok ()
{
    local name="$1" size="$2"
    replay "$name" "$size" 64M "$name-ahead"
    test "$nbdkit_status" -eq 0
    cmp "$name.img" "$name-ahead/out.img"
    cmp "$name.img" "$name-ahead/stream.out"
    if grep -F ': error: ' "$name-ahead/nbdkit.err"; then
        echo "$0: $name: errors logged with ahead=64M"
        exit 1
    fi
    check_status_json "$name-ahead/s.json" <<'PYEOF'
assert s["state"] == "finished", s
for x in s["destinations"]:
    assert x["state"] == "done", x
    assert x["error"] is None, x
    assert x["bytes"] == s["size"], x
PYEOF
}

# parted GPT.
capture_write_orders gpt 512M parted -s gpt.img mklabel gpt mkpart p1 1MiB 100%
parted -s gpt.img print | grep -E '^Partition Table: gpt$'
test "$(summary_field gpt max_backward)" -gt $((128 * MiB))
replay_ok gpt 512M

# parted msdos + mkfs.vfat on the partition.
capture_write_orders vfat 256M sh -c '
    parted -s vfat.img mklabel msdos mkpart primary fat32 1MiB 100% &&
    mkfs.vfat -F 32 --offset=2048 vfat.img 261120'
test "$(summary_field vfat max_backward)" -gt $((128 * MiB))
test "$(summary_field vfat writes)" -gt 1000
dd if=vfat.img of=vfat-part.img bs=1M skip=1 status=none
fsck.vfat -n vfat-part.img
replay_ok vfat 256M

# mkfs.xfs on the whole disk: it starts at the end.
capture_write_orders xfs 512M mkfs.xfs -q -f xfs.img
test "$(summary_field xfs first_offset)" -gt $((384 * MiB))
test "$(summary_field xfs max_backward)" -gt $((128 * MiB))
replay_ok xfs 512M

# mkfs.xfs without the ahead map: the FIFO fails, the file does not.
replay xfs 512M 0 xfs-noahead
test "$nbdkit_status" -eq 1
cmp xfs.img xfs-noahead/out.img
grep -F ': error: ' xfs-noahead/nbdkit.err | grep -F 'window='
if cmp -s xfs.img xfs-noahead/stream.out; then
    echo "$0: the FIFO streamed the xfs image with ahead=0"
    exit 1
fi
check_status_json xfs-noahead/s.json <<'PYEOF'
fifo = [x for x in s["destinations"] if x["kind"] == "fifo"][0]
f = [x for x in s["destinations"] if x["kind"] == "file"][0]
assert fifo["state"] == "failed", fifo
assert "window=" in fifo["error"], fifo
assert f["state"] == "done" and f["error"] is None, f
PYEOF
