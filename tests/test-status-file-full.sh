#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a status file that cannot be written while the run goes
# (its file system is full) is logged once, and since the status file then
# does not say how the run ended, nbdkit exits 1 even though every
# destination is done.  The check at start passes: an empty temporary file
# needs no room.

source ./functions.sh
requires_root
requires nbdcopy --version
set -e
set -x

make_tmpdir

mount_small_tmpfs small 1M
# Fill it, leaving no room for a status file's first block.
dd if=/dev/zero of=small/fill bs=64k 2>/dev/null || :

make_random src.img 16M 3
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" a.img size=16M status=small/s.json \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit.err || status=$?
cat nbdkit.err
test "$status" -eq 1
cmp src.img a.img
grep -E 'fanout: a\.img +file +done ' nbdkit.err
# Said once while serving, and once more as the run's result.
test "$(grep -c 'error: status=.*small/s\.json: .*No space left on device' nbdkit.err)" -eq 1
grep -F 'error: the final status was not written: status=' nbdkit.err
test ! -e small/s.json
