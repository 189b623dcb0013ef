#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a stalled FIFO.  Its reader takes 8 MiB and then stops
# (SIGSTOP) without closing it: the writer has extents waiting and gets
# nowhere.  With stall-timeout=3 the FIFO is shown stalled (status file,
# progress lines, log), then fails with ETIMEDOUT at 3 s and detaches; the
# file next to it is done and holds the image, the client finishes, and
# nbdkit exits 1.  (Without stall-timeout= the client and the end of the
# stream waited for the reader for ever.)

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

make_random src.img 64M 1
make_hook_writer
mkfifo fifo
# The reader stops itself once it has read 8 MiB, keeping the FIFO open.
sh -c 'head -c 8M > /dev/null; kill -STOP $$; cat > /dev/null' < fifo &
reader_pid=$!
cleanup_fn kill -KILL "$reader_pid"
cleanup_fn kill -CONT "$reader_pid"

start_status_watch s.json stalled.json
status=0
start=$SECONDS
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=a.img dest=fifo size=64M status=s.json progress=true stall-timeout=3 \
    --run '/usr/bin/python3 hook_writer.py "$uri" src.img 16777216 true; echo $? > client.rc' \
    2> nbdkit.err || status=$?
elapsed=$(( SECONDS - start ))
cat nbdkit.err
wait "$status_watch_pid"

# The client finished; nbdkit says a destination failed; within the
# timeout plus a little.
test "$(cat client.rc)" -eq 0
test "$status" -eq 1
test "$elapsed" -lt 15
cmp src.img a.img

# While it waited: stalled, still writing.
check_status_json stalled.json <<'PYEOF'
assert s["state"] in ("running", "finishing"), s["state"]
assert d["fifo"]["state"] == "writing", d["fifo"]
assert d["fifo"]["stalled"] is True, d["fifo"]
assert d["fifo"]["stalled_seconds"] >= 1, d["fifo"]
assert d["a.img"]["stalled"] is False, d["a.img"]
PYEOF

# At the end: failed with ETIMEDOUT, the file done.
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
fifo = d["fifo"]
assert fifo["state"] == "failed", fifo
assert fifo["errno"] == "ETIMEDOUT", fifo
assert fifo["error"] == "fifo: no progress for 3 s (stall-timeout=3)", fifo
assert fifo["stalled"] is False and fifo["stalled_seconds"] is None, fifo
assert 8 * MiB <= fifo["bytes"] <= 10 * MiB, fifo
assert d["a.img"]["state"] == "done", d["a.img"]
assert d["a.img"]["bytes"] == 64 * MiB, d["a.img"]
PYEOF

# Logged: the stall once it began, then the failure, once, as an error.
grep -E 'fanout: fifo: no progress for [12] s$' nbdkit.err
test "$(grep -c 'error: fifo: no progress for 3 s (stall-timeout=3)$' nbdkit.err)" -eq 1
# The progress lines showed it.
grep -E 'fanout: fifo .*stalled, no progress for' nbdkit.err
grep -E 'fanout: fifo +fifo +failed .*no progress for 3 s' nbdkit.err
