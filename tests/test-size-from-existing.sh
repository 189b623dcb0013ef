#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: without size=, the export size comes from the existing
# regular files among the destinations (the smallest of them), every file
# destination ends up exactly that size, and the export starts as zeros
# whatever the files held before.

source ./functions.sh
set -e
set -x

make_tmpdir

# One existing 10 MiB file full of 0xAA.
make_fill ten.img 10M '\252'
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=ten.img \
    --run 'nbdsh -u "$uri" -c "
assert h.get_size() == 10 * 1024 * 1024, h.get_size()
# The old contents are gone: the export starts as zeros.
assert h.pread(1024 * 1024, 0) == bytes(1024 * 1024)
assert h.pread(1024 * 1024, 9 * 1024 * 1024) == bytes(1024 * 1024)
"'
test "$(stat -c %s ten.img)" -eq $((10 * 1024 * 1024))
cmp ten.img <(head -c 10M /dev/zero)

# Two existing files, 10 MiB and 20 MiB: the smaller one wins, and the
# larger one is cut to the export size.
make_fill ten.img 10M '\252'
make_fill twenty.img 20M '\252'
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=twenty.img dest=ten.img \
    --run 'nbdsh -u "$uri" -c "
assert h.get_size() == 10 * 1024 * 1024, h.get_size()
h.pwrite(b\"\\x55\" * 4096, 8192)
"'
test "$(stat -c %s ten.img)" -eq $((10 * 1024 * 1024))
test "$(stat -c %s twenty.img)" -eq $((10 * 1024 * 1024))
{ head -c 8192 /dev/zero; head -c 4096 /dev/zero | tr '\000' '\125';
  head -c $((10 * 1024 * 1024 - 12288)) /dev/zero; } > expected.img
cmp ten.img expected.img
cmp twenty.img expected.img

# An existing file also sizes new files and FIFOs (which alone would
# need size=).
make_fill ten.img 10M '\252'
rm -f new.img
start_fifo_reader fifo fifo.out
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=new.img dest=fifo dest=ten.img \
    --run 'nbdsh -u "$uri" -c "
assert h.get_size() == 10 * 1024 * 1024, h.get_size()
h.pwrite(b\"\\x55\" * 4096, 8192)
"'
wait_fifo_reader
cmp new.img expected.img
cmp ten.img expected.img
cmp fifo.out expected.img
