#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: failure isolation.  One destination is a file on a 64 MiB
# tmpfs, too small for the 256 MiB image: it fails with ENOSPC and the file
# next to it still receives the whole image.  nbdcopy succeeds, nbdkit
# exits 1, and the status file and the summary name the full disk.

source ./functions.sh
requires_root
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

mount_small_tmpfs small 64M

make_random src.img 256M 2

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=ok.img dest=small/full.img size=256M status=s.json \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> nbdkit.err || status=$?
cat nbdkit.err

test "$(cat nbdcopy.rc)" -eq 0
test "$status" -eq 1
cmp src.img ok.img

check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert s["size"] == 256 * MiB
d = {x["name"]: x for x in s["destinations"]}
assert sorted(d) == ["ok.img", "small/full.img"], sorted(d)

full = d["small/full.img"]
assert full["kind"] == "file", full
assert full["state"] == "failed", full
assert full["errno"] == "ENOSPC", full
assert "No space left on device" in full["error"], full
assert "small/full.img" in full["error"], full
# It failed where the disk ran out, not at the end.
assert full["offset"] is not None and full["offset"] < 256 * MiB, full
assert full["bytes"] <= 64 * MiB, full
assert full["exit_status"] is None, full

ok = d["ok.img"]
assert ok["state"] == "done", ok
assert ok["bytes"] == 256 * MiB, ok
assert ok["error"] is None and ok["errno"] is None, ok
PYEOF

test "$(grep -c 'error: small/full.img: .*No space left on device' nbdkit.err)" -eq 1
grep -E 'fanout: ok\.img +file +done +268435456 .* -$' nbdkit.err
grep -E 'fanout: small/full\.img +file +failed +[0-9]+ .*No space left on device' nbdkit.err
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 256.0 MiB export (268435456 bytes) in ' \
    nbdkit.err
