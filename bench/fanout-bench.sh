#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout benchmark: is fan-out faster than the alternatives?
#
# Prints one Markdown table.  Each timed row runs its two commands in
# alternating order (A B, B A, A B, ...) BENCH_PAIRS times and reports the
# median of the per-pair ratios A/B: absolute times drift on a shared
# machine, a ratio measured back to back drifts much less.
#
#   fanout → 4 files       vs 4 × (nbdkit file + nbdcopy) in parallel
#   fanout → 1 file        vs nbdkit file + nbdcopy
#   fanout → 4 files       vs dc3dd with 4 of=, mbuffer -o ×4, tee
#   io=uring               vs io=sync (4 files)
#   the same work with the image's SHA-256, which fanout computes by
#   default: fanout (default) vs the alternatives followed by sha256sum of
#   one output, and vs dc3dd hash=sha256
#
# The rows without a digest run fanout with sha256=false, since the
# alternatives compute none: they compare the copy engines.
#   peak RSS of nbdkit, FIFO read at 200 MB/s + a file  vs the 112 MiB bound
#   peak Dirty: in /proc/meminfo, 4 files on disk, cache=none vs cache=default
#
# Opt-in rows (BENCH_ROWS names them; at 1G each one takes a minute or
# more, since every run waits for the slow destination), tmpfs only, with
# fanout sha256=false:
#   lag        two files + cmd='pv -q -L 100m > out': the client's time
#              (nbdcopy's own, timed inside --run) with lag=SIZE (never
#              wait) vs lag=0 (lock-step); also each whole run (every
#              destination done); every output compared with the source
#   lag-peers  the same slow output behind the peers' lock-step: fanout
#              lag=SIZE's client time vs the time `tee` or `mbuffer -o ×3`
#              takes to write the two files while feeding `pv -q -L 100m`
#              (they are done only when the slow output has taken it all).
#              dc3dd is not among them: it cannot write to a pipe or FIFO.
#   They need an image well beyond window= (64M): lock-step holds the
#   client back only once the stream is a window and the buckets behind.
#   zeroes     the cost of zero detection where it finds nothing: 4 files,
#              the random image, detect-zeroes=true vs detect-zeroes=false
#              (the issue's target: at most 3 % slower)
#   holes      flashing a sparse image (qcow2, about 10 % data, the rest
#              holes) with qemu-img convert -n to two loop devices over
#              files in BENCH_TMPFS, pre-filled with 0xAA: holes=skip vs
#              holes=write; bmaptool copy to the same two devices, one
#              after the other, when bmaptool is installed.  Needs root
#              and losetup (skipped otherwise).  Loop devices over tmpfs
#              are memory and zero at the speed of clearing it, far faster
#              than a card writing zeros: the ratio understates the gain.
#
# Timed rows run on tmpfs and on a disk directory.  Every copy is from a
# random image with nbdcopy as the client (the local tools read it
# directly).  On disk every command ends with its data synced (fanout
# fdatasyncs at close, nbdcopy --flush, `sync FILE...` after the local
# tools), and the page cache is synced before each run.
#
# Environment:
#   FANOUT_PLUGIN  the plugin .so (make bench sets it)
#   BENCH_SIZE     image size (default 1G)
#   BENCH_PAIRS    alternating pairs per row (default 3)
#   BENCH_TMPFS    a tmpfs directory (default /dev/shm)
#   BENCH_DISK     a directory on disk (default /var/tmp)
#   BENCH_ONLY     tmpfs or disk: only that medium
#   BENCH_ROWS     some of: files single digest dc3dd mbuffer tee io rss dirty
#                  lag lag-peers zeroes holes (default: all but the opt-in
#                  rows lag, lag-peers, zeroes and holes)
#   BENCH_SLOW_RATE  the slow destination's pv -L rate in the lag rows
#                  (default 100m)
#
# A missing alternative (dc3dd, mbuffer, pv) is skipped, and the table says
# so: `apt-get install dc3dd mbuffer pv` on Debian.

