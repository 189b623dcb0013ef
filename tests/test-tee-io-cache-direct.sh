#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-tee-filter: tee-io=, tee-cache= and tee-direct=, the twins of the
# plugin's io=, cache= and direct=.  Bad values are refused at start with
# one line naming the parameter as written; tee-io=sync writes without a
# ring, tee-cache=none writes back as it goes (sync_file_range),
# tee-direct=true opens the tee files with O_DIRECT; and every combination
# mirrors byte for byte, also with an export size that is not a multiple of
# 4096 and unaligned requests.

source ./functions.sh
requires nbdcopy --version
requires qemu-io --version
requires strace -V
set -e
set -x

make_tmpdir

# Refused, each in one line naming the tee parameter.
truncate -s 1M base.img
refused_target=(--filter="$TEE_FILTER" file base.img)
refused bad-io "tee-io=aio: must be 'uring' or 'sync'" tee=m.img tee-io=aio
refused bad-cache "tee-cache=off: must be 'default' or 'none'" tee=m.img tee-cache=off
refused bad-direct 'tee-direct=maybe: must be true or false' tee=m.img tee-direct=maybe
refused io-twice 'tee-io=uring: tee-io= was already given' tee=m.img tee-io=sync tee-io=uring
test ! -e m.img

# 10 MiB + 1536 bytes: the last extent ends in the middle of a page.
size=$((10 * 1024 * 1024 + 1536))
make_random src.img $size 18

# mirror NAME TEE-ARGS...: nbdcopy through the filter (over a memory disk)
# to NAME.img, and back from it to NAME.back (through a pipe: nbdcopy
# writing a file calls sync_file_range itself); NAME.fds is the server's
# descriptors while it ran, NAME.trace its sync_file_range calls.
mirror ()
{
    local name="$1"
    shift
    local preload=()
    # In sanitizer builds, the runtime for nbdkit (as fanout_nbdkit does).
    if [ -n "$SANITIZER_RUNTIME" ]; then
        preload=(env "LD_PRELOAD=$SANITIZER_RUNTIME")
    fi
    rm -f "$name.img"
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 TSAN_OPTIONS=halt_on_error=1 \
    strace -f -qq --seccomp-bpf -e trace=sync_file_range -o "$name.trace" \
        "${preload[@]}" nbdkit -P "$name.pid" -U - --filter="$TEE_FILTER" memory size=$size \
        tee="$name.img" tee-bucket=1M "$@" \
        --run 'nbdcopy src.img "$uri" && nbdcopy "$uri" - | cat > '"$name"'.back &&
               for fd in /proc/$(cat '"$name"'.pid)/fd/*; do
                   echo "$(readlink $fd) $(grep ^flags: /proc/$(cat '"$name"'.pid)/fdinfo/${fd##*/})"
               done > '"$name"'.fds' \
        2> "$name.err"
    cat "$name.err" "$name.fds"
    cmp src.img "$name.back"
    cmp src.img "$name.img"
    grep -E "tee: $name\.img +file +done +$size " "$name.err"
}

# The defaults: a ring, no write-back calls, no O_DIRECT.
mirror default
grep -q 'anon_inode:\[io_uring\]' default.fds
test "$(grep -c sync_file_range default.trace || true)" -eq 0

# tee-io=sync: no ring.
mirror sync tee-io=sync
test "$(grep -c io_uring sync.fds || true)" -eq 0

# tee-cache=none: the write-back pipeline runs.
mirror none tee-cache=none
grep -q 'sync_file_range(.*SYNC_FILE_RANGE_WAIT_AFTER) = 0' none.trace

# tee-direct=true: a descriptor of the tee file has O_DIRECT (040000).
mirror direct tee-direct=true
direct_flags() {
    grep -F "/direct.img flags:" direct.fds | while read -r _ _ flags; do
        if (( (8#$flags & 8#040000) != 0 )); then echo direct; fi
    done
}
test "$(direct_flags | wc -l)" -eq 1

# All three at once, and with io=uring, cache=none, direct=true.
mirror all-sync tee-io=sync tee-cache=none tee-direct=true
mirror all-uring tee-io=uring tee-cache=none tee-direct=true

# Unaligned requests, rewrites of their neighbours, zeroes, through the
# filter with tee-cache=none tee-direct=true; the same commands on a local
# raw image give the expected content.
cmds=(
    -c 'write -P 0x11 512 3584'
    -c 'write -P 0x22 4096 1M'
    -c 'write -P 0x33 1049088 512'
    -c 'write -P 0x44 2M 2560'
    -c 'write -P 0x55 3583k 2M'
    -c 'write -z 3586k 1536'
    -c "write -P 0x77 $((size - 2048)) 2048"
    -c 'flush'
)
truncate -s $size expected.img
qemu-io -f raw "${cmds[@]}" expected.img
for io in uring sync; do
    fanout_nbdkit -U - --filter="$TEE_FILTER" memory size=$size tee=q-$io.img \
        tee-io=$io tee-cache=none tee-direct=true \
        --run "qemu-io -f raw $(printf '%q ' "${cmds[@]}") \"\$uri\""
    cmp expected.img q-$io.img
done
