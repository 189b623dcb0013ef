# nbdkit-fanout integration tests: the shared vocabulary.
#
# Each test starts with
#
#   source $srcdir/functions.sh
#   set -e
#   set -x
#
# and then uses the functions below.  The environment comes from
# tests/Makefile.am: FANOUT_PLUGIN (the built plugin), TEE_FILTER (the built
# tee filter), SANITIZER_RUNTIME (the sanitizer runtime to preload into
# nbdkit, empty in normal builds), srcdir, abs_builddir.  A test can also be
# run by hand from the build tree:
#
#   cd tests && srcdir=. ./test-dump-plugin.sh

# Debian's python3 is the one with the nbd module (nbdsh, python3-libnbd);
# an earlier python3 on PATH (pyenv and the like) lacks it.
PATH=/usr/bin:$PATH
export PATH

: "${srcdir:=.}"
: "${abs_builddir:=$(pwd)}"
: "${FANOUT_PLUGIN:=$abs_builddir/../plugin/.libs/nbdkit-fanout-plugin.so}"
: "${TEE_FILTER:=$abs_builddir/../filters/.libs/nbdkit-tee-filter.so}"
: "${SANITIZER_RUNTIME:=}"
export srcdir abs_builddir FANOUT_PLUGIN TEE_FILTER SANITIZER_RUNTIME
LC_ALL=C
export LC_ALL

# No test may hang: the whole test runs under timeout(1), which sends
# SIGTERM to the test's process group (the test, nbdkit, the clients) after
# FANOUT_TEST_TIMEOUT seconds and SIGKILL 10 s later.  The TERM trap below
# still runs the cleanup hooks (unmounts, loop devices, temporary files).
if [ -z "$FANOUT_TEST_GUARDED" ]; then
    FANOUT_TEST_GUARDED=1
    export FANOUT_TEST_GUARDED
    exec timeout -k 10 "${FANOUT_TEST_TIMEOUT:-300}" "$BASH" "$0" "$@" </dev/null
fi

# The plugin and the filter must exist: a missing one is a failure, not a
# skip.
if [ ! -f "$FANOUT_PLUGIN" ]; then
    echo "$0: FAIL: plugin not found: $FANOUT_PLUGIN" >&2
    exit 1
fi
if [ ! -f "$TEE_FILTER" ]; then
    echo "$0: FAIL: filter not found: $TEE_FILTER" >&2
    exit 1
fi

# cleanup_fn CMD [ARGS...]
#
# Registers a command to run when the test exits, however it exits
# (success, failure, set -e, timeout).  Hooks run last registered first, so
# that what was set up last is undone first (unmount, then detach the loop
# device, then remove the directory).
_cleanup_hooks=()
cleanup_fn ()
{
    local cmd
    cmd="$(printf '%q ' "$@")"
    _cleanup_hooks+=("$cmd")
}

