#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: interrupted runs in --run mode.  nbdcopy killed (SIGKILL)
# mid-copy: the run is "interrupted" with the command's status as its
# reason, the file and the FIFO are "incomplete", the FIFO's reader gets a
# short stream (no zero-fill to the full size), no SHA-256 is reported, and
# nbdkit exits non-zero.  Then a --run command that exits 3 after a partial
# copy: the same, with "exited with status 3".

source ./functions.sh
requires nbdcopy --version
requires pv --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 256M 5

# The FIFO's reader takes 32 MiB/s, so the 256 MiB copy (held back by it)
# is still running when nbdcopy is killed at 0.5 s, however fast the
# machine.
start_slow_fifo_reader f1 32M stream.out
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" a.img f1 size=256M status=s.json \
    --run 'nbdcopy --synchronous src.img "$uri" & p=$!; sleep 0.5; kill -9 $p; wait $p' \
    2> nbdkit.err || status=$?
cat nbdkit.err
wait_fifo_reader
test "$status" -ne 0
got=$(stat -c %s stream.out)
test "$got" -lt $((256 * 1024 * 1024))
# What the reader got is the image's beginning, nothing made up.
cmp -n "$got" src.img stream.out

check_status_json s.json <<'PYEOF'
assert s["state"] == "interrupted", s["state"]
assert s["interrupted"] == "the --run command exited with status 137", s["interrupted"]
assert s["sha256"] is None, s
assert s["sha256_unavailable"].startswith("the run was interrupted: "), s
for name in ("a.img", "f1"):
    x = d[name]
    assert x["state"] == "incomplete", x
    assert "incomplete, the --run command exited with status 137" in x["error"], x
    assert x["errno"] == "EINTR", x
assert d["f1"]["bytes"] < 256 * MiB, d["f1"]
assert isinstance(s["pid"], int) and isinstance(s["updated"], float), s
assert isinstance(s["last_write"], float), s
PYEOF
grep -F 'fanout: interrupted: the --run command exited with status 137' nbdkit.err
grep -E 'fanout: f1 +fifo +incomplete ' nbdkit.err
grep -E 'fanout: a\.img +file +incomplete ' nbdkit.err
grep -F 'sha256 unavailable: the run was interrupted' nbdkit.err
if grep -E '^nbdkit: fanout: sha256 [0-9a-f]{64}' nbdkit.err; then exit 1; fi

# A command that exits 3 after copying part of the image.
head -c 32M src.img > part.img
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" b.img size=256M status=s2.json \
    --run 'nbdcopy part.img "$uri" && exit 3' 2> nbdkit2.err || status=$?
cat nbdkit2.err
test "$status" -eq 3
check_status_json s2.json <<'PYEOF'
assert s["state"] == "interrupted", s["state"]
assert s["interrupted"] == "the --run command exited with status 3", s["interrupted"]
assert s["sha256"] is None, s
assert d["b.img"]["state"] == "incomplete", d["b.img"]
PYEOF
grep -F 'error: interrupted: the --run command exited with status 3' nbdkit2.err
