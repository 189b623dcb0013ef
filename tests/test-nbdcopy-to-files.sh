#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: with only seekable destinations the plugin advertises
# multi-conn, so nbdcopy writes with several connections, each in its own
# region of the disk; three files must hold exactly the source.  With a FIFO
# or a command among the destinations multi-conn must not be advertised.

source ./functions.sh
requires nbdcopy --version
set -e
set -x

make_tmpdir

# Multi-conn: only when every destination is seekable.
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=m1.img dest=m2.img size=1M \
    --run 'nbdsh -u "$uri" -c "assert h.can_multi_conn() is True"'
start_fifo_reader fifo fifo.out
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=m1.img dest=fifo size=1M \
    --run 'nbdsh -u "$uri" -c "assert h.can_multi_conn() is False"'
wait_fifo_reader
cmp fifo.out <(head -c 1M /dev/zero)
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=m1.img cmd='cat > /dev/null' size=1M \
    --run 'nbdsh -u "$uri" -c "assert h.can_multi_conn() is False"'

# nbdcopy with its default options: one connection per core, each thread
# writing its own region of the disk.
make_random src.img 256M 2
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=a.img dest=b.img dest=c.img size=256M \
    --run 'nbdcopy src.img "$uri"'
cmp src.img a.img
cmp src.img b.img
cmp src.img c.img

# And a sparse source over existing files full of 0xAA: the holes must
# come out as zeros, not as the files' old contents.
truncate -s 64M sparse.img
for off in 0 5 17 33 63; do
    head -c 1M src.img | dd of=sparse.img bs=1M seek=$off conv=notrunc status=none
done
for f in a b c; do make_fill $f.img 64M '\252'; done
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=a.img dest=b.img dest=c.img \
    --run 'nbdcopy sparse.img "$uri"'
cmp sparse.img a.img
cmp sparse.img b.img
cmp sparse.img c.img
