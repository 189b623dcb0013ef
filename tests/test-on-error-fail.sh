#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: on-error=fail.  After the first destination failure every
# write, zero and flush fails with EIO ("refusing requests (on-error=fail)"),
# even though a healthy file remains; reads still work.  nbdcopy exits
# non-zero and so does nbdkit.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

# 1. nbdcopy.  The small window (big enough for nbdcopy's 16 requests in
# flight) and buckets keep nbdcopy close behind the FIFO, so it still has
# most of the image to send when the FIFO's reader gives up after 8 MiB.
make_random src.img 64M 6
start_quitting_fifo_reader fifo 8M

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=ok.img dest=fifo size=64M window=16M bucket=1M buckets=2 on-error=fail \
    status=s.json \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> nbdkit.err || status=$?
cat nbdkit.err
wait_fifo_reader

test "$(cat nbdcopy.rc)" -ne 0
test "$status" -ne 0
grep -F 'refusing requests (on-error=fail): destination fifo failed: ' nbdkit.err
# Said once, however many requests were refused.
test "$(grep -c 'refusing requests' nbdkit.err)" -eq 1
if ! nbdkit_aborted_on_reset nbdkit.err; then
    check_status_json s.json <<'PYEOF'
assert d["fifo"]["state"] == "failed" and d["fifo"]["errno"] == "EPIPE", d["fifo"]
# The file itself never failed, but nbdcopy was cut off by the refusals
# and exited non-zero: the run is interrupted, the file incomplete.
assert s["state"] == "interrupted", s["state"]
assert s["interrupted"].startswith("the --run command exited with status "), s
assert d["ok.img"]["state"] == "incomplete", d["ok.img"]
PYEOF
fi

# 2. Request by request, with nbdsh: 4 MiB go to both; the FIFO's reader
# leaves after 1 MiB; once the FIFO has failed, writes, zeroes and flushes
# fail with EIO, and what was accepted before reads back.
cat > fail.py <<'PYEOF'
import errno
import sys
import time

import nbd

MiB = 1024 * 1024
h = nbd.NBD()
h.connect_uri(sys.argv[1])

expected = bytearray(16 * MiB)
for off in range(0, 4 * MiB, MiB):
    data = bytes([0x10 + off // MiB]) * MiB
    h.pwrite(data, off)
    expected[off:off + MiB] = data

# Keep writing inside the window until the FIFO failure is noticed.
refused = None
deadline = time.monotonic() + 30
off = 4 * MiB
while refused is None:
    assert time.monotonic() < deadline, "no request refused within 30 s"
    assert off < 16 * MiB
    data = bytes([0x10 + off // MiB]) * (256 * 1024)
    try:
        h.pwrite(data, off)
        expected[off:off + len(data)] = data
        off += len(data)
    except nbd.Error as e:
        refused = e
        print("refused:", e)
    time.sleep(0.01)
assert refused.errnum == errno.EIO, refused

# From now on every write, zero and flush is refused.
for what, call in [("write", lambda: h.pwrite(b"\x77" * 4096, 12 * MiB)),
                   ("zero", lambda: h.zero(4096, 13 * MiB)),
                   ("flush", lambda: h.flush()),
                   ("write at 0", lambda: h.pwrite(b"\x77" * 4096, 0))]:
    try:
        call()
    except nbd.Error as e:
        assert e.errnum == errno.EIO, (what, e)
    else:
        raise AssertionError("%s succeeded after the failure" % what)

# Reads still work, and see only what was accepted.
assert h.pread(4 * MiB, 0) == expected[:4 * MiB]
h.shutdown()
with open("expected.img", "wb") as f:
    f.write(expected)
PYEOF

start_quitting_fifo_reader fifo 1M
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=file.img dest=fifo size=16M window=4M bucket=1M buckets=2 on-error=fail \
    --run '/usr/bin/python3 fail.py "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
    2> nbdkit2.err || status=$?
cat nbdkit2.err
test "$(cat client.rc)" -eq 0
wait_fifo_reader
# The --run command succeeded (it expected the refusals); the FIFO failed.
test "$status" -eq 1
grep -F 'refusing requests (on-error=fail): destination fifo failed: ' nbdkit2.err
# The file holds exactly what was accepted, zeros elsewhere.
cmp expected.img file.img
grep -E 'fanout: file\.img +file +done ' nbdkit2.err
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 16.0 MiB export (16777216 bytes) in ' \
    nbdkit2.err