set -e
set -o pipefail

plugin="${FANOUT_PLUGIN:-$(cd "$(dirname "$0")/.." && pwd)/plugin/.libs/nbdkit-fanout-plugin.so}"
size="${BENCH_SIZE:-1G}"
pairs="${BENCH_PAIRS:-3}"
tmpfs_dir="${BENCH_TMPFS:-/dev/shm}"
disk_dir="${BENCH_DISK:-/var/tmp}"
bytes="$(numfmt --from=iec "$size")"
slow_rate="${BENCH_SLOW_RATE:-100m}"

for tool in nbdkit nbdcopy nbdsh; do
    if ! command -v $tool >/dev/null; then
        echo "$0: $tool is required" >&2
        exit 1
    fi
done
if [ ! -f "$plugin" ]; then
    echo "$0: $plugin not found: build first (make), or set FANOUT_PLUGIN" >&2
    exit 1
fi

work=
loops=()
cleanup ()
{
    local l
    for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    if [ -n "$work" ]; then rm -rf "$work"; fi
    if [ -n "$disk_work" ]; then rm -rf "$disk_work"; fi
}
trap cleanup EXIT INT TERM

now () { date +%s.%N; }

# run_timed CMD...: seconds the command took, on stdout; its output goes
# to $log.
run_timed ()
{
    local t0 t1
    t0="$(now)"
    if ! "$@" >>"$log" 2>&1; then
        echo "$0: failed: $*  (see $log)" >&2
        tail -5 "$log" >&2
        exit 1
    fi
    t1="$(now)"
    echo "$t1 - $t0" | bc -l
}

# want ROW: whether BENCH_ROWS asks for this row.  The opt-in rows run
# only when named.
opt_in_rows=" lag lag-peers zeroes holes "
want ()
{
    if [ -z "$BENCH_ROWS" ]; then [[ "$opt_in_rows" != *" $1 "* ]]; else [[ " $BENCH_ROWS " == *" $1 "* ]]; fi
}

median () { sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] }'; }

rows=()
# row MEDIUM WHAT A B RATIO DETAIL TARGET
row ()
{
    rows+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |")
}

# compare MEDIUM TARGET NAME_A NAME_B PREP_A RUN_A PREP_B RUN_B
# Runs the pairs; PREP_* (untimed) clears the outputs.
compare ()
{
    local medium="$1" target="$2" na="$3" nb="$4" prep_a="$5" run_a="$6" prep_b="$7" run_b="$8"
    local i ta tb ratios=() details=()
    for (( i = 0; i < pairs; i++ )); do
        if (( i % 2 == 0 )); then
            eval "$prep_a"; ta="$(run_timed bash -c "$run_a")"
            eval "$prep_b"; tb="$(run_timed bash -c "$run_b")"
        else
            eval "$prep_b"; tb="$(run_timed bash -c "$run_b")"
            eval "$prep_a"; ta="$(run_timed bash -c "$run_a")"
        fi
        ratios+=("$(echo "$ta / $tb" | bc -l)")
        details+=("$(printf '%.2f/%.2f' "$ta" "$tb")")
    done
    local med
    med="$(printf '%s\n' "${ratios[@]}" | median)"
    row "$medium" "time" "$na" "$nb" "$med" "${details[*]} s" "$target"
    echo "$medium: $na vs $nb: median ratio $med (${details[*]} s)" >&2
}

# Writes the destinations' names for N files in DIR: d1 ... dN.
outs () { local dir="$1" n="$2" i; for (( i = 1; i <= n; i++ )); do printf '%s/d%d ' "$dir" $i; done; }

fanout_cmd ()
{
    # fanout_cmd DIR N EXTRA...: nbdkit fanout to N new files in DIR, nbdcopy
    local dir="$1" n="$2"; shift 2
    local d args=""
    for d in $(outs "$dir" "$n"); do args+=" dest=$d"; done
    echo "nbdkit -U - $plugin $args size=$bytes $* --run 'nbdcopy $src \"\$uri\"'"
}

