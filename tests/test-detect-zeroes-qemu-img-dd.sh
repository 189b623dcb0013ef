#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: detect-zeroes= with a client that writes zeros as data.
#
# qemu-img dd writes every byte of its source as data, zeros included (it
# sends no Zero requests, unlike nbdcopy, which finds zero blocks itself).
# A 256 MiB image, 1 MiB of random data then 3 MiB of allocated zeros over
# and over (25 % data, 75 % zeros), goes by qemu-img dd to two files and a
# FIFO.  With detect-zeroes=true (the default) all three are the image byte
# for byte, the files each allocate at most 30 % of it and the status file
# counts the zeros as zeroed, not written; with detect-zeroes=false the same
# copy leaves both files fully allocated.
#
# Then, against a model built by the same script: zero pages written over
# data already written must overwrite it, a page half zero and half data
# and unaligned zero runs come out exact, in the files, the stream and what
# the client reads back.

source ./functions.sh
requires qemu-img --version
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_memory_tmpdir
MiB=$((1024 * 1024))
size=$((256 * MiB))

# allocated FILE: the bytes FILE has allocated.
allocated ()
{
    echo $(( $(stat -c '%b * %B' "$1") ))
}

# The source: 64 times 1 MiB of random data then 3 MiB of zeros, all
# written with dd, so the zeros are allocated, not holes.
make_random rand.bin 64M 16
for (( i = 0; i < 64; i++ )); do
    dd if=rand.bin of=src.img bs=1M skip="$i" seek=$(( 4 * i )) count=1 \
       conv=notrunc status=none
    dd if=/dev/zero of=src.img bs=1M seek=$(( 4 * i + 1 )) count=3 \
       conv=notrunc status=none
done
rm rand.bin
test "$(stat -c %s src.img)" -eq "$size"
test "$(allocated src.img)" -ge "$size"
src_sha="$(sha256sum src.img | cut -d' ' -f1)"

# send DETECT DIR: qemu-img dd src.img into DIR/a.img, DIR/b.img and
# DIR/fifo (read into DIR/stream.out) with detect-zeroes=DETECT.  qemu-img
# dd takes the NBD URI as of=: it cannot create the image there, so it opens
# it instead (after zeroing its first 512 bytes on a connection of their
# own).
send ()
{
    local detect="$1" dir="$2" status
    mkdir "$dir"
    start_fifo_reader "$dir/fifo" "$dir/stream.out"
    status=0
    fanout_nbdkit -U - "$FANOUT_PLUGIN" \
        dest="$dir/a.img" dest="$dir/b.img" dest="$dir/fifo" size=256M \
        detect-zeroes="$detect" status="$dir/s.json" \
        --run 'qemu-img dd -f raw -O raw bs=1M if=src.img of="$uri"' \
        2> "$dir/nbdkit.err" || status=$?
    cat "$dir/nbdkit.err"
    test "$status" -eq 0
    wait_fifo_reader
    if grep -F ': error: ' "$dir/nbdkit.err"; then
        echo "$0: $dir: errors logged"
        exit 1
    fi
    for f in a.img b.img stream.out; do
        cmp src.img "$dir/$f"
    done
}

# detect-zeroes=true: exact, and sparse.
send true detect
for f in a.img b.img; do
    du -B1 "detect/$f"
    test "$(allocated "detect/$f")" -le $(( size * 30 / 100 ))
done
check_status_json detect/s.json <<PYEOF
size = $size
assert s["state"] == "finished", s
assert s["detect_zeroes"] is True, s
assert s["holes"] == "write", s
assert s["sha256"] == "$src_sha", s
assert s["image_bytes"] == size, s
assert s["image_sha256"] == "$src_sha", s
for name in ("detect/a.img", "detect/b.img", "detect/fifo"):
    x = d[name]
    assert x["state"] == "done", x
    assert x["error"] is None, x
    assert x["holds"] == "image", x
    assert x["skipped_bytes"] == 0, x
for name in ("detect/a.img", "detect/b.img"):
    x = d[name]
    assert x["zero_bytes"] >= size * 70 // 100, x
    assert size * 24 // 100 <= x["data_bytes"] <= size * 30 // 100, x
fifo = d["detect/fifo"]
assert fifo["data_bytes"] + fifo["zero_bytes"] == size, fifo
PYEOF
rm -r detect

# detect-zeroes=false: the same bytes, but the zeros are written as data,
# so both files are allocated in full.
send false nodetect
for f in a.img b.img; do
    du -B1 "nodetect/$f"
    test "$(allocated "nodetect/$f")" -ge "$size"
done
check_status_json nodetect/s.json <<PYEOF
size = $size
assert s["state"] == "finished", s
assert s["detect_zeroes"] is False, s
assert s["image_sha256"] == "$src_sha", s
for name in ("nodetect/a.img", "nodetect/b.img", "nodetect/fifo"):
    x = d[name]
    assert x["state"] == "done", x
    assert x["error"] is None, x
for name in ("nodetect/a.img", "nodetect/b.img"):
    assert d[name]["data_bytes"] >= size, d[name]
PYEOF
rm -r nodetect

# Zero pages against a model, with the default detect-zeroes=true: an 8 MiB
# export written by a libnbd script that keeps the model of what it wrote,
# twice.  With two files only, a flush commits everything, so the data is
# in the files (the script reads them to make sure) before the zero pages
# are written over it; with a FIFO too, the data is still in the window
# when the zero pages replace it.
cat > model.py <<'PYEOF'
import os
import sys
import nbd

uri, out = sys.argv[1], sys.argv[2]
# A destination file to read directly, when a flush commits everything.
dest = sys.argv[3] if len(sys.argv) > 3 else None
KiB, MiB = 1024, 1024 * 1024
size = 8 * MiB
model = bytearray(size)
h = nbd.NBD()
h.connect_uri(uri)


