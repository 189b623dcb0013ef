#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: qemu-img convert -W -m 16 (out-of-order writes, ~8 in
# flight, the first one not at 0) of a random raw image into a file and a
# FIFO.  The window reorders them; both must equal the source.

source ./functions.sh
requires qemu-img --version
set -e
set -x

make_tmpdir

make_random src.img 128M 3
start_fifo_reader fifo fifo.out
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=file.img dest=fifo size=128M window=64M \
    --run 'qemu-img convert -n -W -m 16 -f raw -O raw src.img "$uri"'
wait_fifo_reader
cmp src.img file.img
cmp src.img fifo.out
