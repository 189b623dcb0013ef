#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: clients cannot push nbdkit past the documented memory
# bound (man page, MEMORY):
#
#   window + window / 64 + ahead + (buckets + 2) * bucket
#   + 16 threads * max request (the bucket) + 16 MiB,
#   plus the page hashes of what was written
#
# here 2M + 32K + 2M + 4 * 256K + 16 * 256K + 16M = 25 MiB, with
#  - 400,000 1-byte writes parked far ahead of the window: each range's
#    overhead counts against ahead=, so parking stops and the window
#    slides instead;
#  - 400,000 1-byte writes inside a sliding window, and 400,000 scattered
#    with only a file destination: a chunk's bookkeeping stays within its
#    share of the window, and so does the map of what was committed;
#  - a 64 GiB export with one 4 KiB write: the page hashes grow with what
#    was written, not with the export (2.25 MiB per GiB of export before).
# Every byte still reaches the file destination exactly.  The peak is
# nbdkit's VmHWM, read while the client is still connected.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

bound_mib=25
common=(window=2M ahead=2M bucket=256K buckets=2)

# peak_of PIDFILE: nbdkit's VmHWM in KiB.
peak_of ()
{
    awk '/^VmHWM:/ { print $2 }' "/proc/$(cat "$1")/status"
}

# check_peak WHAT KIB: notes a peak over the bound (every case is run and
# reported before the test fails).
over=0
check_peak ()
{
    local what="$1" kib="$2"
    echo "$what: nbdkit peak RSS $(( kib / 1024 )) MiB (bound $bound_mib MiB)"
    if [ -n "$SANITIZER_RUNTIME" ]; then
        echo "sanitizer build: the memory bound is not checked"
    elif [ "$kib" -ge $(( bound_mib * 1024 )) ]; then
        echo "$what: FAIL: over the bound"
        over=1
    fi
}

# The client: writes CASE's pattern with 64 requests in flight, builds the
# image it wrote in expect.img, and prints nbdkit's VmHWM before it
# disconnects.
cat > client.py <<'PYEOF'
import sys, nbd
case, sock, pidfile, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
h = nbd.NBD()
h.connect_uri("nbd+unix:///?socket=" + sock)
def run(reqs):
    for off, data in reqs:
        while h.aio_in_flight() >= 64:
            h.poll(-1)
        h.aio_pwrite(nbd.Buffer.from_bytearray(data), off, completion=lambda err: 1)
    while h.aio_in_flight() > 0:
        h.poll(-1)
n = 400000
expect = {}
if case == "parked":
    # One byte at the start, then bytes 2 apart from 8M on: each leaves a
    # gap after the highest write, so each would be parked.
    h.pwrite(b"\x01", 0)
    expect[0] = 1
    offs = [(8 << 20) + 2 * i for i in range(n)]
elif case == "window":
    # 8 apart: 3.2M, so the 2M window slides over them.
    offs = [8 * i for i in range(n)]
elif case == "scattered":
    # Only a file: no window to slide, but open chunks and the map of
    # what was committed.
    offs = [16 * i for i in range(n)]
else:
    offs = []
    h.pwrite(b"\x42" * 4096, 0)
reqs = []
for i, off in enumerate(offs):
    b = 1 + i % 255
    expect[off] = b
    reqs.append((off, bytearray([b])))
run(reqs)
with open("/proc/%s/status" % open(pidfile).read().strip()) as f:
    print([l.split()[1] for l in f if l.startswith("VmHWM:")][0], file=open(case + ".hwm", "w"))
h.shutdown()
if case != "page":
    img = bytearray(size)
    for off, b in expect.items():
        img[off] = b
    open("expect.img", "wb").write(img)
PYEOF

for case in parked window scattered; do
    rm -f a.img expect.img stream.out
    stream=('cmd=cat > stream.out')
    if [ $case = scattered ]; then
        stream=()
    fi
    start_nbdkit -P $case.pid -U $case.sock "$FANOUT_PLUGIN" \
        a.img "${stream[@]}" size=64M "${common[@]}" 2> $case.err
    /usr/bin/python3 client.py $case $case.sock $case.pid $((64 << 20))
    stop_nbdkit $case.pid
    cat $case.err
    cmp expect.img a.img
    if [ $case != scattered ]; then
        cmp expect.img stream.out
    fi
    check_peak "$case 1-byte writes" "$(cat $case.hwm)"
done

# The 64 GiB export: every destination seeks, so the page hashes are kept
# for the image's SHA-256.  Its end-of-stream is not what this measures:
# nbdkit is killed once the peak is read.
rm -f a.img
start_nbdkit -P page.pid -U page.sock "$FANOUT_PLUGIN" a.img size=64G "${common[@]}" 2> page.err
/usr/bin/python3 client.py page page.sock page.pid $((64 << 30))
kill -KILL "$(cat page.pid)"
check_peak "64G export, one 4 KiB write" "$(cat page.hwm)"
test "$over" = 0
