#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: `nbdkit file` as a destination, in front of a 64 MiB file
# full of 0xAA, with a sparse source and no size=: afterwards the file
# behind the server must be exactly the source (holes zeroed, not left
# 0xAA), like the local file written beside it.

source ./functions.sh
requires nbdcopy --version
requires nbdkit file --version
set -e
set -x

make_tmpdir

make_fill target.img 64M '\252'
start_nbd_server f.pid nbdkit -f -P f.pid -U "$tmp/f" file "$tmp/target.img"

make_random data.img 4M 12
truncate -s 64M sparse.img
for off in 1 2 40 63; do
    dd if=data.img of=sparse.img bs=1M skip=$((off % 4)) count=1 seek=$off conv=notrunc \
        status=none
done

fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="nbd+unix:///?socket=$tmp/f" dest=local.img \
    --run 'nbdcopy sparse.img "$uri"'
# The fanout flushed at the end of the stream; stop the server before
# looking at its file all the same.
kill "$server_pid"
wait "$server_pid" || true
cmp sparse.img target.img
cmp sparse.img local.img