parallel_file_cmd ()
{
    # N × (nbdkit file + nbdcopy) in parallel; each file pre-sized (untimed
    # truncate in prep), --flush so the data is synced as fanout's is.
    # With a 4th argument, then the SHA-256 of the first file, as a user
    # of these tools would get the image's digest.
    local dir="$1" n="$2" flush="$3" digest="$4" d cmd=""
    for d in $(outs "$dir" "$n"); do
        cmd+="nbdkit -U - file file=$d --run 'nbdcopy $flush $src \"\$uri\"' & "
    done
    cmd+=" wait"
    [ -n "$digest" ] && cmd+="; sha256sum $dir/d1"
    echo "$cmd"
}

bench_medium ()
{
    local medium="$1" dir="$2" sync_after="" flush="" prep
    if [ "$medium" = disk ]; then
        sync_after="; sync $(outs "$dir" 4)"
        flush="--flush"
    fi
    prep="rm -f $(outs "$dir" 4); sync"
    local prep_sized="$prep; for f in $(outs "$dir" 4); do truncate -s $bytes \$f; done"

    # The copy engines: fanout without the digest the alternatives do not
    # compute.
    want files && compare "$medium" "≤ 0.60" "fanout sha256=false → 4 files" \
        "4 × (nbdkit file + nbdcopy)" \
        "$prep" "$(fanout_cmd "$dir" 4 sha256=false)" \
        "$prep_sized" "$(parallel_file_cmd "$dir" 4 "$flush")"
    want single && compare "$medium" "≤ 1.15" "fanout sha256=false → 1 file" \
        "nbdkit file + nbdcopy" \
        "$prep" "$(fanout_cmd "$dir" 1 sha256=false)" \
        "$prep_sized" "$(parallel_file_cmd "$dir" 1 "$flush")"
    # The same work as fanout's default, which also gives the image's
    # SHA-256: the alternatives then hash one output.
    want digest && compare "$medium" "(≤ 0.60)" "fanout → 4 files (default: + SHA-256)" \
        "4 × (nbdkit file + nbdcopy), sha256sum" \
        "$prep" "$(fanout_cmd "$dir" 4)" \
        "$prep_sized" "$(parallel_file_cmd "$dir" 4 "$flush" digest)"
    want digest && compare "$medium" "(≤ 1.15)" "fanout → 1 file (default: + SHA-256)" \
        "nbdkit file + nbdcopy, sha256sum" \
        "$prep" "$(fanout_cmd "$dir" 1)" \
        "$prep_sized" "$(parallel_file_cmd "$dir" 1 "$flush" digest)"
    if ! want dc3dd; then
        :
    elif command -v dc3dd >/dev/null; then
        local ofs="" d
        for d in $(outs "$dir" 4); do ofs+=" of=$d"; done
        compare "$medium" "≤ 1.25 (stretch)" "fanout sha256=false → 4 files" "dc3dd, 4 × of=" \
            "$prep" "$(fanout_cmd "$dir" 4 sha256=false)" \
            "$prep" "dc3dd if=$src $ofs $sync_after"
        compare "$medium" "" "fanout → 4 files (default: + SHA-256)" "dc3dd hash=sha256, 4 × of=" \
            "$prep" "$(fanout_cmd "$dir" 4)" \
            "$prep" "dc3dd if=$src hash=sha256 $ofs $sync_after"
    else
        row "$medium" "time" "fanout → 4 files" "dc3dd, 4 × of=" "skipped" "dc3dd not installed" "≤ 1.25"
    fi
    if ! want mbuffer; then
        :
    elif command -v mbuffer >/dev/null; then
        local os="" d
        for d in $(outs "$dir" 4); do os+=" -o $d"; done
        compare "$medium" "" "fanout sha256=false → 4 files" "mbuffer -o ×4" \
            "$prep" "$(fanout_cmd "$dir" 4 sha256=false)" \
            "$prep" "mbuffer -q -m 64M -i $src $os $sync_after"
    else
        row "$medium" "time" "fanout → 4 files" "mbuffer -o ×4" "skipped" "mbuffer not installed" ""
    fi
    local o=($(outs "$dir" 4))
    want tee && compare "$medium" "" "fanout sha256=false → 4 files" "tee" \
        "$prep" "$(fanout_cmd "$dir" 4 sha256=false)" \
        "$prep" "tee ${o[0]} ${o[1]} ${o[2]} < $src > ${o[3]} $sync_after"
    want io && compare "$medium" "" "io=uring (4 files, sha256=false)" "io=sync" \
        "$prep" "$(fanout_cmd "$dir" 4 io=uring sha256=false)" \
        "$prep" "$(fanout_cmd "$dir" 4 io=sync sha256=false)"
    eval "$prep"
}

