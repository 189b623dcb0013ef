#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: with every destination failed, the end of the stream of a
# large export (size=2T) has nothing to do.  The zero-fill and the SHA-256
# of two terabytes of zeros (about 20 minutes) are for nobody: nbdkit must
# end within seconds of SIGTERM, print no digest, and exit 1.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

# The only destination: a FIFO whose reader goes away after 1 MiB.
start_quitting_fifo_reader f1 1M
start_nbdkit -P pid -U sock "$FANOUT_PLUGIN" f1 size=2T status=s.json 2> nbdkit.err
# 4 MiB in order: the reader leaves after 1 MiB, the FIFO fails with EPIPE.
nbdsh -u "nbd+unix:///?socket=sock" -c '
for i in range(4):
    h.pwrite(b"\x33" * (1 << 20), i << 20)
h.flush()
' || true

start=$(date +%s.%N)
status=0
stop_nbdkit pid || status=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
echo "nbdkit ended $took s after SIGTERM"
cat nbdkit.err
test "$status" -eq 1
test "$(echo "$took < 5" | bc)" -eq 1

check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert d["f1"]["state"] == "failed", d["f1"]
assert s["sha256"] is None, s
assert s["sha256_unavailable"] == "no destination holds the image (every one failed)", s
PYEOF
if grep -E 'fanout: sha256 [0-9a-f]{64}' nbdkit.err; then exit 1; fi
grep -F 'sha256 unavailable: no destination holds the image (every one failed)' nbdkit.err
