#!/usr/bin/python3
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout tests: real write orders, captured with strace and replayed
# through NBD.
#
#   write-orders.py parse TRACE IMAGE > ORDERS.json
#       From `strace -f -s 0 -e trace=... -o TRACE TOOL ... IMAGE`, the
#       tool's writes to IMAGE in the order it made them: a list of
#       ["w", offset, length] and ["f"] (fsync/fdatasync), as JSON.
#
#   write-orders.py summary ORDERS.json
#       Prints the writes, the flushes, the first write's offset, and the
#       largest backward jump (how far a write landed below the end of the
#       highest write before it), as JSON.
#
#   write-orders.py replay URI ORDERS.json FINAL_IMAGE
#       Sends each recorded write to the NBD server at URI in order, with
#       the FINAL image's bytes for that range (what the tool left there),
#       and a Flush for each recorded flush.  Exits 0 if every request
#       succeeded; with --allow-errors, failed requests are counted and
#       printed instead.
#
# The trace must come from
#   strace -f -s 0 -e trace=openat,open,creat,close,dup,dup2,dup3,fcntl,
#     lseek,write,writev,pwrite64,pwritev,pwritev2,fsync,fdatasync,sync_file_range,
#     clone,clone3,fork,vfork
# (syscalls that move data into the image another way, such as mmap,
# copy_file_range or io_uring, are not followed; the test compares the
# replayed image with the tool's, so a missed write shows.)

import json
import os
import re
import sys

LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+|\?|0x[0-9a-f]+)(.*)$")


class FdTable:
    def __init__(self, fds=None):
        # fd -> [is_image, position]; a forked child's table holds the same
        # lists as its parent's, since the two share each file description
        # and so its offset.
        self.fds = dict(fds or {})

    def copy(self):
        return FdTable(self.fds)


def split_args(s):
    """Top-level comma-separated arguments (strings, braces, brackets)."""
    args, depth, cur, quote, esc = [], 0, [], False, False
    for ch in s:
        if quote:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur or args:
        args.append("".join(cur).strip())
    return args


def unquote_path(arg):
    m = re.match(r'^"(.*)"', arg)
    if not m:
        return None
    return bytes(m.group(1), "utf-8").decode("unicode_escape")


def parse(trace, image):
    image_real = os.path.realpath(image)
    cwd = os.getcwd()
    tables = {}
    pending = {}
    orders = []

    def table(pid):
        if pid not in tables:
            tables[pid] = FdTable()
        return tables[pid]

    def is_image(path):
        if path is None:
            return False
        if not path.startswith("/"):
            path = os.path.join(cwd, path)
        return os.path.realpath(path) == image_real

    # Under strace -f a child's first system calls can be printed before
    # the parent's clone() returns its pid.  A pid not seen yet is held
    # back until the clone that made it, so that it starts from a copy of
    # its parent's descriptors rather than from nothing; the first pid in
    # the trace is the tool itself.
    known = set()
    held = {}

    def line(pid, text):
        if not known:
            known.add(pid)
        if pid not in known:
            held.setdefault(pid, []).append(text)
            return
        if text.endswith("<unfinished ...>"):
            pending[pid] = text[: -len("<unfinished ...>")].rstrip()
            return
        r = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", text)
        if r:
            text = pending.pop(pid, r.group(1) + "(") + r.group(2)
        if text.startswith("+++") or text.startswith("---"):
            return
        c = CALL.match(text)
        if c and c.group(3) != "?":
            call(pid, c.group(1), c.group(2), int(c.group(3), 0))

    def call(pid, name, argtext, ret):
        args = split_args(argtext)
        t = table(pid)

        if name in ("clone", "clone3", "fork", "vfork"):
            if ret > 0:
                if name.startswith("clone") and "CLONE_FILES" in argtext:
                    tables[ret] = t
                else:
                    tables[ret] = t.copy()
                known.add(ret)
                for text in held.pop(ret, []):
                    line(ret, text)
            return
        if ret < 0:
            return
        if name in ("openat", "open", "creat"):
            path = unquote_path(args[1] if name == "openat" else args[0])
            if name == "openat" and path is not None and not path.startswith("/") \
                    and args[0] != "AT_FDCWD":
                path = None  # relative to another directory: not the image
            t.fds[ret] = [is_image(path), 0]
        elif name == "close":
            t.fds.pop(int(args[0]), None)
        elif name in ("dup", "dup2", "dup3"):
            old = t.fds.get(int(args[0]))
            if old is not None:
                t.fds[ret] = old  # shares the file description
        elif name == "fcntl":
            if "F_DUPFD" in args[1]:
                old = t.fds.get(int(args[0]))
                if old is not None:
                    t.fds[ret] = old
        else:
            fd = int(args[0]) if args and re.match(r"^\d+$", args[0]) else None
            ent = t.fds.get(fd)
            if name == "lseek":
                if ent is not None:
                    ent[1] = ret
                return
            if ent is None or not ent[0]:
                if ent is not None and name in ("write", "writev"):
                    ent[1] += ret
                return
            if name in ("write", "writev"):
                if ret > 0:
                    orders.append(["w", ent[1], ret])
                ent[1] += ret
            elif name in ("pwrite64", "pwritev", "pwritev2"):
                if ret > 0:
                    orders.append(["w", int(args[3], 0), ret])
            elif name in ("fsync", "fdatasync", "sync_file_range"):
                orders.append(["f"])

    with open(trace, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if m:
                line(int(m.group(1)), m.group(2))
    if held:
        sys.exit("write-orders.py: pids %s in %s never appear as a clone's result"
                 % (sorted(held), trace))
    return orders


def summary(orders):
    writes = [o for o in orders if o[0] == "w"]
    high = 0
    back = 0
    for _, off, length in writes:
        back = max(back, high - off)
        high = max(high, off + length)
    return {
        "writes": len(writes),
        "flushes": len(orders) - len(writes),
        "bytes": sum(o[2] for o in writes),
        "first_offset": writes[0][1] if writes else None,
        "highest_end": high,
        "max_backward": back,
    }


def replay(uri, orders, final, allow_errors):
    import nbd

    h = nbd.NBD()
    h.connect_uri(uri)
    size = h.get_size()
    failed = 0
    with open(final, "rb") as f:
        img = f.read()
    assert len(img) == size, (len(img), size)
    for o in orders:
        try:
            if o[0] == "w":
                _, off, length = o
                h.pwrite(img[off:off + length], off)
            else:
                h.flush()
        except nbd.Error as e:
            if not allow_errors:
                raise
            failed += 1
            if failed <= 3:
                print("request %r failed: %s" % (o, e), file=sys.stderr)
    h.shutdown()
    print(json.dumps({"requests": len(orders), "failed": failed}))


def main():
    argv = sys.argv[1:]
    allow = "--allow-errors" in argv
    argv = [a for a in argv if a != "--allow-errors"]
    if argv[0] == "parse":
        json.dump(parse(argv[1], argv[2]), sys.stdout)
        print()
    elif argv[0] == "summary":
        with open(argv[1]) as f:
            print(json.dumps(summary(json.load(f))))
    elif argv[0] == "replay":
        with open(argv[2]) as f:
            orders = json.load(f)
        replay(argv[1], orders, argv[3], allow)
    else:
        sys.exit("usage: write-orders.py parse|summary|replay ...")


if __name__ == "__main__":
    main()