# Peak RSS of the nbdkit server: a FIFO read at 200 MB/s and a file,
# size=512M window=32M bucket=8M buckets=4.  The kernel keeps the peak
# (VmHWM); it is read after nbdcopy has finished, before nbdkit is stopped.
bench_rss ()
{
    local dir="$1"
    if ! command -v pv >/dev/null; then
        row tmpfs "peak RSS" "FIFO at 200 MB/s + file" "bound 112 MiB" "skipped" "pv not installed" "≤ 112 MiB"
        return
    fi
    # 512M, as the target says (less while trying the script on a smaller
    # image).
    local rsize=$(( bytes < 512 * 1024 * 1024 ? bytes : 512 * 1024 * 1024 ))
    head -c $rsize "$src" > "$dir/src512"
    rm -f "$dir/fifo" "$dir/rss.img"; mkfifo "$dir/fifo"
    pv -q -L 200M "$dir/fifo" > /dev/null &
    local reader=$!
    nbdkit -f -P "$dir/nbdkit.pid" -U "$dir/sock" "$plugin" dest="$dir/fifo" dest="$dir/rss.img" \
        size=$rsize window=32M bucket=8M buckets=4 >>"$log" 2>&1 &
    local server=$! i
    for (( i = 0; i < 100; i++ )); do [ -s "$dir/nbdkit.pid" ] && break; sleep 0.1; done
    local t0 t1
    t0="$(now)"
    nbdcopy "$dir/src512" "nbd+unix:///?socket=$dir/sock" >>"$log" 2>&1
    t1="$(now)"
    local hwm
    hwm="$(awk '/^VmHWM:/ { print $2 }' /proc/$server/status)"
    kill -TERM $server; wait $server || true
    wait $reader || true
    if ! cmp -s "$dir/src512" "$dir/rss.img"; then
        echo "$0: RSS run: the file differs from the source" >&2
        exit 1
    fi
    local mib secs
    mib="$(echo "$hwm / 1024" | bc -l)"
    secs="$(echo "$t1 - $t0" | bc -l)"
    row tmpfs "peak RSS" "nbdkit, FIFO at 200 MB/s + file, $(numfmt --to=iec $rsize)" "bound 112 MiB" \
        "$(printf '%.2f' "$(echo "$mib / 112" | bc -l)")" \
        "$(printf '%.1f MiB (nbdcopy took %.1f s)' "$mib" "$secs")" "≤ 1.00"
    echo "peak RSS: $mib MiB" >&2
    rm -f "$dir/src512" "$dir/fifo" "$dir/rss.img" "$dir/sock" "$dir/nbdkit.pid"
}

