#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: a plugin whose trim keeps the data, and a plugin slow
# to answer.  The eval plugin below stores the disk in disk.img with dd,
# ignores trim (trim is advisory: the bytes stay), cannot flush, and sleeps
# a random while after each write has taken effect, in parallel threads.
#
# The mirror must hold what the plugin returns: the trimmed data, not
# zeros; a flush must still reach the mirror; and overlapping writes in
# flight, whose plugin calls finish in random order, must reach the mirror
# in the order they reached the plugin (the range lock).  mirror.img ends
# identical to disk.img.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
requires nbdkit eval --version
requires cmp --version
set -e
set -x

# In TSan builds the runtime is preloaded into nbdkit, and the eval plugin
# copies that environment for its scripts when it loads (before the filter
# can drop it): /bin/sh then dies with SIGSEGV in nbdkit's own stub
# scripts, which this test cannot change.  (ASan builds run it.)
case "$SANITIZER_RUNTIME" in
    *libtsan*)
        echo "SKIP: $0: the eval plugin's scripts cannot run with TSan preloaded"
        exit 77 ;;
esac

make_tmpdir

truncate -s 4M disk.img
disk="$tmp/disk.img"

cat > writes.py <<'PYEOF'
import random
import sys

import nbd

MiB = 1024 * 1024
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == 4 * MiB
assert h.can_trim() and h.can_flush()
rng = random.Random(5)

data = rng.randbytes(MiB)
h.pwrite(data, MiB)
h.trim(MiB, MiB)
# The plugin ignored the trim: the data is still there.
assert h.pread(MiB, MiB) == data
h.zero(4096, MiB + 8192)
h.flush()

# Overlapping writes in flight at once.
bufs = []
for i in range(24):
    n = rng.randint(4096, 256 * 1024)
    off = 2 * MiB + rng.randrange(0, MiB - n + 1)
    b = nbd.Buffer.from_bytearray(bytearray([i + 1]) * n)
    bufs.append(b)
    h.aio_pwrite(b, off)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.shutdown()
print("ok")
PYEOF

status=0
# The eval plugin copies its environment when it loads, before the filter
# drops LD_PRELOAD in sanitizer builds, and dd trips over a preloaded ASan
# (aligned_alloc): the scripts drop it themselves.
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - --filter="$TEE_FILTER" \
    eval \
    thread_model='echo parallel' \
    get_size='echo 4194304' \
    can_write='exit 0' can_trim='exit 0' can_zero='exit 0' \
    pread="unset LD_PRELOAD
           dd if='$disk' skip=\$4 count=\$3 iflag=skip_bytes,count_bytes status=none" \
    pwrite="unset LD_PRELOAD
            dd of='$disk' seek=\$4 oflag=seek_bytes conv=notrunc status=none &&
            sleep 0.0\$((RANDOM % 10))" \
    zero="unset LD_PRELOAD
          dd if=/dev/zero of='$disk' seek=\$4 count=\$3 oflag=seek_bytes \
             iflag=count_bytes conv=notrunc status=none" \
    trim='exit 0' \
    tee=mirror.img \
    --run '/usr/bin/python3 writes.py "$uri"' 2> nbdkit.err || status=$?
cat nbdkit.err
test "$status" -eq 0

cmp disk.img mirror.img
# The trimmed MiB was data, and stayed data in both.
if cmp -s -i 1048576 -n 4096 disk.img /dev/zero; then
    echo "$0: the trimmed data reads as zeros"
    exit 1
fi
grep -E 'tee: mirror\.img +file +done ' nbdkit.err
