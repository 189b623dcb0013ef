#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: nbdkit's exit status.  As a server (-f, stopped with
# SIGTERM): 1 when a destination failed (here a command that reads
# everything, then exits 3), 0 after a clean run.  With --run: the status
# of the --run command when it failed (7, 5), whether or not a destination
# failed; 1 when the command succeeded but a destination failed.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

cat > write.py <<'PYEOF'
import sys

import nbd

MiB = 1024 * 1024
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == 4 * MiB
with open("src.img", "rb") as f:
    src = f.read()
for off in range(0, 4 * MiB, MiB):
    h.pwrite(src[off:off + MiB], off)
h.flush()
h.shutdown()
PYEOF
make_random src.img 4M 12

# 1. Server mode, a command that fails at the end: exit status 1.
start_nbdkit -P a.pid -U a.sock "$FANOUT_PLUGIN" \
    cmd='cat > a.out; exit 3' dest=a.img size=4M status=a.json 2> a.err
timeout 60 /usr/bin/python3 write.py "nbd+unix:///?socket=a.sock"
status=0
stop_nbdkit a.pid || status=$?
cat a.err
test "$status" -eq 1
cmp src.img a.img
cmp src.img a.out
check_status_json a.json <<'PYEOF'
assert s["state"] == "finished", s
d = {x["name"]: x for x in s["destinations"]}
c = d["cmd=cat > a.out; exit 3"]
assert c["state"] == "failed" and c["exit_status"] == 3, c
assert "exited with status 3" in c["error"], c
assert d["a.img"]["state"] == "done", d["a.img"]
PYEOF
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 4.0 MiB export (4194304 bytes) in ' a.err

# 2. Server mode, nothing fails: exit status 0.
start_nbdkit -P b.pid -U b.sock "$FANOUT_PLUGIN" \
    cmd='cat > b.out' dest=b.img size=4M 2> b.err
timeout 60 /usr/bin/python3 write.py "nbd+unix:///?socket=b.sock"
stop_nbdkit b.pid
cat b.err
cmp src.img b.img
cmp src.img b.out
grep -F 'fanout: 2 of 2 destinations done, 0 failed: 4.0 MiB export (4194304 bytes) in ' b.err

# 3. --run: the command's own failure is kept, with destinations not failed ...
status=0
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=c.img cmd='cat > c.out' size=4M \
    --run '/usr/bin/python3 write.py "$uri" && exit 7' 2> c.err || status=$?
cat c.err
test "$status" -eq 7
# A command that fails interrupts the run: the destinations are stopped
# where they are, incomplete, whatever they had got.
grep -F 'error: interrupted: the --run command exited with status 7' c.err
grep -E 'fanout: c\.img +file +incomplete ' c.err

# ... and with a failed destination too.
status=0
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=d.img cmd='cat >/dev/null; exit 3' size=4M \
    --run '/usr/bin/python3 write.py "$uri" && exit 5' 2> d.err || status=$?
cat d.err
test "$status" -eq 5
grep -F 'error: interrupted: the --run command exited with status 5' d.err

# 4. --run: the command succeeds, a destination failed: 1.
status=0
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=e.img cmd='cat >/dev/null; exit 3' size=4M \
    --run '/usr/bin/python3 write.py "$uri"; rc=$?; echo $rc > e.rc; exit $rc' \
    2> e.err || status=$?
cat e.err
test "$(cat e.rc)" -eq 0
test "$status" -eq 1
cmp src.img e.img

# 5. --run: the command succeeds, nothing failed: 0.
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=f.img cmd='cat > f.out' size=4M \
    --run '/usr/bin/python3 write.py "$uri"'
cmp src.img f.img
cmp src.img f.out
