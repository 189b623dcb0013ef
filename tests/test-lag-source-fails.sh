#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: lag= when the catch-up source fails mid-run.  A slow NBD
# memory server (the rate filter, 20 MB/s) falls behind two files while
# nbdcopy writes 64 MiB.
#
# 1. Both files are on 32 MiB tmpfs mounts: once both fail, the laggard has
#    nothing to catch up from and fails with "lost its catch-up source";
#    every destination is reported failed, none done; nbdkit exits 1.
# 2. The first source is an NBD memory server whose reads all fail (the
#    error filter): it fails "(reading for the catch-up of ...)", the file
#    takes over, and the laggard ends identical.
# 3. One file is on a 32 MiB tmpfs and fails with ENOSPC: the laggard
#    catches up from the other file and ends identical to it; nbdkit exits
#    1 (a destination failed), naming the full disk.

source ./functions.sh
requires_root
requires nbdkit --filter=rate memory --version
requires nbdkit --filter=error memory --version
requires nbdcopy --version
requires pv --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

# The files that do not run out of space are on tmpfs too, as fast as the
# small ones.
make_memory_tmpdir

make_random src.img 64M 3

# slow_server NAME: a 64 MiB memory server at NAME.sock that takes 20 MB/s
# (the rate filter counts bits) with a short burst; NAME.rate lets the test
# read it back at full speed afterwards (read_back NAME: into NAME.img).
slow_server ()
{
    echo 160M > "$1.rate"
    start_nbd_server "$1.pid" nbdkit -f -P "$1.pid" -U "$1.sock" \
        --filter=rate memory 64M rate=160M rate-file="$tmp/$1.rate" burstiness=0.2
}
read_back ()
{
    echo 100G > "$1.rate.new"
    mv "$1.rate.new" "$1.rate"
    nbdcopy "nbd+unix:///?socket=$tmp/$1.sock" "$1.img"
}

# 1. Both files run out of space: the laggard loses its catch-up source.
# The client is paced (40 MB/s) so that the slow server has fallen behind
# (it is let go once it has been behind for a moment) before they do.
mount_small_tmpfs small2a 32M
mount_small_tmpfs small2b 32M
slow_server slow2
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=small2a/a.img dest=small2b/b.img dest="nbd+unix:///?socket=slow2.sock" \
    lag=64M status=s2.json \
    --run 'pv -q -L 40m src.img | nbdcopy - "$uri"; rc=$?; echo $rc > nbdcopy2.rc; exit $rc' \
    2> nbdkit2.err || status=$?
cat nbdkit2.err
# (The client may well have succeeded: its writes fit in the window before
# the failures.)
cat nbdcopy2.rc
test "$status" -eq 1

check_status_json s2.json <<'PYEOF'
import re
a, b, slow = d["small2a/a.img"], d["small2b/b.img"], d["nbd+unix:///?socket=slow2.sock"]
# Each file fails with ENOSPC, or, if it was itself behind the other when
# that one failed, loses its catch-up source; one at least ran out of space.
for x in (a, b):
    assert x["state"] == "failed", x
    assert (x["errno"] == "ENOSPC" or
            x["error"].startswith(x["name"] + ": lost its catch-up source: ")), x
assert "ENOSPC" in (a["errno"], b["errno"]), (a, b)
for x in s["destinations"]:
    assert x["state"] == "failed", x
assert re.fullmatch(r"nbd\+unix:///\?socket=slow2\.sock: lost its catch-up source: "
                    r"no healthy seekable destination in step holds the ranges it "
                    r"missed \(([0-9]+) bytes behind\)", slow["error"]), slow
behind = int(re.search(r"\(([0-9]+) bytes behind\)", slow["error"]).group(1))
assert 0 < behind <= 64 * MiB, behind
# It really was behind: it holds less than the image.
assert slow["bytes"] < 64 * MiB, slow
assert slow["fell_behind"] >= 1, slow
PYEOF
test "$(grep -c 'error: nbd+unix:///?socket=slow2.sock: lost its catch-up source: no healthy seekable destination in step holds the ranges it missed ([0-9]* bytes behind)' nbdkit2.err)" -eq 1
grep -F 'fanout: 0 of 3 destinations done, 3 failed' nbdkit2.err
# The run's last word: the failures, or, if the client saw them (its
# requests refused once no destination was healthy), its --run exit.
tail -1 nbdkit2.err | grep -Fx -e 'nbdkit: error: 3 of 3 destinations failed' \
    -e 'nbdkit: error: interrupted: the --run command exited with status 1; 3 of 3 destinations incomplete or failed'

