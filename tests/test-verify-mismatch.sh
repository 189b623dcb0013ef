#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: verify=true finds a destination changed behind the
# plugin's back (the issue's second "must show").  A server writes two
# files; after nbdcopy has written the image, 8 bytes of d.img at 130 MiB
# are overwritten; at SIGTERM both are read back: c.img is "verified",
# d.img a "mismatch" at offset 130 MiB (the 4 KiB page that differs), the
# message names d.img and the offset, and nbdkit exits 1.  The digest comes
# from c.img, the destination that verified.  Then the same as a real
# daemon (no -f): nbdkit has changed to / by then, and the status file and
# the files, named relative to where it started, are still found (-U and
# -P are nbdkit's own, resolved after that: given absolute).  Last, without
# verify=, the file the SHA-256 is read from, changed: no digest, a mismatch.

source ./functions.sh
requires nbdcopy --version
requires sha256sum --version
set -e
set -x

make_tmpdir

make_random src.img 256M 52
digest="$(sha256sum < src.img | cut -d' ' -f1)"
at=$(( 130 * 1024 * 1024 ))

start_nbdkit -P nbdkit.pid -U nbdkit.sock "$FANOUT_PLUGIN" \
    dest=c.img dest=d.img size=256M verify=true status=s2.json 2> nbdkit.err
timeout 60 nbdcopy src.img "nbd+unix:///?socket=nbdkit.sock"
printf 'XXXXXXXX' | dd of=d.img bs=1 seek=$at conv=notrunc status=none
status=0
stop_nbdkit nbdkit.pid || status=$?
cat nbdkit.err
test "$status" -eq 1
check_status_json s2.json <<PYEOF
assert s["state"] == "finished", s
assert s["sha256"] == "$digest", s
assert d["c.img"]["state"] == "verified", d["c.img"]
m = d["d.img"]
assert m["state"] == "mismatch", m
assert m["offset"] == $at, m
assert m["verified_bytes"] == $at, m
assert "d.img" in m["error"] and "$at" in m["error"], m
PYEOF
grep -F "d.img: verify: differs from the image in the 4 KiB page at offset $at" nbdkit.err
grep -E "fanout: d.img +file +mismatch " nbdkit.err
grep -F "1 of 2 destinations done, 1 failed" nbdkit.err

# As a daemon, exactly as the man page's example runs it.  Its exit status
# is not ours to wait for: the status file says it all.
rm -f c.img d.img
_fanout_nbdkit_argv ""
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    "${_nbdkit_argv[@]}" -U "$tmp/daemon.sock" -P "$tmp/daemon.pid" "$FANOUT_PLUGIN" \
    dest=c.img dest=d.img size=256M verify=true status=s3.json 2> daemon.err
for (( i = 0; i < 300; i++ )); do
    [ -s daemon.pid ] && break
    sleep 0.1
done
pid="$(cat daemon.pid)"
_kill_daemon () { kill "$1" 2>/dev/null || true; }
cleanup_fn _kill_daemon "$pid"
timeout 60 nbdcopy src.img "nbd+unix:///?socket=daemon.sock"
printf 'XXXXXXXX' | dd of=d.img bs=1 seek=$at conv=notrunc status=none
kill -TERM "$pid"
for (( i = 0; i < 600; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then echo "$0:73: this must be false: kill -0 '$pid' 2>/dev/null" >&2; exit 1; fi
check_status_json s3.json <<PYEOF
assert s["state"] == "finished", s
assert d["c.img"]["state"] == "verified", d["c.img"]
assert d["d.img"]["state"] == "mismatch" and d["d.img"]["offset"] == $at, d["d.img"]
PYEOF

# Without verify=, files only, written back to front: the SHA-256 is
# hashed while written, and the back half, committed out of order, is read
# back from the file once the front half is committed.  The client changes
# the file behind the plugin's back in between: the bytes read back are
# not the image's and no other destination has them, so the digest gives
# up following and reads the file at the end, which finds the change: the
# digest is unavailable, the file a mismatch (found, so not kept quiet),
# and nbdkit exits 1.  (With a second file, the digest comes from that one:
# test-digest-second-destination.sh.)
head -c 32M src.img > small.img
small_at=$(( 20 * 1024 * 1024 + 4096 * 3 ))
status=0
FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -v -U - "$FANOUT_PLUGIN" dest=e.img size=32M \
    status=s4.json --run "nbdsh -u \"\$uri\" -c '
d = open(\"small.img\", \"rb\").read()
h.pwrite(d[16 << 20:], 16 << 20)
h.flush()
with open(\"e.img\", \"r+b\") as f:
    f.seek($small_at)
    f.write(b\"XXXXXXXX\")
h.pwrite(d[:16 << 20], 0)
h.flush()'" \
    2> nbdkit4.err || status=$?
grep -v 'debug:' nbdkit4.err || true
test "$status" -eq 1
# (Read back in 4 MiB pieces: the one at 20 MiB holds the changed page.)
grep -F "debug: sha256: not hashed while written (no destination could be read back at offset $(( 20 * 1024 * 1024 )) holding the image's bytes" nbdkit4.err
check_status_json s4.json <<PYEOF
assert s["sha256"] is None, s
assert s["sha256_unavailable"] == "no destination could be verified to hold the image", s
assert d["e.img"]["state"] == "mismatch" and d["e.img"]["offset"] == $small_at, d["e.img"]
PYEOF
