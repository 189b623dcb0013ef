#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a FIFO reader that pauses (SIGSTOP) for 2 s after 8 MiB
# and then resumes (SIGCONT) is slow, not failed.  With stall-timeout=0
# (never) nothing times out; with stall-timeout=4 the pause is logged as a
# stall and then as progress again, and nothing fails either.  Both runs:
# every destination done, the FIFO's reader got the whole image, exit 0.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir

make_random src.img 32M 5
make_hook_writer

run ()
{
    local timeout="$1"
    rm -f fifo fifo.out s.json
    mkfifo fifo
    # The reader pauses itself after 8 MiB; the writer's hook wakes it 2 s
    # later (the client goes on meanwhile: the pause is the FIFO's alone).
    sh -c 'head -c 8M; kill -STOP $$; cat' < fifo > fifo.out &
    reader_pid=$!
    # Still there if the run failed: stopped, or waiting for a writer.
    cleanup_fn _kill_job "$reader_pid"
    cleanup_fn kill -CONT "$reader_pid"
    fanout_nbdkit -U - "$FANOUT_PLUGIN" \
        dest=a.img dest=fifo size=32M status=s.json "stall-timeout=$timeout" \
        --run "/usr/bin/python3 hook_writer.py \"\$uri\" src.img 16777216 \
               '(sleep 2; kill -CONT $reader_pid) &'" \
        2> nbdkit-$timeout.err
    cat nbdkit-$timeout.err
    wait "$reader_pid"
    cmp src.img a.img
    cmp src.img fifo.out
    check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
for x in s["destinations"]:
    assert x["state"] == "done" and x["error"] is None and x["stalled"] is False, x
PYEOF
    if grep -F 'error:' nbdkit-$timeout.err; then echo "$0:48: this must be false: grep -F 'error:' nbdkit-$timeout.err" >&2; exit 1; fi
}

run 0
# Never timed out, and 2 s is below the 10 s before a stall is told.
if grep -F 'no progress' nbdkit-0.err; then echo "$0:53: this must be false: grep -F 'no progress' nbdkit-0.err" >&2; exit 1; fi

run 4
grep -E 'fanout: fifo: no progress for 1 s$' nbdkit-4.err
grep -E 'fanout: fifo: progressing again$' nbdkit-4.err
