#!/bin/bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# demo/demo.sh: one read of a disk image, four copies at once.
#
# Makes a 512 MiB image shaped like a virtual machine disk (runs of random
# data between holes), then copies it once with nbdcopy into nbdkit-fanout,
# which writes it to
#
#   a.img, b.img        two regular files (seekable destinations)
#   stream.fifo         a FIFO, read by a process that hashes what it receives
#   gzip -1 > c.img.gz  a command, through its standard input
#
# with lag=512M: a destination that cannot keep up (gzip, here) no longer
# holds the others back.  It falls behind and catches up on its own, from a
# file that is in step, while nbdcopy goes on at the speed of the others:
# the client and the two files are done in a few seconds, and nbdkit exits
# when gzip has the whole image too.  lag= at least the export size means
# "never wait"; lag=0 (the default) is lock-step, where all four go at
# gzip's pace.  The memory used is the same either way: what a laggard
# missed is kept as ranges, and read back from a file in step.
#
# The closing table says when each destination was done, how often it fell
# behind and how much it caught up (from the status file), and checks that
# every destination holds exactly the source: same size, same SHA-256.
# Exits non-zero if any does not.
#
# Run it after building (autoreconf -fi && ./configure && make); it uses the
# plugin just built, so `make install` is not needed.  Set TMPDIR to put the
# scratch files (about 1.2 GiB at most) somewhere else than /var/tmp.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plugin=$here/../plugin/.libs/nbdkit-fanout-plugin.so
size=512M

if [ ! -f "$plugin" ]; then
  echo "demo: $plugin not found: build it first (autoreconf -fi && ./configure && make)" >&2
  exit 1
fi
plugin=$(realpath "$plugin")
# Debian's python3 (a python3 earlier on PATH may be another one); it only
# needs hashlib here.
python=/usr/bin/python3
for tool in nbdkit nbdcopy gzip sha256sum mkfifo realpath "$python"; do
  if ! command -v "$tool" >/dev/null; then
    echo "demo: $tool is needed (see README.md for the packages)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/fanout-demo.XXXXXX")
