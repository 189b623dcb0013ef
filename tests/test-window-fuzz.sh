#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: the window's libFuzzer target (common/window_fuzz, built by
# `make check` in common/ when configure found a clang++ that links
# -fsanitize=fuzzer) runs for a bounded time from its seed corpus
# (common/window/fuzz-seeds).  Any crash, invariant violation (abort), sanitizer
# report, leak or per-input timeout fails the test; libFuzzer leaves the
# input that did it in the temporary directory, and the log shows it.
#
# FANOUT_FUZZ_TIME (seconds, default 30) changes how long it runs.

source ./functions.sh
set -e
set -x

fuzzer="$abs_builddir/../common/window_fuzz"
if [ ! -x "$fuzzer" ]; then
    echo "SKIP: $0: requires clang++ with libFuzzer (common/window_fuzz is not built)"
    exit 77
fi

# The seed corpus (absolute: make_tmpdir changes directory).
seeds="$(cd "$srcdir/../common/window/fuzz-seeds" 2>/dev/null && pwd)" || seeds=

make_tmpdir

# A scratch corpus: new inputs go here, never into the source tree.
mkdir corpus

status=0
"$fuzzer" \
    -max_total_time="${FANOUT_FUZZ_TIME:-30}" -timeout=10 -rss_limit_mb=2048 \
    -max_len=1024 -len_control=10 -print_final_stats=1 \
    -artifact_prefix="$tmp/" \
    corpus $seeds > fuzz.log 2>&1 || status=$?
tail -n 40 fuzz.log
if [ $status -ne 0 ] || ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* >/dev/null 2>&1; then
    echo "$0: FAIL: window_fuzz exited with status $status" >&2
    for f in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
        [ -f "$f" ] || continue
        echo "input $f:" >&2
        od -An -tx1 -v "$f" >&2
        FANOUT_FUZZ_VERBOSE=1 "$fuzzer" "$f" 2>&1 | tail -n 60 >&2 || :
    done
    exit 1
fi
