#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: guestfish (libguestfs: a whole Linux appliance under
# qemu, its kernel's NBD client writing in whatever order the guest's
# block layer chooses) partitions the export (GPT), makes an ext4 file
# system, mounts it and uploads a directory, through a fanout server with a
# FIFO and a file as destinations (window=64M ahead=64M).  The stream, the
# file and what the client reads back through the fanout must be
# identical, the file system must check clean and hold the uploaded files.
#
# The appliance runs under software emulation (force_tcg: KVM, where
# present in a container, is often unusable), about 20 s a launch.  The
# test skips, saying why, only when the appliance cannot boot here.

source ./functions.sh
requires guestfish --version
requires nbdcopy --version
requires e2fsck -V
requires debugfs -V
requires partx --version
set -e
set -x

make_tmpdir

export LIBGUESTFS_BACKEND=direct
export LIBGUESTFS_BACKEND_SETTINGS=force_tcg

mkdir -p up/doc
cp -r /usr/share/doc/bash /usr/share/doc/coreutils up/doc/ 2>/dev/null || true
make_random up/random.bin 3M 71
find up -type f | sort > files.list
test -s files.list

start_fifo_reader fifo stream.out
start_nbdkit -P nbdkit.pid -U "$tmp/sock" "$FANOUT_PLUGIN" \
    dest=fifo dest=out.img size=256M window=64M ahead=64M status=s.json 2> nbdkit.err

status=0
timeout 600 guestfish --format=raw -a "nbd://?socket=$tmp/sock" > guestfish.out 2> guestfish.err <<'GFEOF' || status=$?
run
part-disk /dev/sda gpt
mkfs ext4 /dev/sda1
mount /dev/sda1 /
copy-in up /
sync
umount-all
GFEOF
cat guestfish.out guestfish.err
if [ "$status" -ne 0 ]; then
    if grep -q "guestfs_launch failed" guestfish.err; then
        echo "SKIP: $0: the libguestfs appliance cannot boot here (see above)"
        exit 77
    fi
    echo "$0: guestfish failed with status $status"
    exit 1
fi

# What the client reads back through the fanout, before it ends.
nbdcopy "nbd+unix:///?socket=$tmp/sock" readback.img
stop_nbdkit nbdkit.pid
wait_fifo_reader
cat nbdkit.err

cmp out.img stream.out
cmp out.img readback.img
check_status_json s.json <<PYEOF
assert s["state"] == "finished", s
assert d["fifo"]["state"] == "done", d["fifo"]
assert d["fifo"]["bytes"] == 256 * MiB, d["fifo"]
assert d["out.img"]["state"] == "done", d["out.img"]
PYEOF

# The file system: clean, and holding every uploaded file.
start=$(partx -g -o START -n 1 out.img | tr -d ' ')
sectors=$(partx -g -o SECTORS -n 1 out.img | tr -d ' ')
dd if=out.img of=part.img bs=512 skip="$start" count="$sectors" status=none
e2fsck -fn part.img
while read -r f; do
    debugfs -R "dump /$f extracted" part.img 2>/dev/null
    cmp "$f" extracted
    rm -f extracted
done < files.list
