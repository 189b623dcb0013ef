#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: quorum=N with on-error=continue.  Requests succeed while
# at least N destinations are healthy, and fail with EIO ("... fewer than
# quorum=N") once fewer are.  A quorum larger than the number of
# destinations is refused at start.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 64M 7

# (a) quorum=2, one file and the failing FIFO: after the FIFO fails only 1
# destination is healthy, fewer than 2, so nbdcopy's later writes fail.
# The small window (big enough for nbdcopy's 16 requests in flight) and
# buckets keep nbdcopy close behind the FIFO.
start_quitting_fifo_reader fifo 8M
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=ok.img dest=fifo size=64M window=16M bucket=1M buckets=2 quorum=2 \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> a.err || status=$?
cat a.err
wait_fifo_reader
test "$(cat nbdcopy.rc)" -ne 0
test "$status" -ne 0
grep -F 'refusing requests: 1 of 2 destinations are healthy, fewer than quorum=2' a.err
test "$(grep -c 'refusing requests' a.err)" -eq 1
if ! nbdkit_aborted_on_reset a.err; then
    grep -E 'fanout: fifo +fifo +failed +[0-9]+ .*Broken pipe' a.err
    # nbdcopy, refused, exited non-zero: the run is interrupted.
    grep -E 'fanout: ok\.img +file +incomplete ' a.err
    grep -F 'fanout: interrupted: the --run command exited with status ' a.err
fi

# (b) quorum=2, two files and the failing FIFO: 2 healthy destinations are
# enough, nbdcopy succeeds and both files hold the image; nbdkit still
# exits 1 since a destination failed.
start_quitting_fifo_reader fifo 8M
rm -f nbdcopy.rc
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=ok1.img dest=fifo dest=ok2.img size=64M window=16M bucket=1M buckets=2 quorum=2 \
    status=b.json \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> b.err || status=$?
cat b.err
wait_fifo_reader
test "$(cat nbdcopy.rc)" -eq 0
test "$status" -eq 1
cmp src.img ok1.img
cmp src.img ok2.img
if grep -F 'refusing requests' b.err; then
    echo "$0: (b) requests were refused with 2 healthy destinations and quorum=2"
    exit 1
fi
check_status_json b.json <<'PYEOF'
assert d["fifo"]["state"] == "failed" and d["fifo"]["errno"] == "EPIPE", d["fifo"]
for name in ("ok1.img", "ok2.img"):
    assert d[name]["state"] == "done" and d[name]["bytes"] == 64 * 1024 * 1024, d[name]
PYEOF
grep -F 'fanout: 2 of 3 destinations done, 1 failed: 64.0 MiB export (67108864 bytes) in ' b.err

# (d) quorum=2, one file and a FIFO, and a write behind the commit point:
# the FIFO cannot take it, so only the file is healthy from then on.  The
# late write fails with EIO, and so does every later write and flush.
cat > late.py <<'PYEOF'
import errno
import sys

import nbd

MiB = 1024 * 1024
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"\x11" * MiB, 0)
h.pwrite(b"\x22" * MiB, 40 * MiB)
for what, call in [("the late write", lambda: h.pwrite(b"\x33" * 4096, 1 * MiB)),
                   ("a write inside the window", lambda: h.pwrite(b"\x44" * 4096, 40 * MiB + 8192)),
                   ("a flush", lambda: h.flush())]:
    try:
        call()
    except nbd.Error as e:
        print("%s failed as expected: %s" % (what, e))
        assert e.errnum == errno.EIO, (what, e)
    else:
        raise AssertionError("%s succeeded with 1 healthy destination and quorum=2" % what)
h.shutdown()
PYEOF
start_fifo_reader fifo-d fifo-d.out
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo-d dest=d.img size=64M window=4M ahead=0 quorum=2 \
    --run '/usr/bin/python3 late.py "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
    2> d.err || status=$?
cat d.err
wait_fifo_reader
test "$(cat client.rc)" -eq 0
test "$status" -eq 1
grep -F 'fewer than quorum=2' d.err

# (c) quorum=4 with 3 destinations: a configuration error naming quorum=,
# before the --run command runs.
refused c 'quorum=4: there are only 3 destinations' \
    dest=c1.img dest=c2.img dest=c3.img size=1M quorum=4
test ! -e c1.img
# quorum=3 with the same 3 destinations is fine.
FANOUT_NBDKIT_TIMEOUT=30 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=c1.img dest=c2.img dest=c3.img size=1M quorum=3 --run 'touch ran'
test -e ran
