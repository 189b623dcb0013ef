#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: an NBD server that requires TLS (nbdkit --tls=require with
# a pre-shared key), written through an nbds+unix:// URI naming the key
# file in its query string: the server must hold the image.  A plain
# nbd+unix:// URI to the same server is refused at start, naming the dest=.

source ./functions.sh
requires nbdcopy --version
requires nbdkit memory --version
requires /usr/bin/python3 -c 'import nbd, sys; sys.exit(0 if nbd.NBD().supports_tls() else 1)'
set -e
set -x

make_tmpdir

# username:hex key, the format of psktool(1) and nbdkit --tls-psk.
echo "alice:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > keys.psk
chmod 600 keys.psk
start_nbd_server t.pid nbdkit -f -P t.pid -U "$tmp/t" --tls=require --tls-psk="$tmp/keys.psk" \
    memory 32M
make_random src.img 32M 15

uri="nbds+unix://alice@/?socket=$tmp/t&tls-psk-file=$tmp/keys.psk"
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$uri" dest=local.img status=s.json \
    --run 'nbdcopy src.img "$uri"'
nbdcopy "$uri" readback.img
cmp src.img readback.img
cmp src.img local.img
check_status_json s.json <<PYEOF
assert d["$uri"]["kind"] == "nbd"
assert d["$uri"]["state"] == "done"
PYEOF

# Without TLS the server refuses to talk: one error line naming the dest=.
status=0
FANOUT_NBDKIT_TIMEOUT=30 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=$tmp/t" size=1M --run 'touch ran' 2> plain.err || status=$?
cat plain.err
test "$status" -ne 0
test "$status" -ne 124
test ! -e ran
test "$(grep -c -F "error: dest=nbd+unix:///?socket=$tmp/t: cannot connect: " plain.err)" -eq 1
