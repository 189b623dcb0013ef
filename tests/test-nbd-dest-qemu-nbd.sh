#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: qemu-nbd as a destination (a raw image behind it), beside
# a local file: both must hold exactly the source.  qemu-nbd needs
# --persistent: the fanout connects once at start to learn the size and
# again to write.

source ./functions.sh
requires nbdcopy --version
requires qemu-nbd --version
set -e
set -x

make_tmpdir

truncate -s 64M q.img
start_nbd_server q.pid qemu-nbd --persistent --pid-file="$tmp/q.pid" -k "$tmp/q" -f raw \
    "$tmp/q.img"
make_random src.img 64M 13

fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="nbd+unix:///?socket=$tmp/q" dest=local.img \
    status=s.json --run 'nbdcopy src.img "$uri"'
nbdcopy "nbd+unix:///?socket=$tmp/q" readback.img
cmp src.img readback.img
kill "$server_pid"
wait "$server_pid" || true
cmp src.img q.img
cmp src.img local.img
check_status_json s.json <<PYEOF
assert d["nbd+unix:///?socket=$tmp/q"]["kind"] == "nbd"
assert d["nbd+unix:///?socket=$tmp/q"]["state"] == "done"
PYEOF
