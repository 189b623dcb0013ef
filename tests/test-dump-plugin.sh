#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: --dump-plugin prints the plugin's features as name=yes
# lines, and --help lists every parameter.

source ./functions.sh
set -e
set -x

make_tmpdir

fanout_nbdkit "$FANOUT_PLUGIN" --dump-plugin > dump.out
cat dump.out
grep -x 'name=fanout' dump.out
grep -x 'thread_model=parallel' dump.out
grep -x 'fanout_window=yes' dump.out
grep -x 'fanout_verify=yes' dump.out
grep -x 'fanout_interrupted=yes' dump.out
grep -x 'fanout_lag=yes' dump.out
# The version from configure.ac, in nbdkit's line and the plugin's.
grep -x "version=$PACKAGE_VERSION" dump.out
grep -x "fanout_version=$PACKAGE_VERSION" dump.out

fanout_nbdkit "$FANOUT_PLUGIN" --help > help.out
cat help.out
for key in dest= cmd= size= window= bucket= buckets= lag= spill= spill-memory= verify= sha256= io= cache= direct=; do
    if ! grep -q -- "$key" help.out; then
        echo "$0: --help does not list $key"
        exit 1
    fi
done
