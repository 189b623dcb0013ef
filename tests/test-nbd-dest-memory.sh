#!/usr/bin/env bash
# nbdkit-fanout: NBD servers as destinations.  Three `nbdkit memory 256M`
# servers on Unix sockets and a local file; no size=: the export's size
# comes from the servers.  nbdcopy writes a 256 MiB image; every server and
# the file must hold exactly it, and reading through the fanout (from the
# servers, over the live connections) must return it too.

source $srcdir/functions.sh
requires nbdcopy --version
requires nbdkit memory --version
set -e
set -x

make_tmpdir

for i in 1 2 3; do
    start_nbd_server r$i.pid nbdkit -f -P r$i.pid -U "$tmp/R$i" memory 256M
done
make_random src.img 256M 7

fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=$tmp/R1" \
    dest="nbd+unix:///?socket=$tmp/R2" \
    dest="nbd+unix:///?socket=$tmp/R3" \
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
    r = d["nbd+unix:///?socket=$tmp/R%d" % i]
    assert r["kind"] == "nbd", r
    assert r["state"] == "done", r
    assert r["bytes"] >= 256 * MiB, r
assert d["local.img"]["kind"] == "file"
assert d["local.img"]["state"] == "done"
PYEOF
grep -F "4 of 4 destinations done, 0 failed" nbdkit.err
