#!/usr/bin/python3
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# Records what a status file (status=FILE) said during a run, for tests that
# assert an ordering ("a.img was done while the slow one was still behind")
# instead of a timing.
#
#   /usr/bin/python3 status-recorder.py STATUS OUT [DIR]
#
# Polls STATUS every 20 ms and appends every snapshot that differs from the
# one before to OUT, one JSON document a line.  With DIR, each line also
# holds "dir_used_bytes": the bytes in use on DIR's filesystem (statvfs, as
# df counts them) at that poll, and a line is written whenever that changes
# too.  It ends once the run is over: the status file says "finished" or
# "interrupted", or the nbdkit that writes it (its "pid") is gone, after one
# last read; or after 120 s whatever happens.  The plugin replaces the file
# with rename(2), so a read sees a whole document or none.

import json
import os
import sys
import time

status, out = sys.argv[1], sys.argv[2]
dirpath = sys.argv[3] if len(sys.argv) > 3 else None


def used_bytes():
    st = os.statvfs(dirpath)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            # A zombie (state Z) has exited.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def read_status():
    try:
        with open(status) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


deadline = time.monotonic() + 120
last = None
with open(out, "w") as o:
    while time.monotonic() < deadline:
        s = read_status()
        if s is None:
            time.sleep(0.02)
            continue
        if dirpath is not None:
            s["dir_used_bytes"] = used_bytes()
        if s != last:
            o.write(json.dumps(s) + "\n")
            o.flush()
            last = s
        if s["state"] in ("finished", "interrupted"):
            break
        if not pid_alive(s["pid"]):
            s = read_status()
            if s is not None and s != last:
                o.write(json.dumps(s) + "\n")
            break
        time.sleep(0.02)
