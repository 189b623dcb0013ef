#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: bad parameters and destinations that cannot be used are
# refused at start: nbdkit exits non-zero without running the --run
# command, and exactly one error line names the culprit.

source ./functions.sh
set -e
set -x

make_tmpdir

no_size='size=: required, since no destination has a fixed size (a block device, an NBD server or an existing non-empty file); give size=SIZE'
once='name each destination once'

# Parameters.
refused unknown-key "unknown parameter 'frobnicate'" dest=a.img size=1M frobnicate=1
refused bad-window 'window=12Q: not a size (a number with an optional k, M, G, T, P or E suffix, for example window=64M)' \
    dest=a.img size=1M window=12Q
refused bucket-0 'bucket=0: the bucket must be a multiple of 4096 between 4K and 1G' \
    dest=a.img size=1M bucket=0
refused buckets-0 'buckets=0: must be a whole number from 1 to 1024' \
    dest=a.img size=1M buckets=0
refused bad-verify 'verify=maybe: must be true, false or repair' dest=a.img size=1M verify=maybe
refused bad-detect-zeroes 'detect-zeroes=maybe: must be true or false' \
    dest=a.img size=1M detect-zeroes=maybe
refused bad-holes "holes=maybe: must be 'write' or 'skip'" dest=a.img size=1M holes=maybe
refused holes-skip-lag 'holes=skip: cannot be used with lag=64M (a device catching up would write the holes it skips): leave one of them out' \
    dest=a.img dest=b.img size=1M holes=skip lag=64M
refused bad-io "io=aio: must be 'uring' or 'sync'" dest=a.img size=1M io=aio
refused bad-cache "cache=writeback: must be 'default' or 'none'" dest=a.img size=1M cache=writeback
refused bad-direct 'direct=maybe: must be true or false' dest=a.img size=1M direct=maybe
refused stall-timeout-word 'stall-timeout=abc: must be a whole number of seconds (0: never)' \
    dest=a.img size=1M stall-timeout=abc
refused stall-timeout-negative 'stall-timeout=-1: must be a whole number of seconds (0: never)' \
    dest=a.img size=1M stall-timeout=-1
refused stall-timeout-fraction 'stall-timeout=2.5: must be a whole number of seconds (0: never)' \
    dest=a.img size=1M stall-timeout=2.5
refused no-size-new-file "$no_size" dest=new.img
mkfifo fifo
refused no-size-fifo "$no_size" dest=fifo
refused no-size-cmd "$no_size" cmd='cat >/dev/null'
refused no-dest 'no destination: give at least one dest=PATH (or a bare PATH) or cmd=COMMAND' \
    size=1M
# A command of only white space would run nothing and exit 0 at once.
refused cmd-blank "cmd= : the command is only white space" cmd=' ' size=1M
# spill=: not a directory, missing, not writable; spill-memory= without it.
touch plainfile
refused spill-file "spill=$tmp/plainfile: not a directory" dest=a.img size=1M spill="$tmp/plainfile"
refused spill-missing "spill=$tmp/missing: No such file or directory" dest=a.img size=1M spill="$tmp/missing"
refused spill-proc \
    'spill=/proc: the filesystem does not support O_TMPFILE; give a directory on tmpfs, ext4, xfs or btrfs' \
    dest=a.img size=1M spill=/proc
refused spill-memory-alone "spill-memory=32M: only means something with spill=DIR" \
    dest=a.img size=1M spill-memory=32M
refused spill-memory-small "spill-memory=1M: must be at least one bucket (bucket=4194304)" \
    dest=a.img size=1M spill="$tmp" spill-memory=1M
# lag=: below one bucket it would never let anyone go; with one
# destination there is nobody to keep up while it falls behind.
refused lag-below-bucket 'lag=1M: must be 0 or at least one bucket (bucket=4194304)' \
    dest=a.img dest=b.img size=16M lag=1M
refused lag-below-bucket-given 'lag=64K: must be 0 or at least one bucket (bucket=131072)' \
    dest=a.img dest=b.img size=16M bucket=128K lag=64K
refused lag-one-destination \
    'lag=16M: needs at least two destinations (one falls behind while another keeps up)' \
    dest=a.img size=16M lag=16M
# Nothing was created by the refused starts.
test ! -e new.img

# Destinations that are not files, FIFOs or block devices.
mkdir dir
refused dest-dir "dest=$tmp/dir: is a directory, not a file, block device or FIFO" \
    dest="$tmp/dir" size=1M
/usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("sock")
'
test -S sock
refused dest-socket "dest=$tmp/sock: is a socket; a file, block device or FIFO was expected" \
    dest="$tmp/sock" size=1M
refused dest-missing-parent \
    "dest=$tmp/missing/dir/x.img: the directory $tmp/missing/dir does not exist" \
    dest="$tmp/missing/dir/x.img" size=1M
test ! -e missing

# The same file twice, by the same name, by a hard link and by a symlink.
truncate -s 1M same.img
refused same-twice "dest=$tmp/same.img: the same file as dest=$tmp/same.img; $once" \
    dest="$tmp/same.img" dest="$tmp/same.img"
ln same.img hard.img
refused same-hardlink "dest=$tmp/hard.img: the same file as dest=$tmp/same.img; $once" \
    dest="$tmp/same.img" dest="$tmp/hard.img"
ln -s same.img sym.img
refused same-symlink "dest=$tmp/sym.img: the same file as dest=$tmp/same.img; $once" \
    dest="$tmp/same.img" dest="$tmp/sym.img"
refused same-new-twice "dest=$tmp/new.img: the same file as dest=$tmp/new.img; $once" \
    dest="$tmp/new.img" dest="$tmp/new.img" size=1M
# Also when one of the two names is relative.
refused same-relative "dest=$tmp/same.img: the same file as dest=same.img; $once" \
    dest=same.img dest="$tmp/same.img"

# A path that cannot be written.  As non-root, a read-only directory does;
# root ignores permissions, so use an immutable directory instead (ext4 and
# most local file systems), or a read-only tmpfs mount.
mkdir ro
echo old > ro/old.img
if [ "$(id -u)" -ne 0 ]; then
    chmod a-w ro ro/old.img
    cleanup_fn chmod -R u+w "$tmp/ro"
elif cleanup_fn chattr -f -i "$tmp/ro" "$tmp/ro/old.img" &&
     chattr +i ro/old.img ro; then
    :
elif mount -t tmpfs -o size=1M tmpfs ro; then
    cleanup_fn umount "$tmp/ro"
    echo old > ro/old.img
    mount -o remount,ro ro
else
    echo "$0: cannot make a read-only path here, skipping the unwritable cases"
    exit 0
fi
# Check the path really is unwritable before trusting the test.
if touch ro/new.img 2>/dev/null || { : >> ro/old.img; } 2>/dev/null; then
    echo "$0: ro/ is still writable, skipping the unwritable cases"
    exit 0
fi
# (What follows "cannot create: " is strerror, which differs between the
# immutable directory, the read-only mount and a non-root user.)
refused unwritable-new "dest=$tmp/ro/new.img: cannot create: " dest="$tmp/ro/new.img" size=1M
refused unwritable-existing "dest=$tmp/ro/old.img: cannot open for writing: " \
    dest="$tmp/ro/old.img" size=1M
test ! -e ro/new.img
test "$(cat ro/old.img)" = old
