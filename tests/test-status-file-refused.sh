#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout and the tee filter: status=FILE is refused at start, in one
# line naming status= (tee-status=), where it would destroy something: FILE
# is a destination (by any name), its temporary file (.FILE.tmp beside it)
# is one, or, for the tee filter, FILE is the plugin's own disk (file= or
# the bare path).  And where it could never be written: FILE is a
# directory or a device, its directory is missing or read-only.  What was
# there is left as it was.  A destination named like the old temporary
# file (FILE.tmp) is an ordinary destination.

source ./functions.sh
requires nbdsh --version
set -e
set -x

make_tmpdir

make_random x.img 1M 1
cp x.img x.orig
ln -s x.img x.link

# A destination, by its name and through a symlink.
refused status-is-dest \
    'status=x.img: the same file as dest=x.img; the status file would overwrite it' \
    x.img status=x.img
refused status-is-dest-link \
    'status=x.link: the same file as dest=x.img; the status file would overwrite it' \
    x.img status=x.link
cmp x.img x.orig
# A destination the start creates: removed again, as on any refusal.
refused status-is-new-dest \
    'status=new.img: the same file as dest=new.img; the status file would overwrite it' \
    new.img status=new.img size=1M
test ! -e new.img
# The temporary file is a destination.
cp x.orig .s.json.tmp
refused status-tmp-is-dest \
    'status=s.json: its temporary file .s.json.tmp is the same file as dest=.s.json.tmp; the status file would destroy it' \
    .s.json.tmp status=s.json
cmp .s.json.tmp x.orig
test ! -e s.json
rm .s.json.tmp

# A destination named like a temporary file of another name is just a
# destination: it keeps the image, and the status file is written.
fanout_nbdkit -U - "$FANOUT_PLUGIN" s.json.tmp status=s.json size=1M \
    --run 'nbdsh -u "$uri" -c "h.pwrite(open(\"x.orig\", \"rb\").read(), 0)"'
cmp s.json.tmp x.orig
check_status_json s.json <<'PYEOF'
assert s["state"] == "finished", s
assert d["s.json.tmp"]["state"] == "done", d
PYEOF
test ! -e .s.json.tmp

# Never writable.
mkdir dir
refused status-dir 'status=dir: is a directory; give the file to write' x.img status=dir
refused status-missing-dir \
    "status=$tmp/missing/s.json: the directory $tmp/missing does not exist" \
    x.img status="$tmp/missing/s.json"
refused status-dev-null \
    'status=/dev/null: is a character device; the status file is replaced by rename(2), so it must be a regular file or not exist yet' \
    x.img status=/dev/null
test -c /dev/null
cmp x.img x.orig
test ! -e missing

# The tee filter: the plugin's own disk, given as file= or as the bare
# path, or through a symlink; a tee destination.
make_random base.img 1M 2
cp base.img base.orig
ln -s base.img base.link
refused_target=(--filter="$TEE_FILTER" file base.img)
refused tee-status-is-plugin-bare \
    "tee-status=base.img: the same file as the plugin's file=base.img; the status file would overwrite it" \
    tee=t.img tee-status=base.img
refused tee-status-is-plugin-link \
    "tee-status=base.link: the same file as the plugin's file=base.img; the status file would overwrite it" \
    tee=t.img tee-status=base.link
refused tee-status-is-tee \
    'tee-status=t.img: the same file as tee=t.img; the status file would overwrite it' \
    tee=t.img tee-status=t.img
refused tee-status-dir 'tee-status=dir: is a directory; give the file to write' \
    tee=t.img tee-status=dir
refused_target=(--filter="$TEE_FILTER" file file=base.img)
refused tee-status-is-plugin-key \
    "tee-status=base.img: the same file as the plugin's file=base.img; the status file would overwrite it" \
    tee=t.img tee-status=base.img
refused_target=()
cmp base.img base.orig
cp base.orig .st.tmp
refused_target=(--filter="$TEE_FILTER" file .st.tmp)
refused tee-tmp-is-plugin \
    "tee-status=st: its temporary file .st.tmp is the same file as the plugin's file=.st.tmp; the status file would destroy it" \
    tee=t.img tee-status=st
refused_target=()
cmp .st.tmp base.orig
test ! -e t.img

# A read-only mount (root): the temporary file cannot be created there.
if [ "$(id -u)" -ne 0 ]; then
    echo "$0: not root: skipping the read-only mount case"
    exit 0
fi
mkdir ro
mount -t tmpfs -o ro,size=1M tmpfs ro
cleanup_fn umount "$tmp/ro"
refused status-read-only \
    "status=ro/s.json: cannot create its temporary file ro/.s.json.tmp in ro: Read-only file system" \
    x.img status=ro/s.json
