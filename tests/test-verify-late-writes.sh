#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: verify=true when the client rewrites part of a page it had
# already written whole, so the expected hash of that page must be rebuilt
# from bytes the plugin no longer holds (see common/page_hashes.h: the page
# is read from a destination and checked against its old hash).
#
#  1. A FIFO and a file, window=4M ahead=0: late writes behind the commit
#     point, 512 bytes inside a page and 100 bytes across two.  The FIFO
#     fails (it has passed them), the file is "verified", and since the
#     in-order digest no longer is the image's, the SHA-256 is read back
#     from the verified file: it equals sha256sum of the expected image.
#  2. The same without verify=: the digest is "unavailable", with the
#     reason, never a wrong one.
#  3. Files only (unordered): the same kind of rewrites after flushes, and
#     sub-page writes into new ground; verified, the right digest.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
requires sha256sum --version
set -e
set -x

make_tmpdir

cat > late.py <<'PYEOF'
import os
import sys

import nbd

MiB = 1024 * 1024
SIZE = 64 * MiB
mode = sys.argv[2]

h = nbd.NBD()
h.connect_uri(sys.argv[1])
expected = bytearray(SIZE)

def write(offset, length):
    data = os.urandom(length)
    h.pwrite(data, offset)
    expected[offset:offset + length] = data

write(0, MiB)
if mode == "ordered":
    write(40 * MiB, MiB)          # slides the window: [0, 37M) committed
    write(1024, 512)              # late, inside page 0
    write(8192 - 50, 100)         # late, across pages 1 and 2
    write(40 * MiB + 4096, 512)   # inside the window
else:
    h.flush()                     # commits: page 0 is whole
    write(1024, 512)
    h.flush()
    write(8192 - 50, 100)
    write(20 * MiB + 7, 3)        # sub-page pieces of new ground
    write(20 * MiB + 4000, 200)
    h.flush()
    write(20 * MiB + 100, 10)     # a partial page, partly rewritten
    h.zero(4096, 12288)           # a zeroed page
    expected[12288:16384] = bytes(4096)
h.shutdown()
with open("expected.img", "wb") as f:
    f.write(expected)
PYEOF

# 1. Ordered, verify=true.
start_fifo_reader fifo fifo.out
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -v -D fanout.window=1 -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=64M window=4M ahead=0 verify=true status=s1.json \
    --run '/usr/bin/python3 late.py "$uri" ordered' 2> nbdkit1.err || status=$?
grep -v 'debug:' nbdkit1.err
# The three rewritten pages were rebuilt from the file's bytes.
test "$(grep -c 'rewritten in part, earlier bytes read from file.img' nbdkit1.err)" -eq 3
wait_fifo_reader || true
test "$status" -eq 1
cmp expected.img file.img
digest="$(sha256sum < expected.img | cut -d' ' -f1)"
check_status_json s1.json <<PYEOF
assert d["fifo"]["state"] == "failed", d["fifo"]
assert d["file.img"]["state"] == "verified", d["file.img"]
assert s["sha256"] == "$digest", s
PYEOF
grep -F "fanout: sha256 $digest" nbdkit1.err

# 2. Ordered, no verify=.
rm -f file.img fifo
start_fifo_reader fifo fifo.out
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=fifo dest=file.img size=64M window=4M ahead=0 status=s2.json \
    --run '/usr/bin/python3 late.py "$uri" ordered' 2> nbdkit2.err || status=$?
cat nbdkit2.err
wait_fifo_reader || true
test "$status" -eq 1
cmp expected.img file.img
check_status_json s2.json <<'PYEOF'
assert s["sha256"] is None, s
assert "behind the stream position" in s["sha256_unavailable"], s
assert d["file.img"]["state"] == "done", d["file.img"]
PYEOF
grep -F "fanout: sha256 unavailable: a write behind the stream position" nbdkit2.err

# 3. Files only, verify=true.
rm -f file.img
fanout_nbdkit -v -D fanout.window=1 -U - "$FANOUT_PLUGIN" dest=file.img dest=file2.img \
    size=64M verify=true status=s3.json \
    --run '/usr/bin/python3 late.py "$uri" unordered' 2> nbdkit3.err
grep -v 'debug:' nbdkit3.err
grep -F 'page hash at 0: rewritten in part, earlier bytes read from file.img' nbdkit3.err
# The rewrites changed bytes the digest had already taken while the image
# was written: it gave up following and was read back at the end instead.
grep -E 'debug: sha256: not hashed while written \(a write at offset [0-9]+ changed bytes already taken into the digest\): reading a destination at the end' nbdkit3.err
cmp expected.img file.img
cmp expected.img file2.img
digest="$(sha256sum < expected.img | cut -d' ' -f1)"
check_status_json s3.json <<PYEOF
assert d["file.img"]["state"] == "verified", d["file.img"]
assert d["file2.img"]["state"] == "verified", d["file2.img"]
assert s["sha256"] == "$digest", s
PYEOF
