#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a device-mapper device with an "error" segment in the
# middle ([16M, 20M) of 64 MiB, linear over a loop device elsewhere) as a
# destination, next to a file: cache=default, cache=none and direct=true,
# each with io=uring and io=sync.  The device must end "failed" (EIO, its
# name and the offset in the message and the status file), never "done";
# the file is done and holds the image; nbdkit exits 1.
# test-dest-block-eio.sh does the same with a loop device over a full
# tmpfs, for kernels without device-mapper.

source ./functions.sh
requires_root
requires losetup --version
requires nbdcopy --version
requires test -e /dev/loop-control
requires /usr/bin/python3 -c 'import json'
# dmsetup, and a kernel with device-mapper and its error target.
requires sh -c 'dmsetup targets | grep -q "^error "'
set -e
set -x

make_tmpdir

truncate -s 64M back.img
attach_loop_device back.img
dm="fanout-io-$$"
printf '0 32768 linear %s 0\n32768 8192 error\n40960 90112 linear %s 40960\n' \
    "$loop" "$loop" | dmsetup create "$dm"
cleanup_fn dmsetup remove --retry "$dm"
dev="/dev/mapper/$dm"
udevadm settle 2>/dev/null || true
test -b "$dev"
test "$(blockdev --getsize64 "$dev")" -eq $((64 * 1024 * 1024))

make_random src.img 64M 16

M=$((1024 * 1024))
# run NAME PATTERN OFFSET_MIN OFFSET_MAX ARGS...: nbdcopy src.img to ok.img
# and the device with ARGS; the device fails with one error line matching
# PATTERN (grep -E), at an offset in [OFFSET_MIN, OFFSET_MAX].
run ()
{
    local name="$1" pattern="$2" min="$3" max="$4"
    shift 4
    rm -f ok.img s.json client.rc
    status=0
    FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
        dest=ok.img dest="$dev" status=s.json "$@" \
        --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
        2> "$name.err" || status=$?
    cat "$name.err"
    test "$(cat client.rc)" -eq 0
    test "$status" -eq 1
    cmp src.img ok.img
    test "$(grep -c "error: " "$name.err")" -eq 2
    grep -E "^nbdkit: error: $dev: $pattern" "$name.err"
    check_status_json s.json <<PYEOF
import re
assert s["state"] == "finished", s
assert d["ok.img"]["state"] == "done", d["ok.img"]
dev = d["$dev"]
assert dev["kind"] == "block", dev
assert dev["state"] == "failed", dev
assert dev["errno"] == "EIO", dev
assert re.match(r"$dev: $pattern", dev["error"]), dev
assert $min <= dev["offset"] <= $max, dev
PYEOF
}

for io in uring sync; do
    # Buffered writes: either the write itself (a page the kernel had to
    # read first) or the fdatasync at the end says so.
    run default-$io \
        '(fdatasync after writes at offsets 0 to 67108864|write at offset [0-9]+): Input/output error' \
        0 $((20 * M)) io=$io
    run cache-none-$io \
        '(write-back \(cache=none\) of [0-9]+ bytes at offset [0-9]+|write at offset [0-9]+): Input/output error' \
        0 $((20 * M)) io=$io cache=none
    run direct-$io 'write at offset [0-9]+: Input/output error' \
        $((16 * M)) $((20 * M - 1)) io=$io direct=true
done
