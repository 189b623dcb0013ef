#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: nbdcopy (default options: no flush, 16 requests in flight,
# interleaved 256 KiB writes) into two files, a FIFO and a command at once.
# Every destination must hold exactly the source.

source ./functions.sh
requires nbdcopy --version
set -e
set -x

make_tmpdir

make_random src.img 256M 1
start_fifo_reader fifo fifo.out

fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=a.img dest=b.img dest=fifo cmd='cat > c.img' size=256M window=64M \
    --run 'nbdcopy src.img "$uri"'
wait_fifo_reader

cmp src.img a.img
cmp src.img b.img
cmp src.img c.img
cmp src.img fifo.out
