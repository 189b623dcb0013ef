#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: the end-of-stream summary's columns line up as
# printed, for tee-cmd= rows (the filter names them tee-cmd=, 4 characters
# more than the engine's cmd=) and for a command name longer than the name
# column (cut short there, ending in "...").

source ./functions.sh
requires nbdsh --version
set -e
set -x

make_tmpdir

# check_aligned FILE: every summary row's kind, state and bytes columns
# start where the header's do.
check_aligned ()
{
    /usr/bin/python3 - "$1" <<'PYEOF'
import re
import sys
rows = [l.rstrip("\n").split("tee: ", 1)[1] for l in open(sys.argv[1])
        if l.startswith("nbdkit: tee: ")]
header = next(r for r in rows if r.startswith("destination "))
body = [r for r in rows if re.search(r"  (file|fifo|command|block|nbd) +(done|failed) ", r)]
print(header)
print("\n".join(body))
assert len(body) == 3, body
for col in ("kind", "state"):
    at = header.index(col)
    for r in body:
        assert r[at - 2:at] == "  " and r[at] != " ", (col, at, r)
bytes_end = header.index("bytes") + len("bytes")
for r in body:
    assert r[bytes_end - 1].isdigit() and r[bytes_end] == " ", ("bytes", r)
PYEOF
}

long='cat > long-command-output.img; : a comment that makes it long'
fanout_nbdkit -U - --filter="$TEE_FILTER" memory 1M \
    tee=t.img tee-cmd='cat > c.img' tee-cmd="$long" \
    --run 'nbdsh -u "$uri" -c "h.pwrite(b\"y\" * 4096, 0)"' 2> nbdkit.err
cat nbdkit.err
grep -E 'tee: tee-cmd=cat > c\.img +command +done ' nbdkit.err
grep -E 'tee: tee-cmd=cat > long-command-output\.img\.\.\.  command ' nbdkit.err
check_aligned nbdkit.err
cmp t.img c.img
cmp t.img long-command-output.img
