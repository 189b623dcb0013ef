#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: zero data far beyond the window, in the ahead map, in the
# window and in the spill, with a FIFO and a file, window=1M ahead=1M
# bucket=128K on a 16 MiB export.
#
# A libnbd script that keeps a model of what it wrote first writes 4 MiB
# of zeros as data at 8M (never written before: with detect-zeroes=true it
# costs no ahead memory and does not move the window, so the stream can
# still take the start of the disk afterwards), parks data with zero pages
# at 13M and writes zero data over part of it, then fills the disk from 0
# in small writes of pages zero, half zero and data, rewriting (with zeros
# and with data) just behind each write, inside the window.  The FIFO and
# the file must both be the model, with the window and ahead map in memory
# and with spill=DIR; with detect-zeroes=false the 4 MiB of zeros exhaust
# ahead=1M and slide the window past the start, so the FIFO fails naming
# window= (the file is still the model) and nbdkit exits 1.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_memory_tmpdir

cat > writer.py <<'PYEOF'
import os
import random
import sys
import nbd

uri, out = sys.argv[1], sys.argv[2]
KiB, MiB = 1024, 1024 * 1024
rnd = random.Random(16)
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
model = bytearray(size)


def data(n):
    # Random bytes with no zero byte, so that no page of them is zero.
    return os.urandom(n).replace(b"\0", b"\x5a")


def pattern(off, n):
    # n bytes for offset off: each 4 KiB page of the export they touch is
    # zero, starts with zeros, or is data.
    b = bytearray(data(n))
    p = off
    while p < off + n:
        end = min((p // 4096 + 1) * 4096, off + n)
        k = rnd.random()
        if k < 0.5:
            b[p - off:end - off] = bytes(end - p)
        elif k < 0.65:
            m = rnd.randrange(p, end + 1)
            b[p - off:m - off] = bytes(m - p)
        p = end
    return bytes(b)


def write(buf, off):
    h.pwrite(buf, off)
    model[off:off + len(buf)] = buf


# Zeros as data far beyond the window, never written before.
write(bytes(4 * MiB), 8 * MiB)
# Data with zero pages far beyond the window (parked), zero data over part
# of it, aligned and not.
write(pattern(13 * MiB, 256 * KiB), 13 * MiB)
write(bytes(64 * KiB), 13 * MiB + 64 * KiB)
write(bytes(5000), 13 * MiB + 200 * KiB + 10)

# The rest from 0, skipping what was written far ahead.
skip = [(8 * MiB, 12 * MiB), (13 * MiB, 13 * MiB + 256 * KiB)]
cur = 0
while cur < size:
    n = min(rnd.choice([1000, 4 * KiB, 12345, 64 * KiB, 256 * KiB]), size - cur)
    hit = [(a, b) for a, b in skip if a < cur + n and cur < b]
    if hit:
        a, b = hit[0]
        if cur < a:
            write(pattern(cur, a - cur), cur)
        cur = b
        continue
    write(pattern(cur, n), cur)
    # Rewrite something just behind, inside the window.
    if cur > 256 * KiB and rnd.random() < 0.3:
        o = cur - rnd.randrange(1, 200 * KiB)
        m = rnd.randrange(1, 64 * KiB)
        write(bytes(m) if rnd.random() < 0.5 else pattern(o, m), o)
    if rnd.random() < 0.05:
        h.flush()
    cur += n
h.flush()
# What the client reads back is the model too.
for off in range(0, size, MiB):
    assert h.pread(MiB, off) == model[off:off + MiB], off
h.shutdown()
with open(out, "wb") as f:
    f.write(model)
PYEOF

# run DIR ARGS...: writer.py into DIR/fifo (read into DIR/stream.out) and
# DIR/out.img with the window above and ARGS; sets $nbdkit_status.
run ()
{
    local dir="$1"
    shift
    mkdir "$dir"
    start_fifo_reader "$dir/fifo" "$dir/stream.out"
    nbdkit_status=0
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$dir/fifo" dest="$dir/out.img" \
        size=16M window=1M ahead=1M bucket=128K status="$dir/s.json" "$@" \
        --run "/usr/bin/python3 writer.py \"\$uri\" $dir/model.img" \
        2> "$dir/nbdkit.err" || nbdkit_status=$?
    cat "$dir/nbdkit.err"
    wait_fifo_reader
}

# check_exact DIR: both destinations are the model, nothing failed.
check_exact ()
{
    local dir="$1"
    test "$nbdkit_status" -eq 0
    cmp "$dir/model.img" "$dir/out.img"
    cmp "$dir/model.img" "$dir/stream.out"
    if grep -F ': error: ' "$dir/nbdkit.err"; then
        echo "$0: $dir: errors logged"
        exit 1
    fi
    check_status_json "$dir/s.json" <<PYEOF
assert s["state"] == "finished", s
assert s["detect_zeroes"] is True, s
for x in s["destinations"]:
    assert x["state"] == "done", x
    assert x["error"] is None, x
# The 4 MiB of zero data at 8M were zeroed in the file, not written.
assert d["$dir/out.img"]["zero_bytes"] >= 4 * MiB, d["$dir/out.img"]
fifo = d["$dir/fifo"]
assert fifo["data_bytes"] + fifo["zero_bytes"] == 16 * MiB, fifo
PYEOF
}

run memory
check_exact memory

mkdir spill
run spilled spill="$tmp/spill" spill-memory=4M
check_exact spilled

# Without zero detection the zeros are data: ahead=1M cannot park 4 MiB,
# the window slides to them, and the start of the disk comes too late for
# the FIFO.
run nodetect detect-zeroes=false
test "$nbdkit_status" -eq 1
cmp nodetect/model.img nodetect/out.img
grep -E '^nbdkit: error: nodetect/fifo: write at offset [0-9]+ \(length [0-9]+\) is behind the stream position [0-9]+, which streams have already received; window=[0-9]+M would have been needed \(window is 1M\)$' \
    nodetect/nbdkit.err
check_status_json nodetect/s.json <<'PYEOF'
assert s["detect_zeroes"] is False, s
fifo = d["nodetect/fifo"]
f = d["nodetect/out.img"]
assert fifo["state"] == "failed", fifo
assert "window=" in fifo["error"], fifo
assert f["state"] == "done" and f["error"] is None, f
PYEOF
