#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: require-flush=true.  In server mode nothing tells a client
# that finished from one that died: both just close.  With require-flush=true
# the run is complete only if a flush covered the client's last write.  A
# client that writes and closes without a flush: "interrupted", the file
# "incomplete", exit 1.  nbdcopy without --flush: the same; with --flush
# (as qemu-img convert always does): "finished", "done", the SHA-256.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
requires nbdcopy --version
requires qemu-img --version
set -e
set -x

make_tmpdir
make_random src.img 8M 7

# Writes, no flush, closes.
start_nbdkit -P pid -U sock "$FANOUT_PLUGIN" a.img size=8M require-flush=true \
    status=s.json 2> nbdkit.err
nbdsh -u "nbd+unix:///?socket=sock" -c '
h.pwrite(b"\x11" * 65536, 0)
h.flush()
h.pwrite(b"\x22" * 65536, 1048576)
'
status=0
stop_nbdkit pid || status=$?
cat nbdkit.err
test "$status" -eq 1
check_status_json s.json <<'PYEOF'
why = "the client's last write (offset 1048576) was not followed by a flush (require-flush=true)"
assert s["state"] == "interrupted", s["state"]
assert s["interrupted"] == why, s
assert s["sha256"] is None, s
assert d["a.img"]["state"] == "incomplete", d["a.img"]
assert why in d["a.img"]["error"], d["a.img"]
PYEOF
grep -F "error: interrupted: the client's last write (offset 1048576) was not followed by a flush (require-flush=true)" nbdkit.err

# nbdcopy without --flush, --run mode: the command exits 0, the rule still
# applies.
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" b.img size=8M require-flush=true status=s2.json \
    --run 'nbdcopy src.img "$uri"' 2> nbdkit2.err || status=$?
cat nbdkit2.err
test "$status" -eq 1
check_status_json s2.json <<'PYEOF'
assert s["state"] == "interrupted", s["state"]
assert "was not followed by a flush (require-flush=true)" in s["interrupted"], s
assert d["b.img"]["state"] == "incomplete", d["b.img"]
PYEOF

# nbdcopy --flush: complete.
fanout_nbdkit -U - "$FANOUT_PLUGIN" c.img size=8M require-flush=true status=s3.json \
    --run 'nbdcopy --flush src.img "$uri"'
cmp src.img c.img
check_status_json s3.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert s["interrupted"] is None, s
assert d["c.img"]["state"] == "done", d["c.img"]
assert s["sha256"] is not None, s
PYEOF

# qemu-img convert flushes at the end: complete.
fanout_nbdkit -U - "$FANOUT_PLUGIN" e.img size=8M require-flush=true status=s4.json \
    --run 'qemu-img convert -n -f raw -O raw src.img "$uri"'
cmp src.img e.img
check_status_json s4.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
assert d["e.img"]["state"] == "done", d["e.img"]
assert s["sha256"] == __import__("hashlib").sha256(open("src.img", "rb").read()).hexdigest(), s
PYEOF
