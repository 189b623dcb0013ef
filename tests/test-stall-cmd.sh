#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a command that never exits.  It reads its whole input and
# then waits (a background sleep); the end of the stream has nothing but
# its exit to wait for.  With stall-timeout=3 the command is killed at 3 s
# (exit status 137) and fails with ETIMEDOUT; the file is done, and nbdkit
# exits 1 well before the sleep would end.  (Without stall-timeout= nbdkit
# waited for the command for ever.)

source ./functions.sh
requires nbdcopy --version
set -e
set -x

make_tmpdir

make_random src.img 32M 3
# The sleep's pid is kept to end it: killing the shell leaves its children.
cmd='cat > /dev/null; sleep 1000 & echo $! > sleep.pid; wait'
cleanup_fn sh -c 'test -s sleep.pid && kill "$(cat sleep.pid)"'

start_status_watch s.json stalled.json
status=0
start=$SECONDS
FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest=a.img "cmd=$cmd" size=32M status=s.json stall-timeout=3 \
    --run 'nbdcopy src.img "$uri"; echo $? > client.rc' \
    2> nbdkit.err || status=$?
elapsed=$(( SECONDS - start ))
cat nbdkit.err
wait "$status_watch_pid"

test "$(cat client.rc)" -eq 0
test "$status" -eq 1
test "$elapsed" -lt 15
cmp src.img a.img

check_status_json stalled.json <<'PYEOF'
x = d["cmd=cat > /dev/null; sleep 1000 & echo $! > sleep.pid; wait"]
assert x["state"] == "writing" and x["stalled"] is True, x
assert s["state"] == "finishing", s["state"]
PYEOF

check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
x = d["cmd=cat > /dev/null; sleep 1000 & echo $! > sleep.pid; wait"]
assert x["kind"] == "command", x
assert x["state"] == "failed", x
assert x["errno"] == "ETIMEDOUT", x
assert x["error"].endswith(": no progress for 3 s (stall-timeout=3)"), x
assert x["exit_status"] == 137, x
assert x["bytes"] == 32 * MiB, x
assert d["a.img"]["state"] == "done", d["a.img"]
PYEOF

test "$(grep -c 'error: cmd=.*: no progress for 3 s (stall-timeout=3)$' nbdkit.err)" -eq 1
