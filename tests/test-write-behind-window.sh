#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: with a stream destination, a write behind the commit point
# (here: at 1M after a write at 40M with window=4M) cannot be delivered to
# the stream.  The file takes it; the FIFO fails, logged once with the
# offset and the window= that would have taken it.  With on-error=fail the
# client hears of it: the late write fails with EIO, and so does every
# later write, zero and flush ("refusing requests (on-error=fail)").  The
# writes accepted before reach both destinations unchanged, reads still
# work, and nbdkit exits 1.  (With on-error=continue the late write
# succeeds: test-late-write-fails-streams-only.sh.)

# ahead=0: the write at 40M must slide the window (not be parked) for the
# write at 1M to be late.
source ./functions.sh
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

def refused(what, call):
    try:
        call()
    except nbd.Error as e:
        print("%s failed as expected: %s" % (what, e))
        assert e.errnum == errno.EIO, "%s: errno is %s, expected EIO" % (what, e.errno)
    else:
        raise AssertionError("%s succeeded" % what)

write(b"\x11" * MiB, 0)
write(b"\x22" * MiB, 40 * MiB)
with open("expected.img", "wb") as f:
    f.write(expected)

# The commit point is now at least 41M - 4M = 37M: 1M is far behind it.
refused("the write behind the window", lambda: h.pwrite(b"\x33" * 4096, 1 * MiB))

# From now on nothing is accepted, not even inside the window.
refused("a write inside the window", lambda: h.pwrite(b"\x44" * 4096, 40 * MiB + 8192))
refused("a zero inside the window", lambda: h.zero(4096, 40 * MiB + 65536))
refused("a write ahead", lambda: h.pwrite(b"\x55" * 4096, 50 * MiB))
refused("a flush", lambda: h.flush())

# Reads still work and show what was accepted.
assert h.pread(MiB, 40 * MiB) == expected[40 * MiB:41 * MiB]
assert h.pread(MiB, 0) == expected[0:MiB]

h.shutdown()
PYEOF

start_fifo_reader fifo fifo.out
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=64M window=4M ahead=0 on-error=fail status=s.json \
    --run '/usr/bin/python3 behind.py "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
    2> nbdkit.err || status=$?
cat nbdkit.err
wait_fifo_reader
# The client saw exactly the refusals it expected; nbdkit reports the
# failed FIFO.
test "$(cat client.rc)" -eq 0
test "$status" -eq 1

# The FIFO's failure is logged once as an error, naming the offset
# (1048576 = 0x100000) and window= (the summary line and the refusal may
# repeat the message, but not as the FIFO's own error line).
n="$(grep -F ': error: fifo: ' nbdkit.err | grep -F 'window=' |
     grep -c -E '(^|[^0-9a-fx])(1048576|0x100000)([^0-9]|$)' || true)"
if [ "$n" -ne 1 ]; then
    echo "$0: expected one error line with the offset and window=, found $n"
    exit 1
fi
# The refusal is said once.
test "$(grep -c -F 'refusing requests (on-error=fail)' nbdkit.err)" -eq 1

# The file holds every accepted write and nothing of the refused ones
# after the late one; the 4 KiB at 1M, refused to the client but already
# given to the file, may hold either the old zeros or the new bytes (after
# a failed write its range is unspecified).  The FIFO holds a prefix of
# the accepted image that reaches the commit point.
/usr/bin/python3 - <<'PYEOF'
import json

MiB = 1024 * 1024
with open("expected.img", "rb") as f:
    expected = f.read()
with open("file.img", "rb") as f:
    got = f.read()
assert len(got) == len(expected), len(got)
late = got[MiB:MiB + 4096]
assert late in (b"\0" * 4096, b"\x33" * 4096), "the late write's range holds garbage"
assert got[:MiB] == expected[:MiB], "file.img differs before the late write"
assert got[MiB + 4096:] == expected[MiB + 4096:], "file.img differs after the late write"

with open("fifo.out", "rb") as f:
    fifo = f.read()
assert 37 * MiB <= len(fifo) < 64 * MiB, len(fifo)
assert fifo == expected[:len(fifo)], "fifo.out is not a prefix of the accepted image"

with open("s.json") as f:
    s = json.load(f)
print(json.dumps(s, indent=2))
d = {x["name"]: x for x in s["destinations"]}
assert d["fifo"]["state"] == "failed", d["fifo"]
assert d["fifo"]["offset"] == 1048576, d["fifo"]
assert "window=" in d["fifo"]["error"], d["fifo"]
assert d["file.img"]["state"] == "done", d["file.img"]
PYEOF
