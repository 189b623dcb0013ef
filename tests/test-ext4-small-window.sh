#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a real write order that no small window can stream.
# parted writes a GPT on a 512 MiB image file and mkfs.ext4 -d fills the
# partition from a directory, under strace; mkfs.ext4 writes superblock
# backups in later block groups early, writes the files' data, and then
# comes back to rewrite metadata near the start of the partition, far
# below data it has already written.  That order, replayed through NBD into
# a fanout with a FIFO and a file, window=8M ahead=1M: the FIFO fails with
# a message that names window=, the file is still the tool's image byte for
# byte, and nbdkit exits 1.  (A window as large as the image, or spill=,
# would be needed; the file destination does not care.)

source ./functions.sh
requires strace -V
requires parted --version
requires mkfs.ext4 -V
requires e2fsck -V
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir
find_write_orders
MiB=$((1024 * 1024))

# The directory: a dozen files of random data (12 MiB in all) and some
# small ones, in two levels.
mkdir -p data/big data/small/sub
for i in $(seq 1 12); do
    make_random "data/big/f$i" $((i * 170 * 1024)) "ext4-$i"
done
for i in $(seq 1 50); do
    echo "small file $i" > "data/small/s$i"
    echo "deeper file $i" > "data/small/sub/d$i"
done

# The tool's run on a fresh sparse image, under strace.
capture_write_orders ext4 512M sh -c '
    parted -s ext4.img mklabel gpt mkpart p1 ext4 1MiB 100% &&
    mkfs.ext4 -q -F -L fanout -d data -E offset=1048576 ext4.img 510M'

# The tool made a good image.
parted -s ext4.img print | grep -E '^ *1 +1049kB .* p1'
dd if=ext4.img of=part.img bs=1M skip=1 count=510 status=none
e2fsck -fn part.img

# The order goes back far below earlier writes: more than window + ahead,
# and after the files' data (beyond 8 MiB of the partition) it rewrites
# metadata within the first 2 MiB of the disk.
/usr/bin/python3 - <<'PYEOF'
import json
MiB = 1024 * 1024
with open("ext4.summary") as f:
    s = json.load(f)
assert s["max_backward"] > 9 * MiB, s
with open("ext4.orders") as f:
    orders = [o for o in json.load(f) if o[0] == "w"]
data_high = 0
late = 0
for _, off, length in orders:
    if off < 2 * MiB and data_high > 10 * MiB:
        late += 1
    if off + length < 128 * MiB:
        data_high = max(data_high, off + length)
print("metadata rewrites near the start after data:", late)
assert late > 0
PYEOF

mkdir out
start_fifo_reader out/fifo out/stream.out
start_nbdkit -P out/nbdkit.pid -U "$tmp/out/nbdkit.sock" \
    "$FANOUT_PLUGIN" dest=out/fifo dest=out/out.img size=512M \
    window=8M ahead=1M status=out/s.json 2> out/nbdkit.err
/usr/bin/python3 "$orders" replay "nbd+unix://?socket=$tmp/out/nbdkit.sock" \
    ext4.orders ext4.img
status=0
stop_nbdkit out/nbdkit.pid || status=$?
cat out/nbdkit.err
wait_fifo_reader

test "$status" -eq 1
cmp ext4.img out/out.img
grep -F ': error: out/fifo: ' out/nbdkit.err | grep -F 'window='
if cmp -s ext4.img out/stream.out; then
    echo "$0: the FIFO streamed the image with window=8M ahead=1M"
    exit 1
fi
check_status_json out/s.json <<'PYEOF'
assert d["out/fifo"]["state"] == "failed", d["out/fifo"]
assert "window=" in d["out/fifo"]["error"], d["out/fifo"]
assert d["out/out.img"]["state"] == "done", d["out/out.img"]
assert d["out/out.img"]["error"] is None, d["out/out.img"]
PYEOF
