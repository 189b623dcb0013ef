#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: an NBD server killed (SIGKILL) in the middle of the copy
# fails that destination only, at once: the commands it had in flight
# complete with an error instead of waiting for replies that cannot come.
# The other server and the file hold exactly the image, nbdkit exits 1, and
# the failure names the URI.

source ./functions.sh
requires nbdcopy --version
requires nbdkit memory --version
set -e
set -x

make_tmpdir

start_nbd_server r1.pid nbdkit -f -P r1.pid -U "$tmp/R1" memory 128M
start_nbd_server r2.pid nbdkit -f -P r2.pid -U "$tmp/R2" memory 128M
victim="$server_pid"
make_random src.img 128M 9

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=$tmp/R1" \
    dest="nbd+unix:///?socket=$tmp/R2" \
    dest=local.img status=s.json \
    --run "{ head -c 48M src.img; kill -KILL $victim; tail -c +50331649 src.img; } |
           nbdcopy - \"\$uri\"" 2> nbdkit.err || status=$?
cat nbdkit.err
test "$status" -ne 124   # no hang
test "$status" -eq 1

nbdcopy "nbd+unix:///?socket=$tmp/R1" r1.img
cmp src.img r1.img
cmp src.img local.img

r2="nbd+unix:///?socket=$tmp/R2"
check_status_json s.json <<PYEOF
r = d["$r2"]
assert r["kind"] == "nbd", r
assert r["state"] == "failed", r
assert r["error"].startswith("$r2: "), r
assert d["nbd+unix:///?socket=$tmp/R1"]["state"] == "done"
assert d["local.img"]["state"] == "done"
PYEOF
grep -F "2 of 3 destinations done, 1 failed" nbdkit.err
grep -F "error: $r2: " nbdkit.err
