#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: failure isolation.  A command that stops reading after
# 10 MiB and exits 3 fails (its exit status is reported, not only the EPIPE
# we got writing to it); a command that reads everything and exits 0, and a
# file, are done and hold the image.  nbdcopy succeeds, nbdkit exits 1.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 64M 3

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    cmd='head -c 10M >/dev/null; exit 3' dest=f.img cmd='cat > c.img' \
    size=64M window=16M status=s.json \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> nbdkit.err || status=$?
cat nbdkit.err

test "$(cat nbdcopy.rc)" -eq 0
test "$status" -eq 1
cmp src.img f.img
cmp src.img c.img

check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
d = {x["name"]: x for x in s["destinations"]}
bad_name = "cmd=head -c 10M >/dev/null; exit 3"
assert sorted(d) == sorted([bad_name, "f.img", "cmd=cat > c.img"]), sorted(d)

bad = d[bad_name]
assert bad["kind"] == "command", bad
assert bad["state"] == "failed", bad
assert bad["exit_status"] == 3, bad
assert "exited with status 3" in bad["error"], bad
# It stopped reading after 10 MiB: the failure is near there, not at the
# end, at the stream position reached.
assert bad["offset"] is not None and bad["offset"] < 16 * MiB, bad
assert bad["bytes"] == bad["offset"], bad

good = d["cmd=cat > c.img"]
assert good["kind"] == "command", good
assert good["state"] == "done", good
assert good["exit_status"] == 0, good
assert good["bytes"] == 64 * MiB, good
assert good["error"] is None and good["errno"] is None and good["offset"] is None, good

f = d["f.img"]
assert f["kind"] == "file" and f["state"] == "done" and f["bytes"] == 64 * MiB, f
assert f["exit_status"] is None, f
PYEOF

test "$(grep -c 'error: cmd=head -c 10M >/dev/null; exit 3: .*exited with status 3' nbdkit.err)" -eq 1
grep -E 'fanout: cmd=head -c 10M >/dev/null; exit 3 +command +failed +[0-9]+ .*exited with status 3' \
    nbdkit.err
grep -E 'fanout: cmd=cat > c\.img +command +done +67108864 .* -$' nbdkit.err
grep -E 'fanout: f\.img +file +done +67108864 .* -$' nbdkit.err
grep -F 'fanout: 2 of 3 destinations done, 1 failed: 64.0 MiB export (67108864 bytes) in ' \
    nbdkit.err

# A command that reads everything and only then exits 3 fails too: at the
# end, from its exit status alone.
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    cmd='cat > late.img; exit 3' dest=f2.img size=64M status=s2.json \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy2.rc; exit $rc' \
    2> nbdkit2.err || status=$?
cat nbdkit2.err
test "$(cat nbdcopy2.rc)" -eq 0
test "$status" -eq 1
cmp src.img f2.img
cmp src.img late.img
check_status_json s2.json <<'PYEOF'
bad = d["cmd=cat > late.img; exit 3"]
assert bad["state"] == "failed" and bad["exit_status"] == 3, bad
assert "exited with status 3" in bad["error"], bad
assert d["f2.img"]["state"] == "done", d["f2.img"]
PYEOF
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 64.0 MiB export (67108864 bytes) in ' \
    nbdkit2.err
