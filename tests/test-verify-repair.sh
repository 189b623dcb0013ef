#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: verify=repair (the issue's fourth "must show").  A libnbd
# client writes a 64 MiB image to three files and flushes (so every byte is
# in every file); then, while it is still connected, the test overwrites
# bytes in 3 pages of one file behind the plugin's back (the deterministic
# hook: no race with the plugin's writes); the client disconnects and
# nbdkit is stopped, which reads the files back.  The changed file gets
# its 3 pages rewritten from a file that verified: it ends "repaired" (3
# pages), byte-identical to the image, the others "verified", nbdkit exits
# 0 and the summary says "repaired (3 pages)".  Then the same page changed
# in all three files: no good copy, all three end "mismatch" at that page,
# named in their errors, and nbdkit exits 1; two files each changed in a
# different page are both repaired, from each other.  Then a FIFO next to two
# files (one changed in 2 pages, repaired): the stream is not read back,
# reported exactly as with verify=true (state "done", nothing verified, no
# error).  And an NBD server (nbdkit memory) changed through a second
# connection to it, repaired from a file.

source ./functions.sh
requires sha256sum --version
requires /usr/bin/python3 -c 'import nbd'
requires nbdsh --version
set -e
set -x

make_memory_tmpdir

MiB=$((1024 * 1024))
make_random src.img 64M 61
digest="$(sha256sum < src.img | cut -d' ' -f1)"

# writer.py SOCKET SRC CMD: writes SRC in 1 MiB requests, in order,
# flushes, runs the shell command CMD, and only then disconnects.
cat > writer.py <<'PYEOF'
import nbd, subprocess, sys
sock, src, cmd = sys.argv[1:4]
h = nbd.NBD()
h.connect_unix(sock)
data = open(src, "rb").read()
for off in range(0, len(data), 1 << 20):
    h.pwrite(data[off:off + (1 << 20)], off)
h.flush()
subprocess.run(cmd, shell=True, check=True)
h.shutdown()
PYEOF

# corrupt.sh FILE OFFSET...: 16 bytes of X at each offset, in place, within
# one 4 KiB page.  The page must hold the image's bytes before (the plugin
# has written it) and differ after.
cat > corrupt.sh <<'SHEOF'
set -e
f="$1"
shift
for at in "$@"; do
    page=$(( at / 4096 * 4096 ))
    test $(( at + 16 )) -le $(( page + 4096 ))   # one page each
    cmp --ignore-initial=$page:$page --bytes=4096 src.img "$f"
    printf 'XXXXXXXXXXXXXXXX' | dd of="$f" bs=1 seek="$at" conv=notrunc status=none
    if cmp -s --ignore-initial=$page:$page --bytes=4096 src.img "$f"; then
        echo "corrupt.sh: the page at $page of $f did not change"
        exit 1
    fi
done
SHEOF

# run_case N HOOK DEST...: serves DEST... with verify=repair, runs
# writer.py with HOOK, stops nbdkit; sets $status to its exit status.
run_case ()
{
    local n="$1" hook="$2"
    shift 2
    start_nbdkit -P nbdkit$n.pid -U "$tmp/nbdkit$n.sock" "$FANOUT_PLUGIN" \
        "$@" size=64M verify=repair status=s$n.json 2> nbdkit$n.err ||
        { cat nbdkit$n.err; return 1; }
    timeout 120 /usr/bin/python3 writer.py "$tmp/nbdkit$n.sock" src.img "$hook"
    status=0
    stop_nbdkit nbdkit$n.pid || status=$?
    cat nbdkit$n.err
}

# Three pages of b.img, far apart and each changed at a different place in
# it: the page at 4 KiB, the one at 10 MiB + 8 KiB (changed near its end)
# and the one at 60 MiB (changed at its start).
p1=4096
p2=$(( 10 * MiB + 8192 ))
p3=$(( 60 * MiB ))
run_case 1 "bash corrupt.sh b.img $(( p1 + 100 )) $(( p2 + 4000 )) $p3" \
    dest=a.img dest=b.img dest=c.img
test "$status" -eq 0
cmp src.img a.img
cmp src.img b.img
cmp src.img c.img
check_status_json s1.json <<PYEOF
assert s["state"] == "finished", s
assert s["sha256"] == "$digest", s
b = d["b.img"]
assert b["state"] == "repaired", b
assert b["repaired_pages"] == 3, b
for n in ("a.img", "c.img"):
    assert d[n]["state"] == "verified", d[n]
    assert d[n]["repaired_pages"] is None, d[n]
    assert d[n]["error"] is None, d[n]
PYEOF
test "$(grep -F 'fanout: b.img ' nbdkit1.err | grep -cF 'repaired (3 pages)')" -eq 1
grep -E "^nbdkit: fanout: b.img: verify: repaired 3 4 KiB pages \(the first at offset $p1\) from (a|c)\.img, and read them back\$" \
    nbdkit1.err
grep -E 'fanout: a.img +file +verified ' nbdkit1.err
grep -E 'fanout: c.img +file +verified ' nbdkit1.err
grep -F '3 of 3 destinations done, 0 failed' nbdkit1.err

