#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a block device that loses writes (EIO from the device, not
# from pwrite) must end "failed", never "done", whichever way it is written:
# cache=default (the error comes back from fdatasync), cache=none (from the
# writeback pipeline's sync_file_range, which takes the error away from the
# fdatasync after it), direct=true (from the O_DIRECT write itself), each
# with io=uring and io=sync.  The file next to it receives the whole image,
# nbdkit exits 1 and the status file says which device failed, with what
# and where.  A client's flush hears of it as on-error= says, and its reads
# return what it wrote, never what the device holds instead.  The tee
# filter (tee-cache=none) fails the device the same way.
#
# The device: a loop device over a 64 MiB file on a tmpfs that is full,
# with every block of the file allocated except [16M, 20M).  Writes there
# need memory the tmpfs does not have: the loop device fails them with EIO
# (or ENOSPC for direct writes); everything else is written as usual.

source ./functions.sh
requires_root
requires losetup --version
requires fallocate --version
requires nbdcopy --version
requires nbdsh --version
requires test -e /dev/loop-control
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

mount_small_tmpfs small 60M
truncate -s 64M small/back.img
fallocate -o 0 -l 16M small/back.img
fallocate -o 20M -l 44M small/back.img
# Whatever the tmpfs still has is taken, so the hole cannot be filled.
dd if=/dev/zero of=small/filler bs=4k status=none 2>/dev/null || true
test "$(df --output=avail small | tail -1)" -eq 0
attach_loop_device small/back.img

make_random src.img 64M 15

# run NAME ARGS...: nbdcopy src.img to ok.img and the device, with ARGS.
run ()
{
    local name="$1"
    shift
    rm -f ok.img s.json client.rc
    status=0
    FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
        dest=ok.img dest="$loop" status=s.json "$@" \
        --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
        2> "$name.err" || status=$?
    cat "$name.err"
    # The client did not notice: one healthy destination is enough.
    test "$(cat client.rc)" -eq 0
}

# check NAME PATTERN OFFSET_MIN OFFSET_MAX: the run failed the device, with
# one error line matching PATTERN (grep -E) and an offset in the status file
# within [OFFSET_MIN, OFFSET_MAX]; ok.img is done and holds the image.
check ()
{
    local name="$1" pattern="$2"
    test "$status" -eq 1
    cmp src.img ok.img
    test "$(grep -c "error: " "$name.err")" -eq 2
    grep -E "^nbdkit: error: $loop: $pattern" "$name.err"
    grep -F 'nbdkit: error: 1 of 2 destinations failed' "$name.err"
    check_status_json s.json <<PYEOF
import re
assert s["state"] == "finished", s
ok = d["ok.img"]
assert ok["state"] == "done" and ok["bytes"] == 64 * MiB, ok
assert ok["error"] is None, ok
dev = d["$loop"]
assert dev["kind"] == "block", dev
assert dev["state"] == "failed", dev
assert dev["errno"] in ("EIO", "ENOSPC"), dev
assert re.match(r"$loop: $pattern", dev["error"]), dev
assert $3 <= dev["offset"] <= $4, dev
PYEOF
}

M=$((1024 * 1024))
for io in uring sync; do
    # The device's write-back fails; fdatasync at the end says so, with
    # the span written since the last sync (no flush: all of it).
    run default-$io io=$io
    check default-$io \
        'fdatasync after writes at offsets 0 to 67108864: Input/output error' 0 0

    # cache=none: the writeback pipeline waits for each 32 MiB chunk; the
    # first one holds the hole.
    run cache-none-$io io=$io cache=none
    check cache-none-$io \
        'write-back \(cache=none\) of [0-9]+ bytes at offset [0-9]+: (Input/output error|No space left on device)' \
        0 $((16 * M))

    # direct=true: the write into the hole fails at once.
    run direct-$io io=$io direct=true
    check direct-$io \
        'write at offset [0-9]+: (Input/output error|No space left on device)' \
        $((16 * M)) $((20 * M - 1))
done

# A client's flush, and its reads.  40 MiB is written, past the first
# write-back chunk (32 MiB) and the hole; then a flush.  With
# on-error=fail the flush fails; with on-error=continue it succeeds (ok.img
# holds everything) and reading the hole back returns what was written.
cat > client.py <<'PYEOF'
import sys
import nbd
MiB = 1024 * 1024
policy = sys.argv[1]
h = nbd.NBD()
h.connect_uri(sys.argv[2])
with open("src.img", "rb") as f:
    data = f.read(40 * MiB)
for off in range(0, 40 * MiB, MiB):
    h.pwrite(data[off:off + MiB], off)
try:
    h.flush()
    flushed = True
except nbd.Error as e:
    print("flush failed:", e)
    assert e.errno == "EIO", e.errno
    flushed = False
if policy == "fail":
    assert not flushed, "the flush succeeded although the device lost data"
else:
    assert flushed, "the flush failed with on-error=continue"
    assert h.pread(8 * MiB, 14 * MiB) == data[14 * MiB:22 * MiB], "read the wrong data"
PYEOF
for cache in default none; do
    for policy in fail continue; do
        rm -f ok.img s.json client.rc
        status=0
        FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
            dest=ok.img dest="$loop" size=64M status=s.json \
            cache=$cache on-error=$policy \
            --run '/usr/bin/python3 client.py '$policy' "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
            2> flush-$cache-$policy.err || status=$?
        cat flush-$cache-$policy.err
        test "$(cat client.rc)" -eq 0
        test "$status" -eq 1
        check_status_json s.json <<PYEOF
assert d["ok.img"]["state"] == "done", d["ok.img"]
assert d["$loop"]["state"] == "failed", d["$loop"]
PYEOF
        cmp -n $((40 * M)) src.img ok.img
    done
done

# The tee filter, with tee-cache=none (and the other two twins): the same
# device fails the same way, the other tee file holds the image.
for io in uring sync; do
    rm -f ok.img s.json client.rc
    status=0
    FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - --filter="$TEE_FILTER" memory size=64M \
        tee=ok.img tee="$loop" tee-status=s.json tee-io=$io tee-cache=none \
        --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
        2> tee-$io.err || status=$?
    cat tee-$io.err
    test "$(cat client.rc)" -eq 0
    test "$status" -eq 1
    cmp src.img ok.img
    grep -E "^nbdkit: error: $loop: write-back \(tee-cache=none\) of [0-9]+ bytes at offset [0-9]+: Input/output error" \
        tee-$io.err
    check_status_json s.json <<PYEOF
assert d["ok.img"]["state"] == "done", d["ok.img"]
dev = d["$loop"]
assert dev["state"] == "failed", dev
assert dev["errno"] in ("EIO", "ENOSPC"), dev
assert "write-back" in dev["error"], dev
assert dev["offset"] <= 16 * MiB, dev
PYEOF
done
