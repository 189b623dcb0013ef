#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: writes shuffled inside each 8 MiB span of a 32 MiB export
# with a 16 MiB window, some 1 MiB blocks never written.  Each block reads
# back right after it is written, the previous span still reads back from
# the window, and the FIFO receives exactly the export in order (holes as
# zeros, up to the end of the export).

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

cat > reorder.py <<'PYEOF'
import random
import sys

import nbd

MiB = 1024 * 1024
SIZE = 32 * MiB
SPAN = 8 * MiB
BLOCK = MiB

random.seed(20240611)
expected = bytearray(SIZE)

h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == SIZE, h.get_size()
assert not h.can_multi_conn()

for span in range(0, SIZE, SPAN):
    blocks = list(range(span, span + SPAN, BLOCK))
    random.shuffle(blocks)
    # Leave one block of every span unwritten (its place is random), and
    # the last block of the export too: they must arrive as zeros.
    blocks.pop()
    if span + SPAN == SIZE and SIZE - BLOCK in blocks:
        blocks.remove(SIZE - BLOCK)
    for off in blocks:
        data = random.randbytes(BLOCK)
        h.pwrite(data, off)
        expected[off:off + BLOCK] = data
        got = h.pread(BLOCK, off)
        assert got == data, "block at %d does not read back" % off
    # Rewrite a small piece of the span (still inside the window).
    off = span + random.randrange(0, SPAN - 4096)
    data = random.randbytes(4096)
    h.pwrite(data, off)
    expected[off:off + 4096] = data
    # The whole current span and the one before are inside the window.
    lo = max(0, span - SPAN)
    got = h.pread(span + SPAN - lo, lo)
    assert got == expected[lo:span + SPAN], \
        "window [%d, %d) does not read back" % (lo, span + SPAN)

h.shutdown()
with open("expected.img", "wb") as f:
    f.write(expected)
PYEOF

start_fifo_reader fifo fifo.out
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=fifo size=32M window=16M \
    --run '/usr/bin/python3 reorder.py "$uri"'
wait_fifo_reader

test "$(stat -c %s expected.img)" -eq $((32 * 1024 * 1024))
cmp expected.img fifo.out