# Peak Dirty: in /proc/meminfo (sampled every 0.1 s) while fanout writes 4
# files on disk, cache=none and cache=default, alternating.
bench_dirty ()
{
    local dir="$1" i cache peaks_none=() peaks_default=() secs_none=() secs_default=() starts=()
    local prep="rm -f $(outs "$dir" 4); sync"
    for (( i = 0; i < pairs; i++ )); do
        local order=(none default)
        (( i % 2 == 1 )) && order=(default none)
        for cache in "${order[@]}"; do
            eval "$prep"
            local start_dirty
            start_dirty="$(awk '/^Dirty:/ { print $2 }' /proc/meminfo)"
            ( peak=0
              while :; do
                  v="$(awk '/^Dirty:/ { print $2 }' /proc/meminfo)"
                  (( v > peak )) && peak=$v && echo $peak > "$dir/dirty.peak"
                  sleep 0.1
              done ) &
            local sampler=$! t
            echo 0 > "$dir/dirty.peak"
            t="$(run_timed bash -c "$(fanout_cmd "$dir" 4 cache=$cache)")"
            kill $sampler; wait $sampler 2>/dev/null || true
            local peak_mib=$(( $(cat "$dir/dirty.peak") / 1024 ))
            # What was dirty before the run belongs to other programs.
            starts+=("$(( start_dirty / 1024 ))")
            if [ $cache = none ]; then
                peaks_none+=($peak_mib); secs_none+=("$(printf '%.1f' $t)")
            else
                peaks_default+=($peak_mib); secs_default+=("$(printf '%.1f' $t)")
            fi
        done
    done
    eval "$prep"; rm -f "$dir/dirty.peak"
    local mn md
    mn="$(printf '%s\n' "${peaks_none[@]}" | median)"
    md="$(printf '%s\n' "${peaks_default[@]}" | median)"
    row disk "peak Dirty:" "cache=none (4 files)" "cache=default" \
        "$(printf '%.0f / %.0f MiB' "$mn" "$md")" \
        "none ${peaks_none[*]} MiB in ${secs_none[*]} s; default ${peaks_default[*]} MiB in ${secs_default[*]} s; Dirty: before each run ${starts[*]} MiB" \
        "none ≤ 300 MiB"
    echo "peak Dirty: none ${peaks_none[*]}  default ${peaks_default[*]}" >&2
}

# compare_client MEDIUM TARGET NAME_A NAME_B PREP_A RUN_A PREP_B RUN_B CHECK
# Like compare, but the ratio is of the client's times: each RUN_* writes
# "START END" (date +%s.%N) of its client to $client_t.  The whole runs are
# timed too, and shown beside, and so is when the files were done where a
# run leaves a status file in $lag_status (fanout: the latest "elapsed" of
# its file destinations).  CHECK (untimed, after every run) fails the bench
# if an output differs from the source.
compare_client ()
{
    local medium="$1" target="$2" na="$3" nb="$4" prep_a="$5" run_a="$6" prep_b="$7" run_b="$8"
    local check="$9"
    local i wa wb ca cb fa fb ratios=() details=()
    # one_run NAME PREP RUN: sets whole (the run's seconds) and client (the
    # client's).  Explicit checks, since set -e does not apply inside
    # `want ROW && ...`.
    local whole client files
    one_run ()
    {
        eval "$2"
        rm -f "$client_t" "$lag_status"
        whole="$(run_timed bash -c "$3")" || exit 1
        if [ ! -s "$client_t" ]; then
            echo "$0: $1: the client's times are missing (see $log)" >&2
            exit 1
        fi
        client="$(awk '{ printf "%.6f", $2 - $1 }' "$client_t")"
        files=-
        if [ -s "$lag_status" ]; then
            files="$(/usr/bin/python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
print("%.2f" % max(d["elapsed"] for d in doc["destinations"] if d["kind"] == "file"))
' "$lag_status")"
        fi
        if ! eval "$check"; then
            echo "$0: $1: an output differs from the source (see $log)" >&2
            exit 1
        fi
    }
    for (( i = 0; i < pairs; i++ )); do
        if (( i % 2 == 0 )); then
            one_run "$na" "$prep_a" "$run_a"; wa=$whole ca=$client fa=$files
            one_run "$nb" "$prep_b" "$run_b"; wb=$whole cb=$client fb=$files
        else
            one_run "$nb" "$prep_b" "$run_b"; wb=$whole cb=$client fb=$files
            one_run "$na" "$prep_a" "$run_a"; wa=$whole ca=$client fa=$files
        fi
        ratios+=("$(echo "$ca / $cb" | bc -l)")
        details+=("$(printf '%.2f/%.2f (files done %s/%s, whole run %.2f/%.2f)' \
            "$ca" "$cb" "$fa" "$fb" "$wa" "$wb")")
    done
    local med joined
    med="$(printf '%s\n' "${ratios[@]}" | median)"
    joined="$(printf '%s; ' "${details[@]}")"
    joined="${joined%; } s"
    row "$medium" "client time" "$na" "$nb" "$med" "$joined" "$target"
    echo "$medium: $na vs $nb: client time median ratio $med ($joined)" >&2
}

