#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: an NBD server that accepts the connection but never
# answers the NBD handshake does not hang nbdkit at start: after the
# handshake timeout (30 s) nbdkit refuses to start, exit status 1, with one
# error line naming the dest=, and writes no destination.  (The connect
# used to block in nbd_connect_uri(3) for ever, with no output.)

source ./functions.sh
set -e
set -x

make_tmpdir

# Accepts every connection and keeps it open, never writing a byte.
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(5)
open(sys.argv[2], "w").close()
cs = []
while True:
    c, _ = s.accept()
    cs.append(c)
' "$tmp/silent" listening &
silent_pid=$!
cleanup_fn _kill_job "$silent_pid"
for i in $(seq 300); do
    [ -e listening ] && break
    sleep 0.1
done
test -e listening

uri="nbd+unix:///?socket=$tmp/silent"
status=0
start=$SECONDS
FANOUT_NBDKIT_TIMEOUT=45 fanout_nbdkit -U - "$FANOUT_PLUGIN" a.img "$uri" size=16M \
    --run 'touch ran' 2> silent.err || status=$?
elapsed=$((SECONDS - start))
cat silent.err
if [ "$status" -eq 124 ]; then
    echo "$0: nbdkit did not exit within 45 s (hangs in the NBD handshake)"
    exit 1
fi
test "$status" -eq 1
test ! -e ran
# At the timeout, not long after it.
test "$elapsed" -ge 29
test "$elapsed" -le 40
# One error line, naming the destination.
test "$(grep -c '^nbdkit: .*error' silent.err)" -eq 1
grep -F "dest=$uri: the server did not complete the NBD handshake within 30 s" silent.err
# No destination was written.
test ! -e a.img
