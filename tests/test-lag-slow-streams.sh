#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: lag= lets two slow streams fall behind while two files
# keep up with nbdcopy.  dest=a.img dest=b.img (tmpfs where there is room),
# a command and a FIFO reader that each take 20 MB/s (pv -L), lag= the
# whole export: the status file shows both files done while a stream is
# still behind; both streams fell behind and caught up from the files; all
# four hold exactly the image and nbdkit exits 0.  The same run with the
# default lag=0 stays in lock-step: nothing ever falls behind.  window=16M:
# the default window would hold the whole 64 MiB image, and nobody would
# ever wait for the streams.

source ./functions.sh
requires nbdcopy --version
requires pv --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

# The files are written at memory speed (this test's ~400 MiB).
make_memory_tmpdir

make_random src.img 64M 14

# run LAG: one run into a.img b.img c.img (the command) fifo.out (the FIFO),
# in directory lag-LAG, recording the status file's snapshots.
run ()
{
    local lag="$1"
    mkdir "lag-$lag"
    cd "lag-$lag"
    start_slow_fifo_reader fifo 20m fifo.out
    start_status_recorder s.json snaps.jsonl
    fanout_nbdkit -U - "$FANOUT_PLUGIN" \
        dest=a.img dest=b.img cmd='pv -q -L 20m > c.img' dest=fifo \
        size=64M window=16M lag="$lag" status=s.json \
        --run 'nbdcopy ../src.img "$uri"' 2> nbdkit.err
    cat nbdkit.err
    wait_fifo_reader
    wait "$status_recorder_pid"
    for f in a.img b.img c.img fifo.out; do
        cmp ../src.img "$f"
    done
    cd ..
}

run 64M

cd lag-64M
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert s["lag"] == 64 * MiB, s["lag"]
# Two files to catch up from: no catch-up log.
assert s["catch_up_log_bytes"] == 0, s["catch_up_log_bytes"]
assert sorted(d) == ["a.img", "b.img", "cmd=pv -q -L 20m > c.img", "fifo"], sorted(d)
for name, x in d.items():
    assert x["state"] == "done", x
    assert x["bytes"] == 64 * MiB, x
    assert x["error"] is None, x
    assert x["behind_bytes"] is None, x
for name in ("fifo", "cmd=pv -q -L 20m > c.img"):
    assert d[name]["fell_behind"] >= 1, d[name]
    assert d[name]["caught_up_bytes"] > 0, d[name]
PYEOF
check_snapshots snaps.jsonl <<'PYEOF'
streams = ("fifo", "cmd=pv -q -L 20m > c.img")
seen = None
for snap in snaps:
    x = dests(snap)
    if (x["a.img"]["state"] == "done" and x["b.img"]["state"] == "done" and
            any(x[n]["state"] == "behind" and x[n]["behind_bytes"] > 0
                for n in streams)):
        seen = snap
        break
assert seen is not None, "no snapshot with both files done and a stream behind"
print(json.dumps(seen, indent=2))
# A destination "behind" is never "done" at the same time, and the files
# were done with every byte.
for n in ("a.img", "b.img"):
    assert dests(seen)[n]["bytes"] == 64 * MiB, dests(seen)[n]
PYEOF
grep -F 'fanout: 4 of 4 destinations done, 0 failed' nbdkit.err
cd ..

# Lock-step (lag=0, the default): the same destinations, nothing lets go.
run 0
cd lag-0
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert s["lag"] == 0, s["lag"]
for name, x in d.items():
    assert x["state"] == "done", x
    assert x["fell_behind"] == 0, x
    assert x["caught_up_bytes"] == 0, x
PYEOF
check_snapshots snaps.jsonl <<'PYEOF'
for snap in snaps:
    for x in snap["destinations"]:
        assert x["state"] != "behind", x
        assert x["behind_bytes"] is None, x
        assert x["fell_behind"] == 0, x
PYEOF
