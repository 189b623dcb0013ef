#!/usr/bin/env bash
# nbdkit-fanout: parted (msdos label) and mkfs.vfat through nbdfuse into a
# FIFO and a file, window=128M ahead=64M.  parted touches the end of the
# 256 MiB disk before mkfs.vfat writes its FAT32 from 1 MiB: without the
# ahead map the window would slide to the end and the FIFO would fail.
# With it the stream, the file and what the client reads back through the
# export are the same bytes, the partition table is there and fsck.vfat
# finds the file system clean.

source $srcdir/functions.sh
requires nbdfuse --version
requires fusermount3 --version
requires parted --version
requires mkfs.vfat --help
requires fsck.vfat --help
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
        "$FANOUT_PLUGIN" dest=fifo dest=file.img size=256M \
        window=128M ahead="$ahead" status=s.json 2> nbdkit.err

    mkdir mnt
    start_nbdfuse mnt "$tmp/$dir/nbdkit.sock"
    test "$(stat -c %s mnt/nbd)" -eq $((256 * 1024 * 1024))

    parted -s mnt/nbd mklabel msdos mkpart primary fat32 1MiB 100%
    # The partition: 1 MiB to the end, 255 MiB = 261120 blocks of 1 KiB.
    mkfs.vfat -F 32 -n FANOUT --offset=2048 mnt/nbd 261120
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
test "$(stat -c %s readback.img)" -eq $((256 * 1024 * 1024))
cmp readback.img file.img
cmp readback.img stream.out
parted -s file.img unit s print | tee parted.out
grep -E '^Partition Table: msdos$' parted.out
grep -E '^ *1 +2048s +524287s .* primary +fat32' parted.out
dd if=stream.out of=part.img bs=1M skip=1 status=none
fsck.vfat -n part.img
fatlabel part.img | grep -x FANOUT
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
for name in ("fifo", "file.img"):
    assert d[name]["state"] == "done", d[name]
    assert d[name]["bytes"] == 256 * MiB, d[name]
    assert d[name]["error"] is None, d[name]
PYEOF
if grep -F ': error: ' nbdkit.err; then
    echo "$0: errors logged"
    exit 1
fi
