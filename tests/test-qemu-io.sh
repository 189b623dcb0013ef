#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: qemu-io requests (writes with patterns and FUA, rewrites,
# write -z = Zero, discard = Trim, reads with pattern checks) through the
# plugin into a file and a FIFO.  The same commands run on a local raw
# image give the expected final content.

source ./functions.sh
requires qemu-io --version
set -e
set -x

make_tmpdir

# Everything stays inside the default 64M window, so the FIFO can take it.
cmds=(
    -c 'read -P 0 0 1M'
    -c 'write -P 0x55 0 1M'
    -c 'read -P 0x55 0 1M'
    -c 'write -P 0xaa 4M 64k'
    -c 'write -P 0x11 3M 2M'
    -c 'read -P 0x11 3M 2M'
    -c 'write -z 512k 128k'
    -c 'read -P 0 512k 128k'
    -c 'read -P 0x55 0 512k'
    -c 'read -P 0x55 640k 384k'
    -c 'write -P 0x22 8M 1M'
    -c 'discard 8M 256k'
    -c 'read -P 0 8M 256k'
    -c 'read -P 0x22 8448k 768k'
    -c 'write -P 0x33 12345 6789'
    -c 'read -P 0x33 12345 6789'
    -c 'write -P 0x44 20M 4k'
    -c 'write -z 20M 4k'
    -c 'read -P 0 20M 4k'
    -c 'write -P 0x66 31M 1M'
    -c 'read -P 0x66 31M 1M'
    -c 'read -P 0 24M 1M'
    -c 'flush'
)

# The reference: a plain local raw image.
truncate -s 32M expected.img
qemu-io -f raw "${cmds[@]}" expected.img > local.out
cat local.out
if grep -i -e 'fail' -e 'error' local.out; then
    echo "$0: a qemu-io command failed on the local image"
    exit 1
fi

start_fifo_reader fifo fifo.out
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=file.img dest=fifo size=32M \
    --run "qemu-io -f raw $(printf '%q ' "${cmds[@]}") \"\$uri\" > fanout.out" \
    || status=$?
cat fanout.out
wait_fifo_reader
test "$status" -eq 0
if grep -i -e 'fail' -e 'error' fanout.out; then
    echo "$0: a qemu-io command failed through the plugin"
    exit 1
fi

cmp expected.img file.img
cmp expected.img fifo.out
