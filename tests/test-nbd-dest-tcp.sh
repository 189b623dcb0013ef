#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: NBD servers over TCP on loopback (nbdkit -p PORT -i
# 127.0.0.1), one that can zero and one that cannot (nbdkit's nozero
# filter), and a sparse source.  Both servers must hold the image; the
# holes must reach the first as NBD_CMD_WRITE_ZEROES and the second as
# written zeros; the end of the stream flushes (NBD_CMD_FLUSH) both.
# nbdkit's log filter records what each server was sent.

source ./functions.sh
requires nbdcopy --version
requires nbdkit memory --version
requires nbdkit --filter=log --filter=nozero memory --version
set -e
set -x

make_tmpdir

pa="$(free_tcp_port)"
start_nbd_server a.pid nbdkit -f -P a.pid -p "$pa" -i 127.0.0.1 \
    --filter=log memory 64M logfile="$tmp/a.log"
pb="$(free_tcp_port)"
start_nbd_server b.pid nbdkit -f -P b.pid -p "$pb" -i 127.0.0.1 \
    --filter=log --filter=nozero memory 64M logfile="$tmp/b.log"

# 64 MiB with data at a few places and holes between.
make_random data.img 8M 11
truncate -s 64M sparse.img
for off in 0 9 30 63; do
    dd if=data.img of=sparse.img bs=1M skip=$off count=1 seek=$off conv=notrunc status=none
done

fanout_nbdkit -U - -v -D fanout.writer=1 "$FANOUT_PLUGIN" \
    dest="nbd://127.0.0.1:$pa" dest="nbd://127.0.0.1:$pb" \
    --run 'nbdcopy sparse.img "$uri" && nbdcopy "$uri" through.img' 2> nbdkit.err
grep -v 'debug: fanout: \(commit\|pwrite\|zero\|pread\)\|: write \|: zero ' nbdkit.err || true

nbdcopy "nbd://127.0.0.1:$pa" a.img
nbdcopy "nbd://127.0.0.1:$pb" b.img
cmp sparse.img a.img
cmp sparse.img b.img
cmp sparse.img through.img

# What the destinations learnt, and what the servers were sent.
grep -F "nbd://127.0.0.1:$pa: size 67108864, " nbdkit.err | grep -F "zero yes, flush yes"
grep -F "nbd://127.0.0.1:$pb: size 67108864, " nbdkit.err | grep -F "zero no, flush yes"
grep -q ' Zero ' a.log
grep -q ' Flush ' a.log
grep -q ' Write ' b.log
grep -q ' Flush ' b.log
if grep -q ' Zero ' b.log; then
    echo "$0: zero sent to a server that cannot zero"
    exit 1
fi
