#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: holes=skip, bmaptool's way of flashing, onto two loop
# devices (root only) of 128 MiB pre-filled with 0xAA, from a sparse 64 MiB
# qcow2 image with a few data islands written by qemu-img convert (which
# sends Zero requests for the image's holes) into a 96 MiB export.  With
# holes=skip verify=true: the devices hold the image's data ranges and 0xAA
# everywhere else, in the image's holes, in the 32 MiB of the export the
# client never wrote and beyond the export; the status file counts only the
# data ranges as written, says the devices hold the image's "data-ranges",
# verified, and the summary says the holes were not checked.  The same with
# holes=write: the devices hold the export exactly (zeros in the holes and
# up to the export's end, 0xAA only beyond it).  The two runs' times are
# printed (the ratio belongs in bench/, not in an assertion).  A file next
# to the devices is unchanged by holes=skip: it holds the export, sparse.
# Then holes=skip with a libnbd client that writes zeros as data (qemu-img
# convert finds such zeros itself and sends Zero requests for them): those
# are written, as zeros, while its Zero and Trim requests are skipped, and
# the client reads zeros in every hole, not the devices' 0xAA.  Last,
# verify=repair with holes=skip: a data page changed on one device after
# the flush is repaired from the other; a page changed in a hole is not
# checked, so it stays as changed.

source ./functions.sh
requires_root
requires losetup --version
requires qemu-img --version
requires qemu-io --version
requires sha256sum --version
requires /usr/bin/python3 -c 'import nbd'
requires test -e /dev/loop-control
set -e
set -x

make_memory_tmpdir

MiB=$((1024 * 1024))
export_size=$((96 * MiB))

make_fill fill.img 128M '\252'
cp fill.img back1.img
cp fill.img back2.img
attach_loop_device back1.img
loop1="$loop"
attach_loop_device back2.img
loop2="$loop"

# refill: both devices full of 0xAA again (through the devices, O_DIRECT).
# (Each run after a refill compares the whole devices with what they must
# hold, 0xAA where the run did not write.)
refill ()
{
    local n
    for n in "$loop1" "$loop2"; do
        dd if=fill.img of="$n" bs=4M oflag=direct status=none
    done
}

# The image: 64 MiB, four islands of data (one not aligned to a MiB, one at
# the very end), holes elsewhere.
qemu-img create -q -f qcow2 src.qcow2 64M
qemu-io -f qcow2 \
    -c 'write -P 0x5c 1M 3M' \
    -c 'write -P 0x22 21037056 196608' \
    -c 'write -P 0x11 40M 512k' \
    -c 'write -P 0x33 63M 1M' \
    src.qcow2
qemu-img convert -f qcow2 -O raw src.qcow2 raw.img
qemu-img map --output=json -f qcow2 src.qcow2 > map.json
cat map.json
image_digest="$(sha256sum < raw.img | cut -d' ' -f1)"
export_digest="$({ cat raw.img; head -c 32M /dev/zero; } | sha256sum | cut -d' ' -f1)"

# From the map: the bytes in data ranges, and the two expected device
# contents: the data ranges over 0xAA (holes=skip), and the export then
# 0xAA (holes=write).
/usr/bin/python3 - <<'PYEOF'
import json
MiB = 1024 * 1024
raw = open("raw.img", "rb").read()
data = 0
skip = bytearray(b"\xaa" * (128 * MiB))
for e in json.load(open("map.json")):
    if e["data"]:
        start, length = e["start"], e["length"]
        data += length
        skip[start:start + length] = raw[start:start + length]
open("expect-skip.img", "wb").write(skip)
open("expect-write.img", "wb").write(raw + bytes(32 * MiB) + b"\xaa" * (32 * MiB))
open("counts.sh", "w").write("data_bytes=%d\n" % data)
PYEOF
source ./counts.sh
test "$data_bytes" -eq $(( (3 * 1024 + 192 + 512 + 1024) * 1024 ))

# One run: qemu-img convert as the client (in order; a Zero request for
# every hole), to the devices and EXTRA-DEST...
convert_into_fanout ()
{
    local holes="$1" n="$2" status=0
    shift 2
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop1" dest="$loop2" "$@" \
        size=$export_size holes="$holes" verify=true status=s$n.json \
        --run 'qemu-img convert -n -f qcow2 -O raw src.qcow2 "$uri"' \
        2> nbdkit$n.err || status=$?
    cat nbdkit$n.err
    return $status
}

# holes=skip, and a file.
convert_into_fanout skip 1 dest=file.img
cmp expect-skip.img "$loop1"
cmp expect-skip.img "$loop2"
head -c $export_size expect-write.img | cmp - file.img
test $(( $(stat -c %b file.img) * $(stat -c %B file.img) )) -le $(( data_bytes + MiB ))
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
    assert x["zero_bytes"] == 0, x
    assert x["skipped_bytes"] == $export_size - $data_bytes, x
    assert x["bytes"] == $export_size, x
    assert x["error"] is None, x
f = d["file.img"]
assert f["state"] == "verified" and f["holds"] == "image", f
assert f["data_bytes"] == $data_bytes, f
assert f["zero_bytes"] == $export_size - $data_bytes, f
assert f["skipped_bytes"] == 0, f
PYEOF
grep -E "fanout: file.img +file +verified +$export_size .* -\$" nbdkit1.err
for n in "$loop1" "$loop2"; do
    test "$(grep -F "fanout: $n " nbdkit1.err |
            grep -cF 'verified (data ranges; holes not checked)')" -eq 1
