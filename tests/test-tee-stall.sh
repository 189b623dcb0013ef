#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: a stalled tee destination.  The FIFO's reader stops
# itself (SIGSTOP) after 8 MiB without closing it; with
# tee-stall-timeout=3 the FIFO fails with ETIMEDOUT at 3 s and detaches,
# the plugin's disk and the other tee destination hold the image, nbdcopy
# succeeds and nbdkit exits 1.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 64M 32
truncate -s 64M base.img
mkfifo fifo
sh -c 'head -c 8M > /dev/null; kill -STOP $$; cat > /dev/null' < fifo &
reader_pid=$!
cleanup_fn kill -KILL "$reader_pid"
cleanup_fn kill -CONT "$reader_pid"

status=0
start=$SECONDS
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - --filter="$TEE_FILTER" \
    file base.img tee=fifo tee=mirror.img tee-status=s.json tee-stall-timeout=3 \
    --run 'nbdcopy src.img "$uri"; echo $? > nbdcopy.rc' \
    2> nbdkit.err || status=$?
elapsed=$(( SECONDS - start ))
cat nbdkit.err

test "$(cat nbdcopy.rc)" -eq 0
test "$status" -eq 1
test "$elapsed" -lt 15
cmp src.img base.img
cmp src.img mirror.img
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
assert d["fifo"]["state"] == "failed", d["fifo"]
assert d["fifo"]["errno"] == "ETIMEDOUT", d["fifo"]
assert d["fifo"]["error"] == "fifo: no progress for 3 s (stall-timeout=3)", d["fifo"]
assert d["mirror.img"]["state"] == "done", d["mirror.img"]
PYEOF
grep -F 'tee: fifo: no progress for 1 s' nbdkit.err
grep -F 'error: fifo: no progress for 3 s (tee-stall-timeout=3)' nbdkit.err
