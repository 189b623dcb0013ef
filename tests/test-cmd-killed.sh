#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: failure isolation.  A command killed by SIGKILL in the
# middle of the stream fails with exit_status 137 (128 + 9) and "killed by
# signal 9"; the file next to it holds the image and nbdkit exits 1.  Two
# ways: the command kills itself after 5 MiB, and the test kills it from
# outside after it has written some of the image.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

check_killed ()
{
    /usr/bin/python3 - "$@" <<'PYEOF'
import json
import sys

status_file, name, other, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(status_file) as f:
    s = json.load(f)
print(json.dumps(s, indent=2))
assert s["state"] == "finished", s["state"]
d = {x["name"]: x for x in s["destinations"]}
assert sorted(d) == sorted([name, other]), sorted(d)
k = d[name]
assert k["kind"] == "command", k
assert k["state"] == "failed", k
assert k["exit_status"] == 137, k
assert "killed by signal 9" in k["error"], k
assert k["bytes"] < size, k
f = d[other]
assert f["state"] == "done" and f["bytes"] == size and f["error"] is None, f
PYEOF
}

make_random src.img 64M 4

# 1. The command's shell kills itself with SIGKILL after reading 5 MiB.
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    cmd='head -c 5M >/dev/null; kill -9 $$' dest=f1.img size=64M window=16M status=s1.json \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> nbdkit1.err || status=$?
cat nbdkit1.err
test "$(cat nbdcopy.rc)" -eq 0
test "$status" -eq 1
cmp src.img f1.img
check_killed s1.json 'cmd=head -c 5M >/dev/null; kill -9 $$' f1.img 67108864
test "$(grep -c 'error: cmd=head -c 5M .*killed by signal 9' nbdkit1.err)" -eq 1
grep -E 'fanout: cmd=head -c 5M >/dev/null; kill -9 \$\$ +command +failed +[0-9]+ .*killed by signal 9' \
    nbdkit1.err
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 64.0 MiB export (67108864 bytes) in ' \
    nbdkit1.err

# 2. Killed from outside: the client writes 16 MiB, waits until the
# command has written some of it, kills it with SIGKILL, then writes the
# rest of the image.  Every write succeeds.
cat > kill.py <<'PYEOF'
import os
import signal
import sys
import time

import nbd

MiB = 1024 * 1024
SIZE = 64 * MiB
with open("src.img", "rb") as f:
    src = f.read()

h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == SIZE
for off in range(0, 16 * MiB, MiB):
    h.pwrite(src[off:off + MiB], off)

deadline = time.monotonic() + 30
while not (os.path.exists("out.img") and os.path.getsize("out.img") >= MiB):
    assert time.monotonic() < deadline, "the command wrote nothing in 30 s"
    time.sleep(0.05)
with open("cmd.pid") as f:
    pid = int(f.read())
os.kill(pid, signal.SIGKILL)

for off in range(16 * MiB, SIZE, MiB):
    h.pwrite(src[off:off + MiB], off)
h.flush()
h.shutdown()
PYEOF

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    cmd='echo $$ > cmd.pid; exec cat > out.img' dest=f2.img size=64M window=8M status=s2.json \
    --run '/usr/bin/python3 kill.py "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
    2> nbdkit2.err || status=$?
cat nbdkit2.err
test "$(cat client.rc)" -eq 0
test "$status" -eq 1
cmp src.img f2.img
check_killed s2.json 'cmd=echo $$ > cmd.pid; exec cat > out.img' f2.img 67108864
# What the command wrote before it died is the start of the image.
test "$(stat -c %s out.img)" -lt 67108864
cmp -n "$(stat -c %s out.img)" src.img out.img
grep -F 'killed by signal 9' nbdkit2.err
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 64.0 MiB export (67108864 bytes) in ' \
    nbdkit2.err
