#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a command that exits 0 without reading its whole input
# fails, and its failure says what the command did, not only the broken
# pipe we got writing to it: its exit status and how much of the stream it
# had read ("cmd=true: the command exited with status 0 after reading 0 of
# 67108864 bytes").  The file beside it is done and holds the image;
# nbdkit exits 1.  Also when no write failed at all: the whole stream fit
# in the pipe's buffer and the command exited 0 without reading (all of)
# it.

source ./functions.sh
requires nbdcopy --version
requires /usr/bin/python3 -c 'import json'
set -e
set -x

make_tmpdir

make_random src.img 64M 9

# run NAME COMMAND READ: COMMAND must fail having read READ bytes.
run ()
{
    local name="$1" command="$2" read="$3" status=0
    FANOUT_NBDKIT_TIMEOUT=120 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
        cmd="$command" dest="$name.img" size=64M status="$name.json" \
        --run 'nbdcopy src.img "$uri"; rc=$?; echo $rc > nbdcopy.rc; exit $rc' \
        2> "$name.err" || status=$?
    cat "$name.err"
    test "$(cat nbdcopy.rc)" -eq 0
    test "$status" -eq 1
    cmp src.img "$name.img"
    local message="cmd=$command: the command exited with status 0 after reading $read of 67108864 bytes"
    test "$(grep -c -F "error: $message" "$name.err")" -eq 1
    if grep -F 'Broken pipe' "$name.err"; then
        echo "$0: $name: the broken pipe is reported instead of the command's exit"
        exit 1
    fi
    check_status_json "$name.json" <<PYEOF
c = d["cmd=$command"]
assert c["state"] == "failed", c
assert c["exit_status"] == 0, c
assert c["errno"] == "EPIPE", c
assert c["error"] == "$message", c
assert d["$name.img"]["state"] == "done", d
PYEOF
}

# Reads nothing at all.
run true true 0
# Reads 10 MiB, then exits 0 (head exits once it has its bytes).
run head 'head -c 10M >/dev/null' 10485760

# The pipe's buffer takes the whole 512 KiB stream, so no write fails: the
# command exits 0 having read nothing, or only part of it, and is not done.
for c in 'sleep 1:0' 'head -c 300K >/dev/null; sleep 0.5:307200'; do
    command="${c%:*}" read="${c##*:}" status=0
    FANOUT_NBDKIT_TIMEOUT=60 fanout_nbdkit -U - "$FANOUT_PLUGIN" \
        cmd="$command" dest=small.img size=512K status=small.json \
        --run 'nbdsh -u "$uri" -c "h.pwrite(b\"y\" * 4096, 0)"' 2> small.err || status=$?
    cat small.err
    test "$status" -eq 1
    message="cmd=$command: the command exited with status 0 after reading $read of 524288 bytes"
    test "$(grep -c -F "error: $message" small.err)" -eq 1
    check_status_json small.json <<PYEOF
c = d["cmd=$command"]
assert c["state"] == "failed" and c["exit_status"] == 0, c
assert c["error"] == "$message", c
assert d["small.img"]["state"] == "done", d
PYEOF
done
