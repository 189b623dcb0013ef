#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: the plugin and the tee filter advertise a maximum request
# (the NBD block size: minimum 1, preferred 4096, maximum the bucket), so
# nbdkit's per-thread request buffers stay bounded.  nbdcopy and qemu-img
# honour it and copy exactly; a client that ignores it is still served.

source ./functions.sh
requires nbdcopy --version
requires qemu-img --version
requires nbdinfo --version
requires /usr/bin/python3 -c 'import nbd'
set -e
set -x

make_tmpdir
make_random src.img 16M 3

# The advertised block size, plugin and filter (the filter's is the
# smaller of its own and the plugin's; the file plugin gives none).
fanout_nbdkit -U - "$FANOUT_PLUGIN" a.img size=16M bucket=1M \
    --run 'nbdinfo "$uri"' > info.plugin 2> info.plugin.err
grep -E 'block_size_minimum: 1$' info.plugin
grep -E 'block_size_preferred: 4096$' info.plugin
grep -E 'block_size_maximum: 1048576$' info.plugin
truncate -s 16M base.img
fanout_nbdkit -U - --filter="$TEE_FILTER" file base.img tee=t.img tee-bucket=2M \
    --run 'nbdinfo "$uri"' > info.tee 2> info.tee.err
grep -E 'block_size_maximum: 2097152$' info.tee

# nbdcopy (256K requests) and qemu-img (2M at most, honouring the maximum)
# copy exactly through a 1M maximum.
rm -f a.img
fanout_nbdkit -U - "$FANOUT_PLUGIN" a.img size=16M bucket=1M \
    --run 'nbdcopy src.img "$uri"'
cmp src.img a.img
rm -f a.img
fanout_nbdkit -U - "$FANOUT_PLUGIN" a.img size=16M bucket=1M \
    --run 'qemu-img convert -n -f raw -O raw src.img "$uri"'
cmp src.img a.img

# A client that ignores the maximum (libnbd sends what it is given) is
# still served, exactly: nbdkit 1.32 has allocated the request's buffer
# before the plugin sees it, so refusing would save no memory.
cat > big.py <<'PYEOF'
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"\x55" * (2 << 20), 4096)
assert h.pread(2 << 20, 4096) == b"\x55" * (2 << 20)
h.shutdown()
PYEOF
/usr/bin/python3 -c "
open('expect.img', 'wb').write(bytes(4096) + b'\x55' * (2 << 20) + bytes((16 << 20) - 4096 - (2 << 20)))
"
for target in plugin tee; do
    rm -f a.img t.img
    truncate -s 16M base.img
    if [ $target = plugin ]; then
        args=("$FANOUT_PLUGIN" a.img size=16M bucket=1M)
        out=a.img
    else
        args=(--filter="$TEE_FILTER" file base.img tee=t.img tee-bucket=1M)
        out=t.img
    fi
    fanout_nbdkit -U - "${args[@]}" --run '/usr/bin/python3 big.py "$uri"' 2> $target.err
    cat $target.err
    test "$(grep -c '^nbdkit: [^ ]*: error:' $target.err || true)" -eq 0
    cmp expect.img $out
    if [ $target = tee ]; then cmp base.img t.img; fi
done
