#!/usr/bin/env bash
# nbdkit-fanout: the plugin and the tee filter advertise a maximum request
# (the NBD block size: minimum 1, preferred 4096, maximum the bucket), so
# nbdkit's per-thread request buffers stay bounded.  nbdcopy and qemu-img
# honour it and copy exactly; a client that ignores it (libnbd sends what
# it is given) gets EINVAL and one error line naming the limit, and the
# export is not changed by the refused write.

source $srcdir/functions.sh
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

# A 2 MiB write through a 1M maximum: refused with EINVAL and one line.
cat > big.py <<'PYEOF'
import sys, errno, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    h.pwrite(b"\x55" * (2 << 20), 0)
    sys.exit("a 2 MiB write was accepted")
except nbd.Error as e:
    assert e.errnum == errno.EINVAL, e
h.pwrite(b"\x66" * 4096, 0)
h.shutdown()
PYEOF
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
    status=0
    fanout_nbdkit -U - "${args[@]}" --run '/usr/bin/python3 big.py "$uri"' 2> $target.err || status=$?
    cat $target.err
    test "$status" -eq 0
    test "$(grep -c '^nbdkit: [^ ]*: error:' $target.err)" -eq 1
    grep -F 'write of 2097152 bytes is larger than the 1048576-byte maximum request this export advertises' $target.err
    # The refused write changed nothing: only the 4 KiB write is there.
    /usr/bin/python3 -c "
import sys
d = open('$out', 'rb').read()
assert d[:4096] == b'\x66' * 4096, 'first page'
assert d[4096:] == bytes(len(d) - 4096), 'the refused write left bytes'
"
    if [ $target = tee ]; then cmp base.img t.img; fi
done
