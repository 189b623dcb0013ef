#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: qemu-img convert of a sparse qcow2 image (in order, 2 MiB
# writes, every hole sent as a Zero request) into a file and a FIFO.  Both
# must equal the image converted to raw locally.

source ./functions.sh
requires qemu-img --version
requires qemu-io --version
set -e
set -x

make_tmpdir

# A sparse 128 MiB qcow2 with data at scattered offsets, some unaligned,
# one zeroed cluster over data, and data in the last sector.
qemu-img create -q -f qcow2 src.qcow2 128M
qemu-io -f qcow2 \
    -c 'write -P 0x11 0 64k' \
    -c 'write -P 0x22 1M 1M' \
    -c 'write -P 0x33 3000000 70000' \
    -c 'write -P 0x44 50M 3M' \
    -c 'write -z 51M 64k' \
    -c 'write -P 0x55 100M 512' \
    -c 'write -P 0x66 127M 1M' \
    -c 'write -P 0x77 134217216 512' \
    src.qcow2
qemu-img convert -f qcow2 -O raw src.qcow2 expected.img
test "$(stat -c %s expected.img)" -eq $((128 * 1024 * 1024))

# Both as qemu-img does by default (every hole zeroed) and with
# --target-is-zero (holes skipped: the export starts as zeros).
for opts in "" "--target-is-zero"; do
    rm -f file.img fifo fifo.out
    start_fifo_reader fifo fifo.out
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=file.img dest=fifo size=128M \
        --run "qemu-img convert -n $opts -f qcow2 -O raw src.qcow2 \"\$uri\""
    wait_fifo_reader
    cmp expected.img file.img
    cmp expected.img fifo.out
done
