#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a signal during a long end of stream.  size=64G, one small
# write and a flush, then the client leaves and SIGTERM starts the end of
# the stream: zero-filling 64 GiB into a FIFO whose reader takes 1 MiB/s
# would take most of a day.  A second SIGTERM ends it within seconds: the
# run is "interrupted", the FIFO "incomplete" with a short stream, no
# SHA-256, nbdkit exits 1.

source ./functions.sh
requires /usr/bin/python3 -c 'import nbd'
requires pv --version
set -e
set -x

make_tmpdir

mkfifo f1
pv -q -L 1M < f1 > stream.out &
reader=$!
cleanup_fn kill $reader

start_nbdkit -P pid -U sock "$FANOUT_PLUGIN" f1 a.img size=64G status=s.json 2> nbdkit.err
nbdsh -u "nbd+unix:///?socket=sock" -c 'h.pwrite(b"\x5a" * 65536, 0); h.flush()'

pid=$(cat pid)
kill -TERM "$pid"
# The end of the stream is under way (the FIFO is being zero-filled).
sleep 1
_is_running "$pid"
start=$(date +%s.%N)
kill -TERM "$pid"
for (( i = 0; i < 100; i++ )); do
    _is_running "$pid" || break
    sleep 0.1
done
took=$(echo "$(date +%s.%N) - $start" | bc)
echo "ended $took s after the second SIGTERM"
if _is_running "$pid"; then
    echo "$0: nbdkit still running 10 s after the second SIGTERM" >&2
    exit 1
fi
status=0
wait "$pid" || status=$?
cat nbdkit.err
test "$status" -eq 1
test "$(echo "$took < 5" | bc)" -eq 1
wait $reader || true

got=$(stat -c %s stream.out)
test "$got" -ge 65536
test "$got" -lt $((1024 * 1024 * 1024))
check_status_json s.json <<'PYEOF'
assert s["state"] == "interrupted", s["state"]
assert s["interrupted"] == "nbdkit received SIGTERM again while ending the run", s
assert s["sha256"] is None, s
assert d["f1"]["state"] == "incomplete", d["f1"]
assert "incomplete, nbdkit received SIGTERM again while ending the run" in d["f1"]["error"], d
PYEOF
grep -F 'error: interrupted: nbdkit received SIGTERM again while ending the run' nbdkit.err
