#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: the image's SHA-256 comes from a destination that holds
# the image even when the first one read back does not.  Two files; the
# client changes the first, e.img, behind the plugin's back.  Without
# verify=, and (1) while the digest follower reads back what came out of
# order (written back to front), (2) at the end of the stream, after the
# follower gave up (a page rewritten behind it).  Either way the digest is
# the image's, read from f.img, e.img is reported a "mismatch" at the page
# that differs, f.img stays "done", and nbdkit exits 1.

source ./functions.sh
requires nbdsh --version
requires sha256sum --version
set -e
set -x

make_tmpdir

make_random small.img 32M 61
digest="$(sha256sum < small.img | cut -d' ' -f1)"
at=$(( 20 * 1024 * 1024 + 4096 * 3 ))

# run NAME CLIENT: the client (Python, libnbd's h, the image in d) runs
# against dest=e.img dest=f.img.
run ()
{
    local name="$1" client="$2" status=0
    rm -f e.img f.img
    FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -v -U - "$FANOUT_PLUGIN" \
        dest=e.img dest=f.img size=32M status="$name.json" \
        --run "nbdsh -u \"\$uri\" -c 'd = open(\"small.img\", \"rb\").read()
$client'" 2> "$name.err" || status=$?
    grep -v 'debug:' "$name.err" || true
    test "$status" -eq 1
    cmp small.img f.img
    check_status_json "$name.json" <<PYEOF
assert s["state"] == "finished", s
assert s["sha256"] == "$digest", s
e = d["e.img"]
assert e["state"] == "mismatch" and e["offset"] == $at, e
assert "e.img" in e["error"] and "$at" in e["error"], e
assert d["f.img"]["state"] == "done", d["f.img"]
PYEOF
    grep -F "e.img: verify: differs from the image in the 4 KiB page at offset $at" "$name.err"
    grep -E "fanout: e\.img +file +mismatch " "$name.err"
    grep -E "fanout: f\.img +file +done " "$name.err"
    grep -F "fanout: sha256 $digest" "$name.err"
}

# (1) The back half first: it is read back for the digest once the front
# half is committed, after e.img was changed in it.
run follower "
h.pwrite(d[16 << 20:], 16 << 20)
h.flush()
with open(\"e.img\", \"r+b\") as f:
    f.seek($at)
    f.write(b\"XXXXXXXX\")
h.pwrite(d[:16 << 20], 0)
h.flush()"
grep -F 'debug: sha256: hashed while written' follower.err

# (2) In order, then e.img changed, then the first page written again (the
# same bytes): the follower gives up, and the digest is read back at the end.
run end "
h.pwrite(d, 0)
h.flush()
with open(\"e.img\", \"r+b\") as f:
    f.seek($at)
    f.write(b\"XXXXXXXX\")
h.pwrite(d[:4096], 0)
h.flush()"
grep -F 'debug: sha256: not hashed while written' end.err
