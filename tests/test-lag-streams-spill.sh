#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: lag= with streams only.  A FIFO read at full speed and a
# command that takes 20 MB/s (pv -L), spill=DIR lag=32M, nbdcopy writing
# 96 MiB: with no seekable destination to catch up from, the stream is
# kept for the laggard in the catch-up log, a ring of lag= bytes in DIR (a
# tmpfs of its own).  The FIFO is done while the command is still behind;
# the status file says the ring is lag= bytes; DIR's filesystem never holds
# more than lag= (the window, 16M, fits in spill-memory= and does not
# spill), sampled all through the run; both outputs are exactly the image.
# And streams only with lag= and no spill= are refused at start.

source ./functions.sh
requires_root
requires nbdcopy --version
requires pv --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

refused streams-no-spill \
    'lag=32M: every destination is a stream, so there is none to catch up from: add spill=DIR to keep the stream for the laggards (at most lag= bytes), or leave lag= out' \
    cmd='cat > /dev/null' cmd='cat > refused.out' size=96M lag=32M

make_random src.img 96M 4
mount_small_tmpfs spill 256M
start_fifo_reader fifo out1
start_status_recorder s.json snaps.jsonl spill
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo cmd='pv -q -L 20m > out2' size=96M window=16M \
    spill=spill lag=32M status=s.json \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit.err
cat nbdkit.err
wait_fifo_reader
wait "$status_recorder_pid"

check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert s["lag"] == 32 * MiB, s["lag"]
assert 0 < s["catch_up_log_bytes"] <= 32 * MiB, s["catch_up_log_bytes"]
fifo, cmd = d["fifo"], d["cmd=pv -q -L 20m > out2"]
for x in (fifo, cmd):
    assert x["state"] == "done", x
    assert x["bytes"] == 96 * MiB, x
    assert x["error"] is None, x
assert cmd["fell_behind"] >= 1, cmd
assert cmd["caught_up_bytes"] > 0, cmd
PYEOF
check_snapshots snaps.jsonl <<'PYEOF'
cmd = "cmd=pv -q -L 20m > out2"
assert any(dests(s)["fifo"]["state"] == "done" and
           dests(s)[cmd]["state"] == "behind" and dests(s)[cmd]["behind_bytes"] > 0
           for s in snaps), "no snapshot with the FIFO done and the command behind"
peak = max(s["dir_used_bytes"] for s in snaps)
print("peak use of the spill directory's filesystem: %d bytes (%.2f MiB)" % (peak, peak / MiB))
# The ring, and a little for the tmpfs's own blocks.
assert peak <= 32 * MiB + 1 * MiB, peak
# It was in use: the ring lives there.
assert peak > 0, peak
PYEOF
grep -F 'fanout: 2 of 2 destinations done, 0 failed' nbdkit.err
cmp src.img out1
cmp src.img out2
