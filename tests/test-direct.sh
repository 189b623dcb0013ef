#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: direct=true writes files and block devices with O_DIRECT.
# The aligned middle of each extent goes straight from the pool buffer; the
# ragged ends go through the page cache.  An export size that is not a
# multiple of 4096 and writes at odd 512-byte offsets must come out
# byte-identical, with io=uring and io=sync, and with cache=none too.  On a
# loop device as well when run as root.  (Since Linux 6.6 tmpfs accepts
# O_DIRECT; a file system that refuses it is refused with one line, see the
# man page.)

source ./functions.sh
requires nbdcopy --version
requires qemu-io --version
set -e
set -x

make_tmpdir

# 10 MiB + 1536 bytes: the last extent ends in the middle of a page.
size=$((10 * 1024 * 1024 + 1536))
make_random src.img $size 11
for io in uring sync; do
    for cache in default none; do
        fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=$io-$cache.img size=$size bucket=1M \
            direct=true io=$io cache=$cache --run 'nbdcopy src.img "$uri"'
        cmp src.img $io-$cache.img
    done
done

# Unaligned requests, rewrites of their neighbours, zeroes.
cmds=(
    -c 'write -P 0x11 512 3584'
    -c 'write -P 0x22 4096 1M'
    -c 'write -P 0x33 1049088 512'
    -c 'write -P 0x44 2M 2560'
    -c 'write -P 0x55 3583k 2M'
    -c 'write -z 3586k 1536'
    -c 'write -P 0x66 7M 4k'
    -c "write -P 0x77 $((size - 2048)) 2048"
    -c 'flush'
)
truncate -s $size expected.img
qemu-io -f raw "${cmds[@]}" expected.img
for io in uring sync; do
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=q-$io.img size=$size bucket=1M \
        direct=true io=$io --run "qemu-io -f raw $(printf '%q ' "${cmds[@]}") \"\$uri\""
    cmp expected.img q-$io.img
done

# A loop device, when root.
if [ "$(id -u)" -eq 0 ] && losetup --version >/dev/null 2>&1 &&
   test -e /dev/loop-control; then
    truncate -s 16M backing.img
    if loop="$(losetup -f --show backing.img)"; then
        cleanup_fn losetup -d "$loop"
        make_random src16.img 16M 12
        for io in uring sync; do
            fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" direct=true io=$io \
                --run 'nbdcopy src16.img "$uri"'
            cmp src16.img "$loop"
            fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" direct=true io=$io \
                --run 'qemu-io -f raw -c "write -P 0x99 1536 5000" -c "write -z 8M 512" "$uri"'
            # The export starts as zeros, whatever the device held.
            rm -f exp16.img
            truncate -s 16M exp16.img
            qemu-io -f raw -c "write -P 0x99 1536 5000" -c "write -z 8M 512" exp16.img
            cmp exp16.img "$loop"
        done
        # And through the page cache with cache=none (writeback pipeline on
        # a block device).
        fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" cache=none \
            --run 'nbdcopy src16.img "$uri"'
        cmp src16.img "$loop"
    fi
fi