# A slow destination with lag=: two files on tmpfs and
# cmd='pv -q -L $slow_rate > d3'.  fanout runs with lag= the image size
# ("never wait") and with lag=0 (lock-step); nbdcopy is timed inside --run.
# The peers (lag-peers) feed the same two files and the same pv in
# lock-step; their "client" is the process that writes the files, which
# finishes only when the slow output has taken nearly everything.
bench_lag ()
{
    local dir="$1"
    if ! command -v pv >/dev/null; then
        want lag && row tmpfs "client time" "fanout lag=, 2 files + pv -L $slow_rate" "lag=0" \
            "skipped" "pv not installed" "≤ 0.25"
        want lag-peers && row tmpfs "client time" "fanout lag=, 2 files + pv -L $slow_rate" \
            "tee, mbuffer" "skipped" "pv not installed" ""
        return
    fi
    local d1="$dir/d1" d2="$dir/d2" d3="$dir/d3"
    local prep="rm -f $d1 $d2 $d3"
    local check="cmp $src $d1 && cmp $src $d2 && cmp $src $d3"
    local slow="pv -q -L $slow_rate > $d3"
    # The client's stamps, from nbdkit's --run shell.
    local stamp="t0=\$(date +%s.%N); nbdcopy $src \"\$uri\"; s=\$?; echo \"\$t0 \$(date +%s.%N)\" > $client_t; exit \$s"
    lag_cmd ()
    {
        echo "nbdkit -U - $plugin dest=$d1 dest=$d2 cmd='$slow' size=$bytes sha256=false lag=$1 status=$lag_status --run '$stamp'"
    }
    # peer_cmd WRITER: WRITER writes the two files and its standard output,
    # which goes to the slow destination; stamped around WRITER.
    peer_cmd ()
    {
        echo "set -o pipefail; { t0=\$(date +%s.%N); $1; s=\$?; echo \"\$t0 \$(date +%s.%N)\" > $client_t; exit \$s; } | $slow"
    }
    local lag_name="fanout sha256=false lag=$size, 2 files + pv -L $slow_rate"
    want lag && compare_client tmpfs "≤ 0.25" "$lag_name" "lag=0 (lock-step)" \
        "$prep" "$(lag_cmd "$bytes")" "$prep" "$(lag_cmd 0)" "$check"
    if want lag-peers; then
        compare_client tmpfs "" "$lag_name" "tee to 2 files + stdout → pv -L $slow_rate" \
            "$prep" "$(lag_cmd "$bytes")" "$prep" "$(peer_cmd "tee $d1 $d2 < $src")" "$check"
        if command -v mbuffer >/dev/null; then
            compare_client tmpfs "" "$lag_name" "mbuffer -m 64M, 2 files + stdout → pv -L $slow_rate" \
                "$prep" "$(lag_cmd "$bytes")" \
                "$prep" "$(peer_cmd "mbuffer -q -m 64M -i $src -o $d1 -o $d2 -o -")" "$check"
        else
            row tmpfs "client time" "$lag_name" "mbuffer, 2 files + stdout → pv" "skipped" "mbuffer not installed" ""
        fi
        row tmpfs "client time" "$lag_name" "dc3dd, 2 × of= + pv" "skipped" \
            "dc3dd cannot feed pv: it refuses a pipe as of=, and opens a FIFO of= for reading (it hangs)" ""
    fi
    eval "$prep"
}