reader_pid=
cleanup() {
  if [ -n "$reader_pid" ]; then
    kill "$reader_pid" 2>/dev/null || true
    wait "$reader_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Reads a file (or - for standard input) and prints "BYTES SHA256".
measure='
import hashlib, sys
h = hashlib.sha256()
n = 0
f = sys.stdin.buffer if sys.argv[1] == "-" else open(sys.argv[1], "rb")
while True:
    b = f.read(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
'

echo "== Making a $size source image (random data runs and holes)"
nbdkit -U - sparse-random "$size" percent=50 runlength=4194304 random-content=true \
  --run "nbdcopy \"\$uri\" '$tmp/src.img'"
read -r src_bytes src_sum < <("$python" -c "$measure" "$tmp/src.img")
echo "   src.img: $src_bytes bytes, $(du -h "$tmp/src.img" | cut -f1) allocated, sha256 $src_sum"

# A FIFO destination blocks nbdkit until its reader opens it: start the
# reader first.
mkfifo "$tmp/stream.fifo"
"$python" -c "$measure" "$tmp/stream.fifo" >"$tmp/stream.result" &
reader_pid=$!

echo "== Copying it once into nbdkit-fanout, four destinations, lag=$size"
echo "   nbdkit -U - fanout dest=a.img dest=b.img dest=stream.fifo \\"
echo "          cmd='gzip -1 > c.img.gz' size=$size lag=$size \\"
echo "          progress=true status=status.json \\"
echo "          --run 'nbdcopy src.img \"\$uri\"; s=\$?; date +%s.%N > client.end; exit \$s'"
start=$EPOCHREALTIME
nbdkit_status=0
# Run in the demo directory so the progress bars and the summary show short
# names.  The --run command notes when nbdcopy (the client) was done, and
# keeps its exit status.
(cd "$tmp" && nbdkit -U - "$plugin" \
  dest=a.img dest=b.img dest=stream.fifo \
  cmd='gzip -1 > c.img.gz' size="$size" lag="$size" \
  progress=true status=status.json \
  --run 'nbdcopy src.img "$uri"; s=$?; date +%s.%N > client.end; exit $s') ||
  nbdkit_status=$?
end=$EPOCHREALTIME

# If nbdkit failed before it opened the FIFO, the reader is still waiting
# in open(), or has not even got there yet: opening the FIFO read-write
# (which never blocks) and closing it again gives it an end of file.  A
# reader still draining the last bytes just sees its end of file a moment
# later.
for _ in $(seq 100); do
  kill -0 "$reader_pid" 2>/dev/null || break
  exec {unblock}<>"$tmp/stream.fifo"
  exec {unblock}>&-
  sleep 0.1
done
reader_status=0
wait "$reader_pid" || reader_status=$?
reader_pid=

echo "== Checking every destination against the source"
failures=0
# From the status file, per destination (by its name there): when it was
# done (seconds from the start of the run), how many times it fell behind
# and how many bytes it caught up.
declare -A done_after fell_behind caught_up
while IFS=$'\t' read -r name secs fell caught; do
  done_after[$name]=$secs fell_behind[$name]=$fell caught_up[$name]=$caught
done < <("$python" -c '
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
for d in doc["destinations"]:
    print("%s\t%.1f s\t%d\t%.0f MiB" % (d["name"], d["elapsed"], d["fell_behind"],
                                     d["caught_up_bytes"] / 1048576))
' "$tmp/status.json")
row() {
  printf '%-22s %-6s %12s  %-16s  %8s  %6s  %9s  %s\n' "$@"
}
# check NAME KIND BYTES SUM [STATUS-NAME]
check() {
  local verdict=OK status_name=${5:-$1}
  if [ "$3" != "$src_bytes" ] || [ "$4" != "$src_sum" ]; then
    verdict=MISMATCH
    failures=$((failures + 1))
  fi
  row "$1" "$2" "$3" "${4:0:16}" "${done_after[$status_name]:--}" \
    "${fell_behind[$status_name]:--}" "${caught_up[$status_name]:--}" "$verdict"
}
# Prints "BYTES SHA256" of a file, or "- -" if it is missing.
measure_file() {
  if [ -f "$1" ]; then "$python" -c "$measure" "$1"; else echo "- -"; fi
}

echo
row destination kind bytes "sha256 (16 hex)" "done at" behind "caught up" result
row ---------------------- ------ ------------ ---------------- -------- ------ --------- --------
row src.img source "$src_bytes" "${src_sum:0:16}" "" "" "" "(reference)"
for f in a.img b.img; do
  read -r bytes sum < <(measure_file "$tmp/$f")
  check "$f" file "$bytes" "$sum"
done
read -r bytes sum < <(cat "$tmp/stream.result" 2>/dev/null || echo "- -")
check "stream.fifo" fifo "${bytes:--}" "${sum:--}"
if [ -f "$tmp/c.img.gz" ]; then
  read -r bytes sum < <(gzip -dc "$tmp/c.img.gz" | "$python" -c "$measure" -)
else
  bytes=- sum=-
fi
check "gzip -1 > c.img.gz" cmd "$bytes" "$sum" "cmd=gzip -1 > c.img.gz"
echo "(done at: seconds from the start of the run; behind: times it fell behind)"
# When nbdcopy was done, on the same clock: the run started at the status
# file's last "updated" less its "elapsed".
run_start=$("$python" -c '
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
    print(doc["updated"] - doc["elapsed"])
except (OSError, ValueError, KeyError):
    pass
' "$tmp/status.json")
if [ -s "$tmp/client.end" ] && [ -n "$run_start" ]; then
  client=$(awk -v s="$run_start" -v e="$(cat "$tmp/client.end")" 'BEGIN { printf "%.1f", e - s }')
  echo "nbdcopy (the client) was done at $client s: with lag=$size it did not wait for gzip"
fi
echo

elapsed=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
rate=$(awk -v s="$start" -v e="$end" -v b="$src_bytes" \
  'BEGIN { printf "%.0f", b / 1048576 / (e - s) }')
echo "Elapsed: $elapsed s for one read of $size into 4 destinations, every one done ($rate MiB/s)"
if [ -f "$tmp/c.img.gz" ]; then
  echo "c.img.gz: $(stat -c %s "$tmp/c.img.gz") bytes compressed"
fi

if [ "$nbdkit_status" -ne 0 ]; then
  echo "demo: nbdkit exited with status $nbdkit_status" >&2
  failures=$((failures + 1))
fi
if [ "$reader_status" -ne 0 ]; then
  echo "demo: the FIFO reader exited with status $reader_status" >&2
  failures=$((failures + 1))
fi
if [ "$failures" -ne 0 ]; then
  echo "demo: FAILED ($failures problems)" >&2
  exit 1
fi
echo "demo: every destination holds exactly the source image"