_run_cleanup_hooks ()
{
    local status=$? i
    set +e
    trap '' INT QUIT TERM
    for (( i = ${#_cleanup_hooks[@]} - 1; i >= 0; i-- )); do
        eval "${_cleanup_hooks[i]}"
    done
    _cleanup_hooks=()
    exit $status
}
trap _run_cleanup_hooks EXIT
trap 'exit 130' INT
trap 'exit 131' QUIT
trap 'echo "$0: killed by SIGTERM (timeout?)" >&2; exit 143' TERM

# requires CMD [ARGS...]
#
# Runs the command; if it fails, the test is skipped (exit 77) because
# something it needs is missing here.
requires ()
{
    if ! ( "$@" ) </dev/null >/dev/null 2>&1; then
        echo "SKIP: $0: requires $*"
        exit 77
    fi
}

# requires_root
#
# Skips the test unless it runs as root (block devices, mounts).
requires_root ()
{
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: $0: requires root"
        exit 77
    fi
}

# make_tmpdir
#
# Creates this test's own temporary directory, sets $tmp to it, cds into it
# and removes it when the test exits.  Short paths under /tmp keep Unix
# socket names below the 108 byte limit whatever the build directory is.
make_tmpdir ()
{
    local name
    name="$(basename "$0" .sh)"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/fanout-$name.XXXXXX")"
    cleanup_fn rm -rf "$tmp"
    cd "$tmp"
}

# mount_small_tmpfs DIR SIZE
#
# Mounts a tmpfs of SIZE on DIR (made in the current directory, the test's
# $tmp) for a destination or a spill that must run out of space, and
# unmounts it when the test exits.  REQUIRES: root (requires_root).
mount_small_tmpfs ()
{
    mkdir "$1"
    mount -t tmpfs -o size="$2" tmpfs "$1"
    cleanup_fn umount "$tmp/$1"
}

# attach_loop_device FILE
#
# Attaches FILE to a free loop device, sets $loop to it and detaches it
# when the test exits; skips the test where no loop device can be had.
# REQUIRES: root.
attach_loop_device ()
{
    if ! loop="$(losetup -f --show "$1")"; then
        echo "SKIP: $0: cannot attach a loop device here"
        exit 77
    fi
    cleanup_fn losetup -d "$loop"
    test -b "$loop"
}

# find_write_orders
#
# Sets $orders to tests/write-orders.py (the strace parser and libnbd
# replayer), wherever the build directory is.
find_write_orders ()
{
    orders="$srcdir/write-orders.py"
    case "$orders" in /*) ;; *) orders="$abs_builddir/$orders" ;; esac
    test -f "$orders"
}

# capture_write_orders NAME SIZE CMD...
#
# Runs CMD, which writes NAME.img (made here, a fresh sparse file of SIZE),
# under strace; NAME.orders is then the list of its writes and flushes to
# NAME.img, and NAME.summary (printed too) their summary in JSON.  Needs
# find_write_orders first.  What CMD prints on stderr is shown if it fails.
capture_write_orders ()
{
    local name="$1" size="$2"
    shift 2
    truncate -s "$size" "$name.img"
    strace -f -qq -s 0 -o "$name.trace" \
        -e trace=openat,open,creat,close,dup,dup2,dup3,fcntl,lseek,write,writev,pwrite64,pwritev,pwritev2,fsync,fdatasync,sync_file_range,clone,clone3,fork,vfork \
        "$@" 2> "$name.err" || { cat "$name.err"; return 1; }
    /usr/bin/python3 "$orders" parse "$name.trace" "$name.img" > "$name.orders" || return 1
    /usr/bin/python3 "$orders" summary "$name.orders" | tee "$name.summary"
}

# refused NAME PATTERN ARGS...
#
# Starts nbdkit with refused_target (default: the fanout plugin; the tee
# filter's tests set the filter and a plugin) and ARGS.  It must fail
# before --run, within 30 s, and print exactly one error line, which names
# PATTERN (a fixed string).  NAME.err keeps what it printed.
refused ()
{
    local name="$1" pattern="$2" status n
    shift 2
    if [ ${#refused_target[@]} -eq 0 ]; then
        refused_target=("$FANOUT_PLUGIN")
    fi
    rm -f ran "$name.err"
    status=0
    FANOUT_NBDKIT_TIMEOUT=30 fanout_nbdkit -U - "${refused_target[@]}" "$@" \
        --run 'touch ran' 2> "$name.err" || status=$?
    cat "$name.err"
    if [ "$status" -eq 124 ]; then
        echo "$0: $name: nbdkit did not exit within 30 s: $*"
        exit 1
    fi
    if [ "$status" -eq 0 ]; then
        echo "$0: $name: nbdkit accepted: $*"
        exit 1
    fi
    if [ -e ran ]; then
        echo "$0: $name: nbdkit ran the --run command: $*"
        exit 1
    fi
    # (set -x traces go to the same file: count nbdkit's lines only.)
    if [ "$(grep -c '^nbdkit: .*error' "$name.err")" -ne 1 ]; then
        echo "$0: $name: expected exactly one error line"
        exit 1
    fi
    n="$(grep '^nbdkit: .*error' "$name.err" | grep -c -F -- "$pattern" || true)"
    if [ "$n" -ne 1 ]; then
        echo "$0: $name: expected the error line to name '$pattern'"
        exit 1
    fi
}

# fanout_nbdkit ARGS...
#
# Runs nbdkit for the fanout plugin.  In sanitizer builds nbdkit itself was
# not built with the sanitizer, so the runtime is preloaded, and the
# sanitizer options are set for this nbdkit process only.  (The plugin drops
# LD_PRELOAD from its environment when it loads, so the commands it starts
# run clean.)
#
# With FANOUT_NBDKIT_TIMEOUT=SECONDS set (for one call, or local in a
# function), nbdkit is killed after that long: for starts that must fail at
# once and would otherwise hang until the test's own timeout.
fanout_nbdkit ()
{
    _fanout_nbdkit_argv "$FANOUT_NBDKIT_TIMEOUT"
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    TSAN_OPTIONS=halt_on_error=1 \
        "${_nbdkit_argv[@]}" "$@"
}

# fanout_nbdkit_without_io_uring ARGS...
#
# As fanout_nbdkit, with nbdkit running under strace, which fails every
# io_uring_setup with EPERM, as a kernel that refuses io_uring does
# (kernel.io_uring_disabled=2, Docker's default seccomp profile): the real
# way to the io=sync fallback.  Only that system call stops under strace
# (seccomp-bpf), so the run is hardly slower.  strace exits with nbdkit's
# exit status (and dies of the signal that killed it), so the caller
# checks it as it would nbdkit's.
fanout_nbdkit_without_io_uring ()
{
    local argv=()
    if [ -n "$FANOUT_NBDKIT_TIMEOUT" ]; then
        argv+=(timeout "$FANOUT_NBDKIT_TIMEOUT")
    fi
    argv+=(strace -f -qq --seccomp-bpf -o /dev/null
           -e trace=io_uring_setup -e inject=io_uring_setup:error=EPERM)
    # The sanitizer runtime for nbdkit, not for strace.
    if [ -n "$SANITIZER_RUNTIME" ]; then
        argv+=(env "LD_PRELOAD=$SANITIZER_RUNTIME")
    fi
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    TSAN_OPTIONS=halt_on_error=1 \
        "${argv[@]}" nbdkit "$@"
}

# Sets _nbdkit_argv to the command that runs nbdkit as fanout_nbdkit does,
# killed after $1 seconds if $1 is not empty.  Every element execs the next,
# except timeout(1).
_fanout_nbdkit_argv ()
{
    _nbdkit_argv=()
    if [ -n "$1" ]; then
        _nbdkit_argv+=(timeout "$1")
    fi
    if [ -n "$SANITIZER_RUNTIME" ]; then
        _nbdkit_argv+=(env "LD_PRELOAD=$SANITIZER_RUNTIME")
    fi
    _nbdkit_argv+=(nbdkit)
}

# start_nbdkit -P PIDFILE -U SOCKET [other nbdkit args...]
#
# Starts fanout_nbdkit as a server in the background (in the foreground
# mode, -f, so it stays this shell's child, keeps its stderr and its cwd),
# waits up to 30 s for the pidfile, and registers a cleanup that kills it.
# Redirect the call's stderr to capture nbdkit's messages.
start_nbdkit ()
{
    local pidfile= args=("$@") i pid

    for (( i = 0; i < ${#args[@]}; i++ )); do
        case "${args[i]}" in
            -P) pidfile="${args[i+1]}" ;;
            -P*) pidfile="${args[i]#-P}" ;;
            --pidfile=*) pidfile="${args[i]#--pidfile=}" ;;
        esac
    done
    if [ -z "$pidfile" ]; then
        echo "$0: start_nbdkit: -P PIDFILE is required" >&2
        return 1
    fi
    rm -f "$pidfile"

    # Not through the fanout_nbdkit function: a function in the background
    # runs in a subshell, and $! must be nbdkit itself.
    _fanout_nbdkit_argv ""
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    TSAN_OPTIONS=halt_on_error=1 \
        "${_nbdkit_argv[@]}" -f "$@" &
    pid=$!
    cleanup_fn _kill_nbdkit "$pid"

    for (( i = 0; i < 300; i++ )); do
        if [ -s "$pidfile" ]; then
            break
        fi
        if ! _is_running "$pid"; then
            wait "$pid" || true
            echo "$0: start_nbdkit: nbdkit exited before writing $pidfile" >&2
            return 1
        fi
        sleep 0.1
    done
    if [ ! -s "$pidfile" ]; then
        echo "$0: start_nbdkit: nbdkit did not write $pidfile within 30 s" >&2
        return 1
    fi
    if [ "$(cat "$pidfile")" != "$pid" ]; then
        echo "$0: start_nbdkit: $pidfile does not hold nbdkit's pid $pid" >&2
        return 1
    fi
}

# True while process PID exists and is not a zombie.
_is_running ()
{
    local state
    state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    case "$state" in
        Z*|"") return 1 ;;
        *) return 0 ;;
    esac
}

# True while PID is a background job of this shell that was not waited for
# (so a cleanup hook never signals a recycled pid).
_is_my_job ()
{
    jobs -p | grep -qx "$1"
}

_kill_nbdkit ()
{
    local i
    _is_my_job "$1" || return 0
    if _is_running "$1"; then
        kill -TERM "$1" 2>/dev/null
        for (( i = 0; i < 100; i++ )); do
            _is_running "$1" || break
            sleep 0.1
        done
        _is_running "$1" && kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
    return 0
}

# stop_nbdkit PIDFILE
#
# Sends SIGTERM to the nbdkit started by start_nbdkit and waits up to 60 s
# for it to exit: destinations are complete only after nbdkit has exited
# (the end of the stream is nbdkit's shutdown).  Returns nbdkit's exit
# status, so under set -e a failure reported at shutdown fails the test.
stop_nbdkit ()
{
    local pidfile="$1" pid i status

    pid="$(cat "$pidfile")"
    kill -TERM "$pid"
    for (( i = 0; i < 600; i++ )); do
        _is_running "$pid" || break
        sleep 0.1
    done
    if _is_running "$pid"; then
        echo "$0: stop_nbdkit: nbdkit (pid $pid) did not exit within 60 s of SIGTERM" >&2
        return 1
    fi
    status=0
    wait "$pid" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$0: stop_nbdkit: nbdkit exited with status $status" >&2
    fi
    return "$status"
}

# start_nbdfuse MNT SOCKET
#
# Mounts the NBD server at the Unix socket SOCKET on the (existing) empty
# directory MNT with nbdfuse, waits up to 30 s for MNT/nbd to appear, and
# registers the unmount (and the end of nbdfuse) for when the test exits.
start_nbdfuse ()
{
    local mnt="$1" sock="$2" abs i
    abs="$(cd "$mnt" && pwd)"
    nbdfuse -P "$abs.nbdfuse.pid" "$mnt" "nbd+unix://?socket=$sock" &
    nbdfuse_pid=$!
    cleanup_fn _kill_job "$nbdfuse_pid"
    cleanup_fn fusermount3 -u -q "$abs"
    for (( i = 0; i < 300; i++ )); do
        test -s "$abs.nbdfuse.pid" && test -e "$mnt/nbd" && break
        sleep 0.1
    done
    test -e "$mnt/nbd"
}

# nbdkit_aborted_on_reset ERRFILE
#
# True if nbdkit 1.32 itself aborted in raw_send_socket, as recorded in
# ERRFILE (its stderr).  That is nbdkit's own race, not the plugin's: a
# client that resets the connection after an EIO while more of its
# requests are still held in the plugin (back-pressure) makes nbdkit reply
# on the closed socket and trip an assertion.  Seen under TSan, whose
# slowness widens the window.  The plugin's summary and final status file
# die with the process, so a test checks those only when this is false;
# the client's failure and the exit status are checked either way.
nbdkit_aborted_on_reset ()
{
    if grep -q 'raw_send_socket: Assertion' "$1"; then
        echo "$0: nbdkit 1.32 aborted in raw_send_socket (its race, not the plugin's)"
        return 0
    fi
    return 1
}

# run_tool_through_fanout AHEAD DIR SIZE TOOL
#
# In a new directory DIR under $tmp: starts nbdkit fanout with
# dest=fifo (read into stream.out) dest=file.img size=SIZE window=128M
# ahead=AHEAD status=s.json, mounts it with nbdfuse on DIR/mnt, runs the
# shell function TOOL (which works on mnt/nbd), reads the whole disk back
# through nbdfuse into readback.img (what the client sees), unmounts and
# stops nbdkit.  Sets $nbdkit_status; returns in $tmp.
run_tool_through_fanout ()
{
    local ahead="$1" dir="$2" size="$3" tool="$4"
    mkdir "$dir"
    cd "$dir"
    start_fifo_reader fifo stream.out
    start_nbdkit -P nbdkit.pid -U "$tmp/$dir/nbdkit.sock" \
        "$FANOUT_PLUGIN" dest=fifo dest=file.img size="$size" \
        window=128M ahead="$ahead" status=s.json 2> nbdkit.err

    mkdir mnt
    start_nbdfuse mnt "$tmp/$dir/nbdkit.sock"
    test "$(stat -c %s mnt/nbd)" -eq "$(numfmt --from=iec "$size")"

    "$tool"
    sync mnt/nbd
    dd if=mnt/nbd of=readback.img bs=4M iflag=direct status=none

    fusermount3 -u mnt
    wait "$nbdfuse_pid"
    nbdkit_status=0
    stop_nbdkit nbdkit.pid || nbdkit_status=$?
    cat nbdkit.err
    wait_fifo_reader
    cd "$tmp"
}

# check_tool_run_clean MIB: after run_tool_through_fanout, in its directory:
# the run finished, the FIFO and the file are both "done" with MIB MiB and
# no error, and nbdkit logged no error.
check_tool_run_clean ()
{
    check_status_json s.json <<PYEOF || return 1
assert s["state"] == "finished", s
for name in ("fifo", "file.img"):
    assert d[name]["state"] == "done", d[name]
    assert d[name]["bytes"] == $1 * MiB, d[name]
    assert d[name]["error"] is None, d[name]
PYEOF
    if grep -F ': error: ' nbdkit.err; then
        echo "$0: errors logged"
        return 1
    fi
}

# check_status_json FILE <<'PYEOF' ... PYEOF
#
# Runs the Python assertions on standard input against the status file
# FILE (status=FILE), after printing it.  They see: s (the whole document),
# d (the destinations by name), MiB, json.
check_status_json ()
{
    {
        printf 'import json\nMiB = 1024 * 1024\n'
        printf 'with open(%s) as f:\n    s = json.load(f)\n' "'$1'"
        printf 'print(json.dumps(s, indent=2))\n'
        printf 'd = {x["name"]: x for x in s["destinations"]}\n'
        cat
    } | /usr/bin/python3 -
}

# make_random FILE SIZE [SEED]
#
# Writes SIZE bytes (head -c syntax: 1M, 256M, ...) of deterministic
# pseudo-random data to FILE: AES-CTR of zeros, fast and the same for the
# same SEED.
make_random ()
{
    local file="$1" size="$2" seed="${3:-fanout}"
    { openssl enc -aes-128-ctr -pass "pass:$seed" -nosalt -pbkdf2 -iter 1 \
          </dev/zero 2>/dev/null || true; } | head -c "$size" > "$file"
    if [ "$(stat -c %s "$file")" -ne "$(numfmt --from=iec "$size")" ]; then
        echo "$0: make_random: $file has the wrong size" >&2
        return 1
    fi
}

# make_fill FILE SIZE BYTE
#
# Writes SIZE bytes (head -c syntax) of the octal BYTE to FILE, for example
# make_fill old.img 16M '\252' (0xAA).
make_fill ()
{
    local file="$1" size="$2" byte="$3"
    head -c "$size" /dev/zero | tr '\000' "$byte" > "$file"
}

# start_fifo_reader FIFO OUTFILE
#
# Creates the FIFO and reads it in the background into OUTFILE, so that the
# plugin can open it; sets $fifo_reader_pid.  Wait for it with
# wait_fifo_reader after nbdkit exits: the reader ends when the plugin
# closes the FIFO at the end of the stream.
start_fifo_reader ()
{
    mkfifo "$1"
    timeout 240 cat "$1" > "$2" &
    fifo_reader_pid=$!
    cleanup_fn _kill_job "$fifo_reader_pid"
}

# start_quitting_fifo_reader FIFO BYTES [OUTFILE]
#
# Creates the FIFO (afresh) and a reader that goes away after BYTES (head -c
# syntax), keeping them in OUTFILE (default /dev/null): the FIFO
# destination then fails with EPIPE.  Sets $fifo_reader_pid; wait for it
# with wait_fifo_reader.
start_quitting_fifo_reader ()
{
    rm -f "$1"
    mkfifo "$1"
    timeout 120 head -c "$2" "$1" > "${3:-/dev/null}" &
    fifo_reader_pid=$!
    cleanup_fn _kill_job "$fifo_reader_pid"
}

# start_slow_fifo_reader FIFO RATE OUTFILE
#
# As start_fifo_reader, but the reader takes at most RATE bytes a second
# (pv -L syntax: 10M): a slow destination.
start_slow_fifo_reader ()
{
    mkfifo "$1"
    timeout 120 pv -q -L "$2" "$1" > "$3" &
    fifo_reader_pid=$!
    cleanup_fn _kill_job "$fifo_reader_pid"
}

_kill_job ()
{
    if _is_my_job "$1"; then
        kill "$1" 2>/dev/null
        wait "$1" 2>/dev/null
    fi
    return 0
}

# wait_fifo_reader: fails if the reader did not end cleanly (for example
# because the plugin never closed the FIFO).
wait_fifo_reader ()
{
    wait "$fifo_reader_pid"
}

# start_nbd_server PIDFILE COMMAND [ARGS...]
#
# Starts an NBD server for the plugin to write to (nbdkit memory, nbdkit
# file, qemu-nbd, another fanout) in the background, as this shell's job;
# COMMAND must stay in the foreground and write PIDFILE once it listens
# (nbdkit -f -P PIDFILE, qemu-nbd --pid-file=PIDFILE).  Waits up to 30 s
# for it, kills it when the test exits, and sets $server_pid.  Not through
# fanout_nbdkit: these servers are not the code under test.
start_nbd_server ()
{
    local pidfile="$1" i
    shift
    rm -f "$pidfile"
    "$@" &
    server_pid=$!
    cleanup_fn _kill_nbdkit "$server_pid"
    for (( i = 0; i < 300; i++ )); do
        test -s "$pidfile" && return 0
        if ! _is_running "$server_pid"; then
            echo "$0: start_nbd_server: $1 exited before writing $pidfile" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$0: start_nbd_server: $1 did not write $pidfile within 30 s" >&2
    return 1
}

# free_tcp_port
#
# Prints a TCP port on 127.0.0.1 that nothing listens on now.
free_tcp_port ()
{
    /usr/bin/python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# make_hook_writer
#
# Writes hook_writer.py here, an NBD client (libnbd's Python binding) for
# nbdkit --run:
#
#   /usr/bin/python3 hook_writer.py URI SRC AFTER CMD
#
# writes the file SRC through URI in 1 MiB requests, in order.  Once AFTER
# bytes are written it flushes (so they have reached every destination) and
# runs the shell command CMD (SIGSTOP a reader or a server, suspend a
# device), then writes the rest and flushes again: for faults that must
# strike in the middle of a copy.
make_hook_writer ()
{
    cat > hook_writer.py <<'PYEOF'
import nbd, subprocess, sys
uri, src, after, cmd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
h = nbd.NBD()
h.connect_uri(uri)
with open(src, "rb") as f:
    data = f.read()
step = 1 << 20
for off in range(0, len(data), step):
    if off == after:
        h.flush()
        subprocess.run(cmd, shell=True, check=True)
    h.pwrite(data[off:off + step], off)
h.flush()
h.shutdown()
PYEOF
}

# start_status_watch STATUS COPY
#
# In the background, polls the status file STATUS (every 0.1 s, for at most
# 60 s) and copies it to COPY the first time a destination in it is shown
# stalled ("stalled": true), so a test can check what it said then.  Sets
# $status_watch_pid; wait for it after nbdkit has exited.
start_status_watch ()
{
    local status="$1" copy="$2"
    (
        for (( i = 0; i < 600; i++ )); do
            if cp "$status" "$copy.tmp" 2>/dev/null &&
                   grep -q '"stalled": true' "$copy.tmp"; then
                mv "$copy.tmp" "$copy"
                exit 0
            fi
            sleep 0.1
        done
    ) &
    status_watch_pid=$!
    cleanup_fn _kill_job "$status_watch_pid"
}
