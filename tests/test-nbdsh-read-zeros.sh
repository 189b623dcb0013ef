#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: reads of never-written bytes return zeros, never the old
# contents of a reused destination: an existing file full of 0xAA used with
# a smaller size=.  With only seekable destinations (reads of committed data
# come back from a destination, after a flush) and with a FIFO (reads inside
# the window).

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

cat > zeros.py <<'PYEOF'
import sys

import nbd

MiB = 1024 * 1024
SIZE = 8 * MiB
ZERO = bytes(SIZE)

h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == SIZE, h.get_size()

# Nothing written yet: all zeros, in one read and in odd pieces.
assert h.pread(SIZE, 0) == ZERO
assert h.pread(4097, 12345) == ZERO[:4097]
assert h.pread(512, SIZE - 512) == ZERO[:512]

# A write in the middle; the bytes around it stay zeros.
data = b"\x55" * (64 * 1024)
h.pwrite(data, 2 * MiB + 1000)
got = h.pread(4 * MiB, 0)
assert got[:2 * MiB + 1000] == ZERO[:2 * MiB + 1000]
assert got[2 * MiB + 1000:2 * MiB + 1000 + len(data)] == data
assert got[2 * MiB + 1000 + len(data):] == ZERO[:4 * MiB - 2 * MiB - 1000 - len(data)]

# After a flush (committed to the destinations when they are all seekable)
# the same.
h.flush()
got = h.pread(SIZE, 0)
expected = bytearray(SIZE)
expected[2 * MiB + 1000:2 * MiB + 1000 + len(data)] = data
assert got == expected

# A zeroed range inside the written data reads as zeros.
h.zero(4096, 2 * MiB + 8192)
expected[2 * MiB + 8192:2 * MiB + 8192 + 4096] = bytes(4096)
assert h.pread(SIZE, 0) == expected

# The same for data not flushed yet: a write, then a zero and a trim over
# parts of it, then reads.
data = b"\x66" * (256 * 1024)
h.pwrite(data, 5 * MiB)
expected[5 * MiB:5 * MiB + len(data)] = data
h.zero(8192, 5 * MiB + 4096)
expected[5 * MiB + 4096:5 * MiB + 4096 + 8192] = bytes(8192)
h.trim(65536, 5 * MiB + 65536)
expected[5 * MiB + 65536:5 * MiB + 2 * 65536] = bytes(65536)
assert h.pread(SIZE, 0) == expected
h.flush()
assert h.pread(SIZE, 0) == expected

# Reads of never-written bytes right after writes of the same length: the
# server's request buffers then held data, which must not leak into reads.
for i, n in enumerate((512, 4096, 65536, 131072, 262144)):
    off = 6 * MiB + i * 256 * 1024
    data = bytes([0x70 + i]) * n
    h.pwrite(data, off)
    expected[off:off + n] = data
    assert h.pread(n, 7 * MiB + 512 * 1024) == bytes(n)
    assert h.pread(n, off) == data
assert h.pread(SIZE, 0) == expected

h.shutdown()
with open(sys.argv[2], "wb") as f:
    f.write(expected)
PYEOF

# Only seekable destinations: an old file full of 0xAA, and a new file.
make_fill old.img 16M '\252'
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=old.img dest=new.img size=8M \
    --run '/usr/bin/python3 zeros.py "$uri" expected1.img'
test "$(stat -c %s old.img)" -eq $((8 * 1024 * 1024))
cmp expected1.img old.img
cmp expected1.img new.img

# With a FIFO as well.
make_fill old.img 16M '\252'
rm -f new.img
start_fifo_reader fifo fifo.out
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=old.img dest=fifo size=8M \
    --run '/usr/bin/python3 zeros.py "$uri" expected2.img'
wait_fifo_reader
cmp expected2.img old.img
cmp expected2.img fifo.out