def data(n):
    # Random bytes with no zero byte, so that no page of them is zero.
    return os.urandom(n).replace(b"\0", b"\x5a")


def write(buf, off):
    h.pwrite(buf, off)
    model[off:off + len(buf)] = buf


def zeros(off, n):
    # Zeros sent as data (a Write, not a Zero request).
    write(bytes(n), off)


def flush():
    # After a flush with only files, they hold the model.
    h.flush()
    if dest:
        with open(dest, "rb") as f:
            assert f.read() == model, dest


# [0, 64K) never written before: one write of data with zeros from 1000 to
# 9000 (only the page [4K, 8K) is a whole zero page).
buf = bytearray(data(64 * KiB))
buf[1000:9000] = bytes(8000)
write(bytes(buf), 0)

# Data in [1M, 2M) and [2M, 2M + 64K), flushed; then the whole MiB at 1M
# rewritten as zero data, and zeros over [2M + 1000, 2M + 9000).
write(data(MiB), 1 * MiB)
write(data(64 * KiB), 2 * MiB)
flush()
zeros(1 * MiB, MiB)
zeros(2 * MiB + 1000, 8000)

# A page half zero, half data: first 2K zero (never written before), the
# same over a page of data, and the other way round over data.
write(bytes(2 * KiB) + data(2 * KiB), 3 * MiB)
write(data(8 * KiB), 3 * MiB + 8 * KiB)
flush()
write(bytes(2 * KiB) + data(2 * KiB), 3 * MiB + 8 * KiB)
write(data(2 * KiB) + bytes(2 * KiB), 3 * MiB + 12 * KiB)

# Pages that alternate zero and data in one 64K write, over data.
write(data(64 * KiB), 4 * MiB)
flush()
write(b"".join(bytes(4 * KiB) if i % 2 == 0 else data(4 * KiB)
               for i in range(16)), 4 * MiB)

# Zero data never written before, then data over part of it.
zeros(5 * MiB, 64 * KiB)
write(data(4 * KiB), 5 * MiB + 4 * KiB)

# Zeros not aligned to pages over data: [6M + 2K, 6M + 10K) holds one
# whole page, [6M + 4K, 6M + 8K).
write(data(16 * KiB), 6 * MiB)
flush()
zeros(6 * MiB + 2 * KiB, 8 * KiB)

flush()
# What the client reads back is the model too.
for off in range(0, size, MiB):
    assert h.pread(MiB, off) == model[off:off + MiB], off
h.shutdown()
with open(out, "wb") as f:
    f.write(model)
# The pages of the model that hold data (what a sparse file allocates).
print(sum(1 for off in range(0, size, 4 * KiB)
          if any(model[off:off + 4 * KiB])))
PYEOF

# model DIR FIFO: runs model.py into DIR/a.img, DIR/b.img and, if FIFO is
# yes, DIR/fifo (read into DIR/stream.out); checks every destination
# against the model and the files' allocation against its data pages.
model ()
{
    local dir="$1" fifo="$2" dests=(dest="$1/a.img" dest="$1/b.img") files data_pages
    files=(a.img b.img)
    mkdir "$dir"
    if [ "$fifo" = yes ]; then
        start_fifo_reader "$dir/fifo" "$dir/stream.out"
        dests+=(dest="$dir/fifo")
        files+=(stream.out)
    fi
    start_nbdkit -P "$dir/nbdkit.pid" -U "$tmp/$dir/nbdkit.sock" "$FANOUT_PLUGIN" \
        "${dests[@]}" size=8M status="$dir/s.json" 2> "$dir/nbdkit.err"
    data_pages="$(/usr/bin/python3 model.py "nbd+unix://?socket=$tmp/$dir/nbdkit.sock" \
                      "$dir/model.img" $([ "$fifo" = yes ] || echo "$dir/a.img"))"
    stop_nbdkit "$dir/nbdkit.pid"
    cat "$dir/nbdkit.err"
    if [ "$fifo" = yes ]; then
        wait_fifo_reader
    fi
    if grep -F ': error: ' "$dir/nbdkit.err"; then
        echo "$0: $dir: errors logged"
        exit 1
    fi
    for f in "${files[@]}"; do
        cmp "$dir/model.img" "$dir/$f"
    done
    # The zero pages written over data left holes in the files: they
    # allocate no more than the model's data pages (and some slack for the
    # file system), not the MiB of zeros written over data at 1M.
    for f in a.img b.img; do
        du -B1 "$dir/$f"
        test "$(allocated "$dir/$f")" -le $(( data_pages * 4096 + 256 * 1024 ))
    done
}

model files-only no
check_status_json files-only/s.json <<'PYEOF'
assert s["state"] == "finished", s
assert s["detect_zeroes"] is True, s
for name in ("files-only/a.img", "files-only/b.img"):
    x = d[name]
    assert x["state"] == "done", x
    assert x["error"] is None, x
    # The data went to the files (the MiB at 1M among it), and then at
    # least that MiB was zeroed over it.
    assert x["data_bytes"] >= MiB, x
    assert x["zero_bytes"] >= MiB, x
PYEOF

model with-fifo yes
check_status_json with-fifo/s.json <<'PYEOF'
assert s["state"] == "finished", s
assert s["detect_zeroes"] is True, s
for x in s["destinations"]:
    assert x["state"] == "done", x
    assert x["error"] is None, x
for name in ("with-fifo/a.img", "with-fifo/b.img"):
    assert d[name]["zero_bytes"] >= MiB, d[name]
fifo = d["with-fifo/fifo"]
assert fifo["data_bytes"] + fifo["zero_bytes"] == 8 * MiB, fifo
PYEOF
