#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a kernel that refuses io_uring (here strace fails every
# io_uring_setup with EPERM, as kernel.io_uring_disabled or Docker's default
# seccomp profile do).  io=uring (the default) must fall back to pwrite
# with one debug line, leave every file done and identical to the image,
# exit 0, and leave nbdkit's descriptor 0 alone: exiting a ring that was
# never set up closes descriptor 0, and the next file opened then lands
# there.  The tee filter must start and mirror under the same refusal.

source ./functions.sh
requires strace -V
requires strace -f -qq --seccomp-bpf -o /dev/null -e trace=io_uring_setup \
    -e inject=io_uring_setup:error=EPERM true
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 32M 17
# nbdkit points its descriptor 0 at /dev/null before it loads the plugin
# (it keeps the real stdin elsewhere for --run and -s): /proc must still
# show /dev/null there while it serves.

# Three files: the first one opened is the one that used to take the
# closed descriptor 0 (and fail with EBADF when it was closed again).
status=0
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit_without_io_uring -v -P nbdkit.pid -U - \
    "$FANOUT_PLUGIN" dest=a.img dest=b.img dest=c.img size=32M status=s.json \
    --run 'nbdcopy src.img "$uri" && readlink /proc/$(cat nbdkit.pid)/fd/0 > fd0.txt' \
    2> files.err || status=$?
grep -v 'debug: ' files.err || true
test "$status" -eq 0
test "$(cat fd0.txt)" = /dev/null
for f in a b c; do cmp src.img $f.img; done
# One debug line for the whole run, and no writer tried again.  (Only
# nbdkit's lines: set -x traces go to the same file.)
grep '^nbdkit: .*io_uring' files.err
test "$(grep -c '^nbdkit: debug: io=uring: io_uring_queue_init: Operation not permitted; falling back to io=sync$' files.err)" -eq 1
test "$(grep -c '^nbdkit: .*io_uring' files.err)" -eq 1
if grep -E '^nbdkit: .*error: ' files.err; then
    echo "$0: errors logged"
    exit 1
fi
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
for name in ("a.img", "b.img", "c.img"):
    assert d[name]["state"] == "done", d[name]
    assert d[name]["bytes"] == 32 * MiB, d[name]
    assert d[name]["error"] is None, d[name]
PYEOF

# The tee filter, over nbdkit's memory plugin, mirroring to two files; the
# client reads the image back through the filter too.
status=0
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit_without_io_uring -P tee.pid -U - \
    --filter="$TEE_FILTER" memory 32M tee=t1.img tee=t2.img \
    --run 'nbdcopy src.img "$uri" && nbdcopy "$uri" back.img &&
           readlink /proc/$(cat tee.pid)/fd/0 > tee-fd0.txt' \
    2> tee.err || status=$?
cat tee.err
test "$status" -eq 0
test "$(cat tee-fd0.txt)" = /dev/null
cmp src.img back.img
cmp src.img t1.img
cmp src.img t2.img
grep -E 'tee: t1\.img +file +done +33554432 ' tee.err
grep -E 'tee: t2\.img +file +done +33554432 ' tee.err
