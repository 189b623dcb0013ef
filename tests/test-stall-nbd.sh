#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a stalled NBD server.  Once 16 MiB have reached it (and
# been flushed), the server (nbdkit memory) is stopped with SIGSTOP: it
# keeps the connection but answers nothing.  With stall-timeout=3 the NBD
# destination is shown stalled, fails with ETIMEDOUT at 3 s (its socket is
# shut down, so libnbd gives back every command in flight) and detaches;
# the client's writes and final flush go on, the file holds the image, and
# nbdkit exits 1.  (Without stall-timeout= the client's flush and the end
# of the stream waited for the server for ever.)

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
requires nbdkit memory --version
set -e
set -x

make_tmpdir

make_random src.img 64M 2
make_hook_writer
start_nbd_server mem.pid nbdkit -f -P mem.pid -U "$tmp/mem.sock" memory 64M
# The server must go on after the test's SIGSTOP, to be killed at the end.
cleanup_fn kill -CONT "$server_pid"
uri="nbd+unix:///?socket=$tmp/mem.sock"

start_status_watch s.json stalled.json
status=0
start=$SECONDS
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=a.img "dest=$uri" status=s.json stall-timeout=3 \
    --run "/usr/bin/python3 hook_writer.py \"\$uri\" src.img 16777216 'kill -STOP $server_pid'; echo \$? > client.rc" \
    2> nbdkit.err || status=$?
elapsed=$(( SECONDS - start ))
cat nbdkit.err
wait "$status_watch_pid"

test "$(cat client.rc)" -eq 0
test "$status" -eq 1
test "$elapsed" -lt 15
cmp src.img a.img
# The server was still stopped: the destination did not get the rest.
test "$(ps -o stat= -p "$server_pid" | cut -c1)" = T

check_status_json stalled.json <<PYEOF
x = d["$uri"]
assert x["state"] == "writing" and x["stalled"] is True, x
# At least what was flushed before the server was stopped, and not the
# whole image.  (One run on a loaded machine saw one more 4 MiB extent
# applied, 20 MiB: the exact count is not what this test is about.)
assert 16 * MiB <= x["bytes"] < 64 * MiB, x
PYEOF

check_status_json s.json <<PYEOF
assert s["state"] == "finished", s["state"]
x = d["$uri"]
assert x["kind"] == "nbd", x
assert x["state"] == "failed", x
assert x["errno"] == "ETIMEDOUT", x
assert x["error"] == "$uri: no progress for 3 s (stall-timeout=3)", x
assert 16 * MiB <= x["bytes"] < 64 * MiB, x
assert d["a.img"]["state"] == "done" and d["a.img"]["bytes"] == 64 * MiB, d["a.img"]
PYEOF

test "$(grep -cF "error: $uri: no progress for 3 s (stall-timeout=3)" nbdkit.err)" -eq 1
