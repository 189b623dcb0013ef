#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: the status file's heartbeat.  While nbdkit runs, the file
# carries its pid, "updated" (rewritten every second) and "last_write" (the
# time of the client's last write).  After kill -9 of nbdkit the file stays
# "running" for ever: the heartbeat is how a reader tells the run is dead
# (the pid is gone, "updated" goes stale).

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

start_nbdkit -P pid -U sock "$FANOUT_PLUGIN" a.img size=8M status=s.json 2> nbdkit.err
pid=$(cat pid)
before=$(date +%s.%N)
nbdsh -u "nbd+unix:///?socket=sock" -c 'h.pwrite(b"\x44" * 65536, 0)'
after=$(date +%s.%N)
sleep 2.2

check_status_json s.json <<PYEOF
import time
assert s["state"] == "running", s["state"]
assert s["pid"] == $pid, s
assert $before - 0.01 <= s["last_write"] <= $after + 0.01, s
# Rewritten at least once a second.
assert time.time() - s["updated"] < 2, (time.time(), s["updated"])
assert s["updated"] > s["last_write"] + 1, s
PYEOF

kill -KILL "$pid"
wait "$pid" || true
sleep 1.5
check_status_json s.json <<'PYEOF'
import os, time
assert s["state"] == "running", s["state"]
# The writer is gone: a reader tells the run is dead.
try:
    os.kill(s["pid"], 0)
    raise AssertionError("pid %d still exists" % s["pid"])
except ProcessLookupError:
    pass
assert time.time() - s["updated"] > 1.2, (time.time(), s["updated"])
PYEOF
