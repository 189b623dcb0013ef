#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: progress=true with stderr not a terminal: no bars redrawn
# in place (no escape sequences), but plain lines "fanout: NAME [###  ] N%
# ..." for every destination every 5 s, and a last set at the end (100%,
# done), then the summary.  A FIFO read by pv -L 10M makes the copy of
# 64 MiB last about 6 s, long enough for one periodic report.

source ./functions.sh
requires nbdcopy --version
requires pv --version
set -e
set -x

make_tmpdir

make_random src.img 64M 10
start_slow_fifo_reader fifo 10M fifo.out

FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=64M window=16M bucket=4M buckets=2 progress=true \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit.err
cat nbdkit.err
wait_fifo_reader
cmp src.img file.img
cmp src.img fifo.out

# Not a terminal: no cursor movements or line erasing.
if grep -q $'\033' nbdkit.err; then
    echo "$0: escape sequences in stderr, which is not a terminal"
    exit 1
fi

# One line per destination every 5 s (not a flood: the copy lasts about
# 6 s), and a last one at the end: 100%, done.
for name in 'fifo' 'file\.img'; do
    n="$(grep -c -E "^fanout: $name +\[[#x ]+\] +[0-9]+% " nbdkit.err)"
    test "$n" -ge 2
    test "$n" -le 4
    grep -E "^fanout: $name +\[#+\] +100% .* done$" nbdkit.err
done
# At 5 s the slow FIFO was still being written: its line says so.
grep -E '^fanout: fifo +\[[# ]+\] +[0-9]{1,2}% .*ETA .* writing$' nbdkit.err
# The final lines come after the periodic one, and before the summary.
first_writing="$(grep -n -E '^fanout: fifo .* writing$' nbdkit.err | head -1 | cut -d: -f1)"
last_done="$(grep -n -E '^fanout: fifo .* done$' nbdkit.err | tail -1 | cut -d: -f1)"
summary="$(grep -n -F 'fanout: 2 of 2 destinations done, 0 failed: 64.0 MiB export (67108864 bytes) in ' \
               nbdkit.err | cut -d: -f1)"
test "$first_writing" -lt "$last_done"
test "$last_done" -lt "$summary"
