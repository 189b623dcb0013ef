#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: bad tee parameters and unusable tee destinations are
# refused at start, before serving: nbdkit exits non-zero without running
# the --run command, and exactly one error line names the parameter as the
# user wrote it (tee-window=12Q, not window=12Q).  Keys that are not the
# filter's go to the plugin.

source ./functions.sh
set -e
set -x

make_tmpdir

truncate -s 1M base.img

refused_target=(--filter="$TEE_FILTER" file base.img)

# Values, named as written.
refused bad-window \
    'tee-window=12Q: not a size (a number with an optional k, M, G, T, P or E suffix, for example tee-window=64M)' \
    tee=m.img tee-window=12Q
refused bad-bucket \
    'tee-bucket=0: the bucket must be a multiple of 4096 between 4K and 1G' \
    tee=m.img tee-bucket=0
refused bad-buckets 'tee-buckets=0: must be a whole number from 1 to 1024' \
    tee=m.img tee-buckets=0
refused bad-on-error "tee-on-error=maybe: must be 'continue' or 'fail'" \
    tee=m.img tee-on-error=maybe
refused bad-progress 'tee-progress=sometimes: must be true or false' \
    tee=m.img tee-progress=sometimes
refused bad-detect-zeroes 'tee-detect-zeroes=maybe: must be true or false' \
    tee=m.img tee-detect-zeroes=maybe
refused bad-holes "tee-holes=maybe: must be 'write' or 'skip'" \
    tee=m.img tee-holes=maybe
refused twice 'tee-window=8M: tee-window= was already given' \
    tee=m.img tee-window=4M tee-window=8M
refused quorum 'tee-quorum=2: there are only 1 destinations' tee=m.img tee-quorum=2
refused empty-cmd 'tee-cmd=: the command is empty' tee-cmd=
refused blank-cmd 'tee-cmd=  : the command is only white space' tee-cmd='  '
refused stall-timeout-word 'tee-stall-timeout=abc: must be a whole number of seconds (0: never)' \
    tee=m.img tee-stall-timeout=abc
refused stall-timeout-negative 'tee-stall-timeout=-1: must be a whole number of seconds (0: never)' \
    tee=m.img tee-stall-timeout=-1
refused spill-missing "tee-spill=$tmp/missing: No such file or directory" \
    tee=m.img tee-spill="$tmp/missing"

# Keys.
refused unknown-tee-key "unknown parameter 'tee-frobnicate'" tee=m.img tee-frobnicate=1
refused no-tee-size "unknown parameter 'tee-size'" tee=m.img tee-size=1M
refused no-tee 'no tee destination: give at least one tee=PATH or tee-cmd=COMMAND'
# Other keys are the plugin's: the file plugin refuses this one itself.
refused plugin-key "unknown parameter 'frobnicate'" tee=m.img frobnicate=1
# Nothing was created by the refused starts.
test ! -e m.img

# Destinations.
mkdir dir
refused tee-dir "tee=$tmp/dir: is a directory, not a file, block device or FIFO" \
    tee=new.img tee="$tmp/dir"
refused tee-missing-parent "tee=$tmp/missing/x.img: the directory $tmp/missing does not exist" \
    tee="$tmp/missing/x.img"
refused tee-twice "tee=$tmp/new.img: the same file as tee=$tmp/new.img; name each destination once" \
    tee="$tmp/new.img" tee="$tmp/new.img"
# The plugin's own disk: a tee destination is overwritten, so never that.
refused tee-is-plugin-file 'tee=base.img: the same file as the plugin'"'"'s file=base.img; a tee destination is overwritten' \
    tee=base.img
ln -s base.img link.img
refused tee-is-plugin-file-link 'tee=link.img: the same file as the plugin'"'"'s file=base.img; a tee destination is overwritten' \
    tee=link.img
test ! -e new.img
test ! -e missing
# base.img was not touched.
test "$(stat -c %s base.img)" -eq 1048576

# A tee destination that opened fine but no client ever wrote through the
# filter (nbdkit -r: read-only connections only): nothing to mirror, and
# the file it created is removed again.
FANOUT_NBDKIT_TIMEOUT=30 fanout_nbdkit -r -U - --filter="$TEE_FILTER" file base.img \
    tee=unused.img --run 'nbdsh -u "$uri" -c "h.pread(512, 0)"' 2> unused.err
cat unused.err
grep -F 'tee: no client connected for writing: the tee destinations were not written' unused.err
test ! -e unused.img

# The tee destinations mirror one export: once a writable connection has
# used export 'a' of nbdkit-file-plugin's dir=, a writable connection to
# export 'b' is refused (and the mirror is a's).
mkdir exports
truncate -s 1M exports/a exports/b
cat > exports.py <<'PYEOF'
import sys

import nbd

h = nbd.NBD()
h.set_export_name("a")
h.connect_unix(sys.argv[1])
h.pwrite(b"\x5a" * 4096, 8192)
g = nbd.NBD()
g.set_export_name("b")
try:
    g.connect_unix(sys.argv[1])
except nbd.Error as e:
    print("refused:", e)
else:
    raise AssertionError("a writable connection to export b was accepted")
h.shutdown()
PYEOF
FANOUT_NBDKIT_TIMEOUT=30 fanout_nbdkit -U - --filter="$TEE_FILTER" file dir=exports \
    tee=exports-mirror.img --run '/usr/bin/python3 exports.py "$unixsocket"' 2> exports.err
cat exports.err
grep -F "tee: the tee destinations mirror export 'a'; a writable connection to export 'b' is refused" \
    exports.err
cmp exports/a exports-mirror.img

# A tee destination that cannot be sized for the plugin's export (a file
# larger than the file system allows): the first writable connection is
# refused with one line naming it, the file is removed, and nbdkit exits 1
# although the --run command succeeded.
if truncate -s 100T probe.img 2>/dev/null; then
    rm -f probe.img
    echo "$0: this file system takes 100T files, skipping the unsizable case"
    exit 0
fi
status=0
FANOUT_NBDKIT_TIMEOUT=30 fanout_nbdkit -U - --filter="$TEE_FILTER" null 100T \
    tee=huge.img --run 'nbdsh -u "$uri" -c "pass" && touch connected; exit 0' \
    2> huge.err || status=$?
cat huge.err
test "$status" -eq 1
test ! -e connected
test ! -e huge.img
grep -E '^nbdkit: .*error: tee=huge\.img: ftruncate: File too large' huge.err
