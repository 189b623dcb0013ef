#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: the image's own digest in the status file, for an image
# written into a larger export (a 4 GiB image onto a 2 TB drive, checked
# against its published SHA256SUMS).  A libnbd client writes 10 MiB + 5
# bytes into a 64 MiB export, back to front (the highest write first, so
# the client's last write is not its highest): "image_bytes" is 10485765,
# "image_sha256" the SHA-256 of the source's first 10485765 bytes, and
# "sha256" still the whole 64 MiB export's.  Then the highest request is a
# zero request over bytes never written: it ends the image too.

source ./functions.sh
requires sha256sum --version
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_memory_tmpdir

MiB=$((1024 * 1024))
make_random src.img 16M 62
n=$(( 10 * MiB + 5 ))
head -c $n src.img > image.img
image_digest="$(sha256sum < image.img | cut -d' ' -f1)"
cp image.img export.img
truncate -s 64M export.img
export_digest="$(sha256sum < export.img | cut -d' ' -f1)"

cat > back-to-front.py <<'PYEOF'
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
data = open("image.img", "rb").read()
step = 1 << 20
for off in reversed(range(0, len(data), step)):
    h.pwrite(data[off:off + step], off)
h.flush()
h.shutdown()
PYEOF
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=a.img size=64M status=s1.json \
    --run '/usr/bin/python3 back-to-front.py "$uri"' 2> nbdkit1.err || { cat nbdkit1.err; exit 1; }
cat nbdkit1.err
cmp export.img a.img
check_status_json s1.json <<PYEOF
assert s["state"] == "finished", s
assert s["detect_zeroes"] is True and s["holes"] == "write", s
assert s["image_bytes"] == $n, s
assert s["image_sha256"] == "$image_digest", s
assert s["sha256"] == "$export_digest", s
a = d["a.img"]
assert a["state"] == "done", a
assert a["data_bytes"] == $n, a
assert a["zero_bytes"] == 64 * MiB - $n, a
assert a["skipped_bytes"] == 0, a
assert a["bytes"] == 64 * MiB, a
PYEOF
grep -F "fanout: sha256 $export_digest" nbdkit1.err

# 1 MiB of data at 0, then zeros at 30 MiB .. 30 MiB + 4099: the image is
# [0, 30 MiB + 4099), zeros after its first MiB.
z_end=$(( 30 * MiB + 4099 ))
{ head -c 1M src.img; head -c $(( z_end - MiB )) /dev/zero; } > image2.img
image2_digest="$(sha256sum < image2.img | cut -d' ' -f1)"
cat > zero-last.py <<'PYEOF'
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
data = open("src.img", "rb").read(1 << 20)
h.pwrite(data, 0)
h.zero(4099, 30 << 20)
h.flush()
h.shutdown()
PYEOF
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=b.img size=64M status=s2.json \
    --run '/usr/bin/python3 zero-last.py "$uri"' 2> nbdkit2.err || { cat nbdkit2.err; exit 1; }
cat nbdkit2.err
cp image2.img export2.img
truncate -s 64M export2.img
cmp export2.img b.img
check_status_json s2.json <<PYEOF
assert s["state"] == "finished", s
assert s["image_bytes"] == $z_end, s
assert s["image_sha256"] == "$image2_digest", s
PYEOF
