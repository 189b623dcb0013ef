#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: issue 6's "must show" 2.  parted writes a GPT on a 512 MiB
# image and mkfs.ext4 -d /usr/share/doc fills the partition, under strace.
# mkfs.ext4 goes back to the start of the disk after writing at its end, so
# a stream needs a window as large as the image.  That order, replayed
# through NBD into dest=FIFO dest=FILE with window=512M spill=DIR: the FIFO
# stream and the file are the tool's image byte for byte, nbdkit exits 0,
# the spill file was used, and nbdkit's peak RSS stays far below the
# window: spill-memory + (buckets + 1) * bucket = 64 + 20 MiB, plus slack.

source ./functions.sh
requires strace -V
requires parted --version
requires mkfs.ext4 -V
requires e2fsck -V
requires test -d /usr/share/doc
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir
find_write_orders

# The tool's run on a fresh sparse image, under strace (about 16 s here).
capture_write_orders ext4 512M sh -c '
    parted -s ext4.img mklabel gpt mkpart p1 ext4 1MiB 100% &&
    mkfs.ext4 -q -F -L fanout -d /usr/share/doc -E offset=1048576 ext4.img 510M'
rm ext4.trace

# The tool made a good image, and its order needs the whole image as the
# window: it writes at the end of the disk and comes back to the start.
parted -s ext4.img print | grep -E '^ *1 +1049kB .* p1'
dd if=ext4.img of=part.img bs=1M skip=1 count=510 status=none
e2fsck -fn part.img
rm part.img
/usr/bin/python3 - <<'PYEOF'
import json
with open("ext4.summary") as f:
    s = json.load(f)
assert s["max_backward"] > 500 * 1024 * 1024, s
assert s["bytes"] > 100 * 1024 * 1024, s
PYEOF

mkdir out spill
start_fifo_reader out/fifo out/stream.out
start_nbdkit -P out/nbdkit.pid -U "$tmp/out/nbdkit.sock" \
    "$FANOUT_PLUGIN" dest=out/fifo dest=out/out.img size=512M \
    window=512M spill="$tmp/spill" status=out/s.json 2> out/nbdkit.err
pid="$(cat out/nbdkit.pid)"

# While the order replays: nbdkit's peak RSS (VmHWM only grows), and the
# room its spill file takes (an unlinked file in spill/, seen through
# /proc/PID/fd).
sample ()
{
    local kib fd blocks
    kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")"
    if [ -n "$kib" ]; then echo "$kib" >> hwm; fi
    for fd in /proc/$pid/fd/*; do
        case "$(readlink "$fd" 2>/dev/null)" in
            "$tmp/spill/"*)
                blocks="$(stat -L -c %b "$fd" 2>/dev/null)" || continue
                echo "$blocks" >> spill_blocks ;;
        esac
    done
}
timeout 120 /usr/bin/python3 "$orders" replay \
    "nbd+unix://?socket=$tmp/out/nbdkit.sock" ext4.orders ext4.img > replay.out &
replay=$!
cleanup_fn _kill_job "$replay"
while _is_running "$replay"; do
    sample
    sleep 0.5
done
wait "$replay"
cat replay.out
sample
status=0
stop_nbdkit out/nbdkit.pid || status=$?
cat out/nbdkit.err
wait_fifo_reader
test "$status" -eq 0

cmp ext4.img out/out.img
cmp ext4.img out/stream.out
check_status_json out/s.json <<'PYEOF'
assert d["out/fifo"]["state"] == "done", d["out/fifo"]
assert d["out/out.img"]["state"] == "done", d["out/out.img"]
assert d["out/fifo"]["bytes"] == 512 * MiB, d["out/fifo"]
PYEOF

# The spill file really held part of the window: more than the 48 MiB of
# chunks spill-memory=64M keeps in memory went to it.
spill_peak_mib=$(( $(sort -n spill_blocks | tail -1) * 512 / 1024 / 1024 ))
echo "spill file peak: $spill_peak_mib MiB"
test "$spill_peak_mib" -gt 32

peak_kib="$(sort -n hwm | tail -1)"
echo "nbdkit peak RSS: $peak_kib KiB (window=512M)"
if [ -n "$SANITIZER_RUNTIME" ]; then
    echo "sanitizer build: the memory bound is not checked"
else
    # 144 MiB of data at most, plus nbdkit, the libraries and slack:
    # well under the 512 MiB window.
    test "$peak_kib" -lt $(( 200 * 1024 ))
fi
