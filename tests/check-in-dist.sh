#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: what `make check` runs in place of each integration test
# when configure had --disable-integration-tests (make distcheck does):
#   check-in-dist.sh TEST
# TEST is not run.  It is checked instead to be there, executable, and to
# parse, with functions.sh; and every file of the source that it or
# functions.sh reads as $srcdir/FILE (write-orders.py, status-recorder.py,
# the fuzzer's seeds) is checked to exist, a folder not empty.  So a
# tarball missing one of them fails; when nothing is missing the test
# counts as skipped (exit 77), since it did not run.

set -u
test="$1"
: "${srcdir:=.}"
status=0

if [ ! -x "$test" ]; then
    echo "FAIL: $test is missing or not executable"
    exit 1
fi
for f in "$test" ./functions.sh; do
    if ! bash -n "$f"; then
        echo "FAIL: $f does not parse"
        status=1
    fi
done

for ref in $(grep -ho '\$srcdir/[A-Za-z0-9_./-]*' "$test" ./functions.sh | sort -u); do
    path="$srcdir/${ref#\$srcdir/}"
    if [ -d "$path" ]; then
        if [ -z "$(ls -A "$path")" ]; then
            echo "FAIL: $test reads $ref, and $path is empty"
            status=1
        fi
    elif [ ! -f "$path" ]; then
        echo "FAIL: $test reads $ref, and $path is not in the source"
        status=1
    fi
done

if [ $status -ne 0 ]; then
    exit $status
fi
echo "SKIP: $test: not run (configure --disable-integration-tests); it and the files it reads are present"
exit 77
