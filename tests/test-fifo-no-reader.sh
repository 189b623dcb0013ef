#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a FIFO that nobody opens must hang neither the end of the
# stream nor a client held back by it: once data waits for it, the plugin
# waits 10 s for a reader, then that destination fails ("no reader has
# opened the FIFO within 10 s ...") and nbdkit exits 1; the file next to it
# holds what was written.  A reader that comes late, but within those 10 s,
# still gets the whole image.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

cat > write.py <<'PYEOF'
import sys

import nbd

MiB = 1024 * 1024
SIZE = 8 * MiB
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == SIZE
expected = bytearray(SIZE)
for off, byte in ((0, 0x61), (3 * MiB, 0x62), (3 * MiB + 4096, 0x63)):
    data = bytes([byte]) * 65536
    h.pwrite(data, off)
    expected[off:off + len(data)] = data
h.shutdown()
with open("expected.img", "wb") as f:
    f.write(expected)
PYEOF

# 1. Nobody ever opens the FIFO.
mkfifo fifo
start=$(date +%s)
status=0
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=8M status=s.json \
    --run '/usr/bin/python3 write.py "$uri"; rc=$?; echo $rc > client.rc; exit $rc' \
    2> nbdkit.err || status=$?
end=$(date +%s)
cat nbdkit.err
echo "nbdkit ran for $((end - start)) s"
test "$status" -ne 124      # not killed by the timeout: it did not hang
test "$(cat client.rc)" -eq 0
test "$status" -eq 1
test $((end - start)) -le 30

cmp expected.img file.img
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
d = {x["name"]: x for x in s["destinations"]}
fifo = d["fifo"]
assert fifo["state"] == "failed", fifo
assert "no reader" in fifo["error"], fifo
assert fifo["bytes"] == 0, fifo
f = d["file.img"]
assert f["state"] == "done" and f["error"] is None, f
PYEOF
test "$(grep -E ': error: ' nbdkit.err | grep -c -F 'no reader has opened the FIFO within 10 s')" -eq 1
grep -E 'fanout: fifo +fifo +failed +0 .*no reader' nbdkit.err
grep -F 'fanout: 1 of 2 destinations done, 1 failed: 8.0 MiB export (8388608 bytes) in ' nbdkit.err

# 2. The reader comes 3 s after the client is done: within the grace
# period, so it gets the whole image and nothing fails.
rm -f fifo file.img s.json
mkfifo fifo
( sleep 3; exec timeout 60 cat fifo > fifo.out ) &
reader=$!
cleanup_fn _kill_job "$reader"
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=8M \
    --run '/usr/bin/python3 write.py "$uri"' 2> nbdkit2.err
cat nbdkit2.err
wait "$reader"
cmp expected.img file.img
cmp expected.img fifo.out
grep -F 'fanout: 2 of 2 destinations done, 0 failed: 8.0 MiB export (8388608 bytes) in ' nbdkit2.err

# 3. Nobody opens the FIFO while a client writes far more than the window
# and the bus hold: the client is held back (back-pressure) until the FIFO
# gives up, then goes on; nothing hangs, the file holds the whole image.
rm -f fifo file.img s.json
mkfifo fifo
make_random src.img 128M
start=$(date +%s)
status=0
FANOUT_NBDKIT_TIMEOUT=90 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=128M window=16M bucket=4M buckets=2 \
    --run 'timeout 60 nbdcopy src.img "$uri"; rc=$?; echo $rc > client3.rc; exit $rc' \
    2> nbdkit3.err || status=$?
end=$(date +%s)
cat nbdkit3.err
echo "nbdkit ran for $((end - start)) s"
test "$(cat client3.rc)" -eq 0   # nbdcopy finished: it was held back, not stuck
test "$status" -eq 1
test $((end - start)) -ge 9      # it did wait for a reader first
test $((end - start)) -le 45
cmp src.img file.img
grep -E 'fanout: fifo +fifo +failed +0 .*no reader has opened the FIFO' nbdkit3.err
