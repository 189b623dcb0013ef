#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a slow FIFO reader (pv -L 50M) next to two fast files.
# The slow reader holds the others back (back-pressure) instead of nbdkit
# buffering the image: nbdkit's peak RSS stays below window + (buckets + 2)
# * bucket + 64 MiB of slack (16 + 24 + 64 = 104 MiB), far below the 256 MiB
# image.  Nothing fails: every destination holds the image, nbdkit exits 0.

source ./functions.sh
requires nbdcopy --version
requires pv --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 256M 5
start_slow_fifo_reader fifo 50M fifo.out

start_nbdkit -P nbdkit.pid -U nbdkit.sock "$FANOUT_PLUGIN" \
    dest=a.img dest=fifo dest=b.img size=256M window=16M bucket=4M buckets=4 \
    status=s.json 2> nbdkit.err
pid="$(cat nbdkit.pid)"

# Sample the peak while the copy runs (VmHWM only grows; the last sample,
# taken before nbdkit is stopped, is the peak of the whole copy).
sample ()
{
    local kib
    kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")"
    if [ -n "$kib" ]; then
        echo "$kib" >> hwm
    fi
}
start=$(date +%s.%N)
timeout 120 nbdcopy src.img "nbd+unix:///?socket=nbdkit.sock" &
copy=$!
cleanup_fn _kill_job "$copy"
while _is_running "$copy"; do
    sample
    sleep 0.2
done
wait "$copy"
end=$(date +%s.%N)
sample
stop_nbdkit nbdkit.pid
cat nbdkit.err
wait_fifo_reader

cmp src.img a.img
cmp src.img b.img
cmp src.img fifo.out

peak_kib="$(sort -n hwm | tail -1)"
echo "nbdkit peak RSS: $peak_kib KiB"
if [ -n "$SANITIZER_RUNTIME" ]; then
    echo "sanitizer build: the memory bound is not checked"
else
    test "$peak_kib" -lt $(( 104 * 1024 ))
fi

# The copy took about as long as the slow reader needed for the part that
# did not fit into the window and the buckets: it was held back.
/usr/bin/python3 -c "
elapsed = $end - $start
print('nbdcopy took %.1f s' % elapsed)
assert elapsed >= 2.5, elapsed
"

/usr/bin/python3 - <<'PYEOF'
import json

with open("s.json") as f:
    s = json.load(f)
assert s["state"] == "finished", s
for d in s["destinations"]:
    assert d["state"] == "done" and d["bytes"] == 256 * 1024 * 1024, d
PYEOF
grep -F 'fanout: 3 of 3 destinations done, 0 failed: 256.0 MiB export (268435456 bytes) in ' \
    nbdkit.err
