#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a slow disk is not a stalled one.  The destination is a
# loop device over a file on a FUSE mount (nbdfuse of nbdkit memory behind
# the rate filter, 4 MiB/s), written through the page cache: the writes
# return at once and the final sync takes seconds, longer than
# stall-timeout=2.  The disk's written-sector count moves all along, so
# the destination is done, not failed.

source ./functions.sh
requires_root
requires nbdcopy --version
requires nbdfuse --version
requires fusermount3 --version
requires losetup --version
requires nbdkit --filter=rate null --version
set -e
set -x

make_tmpdir

make_random src.img 24M 6
start_nbd_server mem.pid nbdkit -f -P mem.pid -U "$tmp/mem.sock" --filter=rate memory 24M rate=32M
mkdir mnt
start_nbdfuse mnt "$tmp/mem.sock"
attach_loop_device mnt/nbd

start=$SECONDS
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=a.img "dest=$loop" status=s.json stall-timeout=2 \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit.err || status=$?
elapsed=$(( SECONDS - start ))
cat nbdkit.err
test "$status" -eq 0
# The sync was slow (longer than the timeout), and nothing failed.
test "$elapsed" -ge 3
cmp src.img a.img
cmp src.img "$loop"
check_status_json s.json <<'PYEOF'
for x in s["destinations"]:
    assert x["state"] == "done" and x["error"] is None, x
PYEOF
if grep -F 'error:' nbdkit.err; then echo "$0:46: this must be false: grep -F 'error:' nbdkit.err" >&2; exit 1; fi