# 2. The first catch-up source (an NBD memory server, fast) fails every
# read (the error filter): it is failed for it, and the file takes over.
# The first of equals is the source, so it is asked first.  The client is
# paced (40 MB/s, pv into nbdcopy) so that both fast destinations keep up
# with it and stay in step while the slow one catches up: this case is
# about a source in step that fails.
start_nbd_server err.pid nbdkit -f -P err.pid -U err.sock \
    --filter=error memory 64M error=EIO error-pread-rate=1
slow_server slow3
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=err.sock" dest=c.img \
    dest="nbd+unix:///?socket=slow3.sock" lag=64M status=s3.json \
    --run 'pv -q -L 40m src.img | nbdcopy - "$uri"; rc=$?; echo $rc > nbdcopy3.rc; exit $rc' \
    2> nbdkit3.err || status=$?
cat nbdkit3.err
test "$(cat nbdcopy3.rc)" -eq 0
test "$status" -eq 1
read_back slow3
cmp src.img c.img
cmp src.img slow3.img

check_status_json s3.json <<'PYEOF'
import re
e, c, slow = (d["nbd+unix:///?socket=err.sock"], d["c.img"],
              d["nbd+unix:///?socket=slow3.sock"])
assert e["state"] == "failed", e
assert e["errno"] == "EIO", e
assert re.fullmatch(r"nbd\+unix:///\?socket=err\.sock: .*Input/output error "
                    r"\(reading for the catch-up of nbd\+unix:///\?socket=slow3\.sock\)",
                    e["error"]), e
assert c["state"] == "done" and c["error"] is None, c
assert slow["state"] == "done" and slow["error"] is None, slow
assert slow["fell_behind"] >= 1 and slow["caught_up_bytes"] > 0, slow
PYEOF
test "$(grep -c ': error: ' nbdkit3.err)" -eq 2
grep -Fx 'nbdkit: error: 1 of 3 destinations failed' nbdkit3.err
grep -F 'fanout: 2 of 3 destinations done, 1 failed' nbdkit3.err

# 3. One of the two files runs out of space, while the client (paced, as
# in 2) keeps both in step.
mount_small_tmpfs small1 32M
slow_server slow1
start_status_recorder s1.json snaps1.jsonl
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=small1/a.img dest=b.img dest="nbd+unix:///?socket=slow1.sock" \
    lag=64M status=s1.json \
    --run 'pv -q -L 40m src.img | nbdcopy - "$uri"; rc=$?; echo $rc > nbdcopy1.rc; exit $rc' \
    2> nbdkit1.err || status=$?
cat nbdkit1.err
wait "$status_recorder_pid"
test "$(cat nbdcopy1.rc)" -eq 0
test "$status" -eq 1
read_back slow1
cmp src.img b.img
cmp src.img slow1.img

check_status_json s1.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
a, b, slow = d["small1/a.img"], d["b.img"], d["nbd+unix:///?socket=slow1.sock"]
assert a["state"] == "failed", a
assert a["errno"] == "ENOSPC", a
assert a["error"].startswith("small1/a.img: "), a
assert a["error"].endswith("No space left on device"), a
assert b["state"] == "done" and b["error"] is None, b
assert slow["state"] == "done" and slow["error"] is None, slow
assert slow["bytes"] >= 64 * MiB, slow
assert slow["fell_behind"] >= 1, slow
assert slow["caught_up_bytes"] > 0, slow
PYEOF
# It was still behind when the full disk had already failed.
check_snapshots snaps1.jsonl <<'PYEOF'
assert any(dests(s)["small1/a.img"]["state"] == "failed" and
           dests(s)["nbd+unix:///?socket=slow1.sock"]["state"] == "behind"
           for s in snaps), "the laggard was not behind once a.img had failed"
PYEOF
test "$(grep -c 'error: small1/a.img: .*No space left on device' nbdkit1.err)" -eq 1
test "$(grep -c ': error: ' nbdkit1.err)" -eq 2
grep -Fx 'nbdkit: error: 1 of 3 destinations failed' nbdkit1.err
grep -F 'fanout: 2 of 3 destinations done, 1 failed' nbdkit1.err
