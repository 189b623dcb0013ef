#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: holes=skip, bmaptool's way of flashing, onto two loop
# devices (root only) of 128 MiB pre-filled with 0xAA, from a sparse 64 MiB
# qcow2 image with a few data islands written by qemu-img convert (which
# sends Zero requests for the image's holes) into a 96 MiB export.  One of
# the islands is zeros the image holds as data: qemu-img convert -S 0 sends
# it as a write, which detect-zeroes= turns into zero writes, and those are
# written even with holes=skip.  With holes=skip verify=true: the devices
# hold the image's data ranges (that island's zeros included) and 0xAA
# everywhere else, in the image's holes, in the 32 MiB of the export the
# client never wrote and beyond the export; the status file counts only the
# data ranges as written, says the devices hold the image's "data-ranges",
# verified, and the summary says the holes were not checked.  The same with
# holes=write: the devices hold the export exactly (zeros in the holes and
# up to the export's end, 0xAA only beyond it).  The two runs' times are
# printed (the ratio belongs in bench/, not in an assertion).

source ./functions.sh
requires_root
requires losetup --version
requires qemu-img --version
requires qemu-io --version
requires sha256sum --version
requires test -e /dev/loop-control
set -e
set -x

make_memory_tmpdir

MiB=$((1024 * 1024))
export_size=$((96 * MiB))

make_fill back1.img 128M '\252'
make_fill back2.img 128M '\252'
attach_loop_device back1.img
loop1="$loop"
attach_loop_device back2.img
loop2="$loop"

# The image: 64 MiB, four islands of pattern data (one not aligned to a
# MiB, one at the very end), one island of zeros allocated as data.
qemu-img create -q -f qcow2 src.qcow2 64M
qemu-io -f qcow2 \
    -c 'write -P 0x5c 1M 3M' \
    -c 'write -P 0x22 21037056 196608' \
    -c 'write -P 0 30M 256k' \
    -c 'write -P 0x11 40M 512k' \
    -c 'write -P 0x33 63M 1M' \
    src.qcow2
qemu-img convert -f qcow2 -O raw src.qcow2 raw.img
qemu-img map --output=json -f qcow2 src.qcow2 > map.json
cat map.json
image_digest="$(sha256sum < raw.img | cut -d' ' -f1)"
export_digest="$({ cat raw.img; head -c 32M /dev/zero; } | sha256sum | cut -d' ' -f1)"

# From the map: the bytes of the data ranges that are not all zeros (in
# 4 KiB pages), those that are (the zero island), and the two expected
# device contents: the data ranges over 0xAA (holes=skip), and the export
# then 0xAA (holes=write).
/usr/bin/python3 - <<'PYEOF'
import json
MiB = 1024 * 1024
raw = open("raw.img", "rb").read()
ranges = [(e["start"], e["length"]) for e in json.load(open("map.json")) if e["data"]]
data = zeros = 0
skip = bytearray(b"\xaa" * (128 * MiB))
for start, length in ranges:
    assert start % 4096 == 0 and length % 4096 == 0, (start, length)
    for p in range(start, start + length, 4096):
        if raw[p:p + 4096] == bytes(4096):
            zeros += 4096
        else:
            data += 4096
    skip[start:start + length] = raw[start:start + length]
assert zeros == 256 * 1024, zeros
open("expect-skip.img", "wb").write(skip)
open("expect-write.img", "wb").write(raw + bytes(32 * MiB) + b"\xaa" * (32 * MiB))
open("counts.sh", "w").write("data_bytes=%d\nzero_data_bytes=%d\n" % (data, zeros))
PYEOF
source ./counts.sh
test "$data_bytes" -eq $(( (3 * 1024 + 192 + 512 + 1024) * 1024 ))

# One run: qemu-img convert as the client (in order; a Zero request for
# every hole; -S 0: the zero island is sent as data).
convert_into_fanout ()
{
    local holes="$1" n="$2" status=0
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop1" dest="$loop2" \
        size=$export_size holes="$holes" verify=true status=s$n.json \
        --run 'qemu-img convert -n -S 0 -f qcow2 -O raw src.qcow2 "$uri"' \
        2> nbdkit$n.err || status=$?
    cat nbdkit$n.err
    return $status
}

# holes=skip.
convert_into_fanout skip 1
cmp expect-skip.img "$loop1"
cmp expect-skip.img "$loop2"
check_status_json s1.json <<PYEOF
assert s["state"] == "finished", s
assert s["holes"] == "skip", s
assert s["image_bytes"] == 64 * MiB, s
assert s["image_sha256"] == "$image_digest", s
assert s["sha256"] == "$export_digest", s
for n in ("$loop1", "$loop2"):
    x = d[n]
    assert x["kind"] == "block", x
    assert x["state"] == "verified", x
    assert x["holds"] == "data-ranges", x
    assert x["data_bytes"] == $data_bytes, x
    assert x["zero_bytes"] == $zero_data_bytes, x
    assert x["skipped_bytes"] == $export_size - $data_bytes - $zero_data_bytes, x
    assert x["bytes"] == x["data_bytes"] + x["zero_bytes"] + x["skipped_bytes"], x
    assert x["error"] is None, x
PYEOF
for n in "$loop1" "$loop2"; do
    test "$(grep -F "fanout: $n " nbdkit1.err |
            grep -cF 'verified (data ranges; holes not checked)')" -eq 1
done

# holes=write (the default), over 0xAA again.
for n in "$loop1" "$loop2"; do
    make_fill fill.img 128M '\252'
    dd if=fill.img of="$n" bs=4M oflag=direct status=none
    cmp fill.img "$n"
done
rm fill.img
convert_into_fanout write 2
cmp expect-write.img "$loop1"
cmp expect-write.img "$loop2"
check_status_json s2.json <<PYEOF
assert s["state"] == "finished", s
assert s["holes"] == "write", s
assert s["image_bytes"] == 64 * MiB, s
assert s["image_sha256"] == "$image_digest", s
assert s["sha256"] == "$export_digest", s
for n in ("$loop1", "$loop2"):
    x = d[n]
    assert x["state"] == "verified", x
    assert x["holds"] == "image", x
    assert x["data_bytes"] == $data_bytes, x
    assert x["zero_bytes"] == $export_size - $data_bytes, x
    assert x["skipped_bytes"] == 0, x
    assert x["error"] is None, x
PYEOF
for n in "$loop1" "$loop2"; do
    grep -E "fanout: $n +block +verified " nbdkit2.err
done
! grep -F 'holes not checked' nbdkit2.err

# The times, for the record.
/usr/bin/python3 - "$loop1" "$loop2" <<'PYEOF'
import json, sys
for n, holes in ((1, "skip"), (2, "write")):
    s = json.load(open("s%d.json" % n))
    d = {x["name"]: x for x in s["destinations"]}
    print("holes=%s: run %.2f s, devices %s" % (holes, s["elapsed"],
          ", ".join("%.2f s" % d[name]["elapsed"] for name in sys.argv[1:])))
PYEOF
