#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a seekable laggard under rewrites.  The destinations are
# an NBD memory server behind nbdkit's rate filter (20 MB/s) and a file;
# lag= the whole export.  A libnbd client writes the 64 MiB export in
# random order, rewrites a third of it with pieces of many sizes (some not
# sector-aligned), zeroes some ranges and flushes, all while the server is
# far behind.  The server fell behind, caught up from the file, and ends
# holding exactly what the client wrote (its own model of the disk), as the
# file does; verify=true reads both back: both "verified".  Then the same
# with qemu's clients: qemu-img convert -W (out of order) of a random image,
# then qemu-io rewriting and zeroing ranges over the same export while the
# server is still behind; the expected disk is the same qemu-io commands
# applied to a copy of the image.

source ./functions.sh
requires nbdkit --filter=rate memory --version
requires nbdcopy --version
requires qemu-img --version
requires qemu-io --version
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

cat > rewriter.py <<'PYEOF'
import nbd, random, sys
uri, model_path = sys.argv[1], sys.argv[2]
rng = random.Random(14)
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
model = bytearray(size)

def write(off, data):
    h.pwrite(data, off)
    model[off:off + len(data)] = data

def zero(off, length):
    h.zero(length, off)
    model[off:off + length] = bytes(length)

# The whole export, 1 MiB at a time, in random order.
step = 1 << 20
pieces = list(range(0, size, step))
rng.shuffle(pieces)
for off in pieces:
    write(off, rng.randbytes(step))
# A third of it again, pieces from 1 byte to 2 MiB at any offset.
sizes = [1, 511, 4096, 65536, 65537, 262144, 1 << 20, 2 << 20]
rewritten = 0
while rewritten < size // 3:
    length = rng.choice(sizes)
    off = rng.randrange(0, size - length)
    write(off, rng.randbytes(length))
    rewritten += length
# Some zeroes, aligned and not, over data written in both passes.
for length in (4096, 100000, 1 << 20, 3 << 20):
    zero(rng.randrange(0, size - length), length)
h.flush()
h.shutdown()
with open(model_path, "wb") as f:
    f.write(model)
PYEOF

# A server that takes 20 MB/s (the rate filter counts bits) with a short
# burst; the rate file lets the test read it back at full speed afterwards.
echo 160M > rate
start_nbd_server mem.pid nbdkit -f -P mem.pid -U mem.sock --filter=rate \
    memory 64M rate=160M rate-file="$tmp/rate" burstiness=0.2

start_status_recorder s.json snaps.jsonl
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=mem.sock" dest=file.img lag=64M \
    verify=true status=s.json \
    --run '/usr/bin/python3 rewriter.py "$uri" model.img' 2> nbdkit.err
cat nbdkit.err
wait "$status_recorder_pid"

echo 100G > rate.new
mv rate.new rate
nbdcopy "nbd+unix:///?socket=$tmp/mem.sock" mem.img
cmp model.img file.img
cmp model.img mem.img

# check_run MEM: the run's status file and snapshots, for the server MEM.
check_run ()
{
    local mem="$1"
    check_status_json s.json <<PYEOF
assert s["state"] == "finished", s["state"]
assert s["size"] == 64 * MiB, s["size"]
m, f = d["$mem"], d["file.img"]
for x in (m, f):
    assert x["state"] == "verified", x
    assert x["verified_bytes"] == 64 * MiB, x
    assert x["error"] is None, x
    assert x["behind_bytes"] is None, x
assert m["fell_behind"] >= 1, m
assert m["caught_up_bytes"] > 0, m
PYEOF
check_snapshots snaps.jsonl <<PYEOF
behind = [s for s in snaps if dests(s)["$mem"]["state"] == "behind"]
assert behind, "the server was never shown behind"
assert max(dests(s)["$mem"]["behind_bytes"] for s in behind) > 0
PYEOF
    grep -F 'fanout: 2 of 2 destinations done, 0 failed' nbdkit.err
}
check_run 'nbd+unix:///?socket=mem.sock'

# qemu-img convert, out of order, then qemu-io over the same export.
echo 160M > rate2
start_nbd_server mem2.pid nbdkit -f -P mem2.pid -U mem2.sock --filter=rate \
    memory 64M rate=160M rate-file="$tmp/rate2" burstiness=0.2
make_random src.img 64M 14
cp src.img expected.img
cat > rewrites.sh <<'SHEOF'
#!/bin/sh
# Rewrites and zeroes ranges of the disk $1 (a file or an NBD URI).
exec qemu-io -f raw \
    -c 'write -P 0x11 0 3M' \
    -c 'write -P 0x22 7340033 65537' \
    -c 'write -z 12582912 2M' \
    -c 'write -P 0x33 33554431 1048577' \
    -c 'write -z 41943551 100000' \
    -c 'write -P 0x44 60817408 4M' \
    -c 'write -P 0x55 1048576 512' \
    -c 'flush' \
    "$1"
SHEOF
chmod +x rewrites.sh
cp src.img expected.img
./rewrites.sh expected.img
rm -f s.json file.img
start_status_recorder s.json snaps.jsonl
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=mem2.sock" dest=file.img lag=64M \
    verify=true status=s.json \
    --run 'qemu-img convert -n -W -m 16 -f raw -O raw src.img "$uri" &&
           ./rewrites.sh "$uri"' 2> nbdkit.err
cat nbdkit.err
wait "$status_recorder_pid"
echo 100G > rate2.new
mv rate2.new rate2
nbdcopy "nbd+unix:///?socket=$tmp/mem2.sock" mem2.img
cmp expected.img file.img
cmp expected.img mem2.img
if cmp -s src.img expected.img; then echo "$0:152: this must be false: cmp -s src.img expected.img" >&2; exit 1; fi
check_run 'nbd+unix:///?socket=mem2.sock'
