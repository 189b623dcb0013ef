#!/usr/bin/env bash
# nbdkit-fanout: with a stream destination, a write behind the commit point
# (here: at 1M after a write at 40M with window=4M) cannot be delivered.  It
# must fail with EIO, change nothing, and be logged once with its offset and
# the window= that would have taken it; the writes before and after it
# reach every destination.

source $srcdir/functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

cat > behind.py <<'PYEOF'
import errno
import sys

import nbd

MiB = 1024 * 1024
SIZE = 64 * MiB

h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == SIZE, h.get_size()
expected = bytearray(SIZE)

def write(data, offset):
    h.pwrite(data, offset)
    expected[offset:offset + len(data)] = data

write(b"\x11" * MiB, 0)
write(b"\x22" * MiB, 40 * MiB)

# The commit point is now at least 41M - 4M = 37M: 1M is far behind it.
try:
    h.pwrite(b"\x33" * 4096, 1 * MiB)
except nbd.Error as e:
    print("write behind the window failed as expected: %s" % e)
    assert e.errnum == errno.EIO, "errno is %s, expected EIO" % e.errno
else:
    raise AssertionError("write behind the window succeeded")

# The server goes on: a write inside the window still works and reads back.
write(b"\x44" * 4096, 40 * MiB + 8192)
assert h.pread(MiB, 40 * MiB) == expected[40 * MiB:41 * MiB]

h.shutdown()
with open("expected.img", "wb") as f:
    f.write(expected)
PYEOF

start_fifo_reader fifo fifo.out
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=64M window=4M \
    --run '/usr/bin/python3 behind.py "$uri"' 2> nbdkit.err || status=$?
cat nbdkit.err
wait_fifo_reader
test "$status" -eq 0

# One log line names the offset (1048576 = 0x100000) and window=.
n="$(grep -F 'window=' nbdkit.err | grep -c -E '(^|[^0-9a-fx])(1048576|0x100000)([^0-9]|$)' || true)"
if [ "$n" -ne 1 ]; then
    echo "$0: expected one line with the offset and window=, found $n"
    exit 1
fi

# The refused write changed nothing: both destinations hold the writes
# before and after it, and zeros everywhere else.
cmp expected.img fifo.out
cmp expected.img file.img