done

# holes=write (the default), over 0xAA again.
refill
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
    assert x["bytes"] == $export_size, x
    assert x["error"] is None, x
PYEOF
for n in "$loop1" "$loop2"; do
    grep -E "fanout: $n +block +verified " nbdkit2.err
done
if grep -F 'holes not checked' nbdkit2.err; then
    echo "$0: holes=write: a summary line says the holes were not checked"
    exit 1
fi

# The times, for the record.
/usr/bin/python3 - "$loop1" "$loop2" <<'PYEOF'
import json, sys
runs = {}
for n, holes in ((1, "skip"), (2, "write")):
    s = json.load(open("s%d.json" % n))
    d = {x["name"]: x for x in s["destinations"]}
    runs[holes] = s["elapsed"]
    print("holes=%s: run %.2f s, devices %s" % (holes, s["elapsed"],
          ", ".join("%.2f s" % d[name]["elapsed"] for name in sys.argv[1:])))
print("holes=write / holes=skip: %.2f (loop devices over tmpfs zero almost for free)"
      % (runs["write"] / max(runs["skip"], 1e-6)))
PYEOF

# Zeros written as data are written with holes=skip (a file system may
# rely on them); Zero and Trim requests are not, nor the never-written
# rest of the 48 MiB export.  1 MiB each: zero data at 8 MiB, a Zero at
# 16 MiB, a Trim at 24 MiB, data at 32 MiB; then the client reads zeros
# in all the holes, not the devices' 0xAA.
refill
cat > zero-data.py <<'PYEOF'
import nbd, sys
MiB = 1 << 20
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(bytes(MiB), 8 * MiB)
h.zero(MiB, 16 * MiB)
h.trim(MiB, 24 * MiB)
h.pwrite(b"\x33" * MiB, 32 * MiB)
h.flush()
# The client reads zeros in the holes, whatever the devices hold there.
for off in (0, 8 * MiB, 16 * MiB, 24 * MiB, 40 * MiB, 47 * MiB):
    assert h.pread(MiB, off) == bytes(MiB), off
assert h.pread(4096, 32 * MiB) == b"\x33" * 4096
h.shutdown()
PYEOF
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop1" dest="$loop2" \
    size=48M holes=skip verify=true status=s3.json \
    --run '/usr/bin/python3 zero-data.py "$uri"' 2> nbdkit3.err ||
    { cat nbdkit3.err; exit 1; }
cat nbdkit3.err
/usr/bin/python3 - <<'PYEOF'
MiB = 1 << 20
e = bytearray(b"\xaa" * (128 * MiB))
e[8 * MiB:9 * MiB] = bytes(MiB)
e[32 * MiB:33 * MiB] = b"\x33" * MiB
open("expect-zero-data.img", "wb").write(e)
PYEOF
cmp expect-zero-data.img "$loop1"
cmp expect-zero-data.img "$loop2"
check_status_json s3.json <<PYEOF
assert s["image_bytes"] == 33 * MiB, s
for n in ("$loop1", "$loop2"):
    x = d[n]
    assert x["state"] == "verified" and x["holds"] == "data-ranges", x
    assert x["data_bytes"] == MiB, x
    assert x["zero_bytes"] == MiB, x
    assert x["skipped_bytes"] == 46 * MiB, x
PYEOF
for n in "$loop1" "$loop2"; do
    test "$(grep -F "fanout: $n " nbdkit3.err |
            grep -cF 'verified (data ranges; holes not checked)')" -eq 1
done

# verify=repair with holes=skip: the same client; after its flush, a page
# of its data at 32 MiB and a page of the Trim's hole at 24 MiB are changed
# on the second device (written past the plugin, O_DIRECT).  The data page
# is repaired from the first device; the hole is not read back.
refill
cat > change.sh <<'SHEOF'
set -e
for at in 8200 6144; do   # 4 KiB pages: 32 MiB + 32 KiB, 24 MiB
    printf 'XXXXXXXX' | dd of="$1" bs=4096 seek=$at conv=sync,notrunc oflag=direct status=none
done
SHEOF
sed -e 's/^h.flush()$/h.flush()\nimport subprocess\nsubprocess.run(sys.argv[2], shell=True, check=True)/' \
    zero-data.py > zero-data-hook.py
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop1" dest="$loop2" \
    size=48M holes=skip verify=repair status=s4.json \
    --run "/usr/bin/python3 zero-data-hook.py \"\$uri\" 'bash change.sh $loop2'" 2> nbdkit4.err ||
    { cat nbdkit4.err; exit 1; }
cat nbdkit4.err
cmp expect-zero-data.img "$loop1"
/usr/bin/python3 - <<'PYEOF'
MiB = 1 << 20
e = bytearray(open("expect-zero-data.img", "rb").read())
e[24 * MiB:24 * MiB + 4096] = b"XXXXXXXX" + bytes(4088)
open("expect-changed-hole.img", "wb").write(e)
PYEOF
cmp expect-changed-hole.img "$loop2"
check_status_json s4.json <<PYEOF
assert d["$loop1"]["state"] == "verified", d["$loop1"]
x = d["$loop2"]
assert x["state"] == "repaired" and x["repaired_pages"] == 1, x
assert x["holds"] == "data-ranges", x
PYEOF
grep -Fx "nbdkit: fanout: $loop2: verify: repaired 1 4 KiB page (the first at offset $(( 8200 * 4096 ))) from $loop1, and read them back" \
    nbdkit4.err
