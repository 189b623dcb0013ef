#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a block device whose I/O never completes.  Once 16 MiB
# have reached it (and been flushed), the device stops completing writes:
# with device-mapper, a linear target over a loop device is suspended
# (dmsetup suspend); where the kernel has no device-mapper, the device is
# a loop device over a file on a FUSE mount (nbdfuse of nbdkit memory)
# whose FUSE daemon is stopped (SIGSTOP).  direct=true (and io=sync, so
# the writer thread sits in pwrite(2) in the kernel) puts the writes on
# the device.  With stall-timeout=3 the device fails with ETIMEDOUT, its
# writer thread, which cannot be woken, is abandoned (not waited for), and
# the run ends within the timeout plus a few seconds: the summary is
# logged, the status file says finished, the file is done and holds the
# image.  The device is let go afterwards, and nbdkit then exits 1.
# (Without stall-timeout= the run waited for the device for ever.)

source ./functions.sh
requires_root
requires /usr/bin/python3 -c 'import nbd'
requires losetup --version
set -e
set -x

make_tmpdir

make_random src.img 64M 4
make_hook_writer

if dmsetup version > /dev/null 2>&1; then
    truncate -s 64M back.img
    attach_loop_device back.img
    dm="fanout-stall-$$"
    dmsetup create "$dm" --table "0 131072 linear $loop 0"
    cleanup_fn dmsetup remove "$dm"
    cleanup_fn dmsetup resume "$dm"
    dev="/dev/mapper/$dm"
    stop="dmsetup suspend $dm"
else
    requires nbdfuse --version
    requires fusermount3 --version
    start_nbd_server mem.pid nbdkit -f -P mem.pid -U "$tmp/mem.sock" memory 64M
    mkdir mnt
    start_nbdfuse mnt "$tmp/mem.sock"
    # Let the FUSE daemon go on before it is unmounted and killed.
    cleanup_fn kill -CONT "$nbdfuse_pid"
    attach_loop_device mnt/nbd
    dev="$loop"
    stop="kill -STOP $nbdfuse_pid"
fi

start=$SECONDS
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=a.img "dest=$dev" direct=true io=sync status=s.json stall-timeout=3 \
    --run "/usr/bin/python3 hook_writer.py \"\$uri\" src.img 16777216 '$stop'; echo \$? > client.rc" \
    2> nbdkit.err &
nbdkit_pid=$!
cleanup_fn _kill_job "$nbdkit_pid"

# The run ends (its summary) within the timeout plus a few seconds, while
# the device is still stuck.
for (( i = 0; i < 300; i++ )); do
    grep -q 'destinations done' nbdkit.err && break
    sleep 0.1
done
elapsed=$(( SECONDS - start ))
cat nbdkit.err
test "$elapsed" -lt 12
test "$(cat client.rc)" -eq 0
cmp src.img a.img

check_status_json s.json <<PYEOF
assert s["state"] == "finished", s["state"]
x = d["$dev"]
assert x["kind"] == "block", x
assert x["state"] == "failed", x
assert x["errno"] == "ETIMEDOUT", x
assert x["error"] == "$dev: no progress for 3 s (stall-timeout=3)", x
assert 16 * MiB <= x["bytes"] < 64 * MiB, x
assert d["a.img"]["state"] == "done" and d["a.img"]["bytes"] == 64 * MiB, d["a.img"]
PYEOF
grep -F "fanout: $dev: not waited for: its writer is still blocked (in the kernel)" nbdkit.err

# The device goes on; the abandoned thread ends, and so does nbdkit.
if [ -n "$dm" ]; then dmsetup resume "$dm"; else kill -CONT "$nbdfuse_pid"; fi
status=0
wait "$nbdkit_pid" || status=$?
test "$status" -eq 1
