#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: verify=true with two files (the issue's first "must
# show"): nbdcopy writes a 256 MiB image, both files are read back and
# "verified", the status file and the summary carry the image's SHA-256,
# which equals sha256sum of the source.  The files are read with O_DIRECT
# (ext4 here; tmpfs would fall back to dropping the cache, see
# test-verify-loop-device.sh), and after verification none of their pages is
# left in the page cache (fincore).  Then a FIFO next to a file: the FIFO
# is "done" (a stream cannot be read back), the file "verified", and the
# digest (hashed in order) equals sha256sum of what the FIFO delivered.
# Without verify=, files only: the digest is still there, hashed while the
# image was written (nbdcopy's threads write two regions at once: what came
# out of order is read back from a file during the run and checked against
# the page hashes), and nothing is read back at the end.

source ./functions.sh
requires nbdcopy --version
requires fincore --version
requires sha256sum --version
set -e
set -x

make_tmpdir
if [ "$(stat -f -c %T .)" = tmpfs ]; then
    echo "SKIP: $0: $tmp is on tmpfs, where O_DIRECT and fincore say nothing"
    exit 77
fi

make_random src.img 200M 51
truncate -s 256M src.img  # a hole at the end: zero extents verified too
digest="$(sha256sum < src.img | cut -d' ' -f1)"

fanout_nbdkit -v -U - "$FANOUT_PLUGIN" dest=a.img dest=b.img size=256M verify=true \
    status=s.json --run 'nbdcopy src.img "$uri"' 2> nbdkit.err
grep -v 'debug:' nbdkit.err || true
# O_DIRECT was used, and no page of either file is cached now (checked
# before anything here reads them).
test "$(grep -c 'verifying with O_DIRECT' nbdkit.err)" -eq 2
fincore -n -b -o RES a.img b.img > fincore.out
cat fincore.out
test "$(awk '{ s += $1 } END { print s }' fincore.out)" -eq 0
cmp src.img a.img
cmp src.img b.img
check_status_json s.json <<PYEOF
assert s["state"] == "finished", s
assert s["sha256"] == "$digest", s
assert s["sha256_unavailable"] is None, s
for n in ("a.img", "b.img"):
    assert d[n]["state"] == "verified", d[n]
    assert d[n]["verified_bytes"] == 256 * MiB, d[n]
    assert d[n]["error"] is None, d[n]
PYEOF
grep -E "fanout: a.img +file +verified " nbdkit.err
grep -E "fanout: b.img +file +verified " nbdkit.err
grep -F "fanout: sha256 $digest" nbdkit.err

# A FIFO and a file: the stream's digest is the in-order one.
start_fifo_reader fifo fifo.out
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=fifo dest=c.img size=256M verify=true \
    status=s2.json --run 'nbdcopy src.img "$uri"' 2> nbdkit2.err
cat nbdkit2.err
wait_fifo_reader
cmp src.img fifo.out
test "$(sha256sum < fifo.out | cut -d' ' -f1)" = "$digest"
check_status_json s2.json <<PYEOF
assert s["sha256"] == "$digest", s
assert d["fifo"]["state"] == "done" and d["fifo"]["verified_bytes"] is None, d["fifo"]
assert d["c.img"]["state"] == "verified", d["c.img"]
PYEOF

# Files only, no verify=: the digest all the same, the files left "done",
# hashed while written and never read back at the end.
rm -f a.img
fanout_nbdkit -v -U - "$FANOUT_PLUGIN" dest=a.img size=256M status=s3.json \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit3.err
grep -v 'debug:' nbdkit3.err || true
check_status_json s3.json <<PYEOF
assert s["sha256"] == "$digest", s
assert d["a.img"]["state"] == "done" and d["a.img"]["verified_bytes"] is None, d["a.img"]
PYEOF
grep -F "fanout: sha256 $digest" nbdkit3.err
grep -E 'debug: sha256: hashed while written, [0-9]+ bytes as committed and [0-9]+ read back' \
    nbdkit3.err
if grep -q 'verifying with' nbdkit3.err; then echo "$0:88: this must be false: grep -q 'verifying with' nbdkit3.err" >&2; exit 1; fi

# sha256=false: no digest and no read-back at the end, and the status file
# says why; the copy is still whole.
rm -f e.img
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=e.img size=256M sha256=false \
    status=s3.json --run 'nbdcopy src.img "$uri"' 2> nbdkit3.err
cat nbdkit3.err
cmp src.img e.img
check_status_json s3.json <<PYEOF
assert s["sha256"] is None, s
assert s["sha256_unavailable"] == "not computed (sha256=false)", s
assert d["e.img"]["state"] == "done", d
PYEOF

# Files only, written front to back by one writer: the commits come in
# order, so the SHA-256 is hashed as they go and nothing is read back.
head -c 32M src.img > small.img
small_digest="$(sha256sum < small.img | cut -d' ' -f1)"
fanout_nbdkit -v -U - "$FANOUT_PLUGIN" dest=f.img size=32M status=s5.json \
    --run "nbdsh -u \"\$uri\" -c '
d = open(\"small.img\", \"rb\").read()
for i in range(0, len(d), 1 << 20):
    h.pwrite(d[i:i + (1 << 20)], i)
h.flush()'" 2> nbdkit5.err
grep -v 'debug:' nbdkit5.err || true
cmp small.img f.img
check_status_json s5.json <<PYEOF
assert s["sha256"] == "$small_digest", s
assert d["f.img"]["state"] == "done", d
PYEOF
if grep -q 'verifying with' nbdkit5.err; then echo "$0:119: this must be false: grep -q 'verifying with' nbdkit5.err" >&2; exit 1; fi
