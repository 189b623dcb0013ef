#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: a tree.  An outer fanout whose two destinations are two
# other fanouts (NBD servers on Unix sockets), each writing two files:
# fanout -> 2 fanouts -> 4 files.  The outer export's size comes from the
# inner fanouts; every leaf must be byte-identical to the source, and all
# three nbdkit processes must exit 0.

source ./functions.sh
requires nbdcopy --version
set -e
set -x

make_tmpdir

for n in a b; do
    start_nbdkit -P $n.pid -U "$tmp/$n.sock" "$FANOUT_PLUGIN" \
        dest=$n-1.img dest=$n-2.img size=64M status=$n.json 2> $n.err
done

# Data and holes, so both writes and zeros travel down the tree.
make_random data.img 16M 14
truncate -s 64M src.img
dd if=data.img of=src.img bs=1M count=16 seek=4 conv=notrunc status=none
dd if=data.img of=src.img bs=1M count=3 seek=61 conv=notrunc status=none

fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=$tmp/a.sock" dest="nbd+unix:///?socket=$tmp/b.sock" \
    status=top.json \
    --run 'nbdsh -u "$uri" -c "assert h.get_size() == 64 * 1024 * 1024" &&
           nbdcopy src.img "$uri"'

# The leaves are complete when the inner fanouts have ended their streams.
stop_nbdkit a.pid
stop_nbdkit b.pid
cat a.err b.err
for leaf in a-1 a-2 b-1 b-2; do
    cmp src.img $leaf.img
done

check_status_json top.json <<PYEOF
assert [x["kind"] for x in s["destinations"]] == ["nbd", "nbd"]
assert all(x["state"] == "done" for x in s["destinations"])
PYEOF
for n in a b; do
    check_status_json $n.json <<'PYEOF'
assert [x["state"] for x in s["destinations"]] == ["done", "done"]
PYEOF
done
