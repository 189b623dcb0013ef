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
# and checks that every destination holds exactly the source: same size,
# same SHA-256.  Exits non-zero if any does not.
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

echo "== Copying it once into nbdkit-fanout, four destinations"
echo "   nbdkit -U - fanout dest=a.img dest=b.img dest=stream.fifo \\"
echo "          cmd='gzip -1 > c.img.gz' size=$size progress=true \\"
echo "          --run 'nbdcopy src.img \"\$uri\"'"
start=$EPOCHREALTIME
nbdkit_status=0
# Run in the demo directory so the progress bars and the summary show short
# names.
(cd "$tmp" && nbdkit -U - "$plugin" \
  dest=a.img dest=b.img dest=stream.fifo \
  cmd='gzip -1 > c.img.gz' size="$size" progress=true \
  --run 'nbdcopy src.img "$uri"') || nbdkit_status=$?
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
row() {
  printf '%-22s %-6s %12s  %-16s  %s\n' "$@"
}
# check NAME KIND BYTES SUM
check() {
  local verdict=OK
  if [ "$3" != "$src_bytes" ] || [ "$4" != "$src_sum" ]; then
    verdict=MISMATCH
    failures=$((failures + 1))
  fi
  row "$1" "$2" "$3" "${4:0:16}" "$verdict"
}
# Prints "BYTES SHA256" of a file, or "- -" if it is missing.
measure_file() {
  if [ -f "$1" ]; then "$python" -c "$measure" "$1"; else echo "- -"; fi
}

echo
row destination kind bytes "sha256 (16 hex)" result
row ---------------------- ------ ------------ ---------------- --------
row src.img source "$src_bytes" "${src_sum:0:16}" "(reference)"
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
check "gzip -1 > c.img.gz" cmd "$bytes" "$sum"
echo

elapsed=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
rate=$(awk -v s="$start" -v e="$end" -v b="$src_bytes" \
  'BEGIN { printf "%.0f", b / 1048576 / (e - s) }')
echo "Elapsed: $elapsed s for one read of $size into 4 destinations ($rate MiB/s into each)"
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
