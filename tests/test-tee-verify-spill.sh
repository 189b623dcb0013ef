#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: tee-verify=, tee-sha256=, tee-spill= and
# tee-spill-memory= reach the engine as the plugin's verify=, sha256=,
# spill= and spill-memory= do.  nbdcopy writes an image through the file
# plugin: with tee-verify=true the mirror is read back and "verified", and
# the status file and the summary carry the image's SHA-256, that of
# sha256sum.  Then a command (a stream) beside a file, through a window
# that spills to a directory beyond 1 MiB of memory: both hold the image,
# the file is verified, the digest is the in-order one.  Then
# tee-sha256=false: no digest.

source ./functions.sh
requires nbdcopy --version
requires sha256sum --version
requires cmp --version
set -e
set -x

make_tmpdir

make_random src.img 12M 71
truncate -s 16M src.img  # a hole at the end: zero extents verified too
digest="$(sha256sum < src.img | cut -d' ' -f1)"

truncate -s 16M base.img
fanout_nbdkit -U - --filter="$TEE_FILTER" file base.img tee=mirror.img \
    tee-verify=true tee-status=s.json \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit.err
cat nbdkit.err
cmp src.img base.img
cmp src.img mirror.img
check_status_json s.json <<PYEOF
assert s["state"] == "finished", s
assert s["sha256"] == "$digest", s
assert s["sha256_unavailable"] is None, s
m = d["mirror.img"]
assert m["state"] == "verified", m
assert m["verified_bytes"] == 16 * MiB, m
assert m["error"] is None, m
PYEOF
grep -E 'tee: mirror\.img +file +verified ' nbdkit.err
grep -F "tee: sha256 $digest" nbdkit.err

# A stream beside a file, the window spilling to spill/ (a relative
# directory: the start directory's).
mkdir spill
rm -f base.img
truncate -s 16M base.img
fanout_nbdkit -U - --filter="$TEE_FILTER" file base.img tee=mirror2.img \
    tee-cmd='cat > stream.img' tee-verify=true tee-window=16M tee-bucket=256K \
    tee-spill=spill tee-spill-memory=1M tee-status=s2.json \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit2.err
cat nbdkit2.err
cmp src.img mirror2.img
cmp src.img stream.img
check_status_json s2.json <<PYEOF
assert s["state"] == "finished", s
assert s["sha256"] == "$digest", s
assert d["mirror2.img"]["state"] == "verified", d["mirror2.img"]
assert d["cmd=cat > stream.img"]["state"] == "done", d
PYEOF
test -z "$(ls spill)"  # the spill file is unlinked

# tee-sha256=false: no digest.
fanout_nbdkit -U - --filter="$TEE_FILTER" file base.img tee=mirror3.img \
    tee-sha256=false tee-status=s3.json \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit3.err
cat nbdkit3.err
cmp src.img mirror3.img
check_status_json s3.json <<PYEOF
assert s["sha256"] is None, s
assert s["sha256_unavailable"] == "not computed (sha256=false)", s
assert d["mirror3.img"]["state"] == "done", d["mirror3.img"]
PYEOF

# Errors are spelled as the filter's parameters.
if fanout_nbdkit -U - --filter="$TEE_FILTER" file base.img tee=mirror4.img \
       tee-verify=maybe --run true 2> bad.err; then
    echo "$0: tee-verify=maybe was accepted"
    exit 1
fi
cat bad.err
grep -F 'tee-verify=maybe: must be true, false or repair' bad.err
if fanout_nbdkit -U - --filter="$TEE_FILTER" file base.img tee=mirror4.img \
       tee-spill-memory=1M --run true 2> bad2.err; then
    echo "$0: tee-spill-memory= without tee-spill= was accepted"
    exit 1
fi
cat bad2.err
grep -F 'tee-spill-memory=1M: only means something with tee-spill=DIR' bad2.err
