#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: io=uring (the default: several writes in flight per file)
# and io=sync (one pwrite at a time) must leave byte-identical files (and
# read back what was written): with
# nbdcopy (large requests, several connections) and with qemu-io's
# scattered, overlapping and unaligned writes.  Where io_uring cannot be
# set up, io=uring falls back to io=sync with one debug line (here strace
# fails io_uring_setup, as a kernel that refuses io_uring does), and the
# output is the same.

source ./functions.sh
requires nbdcopy --version
requires qemu-io --version
requires strace -f -qq --seccomp-bpf -o /dev/null -e trace=io_uring_setup \
    -e inject=io_uring_setup:error=EPERM true
set -e
set -x

make_tmpdir

make_random src.img 64M 7
for io in uring sync; do
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=$io-a.img dest=$io-b.img size=64M \
        bucket=1M io=$io --run 'nbdcopy src.img "$uri"'
    cmp src.img $io-a.img
    cmp src.img $io-b.img
done

# Scattered writes: odd 512-byte offsets, rewrites over data still in
# flight, zeroes and discards among them.  The same commands on a local
# raw image give the expected content.
cmds=(
    -c 'write -P 0x11 0 3M'
    -c 'write -P 0x22 1536 7680'
    -c 'write -P 0x33 5M 1M'
    -c 'write -P 0x44 5121k 512'
    -c 'write -z 2M 8k'
    -c 'write -P 0x55 9M 4M'
    -c 'discard 10M 1M'
    -c 'write -P 0x66 12345 6789'
    -c 'write -P 0x77 15M 1M'
    -c 'write -P 0x78 15M 4k'
    -c 'read -P 0x78 15M 4k'
    -c 'read -P 0x77 15364k 1020k'
    -c 'read -P 0x44 5121k 512'
    -c 'read -P 0 10M 1M'
    -c 'read -P 0x55 11M 2M'
    -c 'flush'
)
truncate -s 16M expected.img
qemu-io -f raw "${cmds[@]}" expected.img
for io in uring sync; do
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=q-$io.img size=16M bucket=1M io=$io \
        --run "qemu-io -f raw $(printf '%q ' "${cmds[@]}") \"\$uri\" > q-$io.out"
    cat q-$io.out
    if grep -i -e fail -e error q-$io.out; then
        echo "$0: a qemu-io read through the plugin (io=$io) did not match"
        exit 1
    fi
    cmp expected.img q-$io.img
done

# The ring is really there with io=uring: each writer thread's io_uring
# shows among the server's file descriptors.
start_nbdkit -P nbdkit.pid -U nbdkit.sock "$FANOUT_PLUGIN" dest=r1.img dest=r2.img size=1M
pid="$(cat nbdkit.pid)"
for (( i = 0; i < 50; i++ )); do
    rings="$(ls -l /proc/$pid/fd | grep -c io_uring || true)"
    [ "$rings" -ge 2 ] && break
    sleep 0.1
done
test "$rings" -eq 2
nbdsh -u "nbd+unix:///?socket=nbdkit.sock" -c 'h.pwrite(b"x" * 4096, 0)'
stop_nbdkit nbdkit.pid

# The fallback: one debug line, then the same bytes with pwrite, and no
# ring among the server's descriptors.
fanout_nbdkit_without_io_uring -v -P fb.pid -U - "$FANOUT_PLUGIN" dest=fb.img \
    size=64M bucket=1M \
    --run 'nbdcopy src.img "$uri" && ls -l /proc/$(cat fb.pid)/fd > fb.fds' \
    2> fallback.log
grep -v 'debug: ' fallback.log || true
test "$(grep -c '^nbdkit: debug: io=uring: io_uring_queue_init: Operation not permitted; falling back to io=sync$' fallback.log)" -eq 1
cat fb.fds
test "$(grep -c io_uring fb.fds || true)" -eq 0
cmp src.img fb.img
