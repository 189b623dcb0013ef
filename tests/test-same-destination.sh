#!/usr/bin/env bash
# nbdkit-fanout and the tee filter: the same destination named twice is
# refused at start by what it is, not by its name: a FIFO twice or through
# a symlink (two writers would interleave in one pipe), a character device
# twice or through a symlink, a file and a hard link to it, a block device
# twice or through a second device node (which would otherwise fail as
# "in use").  One line names both dest= values and says what the two are;
# nothing is written, a file the refused start created is removed again,
# and a file that was there is left as it was.

source $srcdir/functions.sh
set -e
set -x

make_tmpdir

# FIFOs.  A reader waits on f1 throughout: a refused start must send it
# nothing (it sees end of file once the test opens and closes f1).
mkfifo f1
ln -s f1 f1.link
timeout 60 cat f1 > f1.out &
reader=$!
cleanup_fn _kill_job "$reader"
refused fifo-twice 'dest=f1: the same FIFO as dest=f1; name each destination once' \
    f1 f1 size=1M
refused fifo-symlink 'dest=f1.link: the same FIFO as dest=f1; name each destination once' \
    dest=f1 dest=f1.link size=1M
exec 3> f1
exec 3>&-
wait "$reader"
test ! -s f1.out

# Character devices: /dev/null is a stream destination on its own (it is
# written and done, as before), but not twice.
ln -s /dev/null null.link
refused null-twice \
    'dest=/dev/null: the same character device as dest=/dev/null; name each destination once' \
    /dev/null /dev/null size=1M
refused null-symlink \
    'dest=null.link: the same character device as dest=/dev/null; name each destination once' \
    /dev/null null.link size=1M
test -c /dev/null
fanout_nbdkit -U - "$FANOUT_PLUGIN" /dev/null one.img size=1M status=null.json \
    --run 'nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 512, 0)"'
check_status_json null.json <<'PYEOF'
assert d["/dev/null"]["state"] == "done" and d["/dev/null"]["kind"] == "fifo", d
assert d["one.img"]["state"] == "done", d
PYEOF

# Files: a hard link is the same file (a symlink and the same name are
# covered by test-bad-params.sh).  The file was there: it stays as it was.
make_random x.img 1M
cp x.img x.orig
ln x.img x.hard
refused file-hardlink 'dest=x.hard: the same file as dest=x.img; name each destination once' \
    x.img x.hard
cmp x.img x.orig
# A new file named twice: the first name creates it, the second is the same
# file; the refused start removes what it created.
refused new-file-twice 'dest=./new.img: the same file as dest=new.img' \
    new.img ./new.img size=1M
test ! -e new.img

# The tee filter goes through the same check.
truncate -s 1M base.img
refused_target=(--filter="$TEE_FILTER" file base.img)
refused tee-fifo-symlink 'tee=f1.link: the same FIFO as tee=f1; name each destination once' \
    tee=f1 tee=f1.link
refused tee-null-twice 'tee=/dev/null: the same character device as tee=/dev/null' \
    tee=/dev/null tee=/dev/null
refused_target=()

# Block devices (root): a loop device twice, and through a second device
# node for the same device.  The second open would have failed its O_EXCL
# with "the device is in use", which is not the reason.
if [ "$(id -u)" -ne 0 ]; then
    echo "$0: not root: skipping the block device cases"
    exit 0
fi
make_random backing.img 1M 7
cp backing.img backing.orig
attach_loop_device backing.img
refused loop-twice \
    "dest=$loop: the same block device as dest=$loop; name each destination once" \
    "$loop" "$loop"
mknod loop.node b "$(stat -c '0x%t' "$loop")" "$(stat -c '0x%T' "$loop")"
test -b loop.node
refused loop-node \
    "dest=loop.node: the same block device as dest=$loop; name each destination once" \
    "$loop" loop.node
if grep -F 'in use' loop-twice.err loop-node.err; then
    echo "$0: a duplicate device was reported in use"
    exit 1
fi
cmp backing.img backing.orig
test -b loop.node
