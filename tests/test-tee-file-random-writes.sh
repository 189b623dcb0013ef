#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: nbdkit --filter=tee file base.img tee=mirror.img.
# 300 writes of random sizes at random offsets, each read back through the
# filter, one zero request, a trim, then 64 overlapping writes in flight at
# once on one connection (nbdkit runs them in parallel threads: the range
# lock must give the plugin and the mirror the same order).  When nbdkit
# has exited, mirror.img is identical to base.img.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
requires cmp --version
set -e
set -x

make_tmpdir

# The plugin's disk starts as zeros, as the mirror does (see the man page).
truncate -s 16M base.img

cat > writes.py <<'PYEOF'
import random
import sys

import nbd

MiB = 1024 * 1024
h = nbd.NBD()
h.connect_uri(sys.argv[1])
size = h.get_size()
assert size == 16 * MiB, size
# Only files among the tee destinations: the file plugin's multi-conn
# shows through.
assert h.can_multi_conn()

rng = random.Random(3)
model = bytearray(size)

# 300 random writes, each read back at once.
for i in range(300):
    n = rng.randint(1, 256 * 1024)
    off = rng.randrange(0, size - n + 1)
    data = rng.randbytes(n)
    h.pwrite(data, off)
    model[off:off + n] = data
    assert h.pread(n, off) == data, "write %d at %d+%d reads back wrong" % (i, off, n)

# One zero request.
h.zero(MiB + 12345, 3 * MiB + 1)
model[3 * MiB + 1:4 * MiB + 12346] = bytes(MiB + 12345)
assert h.pread(MiB + 12345, 3 * MiB + 1) == bytes(MiB + 12345)

# A trim: afterwards the plugin may return anything there (zeros where it
# punched a hole); whatever it returns is what the mirror must hold.
assert h.can_trim()
h.trim(2 * MiB, 8 * MiB)
model[8 * MiB:10 * MiB] = h.pread(2 * MiB, 8 * MiB)

for off in range(0, size, 4 * MiB):
    assert h.pread(4 * MiB, off) == model[off:off + 4 * MiB], "mismatch in %d+4M" % off

# Overlapping writes in flight together: the last MiB, 64 writes of 64 KiB
# to 512 KiB, each overlapping others.
bufs = []
for i in range(64):
    n = rng.randint(64 * 1024, 512 * 1024)
    off = 15 * MiB + rng.randrange(0, MiB - n + 1)
    b = nbd.Buffer.from_bytearray(bytearray([i + 1]) * n)
    bufs.append(b)
    h.aio_pwrite(b, off)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.flush()
h.shutdown()
print("ok")
PYEOF

FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - --filter="$TEE_FILTER" \
    file base.img tee=mirror.img tee-status=s.json \
    --run '/usr/bin/python3 writes.py "$uri"' 2> nbdkit.err
cat nbdkit.err

cmp base.img mirror.img

check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
assert s["size"] == 16 * MiB, s
m = d["mirror.img"]
assert m["kind"] == "file" and m["state"] == "done" and m["error"] is None, m
PYEOF
grep -E 'tee: mirror\.img +file +done ' nbdkit.err
grep -F 'tee: 1 of 1 destinations done, 0 failed: 16.0 MiB export (16777216 bytes) in ' nbdkit.err
