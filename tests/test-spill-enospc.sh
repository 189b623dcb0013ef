#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: spill=DIR on a 4 MiB tmpfs, too small for what the window
# must hold (window=64M, spill-memory=4M, bucket=4M).  The write that finds
# DIR full fails with ENOSPC and a message naming spill= (logged too), every
# later request fails as well (the window has lost what it could not keep),
# and nbdkit exits 1: nothing the client wrote is dropped silently.  The
# status file's refused_requests is true.

source ./functions.sh
requires_root
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

mount_small_tmpfs small 4M

start_fifo_reader fifo stream.out
start_nbdkit -P nbdkit.pid -U nbdkit.sock "$FANOUT_PLUGIN" \
    dest=fifo dest=out.img size=64M window=64M bucket=4M spill="$tmp/small" spill-memory=4M \
    status=s.json 2> nbdkit.err

/usr/bin/python3 - "$tmp/nbdkit.sock" <<'PYEOF'
import errno
import sys

import nbd

h = nbd.NBD()
h.connect_unix(sys.argv[1])
MiB = 1024 * 1024
buf = bytes([0x5A]) * MiB
failed_at = None
for i in range(64):
    try:
        h.pwrite(buf, i * MiB)
    except nbd.Error as e:
        failed_at = i
        print("write at %d MiB failed: %s (errno %s)" % (i, e.string, e.errno))
        assert e.errnum == errno.ENOSPC, e.errno
        break
# 4 MiB in memory, 4 MiB of tmpfs (less what tmpfs keeps for itself).
assert failed_at is not None, "every write succeeded"
assert 4 <= failed_at < 9, failed_at
# Every later request fails, even where the window had room.
for what, call in (("write", lambda: h.pwrite(b"x" * 512, 0)),
                   ("zero", lambda: h.zero(4096, 0)),
                   ("read", lambda: h.pread(512, 0))):
    try:
        call()
    except nbd.Error as e:
        print("later %s failed: %s" % (what, e.string))
        continue
    raise AssertionError("a later %s succeeded" % what)
h.shutdown()
PYEOF

status=0
stop_nbdkit nbdkit.pid || status=$?
cat nbdkit.err
wait_fifo_reader || :
test "$status" -eq 1

grep -F "error: spill=$tmp/small: writing " nbdkit.err | grep -F 'No space left on device'
grep -F "the window can no longer hold what clients wrote, so every later request fails" nbdkit.err
# Neither destination holds the export: neither is reported done.
grep -E 'fanout: out\.img +file +failed .*spill=' nbdkit.err
grep -E 'fanout: fifo +fifo +failed .*spill=' nbdkit.err
grep -F 'fanout: 0 of 2 destinations done, 2 failed' nbdkit.err
# The status file says requests were refused (every one after the spill
# failed was), and so does the summary.
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert s["refused_requests"] is True, s
assert d["out.img"]["state"] == "failed" and d["fifo"]["state"] == "failed", d
PYEOF
grep -F 'fanout: requests were refused after a failure' nbdkit.err
