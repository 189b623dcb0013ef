#!/usr/bin/env bash
# nbdkit-fanout: mkfs.xfs on the whole 512 MiB export through nbdfuse into
# a FIFO and a file, window=128M ahead=64M.  mkfs.xfs writes the last
# 128 KiB of the disk first and then comes back to the start: the ahead
# map keeps the FIFO going.  The stream, the file and what the client
# reads back through the export are the same bytes, and xfs_repair -n
# finds the file system clean.

source $srcdir/functions.sh
requires nbdfuse --version
requires fusermount3 --version
requires mkfs.xfs -V
requires xfs_repair -V
requires test -c /dev/fuse -a -r /dev/fuse -a -w /dev/fuse
set -e
set -x

make_tmpdir

# run_tool AHEAD DIR: one nbdkit with a FIFO and a file, the tool through
# nbdfuse, the whole disk read back through nbdfuse before unmounting.
# Sets $nbdkit_status.
run_tool ()
{
    local ahead="$1" dir="$2" i
    mkdir "$dir"
    cd "$dir"
    start_fifo_reader fifo stream.out
    start_nbdkit -P nbdkit.pid -U "$tmp/$dir/nbdkit.sock" \
        "$FANOUT_PLUGIN" dest=fifo dest=file.img size=512M \
        window=128M ahead="$ahead" status=s.json 2> nbdkit.err

    mkdir mnt
    start_nbdfuse mnt "$tmp/$dir/nbdkit.sock"
    test "$(stat -c %s mnt/nbd)" -eq $((512 * 1024 * 1024))

    mkfs.xfs -q -f -L fanout mnt/nbd
    sync mnt/nbd
    # What the client reads back through the export.
    dd if=mnt/nbd of=readback.img bs=4M iflag=direct status=none

    fusermount3 -u mnt
    wait "$nbdfuse_pid"
    nbdkit_status=0
    stop_nbdkit nbdkit.pid || nbdkit_status=$?
    cat nbdkit.err
    wait_fifo_reader
    cd "$tmp"
}

run_tool 64M ahead
cd ahead
test "$nbdkit_status" -eq 0
test "$(stat -c %s readback.img)" -eq $((512 * 1024 * 1024))
cmp readback.img file.img
cmp readback.img stream.out
xfs_repair -n -f stream.out
xfs_db -r -c 'label' stream.out | grep -F '"fanout"'
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
for name in ("fifo", "file.img"):
    assert d[name]["state"] == "done", d[name]
    assert d[name]["bytes"] == 512 * MiB, d[name]
    assert d[name]["error"] is None, d[name]
PYEOF
if grep -F ': error: ' nbdkit.err; then
    echo "$0: errors logged"
    exit 1
fi