# The same page changed in all three: nothing to repair it from.
at=$(( 20 * MiB + 5 * 4096 ))
run_case 2 "for f in a.img b.img c.img; do bash corrupt.sh \$f $(( at + 123 )); done" \
    dest=a.img dest=b.img dest=c.img
test "$status" -eq 1
check_status_json s2.json <<PYEOF
for n in ("a.img", "b.img", "c.img"):
    m = d[n]
    assert m["state"] == "mismatch", m
    assert m["offset"] == $at, m
    assert n in m["error"] and "$at" in m["error"], m
    assert m["repaired_pages"] is None, m
PYEOF
for f in a.img b.img c.img; do
    grep -E "fanout: $f +file +mismatch " nbdkit2.err
    grep -Fx "nbdkit: error: $f: verify: differs from the image in 1 4 KiB page, the first at offset $at, and no destination holds the image's bytes of the page at offset $at to repair it from" \
        nbdkit2.err
done
grep -F '0 of 3 destinations done, 3 failed' nbdkit2.err

# Each file changed in a different page: neither verified whole, but each
# holds the page the other lacks, so both are repaired, from each other.
rm -f a.img b.img
run_case 3 "bash corrupt.sh a.img $(( p1 + 8 )); bash corrupt.sh b.img $(( p3 + 8 ))" \
    dest=a.img dest=b.img
test "$status" -eq 0
cmp src.img a.img
cmp src.img b.img
check_status_json s3.json <<PYEOF
for n in ("a.img", "b.img"):
    assert d[n]["state"] == "repaired" and d[n]["repaired_pages"] == 1, d[n]
PYEOF
grep -Fx "nbdkit: fanout: a.img: verify: repaired 1 4 KiB page (the first at offset $p1) from b.img, and read them back" \
    nbdkit3.err
grep -Fx "nbdkit: fanout: b.img: verify: repaired 1 4 KiB page (the first at offset $p3) from a.img, and read them back" \
    nbdkit3.err

# A stream and two files, one of them changed in 2 pages.  With a stream
# the last window= of the image is committed only at the end of the stream
# (not at the flush), so the pages changed are below that.
rm -f a.img b.img
start_fifo_reader fifo fifo.out
run_case 4 "bash corrupt.sh b.img $(( p2 + 1 )) $(( 40 * MiB + 12288 + 4080 ))" \
    dest=fifo dest=a.img dest=b.img window=8M
wait_fifo_reader
test "$status" -eq 0
cmp src.img fifo.out
cmp src.img a.img
cmp src.img b.img
check_status_json s4.json <<PYEOF
assert s["sha256"] == "$digest", s
f = d["fifo"]
assert f["kind"] == "fifo", f
assert f["state"] == "done", f
assert f["verified_bytes"] is None, f
assert f["repaired_pages"] is None, f
assert f["error"] is None, f
assert d["a.img"]["state"] == "verified", d["a.img"]
assert d["b.img"]["state"] == "repaired" and d["b.img"]["repaired_pages"] == 2, d["b.img"]
PYEOF
# A stream is never read back, and its line says so.
grep -E 'fanout: fifo +fifo +done +67108864 .* a stream: not read back, so not verified or repaired$' \
    nbdkit4.err
test "$(grep -F 'fanout: b.img ' nbdkit4.err | grep -cF 'repaired (2 pages)')" -eq 1
grep -Fx "nbdkit: fanout: b.img: verify: repaired 2 4 KiB pages (the first at offset $p2) from a.img, and read them back" \
    nbdkit4.err
grep -F '3 of 3 destinations done, 0 failed' nbdkit4.err

# An NBD server next to a file, the server changed in 2 pages through a
# connection of the test's own.
start_nbd_server mem.pid nbdkit -f -U "$tmp/mem.sock" -P "$tmp/mem.pid" memory 64M
cat > nbd-corrupt.py <<'PYEOF'
import nbd, sys
h = nbd.NBD()
h.connect_unix(sys.argv[1])
src = open("src.img", "rb").read()
for at in map(int, sys.argv[2:]):
    page = at // 4096 * 4096
    assert h.pread(4096, page) == src[page:page + 4096], page
    h.pwrite(b"X" * 16, at)
    assert h.pread(4096, page) != src[page:page + 4096], page
h.flush()
h.shutdown()
PYEOF
rm -f a.img
nbd_dest="nbd+unix:///?socket=$tmp/mem.sock"
run_case 5 "/usr/bin/python3 nbd-corrupt.py $tmp/mem.sock $(( 3 * MiB + 7 )) $(( 33 * MiB + 4096 ))" \
    dest=a.img "dest=$nbd_dest"
test "$status" -eq 0
cmp src.img a.img
nbdsh -u "$nbd_dest" -c 'open("mem.out", "wb").write(h.pread(64 << 20, 0))'
cmp src.img mem.out
check_status_json s5.json <<PYEOF
assert s["sha256"] == "$digest", s
n = d["$nbd_dest"]
assert n["kind"] == "nbd", n
assert n["state"] == "repaired" and n["repaired_pages"] == 2, n
assert d["a.img"]["state"] == "verified", d["a.img"]
PYEOF
grep -Fx "nbdkit: fanout: $nbd_dest: verify: repaired 2 4 KiB pages (the first at offset $(( 3 * MiB ))) from a.img, and read them back" \
    nbdkit5.err
