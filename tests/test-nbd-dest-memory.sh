#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: NBD servers as destinations.  Three `nbdkit memory 256M`
# servers on Unix sockets (relative paths, as a user types them) and a
# local file; no size=: the export's size comes from the servers.  nbdcopy
# writes a 256 MiB image; every server and the file must hold exactly it,
# and reading through the fanout (from the servers, over the live
# connections) must return it too.  Then the same in nbdkit's background
# mode, where it changes to / after the relative socket paths were given.

source ./functions.sh
requires nbdcopy --version
requires nbdkit memory --version
set -e
set -x

make_tmpdir

for i in 1 2 3; do
    start_nbd_server r$i.pid nbdkit -f -P r$i.pid -U R$i memory 256M
done
make_random src.img 256M 7

fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=R1" \
    dest="nbd+unix:///?socket=R2" \
    dest="nbd+unix:///?socket=R3" \
    dest=local.img status=s.json \
    --run 'nbdsh -u "$uri" -c "assert h.get_size() == 256 * 1024 * 1024" &&
           nbdcopy src.img "$uri" && nbdcopy "$uri" through.img' 2> nbdkit.err
cat nbdkit.err

for i in 1 2 3; do
    nbdcopy "nbd+unix:///?socket=$tmp/R$i" r$i.img
    cmp src.img r$i.img
done
cmp src.img local.img
cmp src.img through.img

check_status_json s.json <<PYEOF
assert s["size"] == 256 * MiB
for i in (1, 2, 3):
    r = d["nbd+unix:///?socket=R%d" % i]
    assert r["kind"] == "nbd", r
    assert r["state"] == "done", r
    assert r["bytes"] >= 256 * MiB, r
assert d["local.img"]["kind"] == "file"
assert d["local.img"]["state"] == "done"
PYEOF
grep -F "4 of 4 destinations done, 0 failed" nbdkit.err

# Background mode: nbdkit forks and changes to / before the writers connect.
for i in 1 2 3; do
    nbdsh -u "nbd+unix:///?socket=R$i" -c "h.zero(h.get_size(), 0)"
done
rm -f local.img
fanout_nbdkit -P "$tmp/bg.pid" -U "$tmp/bg.sock" "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=R1" dest="nbd+unix:///?socket=R2" \
    dest="nbd+unix:///?socket=R3" dest=local.img status="$tmp/bg.json"
# The pidfile comes from the forked server, perhaps after the parent exits.
for (( i = 0; i < 300; i++ )); do
    test -s bg.pid && break
    sleep 0.1
done
bg="$(cat bg.pid)"
cleanup_fn kill "$bg"
nbdcopy src.img "nbd+unix:///?socket=$tmp/bg.sock"
kill "$bg"
for (( i = 0; i < 600; i++ )); do
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$bg" 2>/dev/null; then echo "$0:76: this must be false: kill -0 '$bg' 2>/dev/null" >&2; exit 1; fi
for i in 1 2 3; do
    nbdcopy "nbd+unix:///?socket=$tmp/R$i" r$i.img
    cmp src.img r$i.img
done
cmp src.img local.img
check_status_json bg.json <<'PYEOF'
assert s["state"] == "finished"
assert [x["state"] for x in s["destinations"]] == ["done"] * 4
PYEOF