# The cost of zero detection on data that has none: 4 files on tmpfs, the
# random image, detect-zeroes=true (the default) vs detect-zeroes=false.
bench_zeroes ()
{
    local dir="$1"
    local prep="rm -f $(outs "$dir" 4)"
    compare tmpfs "≤ 1.03" "fanout sha256=false detect-zeroes=true → 4 files, random data" \
        "detect-zeroes=false" \
        "$prep" "$(fanout_cmd "$dir" 4 sha256=false detect-zeroes=true)" \
        "$prep" "$(fanout_cmd "$dir" 4 sha256=false detect-zeroes=false)"
    local f
    for f in $(outs "$dir" 4); do
        if ! cmp -s "$src" "$f"; then
            echo "$0: zeroes row: $f differs from the source" >&2
            exit 1
        fi
    done
    eval "$prep"
}

# Flashing a sparse image to two block devices: loop devices over files in
# DIR (tmpfs), pre-filled with 0xAA before every run, so that holes=write
# has old contents to zero and holes=skip leaves them.  The image is a
# qcow2 of the export's size with 1 MiB of random data in every 10 MiB
# (about 10 %), written by qemu-img convert -n (which sends the holes as
# zero requests).  After every run each device is compared with what it
# must hold: the raw image (holes=write), or the pattern with the image's
# data in it (holes=skip, and bmaptool).
bench_holes ()
{
    local dir="$1" why="" l
    local name="fanout sha256=false holes=skip, 2 loop devices, qemu-img convert -n"
    if [ "$(id -u)" != 0 ]; then why="needs root (loop devices)"
    elif ! command -v losetup >/dev/null; then why="losetup not installed"
    elif ! command -v qemu-img >/dev/null; then why="qemu-img not installed"
    fi
    if [ -n "$why" ]; then
        row tmpfs "time" "$name" "holes=write" "skipped" "$why" ""
        return
    fi
    local raw="$dir/sparse.raw" qcow="$dir/sparse.qcow2" skipped="$dir/expect-skip"
    local mib=$(( bytes / 1048576 )) i
    rm -f "$raw"; truncate -s "$bytes" "$raw"
    for (( i = 0; i + 1 <= mib; i += 10 )); do
        dd if="$src" of="$raw" bs=1M skip=$i seek=$i count=1 conv=notrunc status=none
    done
    qemu-img convert -f raw -O qcow2 "$raw" "$qcow"
    head -c "$bytes" /dev/zero | tr '\0' '\252' > "$dir/pattern"
    cp "$dir/pattern" "$skipped"
    for (( i = 0; i + 1 <= mib; i += 10 )); do
        dd if="$src" of="$skipped" bs=1M skip=$i seek=$i count=1 conv=notrunc status=none
    done
    local l1 l2
    cp "$dir/pattern" "$dir/lo1"; cp "$dir/pattern" "$dir/lo2"
    if ! l1="$(losetup -f --show "$dir/lo1")" || ! { loops+=("$l1"); l2="$(losetup -f --show "$dir/lo2")"; }; then
        row tmpfs "time" "$name" "holes=write" "skipped" "losetup could not attach a loop device" ""
        return
    fi
    loops+=("$l2")
    # Refill through the devices (untimed), so that their page cache holds
    # the pattern too.
    local prep="for l in $l1 $l2; do dd if=$dir/pattern of=\$l bs=4M oflag=direct status=none; done; sync"
    local client="qemu-img convert -n -f qcow2 -O raw $qcow \"\$uri\""
    holes_cmd ()
    {
        echo "nbdkit -U - $plugin dest=$l1 dest=$l2 size=$bytes sha256=false holes=$1 --run '$client'"
    }
    compare tmpfs "" "$name" "holes=write" \
        "$prep" "$(holes_cmd skip)" "$prep" "$(holes_cmd write)"
    # What the devices must hold after each kind of run: checked after the
    # last timed run (B with an odd number of pairs, else A), and after one
    # more, untimed, of the other kind.
    check_devices ()
    {
        local l
        for l in $l1 $l2; do
            if ! cmp -s "$2" "$l"; then
                echo "$0: holes row: after holes=$1, $l does not hold $(basename "$2")" >&2
                exit 1
            fi
        done
    }
    local last=write other=skip
    (( pairs % 2 == 0 )) && last=skip other=write
    check_devices $last "$([ $last = skip ] && echo "$skipped" || echo "$raw")"
    eval "$prep"
    run_timed bash -c "$(holes_cmd $other)" >/dev/null
    check_devices $other "$([ $other = skip ] && echo "$skipped" || echo "$raw")"
    if command -v bmaptool >/dev/null; then
        bmaptool create -o "$dir/sparse.bmap" "$raw" >>"$log" 2>&1
        local tb tf
        eval "$prep"
        tb="$(run_timed bash -c "bmaptool copy --bmap $dir/sparse.bmap $raw $l1 && bmaptool copy --bmap $dir/sparse.bmap $raw $l2")"
        check_devices "skip (bmaptool)" "$skipped"
        eval "$prep"
        tf="$(run_timed bash -c "$(holes_cmd skip)")"
        row tmpfs "time" "$name" "bmaptool copy, to each device in turn" \
            "$(printf '%.3f' "$(echo "$tf / $tb" | bc -l)")" "$(printf '%.2f/%.2f s (one run each)' "$tf" "$tb")" ""
    else
        row tmpfs "time" "$name" "bmaptool copy" "skipped" "bmaptool not installed" ""
    fi
    for l in $l1 $l2; do losetup -d "$l"; done
    loops=()
    rm -f "$raw" "$qcow" "$skipped" "$dir/pattern" "$dir/lo1" "$dir/lo2" "$dir/sparse.bmap"
}

