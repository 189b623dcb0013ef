#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: NBD destinations that cannot be used are refused at start
# with one error line naming the dest= (nothing listening on the socket or
# the port, a URI libnbd cannot parse, a read-only server, a server smaller
# than size=); and without size= the export takes the smallest server's
# size, as with block devices.

source ./functions.sh
requires nbdkit memory --version
requires nbdsh --version
set -e
set -x

make_tmpdir


# Nothing listening: a Unix socket that does not exist, a TCP port that
# nobody listens on.
refused no-socket "dest=nbd+unix:///?socket=$tmp/none: cannot connect: " \
    dest="nbd+unix:///?socket=$tmp/none" dest=a.img size=1M
port="$(free_tcp_port)"
refused no-listener "dest=nbd://127.0.0.1:$port: cannot connect: " \
    dest="nbd://127.0.0.1:$port" dest=a.img size=1M
# Not a URI libnbd can parse.
refused bad-uri "dest=nbd://[::1/: cannot connect: " dest="nbd://[::1/" dest=a.img size=1M
# Nothing was created by the refused starts.
test ! -e a.img

# A read-only server.
start_nbd_server ro.pid nbdkit -f -P ro.pid -U "$tmp/ro" -r memory 1M
refused read-only "dest=nbd+unix:///?socket=$tmp/ro: the server's export is read-only" \
    dest="nbd+unix:///?socket=$tmp/ro" size=1M

# Servers of 32 MiB and 64 MiB: size= larger than one is refused naming it;
# without size= the export is the smaller one.
start_nbd_server s32.pid nbdkit -f -P s32.pid -U "$tmp/s32" memory 32M
start_nbd_server s64.pid nbdkit -f -P s64.pid -U "$tmp/s64" memory 64M
# The same URI twice (the file opened between them is removed again).
refused same-uri "dest=nbd+unix:///?socket=$tmp/s64: named twice; name each destination once" \
    dest="nbd+unix:///?socket=$tmp/s64" dest=a.img dest="nbd+unix:///?socket=$tmp/s64" size=1M
test ! -e a.img
refused too-small \
    "dest=nbd+unix:///?socket=$tmp/s32: the server's export holds 33554432 bytes, smaller than the export size 67108864" \
    dest="nbd+unix:///?socket=$tmp/s64" dest="nbd+unix:///?socket=$tmp/s32" size=64M
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=$tmp/s64" dest="nbd+unix:///?socket=$tmp/s32" \
    --run 'nbdsh -u "$uri" -c "assert h.get_size() == 32 * 1024 * 1024"'
# And size= smaller than every server is fine.
fanout_nbdkit -U - "$FANOUT_PLUGIN" \
    dest="nbd+unix:///?socket=$tmp/s64" dest="nbd+unix:///?socket=$tmp/s32" size=16M \
    --run 'nbdsh -u "$uri" -c "assert h.get_size() == 16 * 1024 * 1024"'
