#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: verify=true reads NBD destinations back.  Two `nbdkit
# memory` servers and a local file; nbdcopy writes a 256 MiB image through
# a fanout server; then 8 bytes at 130 MiB are changed on the second NBD
# server behind the fanout's back (a client of its own); then the fanout is
# stopped: R1 and the file are verified, R2 is a mismatch at that page, and
# nbdkit exits 1.

source ./functions.sh
requires nbdcopy --version
requires nbdsh --version
requires nbdkit memory --version
requires sha256sum --version
set -e
set -x

make_tmpdir
for i in 1 2; do
    start_nbd_server r$i.pid nbdkit -f -P r$i.pid -U R$i memory 256M
done
make_random src.img 256M 61
digest="$(sha256sum < src.img | cut -d' ' -f1)"
at=$(( 130 * 1024 * 1024 ))

start_nbdkit -P nbdkit.pid -U nbdkit.sock "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=R1" dest="nbd+unix:///?socket=R2" dest=local.img \
    verify=true status=s.json 2> nbdkit.err
timeout 60 nbdcopy src.img "nbd+unix:///?socket=nbdkit.sock"
nbdsh -u "nbd+unix:///?socket=R2" -c "h.pwrite(b'XXXXXXXX', $at)"
status=0
stop_nbdkit nbdkit.pid || status=$?
cat nbdkit.err
test "$status" -eq 1
check_status_json s.json <<PYEOF
assert s["state"] == "finished", s
assert s["sha256"] == "$digest", s
assert d["nbd+unix:///?socket=R1"]["state"] == "verified", d
assert d["local.img"]["state"] == "verified", d
m = d["nbd+unix:///?socket=R2"]
assert m["state"] == "mismatch", m
assert m["offset"] == $at, m
PYEOF
grep -F "differs from the image in the 4 KiB page at offset $at" nbdkit.err
