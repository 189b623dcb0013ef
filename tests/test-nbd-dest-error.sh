#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: an NBD server that starts failing writes (EIO from nbdkit's
# error filter, switched on by a trigger file created in the middle of the
# copy) fails that destination only: the other servers and the file hold
# exactly the image, nothing hangs, the status file and the summary say
# which destination failed and where, and nbdkit exits 1.

source ./functions.sh
requires nbdcopy --version
requires nbdkit memory --version
requires nbdkit --filter=error memory --version
set -e
set -x

make_tmpdir

for i in 1 2; do
    start_nbd_server r$i.pid nbdkit -f -P r$i.pid -U "$tmp/R$i" memory 256M
done
start_nbd_server r3.pid nbdkit -f -P r3.pid -U "$tmp/R3" --filter=error memory 256M \
    error-pwrite-rate=100% error-pwrite-file="$tmp/TRIGGER"
make_random src.img 256M 8

# nbdcopy reads the image from a pipe that creates TRIGGER after the first
# 64 MiB: every write after that fails on R3.
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=$tmp/R1" \
    dest="nbd+unix:///?socket=$tmp/R2" \
    dest="nbd+unix:///?socket=$tmp/R3" \
    dest=local.img status=s.json \
    --run '{ head -c 64M src.img; touch TRIGGER; tail -c +67108865 src.img; } |
           nbdcopy - "$uri"' 2> nbdkit.err || status=$?
cat nbdkit.err
test "$status" -ne 124   # no hang
test "$status" -eq 1
test -e TRIGGER

for i in 1 2; do
    nbdcopy "nbd+unix:///?socket=$tmp/R$i" r$i.img
    cmp src.img r$i.img
done
cmp src.img local.img

r3="nbd+unix:///?socket=$tmp/R3"
check_status_json s.json <<PYEOF
r = d["$r3"]
assert r["kind"] == "nbd", r
assert r["state"] == "failed", r
assert r["errno"] == "EIO", r
assert r["error"].startswith("$r3: write at offset "), r
assert r["error"].endswith(": Input/output error"), r
for n in ("nbd+unix:///?socket=$tmp/R1", "nbd+unix:///?socket=$tmp/R2", "local.img"):
    assert d[n]["state"] == "done", d[n]
PYEOF
grep -F "3 of 4 destinations done, 1 failed" nbdkit.err
grep -E "error: $(printf '%s' "$r3" | sed 's/[][\.*^$?+(){}|/]/\\&/g'): write at offset [0-9]+: Input/output error" nbdkit.err
