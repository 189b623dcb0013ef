#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: nbdcopy writes a 64 MiB image through the filter into
# nbdkit memory, and reads it back; the tee destinations are a FIFO and a
# command (streams: the ordered window, and no multi-conn although the
# memory plugin offers it).  The stream, the command's output and what
# nbdcopy read back all equal the image.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

make_random src.img 64M 21
start_fifo_reader fifo stream.out

FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - --filter="$TEE_FILTER" \
    memory 64M tee=fifo tee-cmd='cat > cmd.out' tee-status=s.json \
    --run '
        nbdsh -u "$uri" -c "assert not h.can_multi_conn()" &&
        nbdcopy src.img "$uri" &&
        nbdcopy "$uri" readback.img
    ' 2> nbdkit.err
cat nbdkit.err
wait_fifo_reader

cmp src.img readback.img
cmp src.img stream.out
cmp src.img cmd.out

check_status_json s.json <<'PYEOF'
assert s["state"] == "finished" and s["size"] == 64 * MiB, s
assert d["fifo"]["kind"] == "fifo" and d["fifo"]["state"] == "done", d["fifo"]
c = d["cmd=cat > cmd.out"]
assert c["kind"] == "command" and c["state"] == "done" and c["exit_status"] == 0, c
PYEOF
# The summary names the command as the user wrote it.
grep -E "tee: tee-cmd=cat > cmd\.out +command +done " nbdkit.err
grep -F 'tee: 2 of 2 destinations done, 0 failed: 64.0 MiB export (67108864 bytes) in ' nbdkit.err