work="$(mktemp -d "$tmpfs_dir/fanout-bench.XXXXXX")"
disk_work=
log="$work/bench.log"
src="$work/src.img"
client_t="$work/client.t"
lag_status="$work/lag-status.json"
# A random image (AES-CTR keystream: fast, incompressible).
openssl enc -aes-128-ctr -pass pass:fanout-bench -nosalt -pbkdf2 -iter 1 </dev/zero 2>/dev/null \
    | head -c "$bytes" > "$src" || true
test "$(stat -c %s "$src")" -eq "$bytes"

echo "image $size, $pairs alternating pairs per row, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start_load="$(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${BENCH_ONLY:-tmpfs}" = tmpfs ]; then
    mkdir "$work/out"
    bench_medium tmpfs "$work/out"
    want rss && bench_rss "$work/out"
    if want lag || want lag-peers; then bench_lag "$work/out"; fi
    # (if, not &&: set -e does not apply inside a function called from
    # `want ROW && ...`.)
    if want zeroes; then bench_zeroes "$work/out"; fi
    if want holes; then bench_holes "$work/out"; fi
fi
if [ "${BENCH_ONLY:-disk}" = disk ]; then
    disk_work="$(mktemp -d "$disk_dir/fanout-bench.XXXXXX")"
    bench_medium disk "$disk_work"
    want dirty && bench_dirty "$disk_work"
fi

echo
echo "Image $size of random data, nbdcopy $(nbdcopy --version | head -1 | awk '{print $2}') as the client, nbdkit $(nbdkit --version | awk '{print $2}'), $(uname -sr), $(nproc) cores; $pairs alternating pairs per row, median of the ratios A/B (each pair's times A/B in seconds).  Load average at start $start_load, at end $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| medium | measure | A | B | median A/B | pairs | target |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
