#!/bin/sh
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: every include in the engine points down or sideways, never
# up.  The layers, lowest first, are the folders of common/ (Makefile.am
# says what each holds); a file may include its own layer and the layers
# below it, by the path from common/ ("util/status.h").  Prints one line
# per wrong include and fails if there is any.

layers="util window dest pipeline integrity report config engine"
cd "${srcdir:-.}" || exit 1

rank() {
    i=0
    for l in $layers; do
        if [ "$l" = "$1" ]; then echo $i; return; fi
        i=$((i + 1))
    done
    echo -1
}

bad=0
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
files=$(find $layers -name '*.h' -o -name '*.cpp' | sort)
if [ -z "$files" ]; then
    echo "$0: no sources under $(pwd)" >&2
    exit 1
fi
for f in $files; do
    own=$(rank "${f%%/*}")
    # Every quoted include, with its line number.
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
    sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1 \2/' > "$tmp"
    while read -r line inc; do
        case "$inc" in
        */*) ;;
        *)
            echo "$f:$line: #include \"$inc\": name the layer (\"layer/$inc\")"
            bad=1
            continue ;;
        esac
        theirs=$(rank "${inc%%/*}")
        if [ "$theirs" -lt 0 ]; then
            echo "$f:$line: #include \"$inc\": ${inc%%/*}/ is not a layer ($layers)"
            bad=1
        elif [ ! -f "$inc" ]; then
            echo "$f:$line: #include \"$inc\": no such file"
            bad=1
        elif [ "$theirs" -gt "$own" ]; then
            echo "$f:$line: #include \"$inc\": ${f%%/*}/ is below ${inc%%/*}/ and must not include it"
            bad=1
        fi
    done < "$tmp"
done
if [ $bad -ne 0 ]; then
    echo "FAIL: $0: includes must point down the layers: $layers"
    exit 1
fi
echo "PASS: $0: every include points down the layers ($layers)"
