#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a real end-first client into a stream.  parted writes a
# GPT through nbdfuse (4 connections): the protective MBR and primary
# header at the start, the backup GPT in the last 16.5 KiB of the 512 MiB
# disk, in an order that goes far beyond a 128M window before it comes back
# to the start.  With ahead=64M the far writes are parked in the ahead map
# and the FIFO streams the whole disk: the stream, the file destination
# and what the client reads back through the export are the same bytes,
# and parted reads its partition from the file.  With ahead=0 the same
# parted run slides the window to the end of the disk, the writes at the
# start come too late for the FIFO, which fails with a message that names
# window=; the file still takes everything and nbdkit exits 1.

source ./functions.sh
requires nbdfuse --version
requires fusermount3 --version
requires parted --version
requires test -c /dev/fuse -a -r /dev/fuse -a -w /dev/fuse
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_gpt ()
{
    parted -s mnt/nbd mklabel gpt mkpart p1 1MiB 100%
}

# With the ahead map: the stream gets the whole disk.
run_tool_through_fanout 64M ahead 512M make_gpt
cd ahead
test "$nbdkit_status" -eq 0
test "$(stat -c %s readback.img)" -eq $((512 * 1024 * 1024))
cmp readback.img file.img
cmp readback.img stream.out
parted -s file.img print | tee parted.out
grep -E '^Partition Table: gpt$' parted.out
grep -E '^ *1 +1049kB .* p1' parted.out
# Not a trivial disk: the primary GPT header and the backup at the end.
test "$(dd if=stream.out bs=512 skip=1 count=1 status=none | head -c 8)" = "EFI PART"
test "$(dd if=stream.out bs=512 skip=$((512 * 2048 - 1)) count=1 status=none | head -c 8)" = "EFI PART"
check_tool_run_clean 512
cd "$tmp"

# Without it (ahead=0): the FIFO fails on a write behind the window, the
# file still holds what the client reads back, nbdkit exits 1.
run_tool_through_fanout 0 noahead 512M make_gpt
cd noahead
test "$nbdkit_status" -eq 1
cmp readback.img file.img
grep -F ': error: fifo: ' nbdkit.err | grep -F 'window='
# The FIFO did not get the disk.
if cmp -s stream.out file.img; then
    echo "$0: the FIFO streamed the disk with ahead=0"
    exit 1
fi
check_status_json s.json <<'PYEOF'
assert d["fifo"]["state"] == "failed", d["fifo"]
assert "window=" in d["fifo"]["error"], d["fifo"]
assert d["file.img"]["state"] == "done", d["file.img"]
assert d["file.img"]["error"] is None, d["file.img"]
PYEOF
