#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: failure isolation.  The reader of a FIFO goes away after
# 32 MiB (head -c 32M); that destination fails with EPIPE at once and the
# two files next to it go on and receive the whole image.  nbdcopy succeeds
# (on-error=continue, quorum=1), but nbdkit exits 1 because a destination
# failed; the status file and the summary say which one and why.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 256M 1
start_quitting_fifo_reader fifo 32M fifo.out

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=ok1.img dest=fifo dest=ok2.img size=256M status=s.json \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> nbdkit.err || status=$?
cat nbdkit.err
wait_fifo_reader

# The client saw no error; nbdkit reports the failed destination.
test "$(cat nbdcopy.rc)" -eq 0
test "$status" -eq 1

# The healthy destinations hold the image; the FIFO got its 32 MiB.
cmp src.img ok1.img
cmp src.img ok2.img
head -c 32M src.img | cmp - fifo.out

# The status file, written at the end.  bytes is what the pipe accepted
# before the reader left: 32 MiB, plus at most the pipe's buffer (the plugin
# asks for 1 MiB), and the failure is at that stream position.
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert s["size"] == 256 * MiB
assert s["committed"] == 256 * MiB, s["committed"]
d = {x["name"]: x for x in s["destinations"]}
assert [x["name"] for x in s["destinations"]] == ["ok1.img", "fifo", "ok2.img"]

fifo = d["fifo"]
assert fifo["kind"] == "fifo", fifo
assert fifo["state"] == "failed", fifo
assert fifo["errno"] == "EPIPE", fifo
assert "Broken pipe" in fifo["error"], fifo
assert 32 * MiB <= fifo["bytes"] <= 33 * MiB, fifo["bytes"]
assert fifo["offset"] == fifo["bytes"], fifo
assert str(fifo["offset"]) in fifo["error"], fifo
assert fifo["exit_status"] is None, fifo

for name in ("ok1.img", "ok2.img"):
    x = d[name]
    assert x["kind"] == "file", x
    assert x["state"] == "done", x
    assert x["bytes"] == 256 * MiB, x
    assert x["error"] is None and x["errno"] is None and x["offset"] is None, x
    # The FIFO detached when its reader left, long before the files ended.
    assert fifo["elapsed"] < 0.75 * x["elapsed"], (fifo, x)
PYEOF

# The failure is logged once, as an error.
test "$(grep -c 'error: fifo: write: Broken pipe' nbdkit.err)" -eq 1

# The summary: a header, one line per destination, the totals.
grep -E 'fanout: destination +kind +state +bytes +time +rate +error$' nbdkit.err
grep -E 'fanout: ok1\.img +file +done +268435456 .* -$' nbdkit.err
grep -E 'fanout: ok2\.img +file +done +268435456 .* -$' nbdkit.err
grep -E 'fanout: fifo +fifo +failed +[0-9]+ .*Broken pipe' nbdkit.err
grep -F 'fanout: 2 of 3 destinations done, 1 failed: 256.0 MiB export (268435456 bytes) in ' \
    nbdkit.err
