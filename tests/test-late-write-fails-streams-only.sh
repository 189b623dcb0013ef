#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: failure isolation for a write behind the commit point (a
# "late" write: at 1M after a write at 40M with window=4M).  With
# on-error=continue and quorum=1 the write succeeds: the file takes it; the
# FIFO, which has already passed that offset, fails with a message naming
# the offset, the stream position and the window= that would have been
# needed.  The file holds every write; the FIFO holds a prefix of the image
# as it was before the late write; nbdkit exits 1.

# ahead=0: the write at 40M must slide the window (not be parked) for the
# write at 1M to be late.
source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

cat > late.py <<'PYEOF'
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
# What the stream can hold: the image before the late write.
with open("before-late.img", "wb") as f:
    f.write(expected)

# The commit point is now at least 41M - 4M = 37M: 1M is far behind it.
# The file takes this write, so the client sees success.
write(b"\x33" * 4096, 1 * MiB)
assert h.pread(4096, 1 * MiB) == b"\x33" * 4096

# The server goes on: later writes, behind and inside the window, work.
write(b"\x44" * 4096, 40 * MiB + 8192)
write(b"\x55" * 8192, 2 * MiB)
h.flush()
assert h.pread(MiB, 40 * MiB) == expected[40 * MiB:41 * MiB]
assert h.pread(3 * MiB, 0) == expected[0:3 * MiB]

h.shutdown()
with open("expected.img", "wb") as f:
    f.write(expected)
PYEOF

start_fifo_reader fifo fifo.out
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=64M window=4M ahead=0 on-error=continue quorum=1 status=s.json \
    --run '/usr/bin/python3 late.py "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
    2> nbdkit.err || status=$?
cat nbdkit.err
wait_fifo_reader
test "$(cat client.rc)" -eq 0
test "$status" -eq 1

# The file holds all the writes, the late ones included.
cmp expected.img file.img

# The FIFO holds a prefix of the image as it was before the late write,
# reaching at least the commit point (37M) and stopping before 1M could be
# rewritten.
/usr/bin/python3 - <<'PYEOF'
import json
import re

MiB = 1024 * 1024
with open("fifo.out", "rb") as f:
    got = f.read()
with open("before-late.img", "rb") as f:
    before = f.read()
assert len(got) >= 37 * MiB, len(got)
assert len(got) < 64 * MiB, len(got)
assert got == before[:len(got)], "the FIFO does not hold a prefix of the image"

with open("s.json") as f:
    s = json.load(f)
print(json.dumps(s, indent=2))
d = {x["name"]: x for x in s["destinations"]}
fifo = d["fifo"]
assert fifo["state"] == "failed", fifo
assert fifo["offset"] == 1048576, fifo
assert fifo["bytes"] == len(got), (fifo, len(got))
assert "1048576" in fifo["error"], fifo
assert "stream position" in fifo["error"], fifo
m = re.search(r"window=(\d+)M would have been needed", fifo["error"])
assert m, fifo["error"]
# From the highest write (41M) back to the late one (1M).
assert 40 <= int(m.group(1)) <= 41, fifo["error"]
f = d["file.img"]
assert f["state"] == "done" and f["error"] is None, f
PYEOF

# The FIFO's failure is logged once as an error, with the offset and
# window= (the summary line repeats the message, but not as an error).
n="$(grep -F ': error: fifo: ' nbdkit.err | grep -F 'window=' |
     grep -c -E '(^|[^0-9a-fx])1048576([^0-9]|$)' || true)"
test "$n" -eq 1
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 64.0 MiB export (67108864 bytes) in ' \
    nbdkit.err
if grep -F 'refusing requests' nbdkit.err; then
    echo "$0: requests were refused with on-error=continue quorum=1 and a healthy file"
    exit 1
fi
