#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: a tee destination fails (its FIFO's reader leaves
# after 4 MiB).
#
# 1. tee-on-error=continue: nbdcopy succeeds, the plugin's disk and the
#    other tee destination hold the image, the status file and the summary
#    say the FIFO failed, and nbdkit exits 1.
# 2. tee-on-error=fail: nbdcopy fails (EIO), and nbdkit exits non-zero.
# A small window keeps nbdcopy close behind the FIFO, so the failure comes
# while it still has most of the image to send.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 64M 31

# 1. tee-on-error=continue (the default).
truncate -s 64M base.img
start_quitting_fifo_reader fifo 4M

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - --filter="$TEE_FILTER" \
    file base.img tee=fifo tee=mirror.img tee-status=s.json \
    tee-window=16M tee-bucket=1M tee-buckets=2 \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> nbdkit.err || status=$?
cat nbdkit.err
wait_fifo_reader

test "$(cat nbdcopy.rc)" -eq 0
test "$status" -eq 1
cmp src.img base.img
cmp src.img mirror.img
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
f = d["fifo"]
assert f["state"] == "failed" and f["errno"] == "EPIPE", f
assert "Broken pipe" in f["error"], f
assert d["mirror.img"]["state"] == "done", d["mirror.img"]
PYEOF
test "$(grep -c 'error: fifo: write: Broken pipe' nbdkit.err)" -eq 1
grep -E 'tee: fifo +fifo +failed ' nbdkit.err
grep -F 'tee: 1 of 2 destinations done, 1 failed: 64.0 MiB export (67108864 bytes) in ' nbdkit.err

# 2. tee-on-error=fail.
rm -f fifo base.img mirror.img s.json nbdcopy.rc
truncate -s 64M base.img
start_quitting_fifo_reader fifo 4M

status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - --filter="$TEE_FILTER" \
    file base.img tee=fifo tee=mirror.img tee-status=s.json tee-on-error=fail \
    tee-window=16M tee-bucket=1M tee-buckets=2 \
    --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
    2> nbdkit2.err || status=$?
cat nbdkit2.err
wait_fifo_reader

test "$(cat nbdcopy.rc)" -ne 0
test "$status" -ne 0
grep -F 'refusing requests (tee-on-error=fail): destination fifo failed: ' nbdkit2.err
test "$(grep -c 'refusing requests' nbdkit2.err)" -eq 1
# nbdcopy reports the EIO it got.
grep -E 'nbdcopy: .*(Input/output error|EIO)' nbdkit2.err
if ! nbdkit_aborted_on_reset nbdkit2.err; then
    check_status_json s.json <<'PYEOF'
assert d["fifo"]["state"] == "failed" and d["fifo"]["errno"] == "EPIPE", d["fifo"]
# nbdcopy, refused, exited non-zero: the run is interrupted.
assert s["state"] == "interrupted", s["state"]
assert d["mirror.img"]["state"] == "incomplete", d["mirror.img"]
assert s["refused_requests"] is True, s
PYEOF
fi
