#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: status=FILE.  Written at start and at least once a second
# while nbdkit runs (state "running", every destination "writing", counts
# that only grow), replaced atomically (a new file renamed over the old one:
# every read parses, and the inode changes), and written a last time at the
# end (state "finished", every destination "done" with bytes == size).  A
# FIFO read by pv -L 32M slows nbdcopy down to a few seconds.

source ./functions.sh
requires nbdcopy --version
requires pv --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 96M 9
start_slow_fifo_reader fifo 32M fifo.out

start_nbdkit -P nbdkit.pid -U nbdkit.sock "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=96M window=16M bucket=4M buckets=2 status=s.json \
    2> nbdkit.err

# Before any request: the file is there within a second or two.
for (( i = 0; i < 30; i++ )); do
    [ -s s.json ] && break
    sleep 0.1
done
check_status_json s.json <<'PYEOF'
assert s["state"] == "running", s
assert s["size"] == 96 * 1024 * 1024, s
assert s["committed"] == 0, s
assert [d["name"] for d in s["destinations"]] == ["fifo", "file.img"], s
assert [d["kind"] for d in s["destinations"]] == ["fifo", "file"], s
for d in s["destinations"]:
    assert d["state"] == "writing", d
    assert d["bytes"] == 0, d
    for k in ("error", "errno", "offset", "exit_status"):
        assert d[k] is None, d
PYEOF

# The copy, watched: the status file is read over and over while it runs.
timeout 120 nbdcopy src.img "nbd+unix:///?socket=nbdkit.sock" &
copy=$!
cleanup_fn _kill_job "$copy"

cat > watch.py <<'PYEOF'
import json
import os
import sys
import time

SIZE = 96 * 1024 * 1024
copy_pid = int(sys.argv[1])

def copy_running():
    try:
        with open("/proc/%d/stat" % copy_pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False

reads = 0
inodes = set()
seen = []          # (time read, elapsed in the file), one per new version
last = None
start = time.monotonic()
# Until the copy is over, and for at least 3 s (the file must be rewritten
# even while nothing happens).
while copy_running() or reads < 50 or time.monotonic() - start < 3:
    # Every read must find a complete file: never missing, never empty,
    # never half-written.
    with open("s.json") as f:
        ino = os.fstat(f.fileno()).st_ino
        text = f.read()
    try:
        s = json.loads(text)
    except ValueError as e:
        raise AssertionError("read %d: not JSON (%s): %r" % (reads, e, text))
    reads += 1
    inodes.add(ino)
    assert s["state"] == "running", s
    assert s["size"] == SIZE, s
    assert 0 <= s["committed"] <= SIZE, s
    assert [d["name"] for d in s["destinations"]] == ["fifo", "file.img"], s
    for d in s["destinations"]:
        assert d["state"] == "writing", d
        assert d["error"] is None, d
    if last is None or s["elapsed"] != last["elapsed"]:
        if last is not None:
            # Nothing goes backwards.
            assert s["elapsed"] > last["elapsed"], (last, s)
            assert s["committed"] >= last["committed"], (last, s)
            for a, b in zip(last["destinations"], s["destinations"]):
                assert b["bytes"] >= a["bytes"], (a, b)
        seen.append((time.monotonic(), s["elapsed"]))
        last = s
    time.sleep(0.01)

print("%d reads, %d versions, %d inodes" % (reads, len(seen), len(inodes)))
print("last version seen:", json.dumps(last, indent=2))
# 3 s or more: several versions, each a new file (renamed over the old
# one), not the same file rewritten in place.
assert len(seen) >= 3, seen
assert len(inodes) >= 3, inodes
# At least once a second (with some slack for a loaded machine).
for (t0, _), (t1, _) in zip(seen, seen[1:]):
    assert t1 - t0 < 2.5, seen
# Some of the image was on its way while the copy ran.
assert last["committed"] > 0 or any(d["bytes"] > 0 for d in last["destinations"]), last
PYEOF
/usr/bin/python3 watch.py "$copy"
wait "$copy"

# nbdcopy has finished, nbdkit has not: still running.
/usr/bin/python3 -c '
import json
s = json.load(open("s.json"))
assert s["state"] == "running", s
'

stop_nbdkit nbdkit.pid
cat nbdkit.err
wait_fifo_reader
cmp src.img file.img
cmp src.img fifo.out

check_status_json s.json <<'PYEOF'
import os

SIZE = 96 * 1024 * 1024
assert s["state"] == "finished", s
assert s["size"] == SIZE and s["committed"] == SIZE, s
assert s["elapsed"] > 0, s
for d in s["destinations"]:
    assert d["state"] == "done", d
    assert d["bytes"] == SIZE, d
    assert d["elapsed"] > 0 and d["rate"] > 0, d
    for k in ("error", "errno", "offset", "exit_status"):
        assert d[k] is None, d
# No temporary file left beside it.
assert sorted(n for n in os.listdir(".") if n.startswith("s.json")) == ["s.json"], os.listdir(".")
PYEOF
