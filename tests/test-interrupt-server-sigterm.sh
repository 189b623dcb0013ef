#!/usr/bin/env bash
# nbdkit-fanout: interrupted runs in server mode.  SIGTERM while a client
# is still writing: the run is "interrupted" ("nbdkit received SIGTERM while
# 1 client was connected"), the file and the command are "incomplete", the
# command (gzip) is killed before its input ends, so out.gz is not a valid
# archive of part of the image, and nbdkit exits 1.

source $srcdir/functions.sh
requires /usr/bin/python3 -c 'import nbd'
requires gzip --version
set -e
set -x

make_tmpdir

start_nbdkit -P pid -U sock "$FANOUT_PLUGIN" a.img cmd='gzip > out.gz' size=64M \
    status=s.json 2> nbdkit.err
# A slow client: 1 MiB every 50 ms.  nbdkit ends its connection after the
# signal, so its next write fails.
/usr/bin/python3 - <<'PYEOF' &
import nbd, time
h = nbd.NBD()
h.connect_unix("sock")
buf = b"x" * (1 << 20)
try:
    for i in range(64):
        h.pwrite(buf, i << 20)
        time.sleep(0.05)
except nbd.Error as e:
    print("client:", e)
PYEOF
client=$!
sleep 1
status=0
stop_nbdkit pid || status=$?
wait $client || true
cat nbdkit.err
test "$status" -eq 1

check_status_json s.json <<'PYEOF'
assert s["state"] == "interrupted", s["state"]
assert s["interrupted"] == "nbdkit received SIGTERM while 1 client was connected", s
assert s["sha256"] is None, s
for x in s["destinations"]:
    assert x["state"] == "incomplete", x
    assert "incomplete, nbdkit received SIGTERM while 1 client was connected" in x["error"], x
PYEOF
grep -F 'error: interrupted: nbdkit received SIGTERM while 1 client was connected' nbdkit.err
# gzip was killed before its input ended: whatever it wrote is no archive.
if [ -e out.gz ] && gzip -t out.gz; then
    echo "$0: out.gz tests OK: gzip was given a well-formed end" >&2
    exit 1
fi
