// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// WriteFully and ReadFully: all of a buffer to or from a file descriptor,
// retrying short transfers and EINTR.  Shared by the destinations, the
// status file and the spill file.
#ifndef FANOUT_UTIL_FD_IO_H
#define FANOUT_UTIL_FD_IO_H

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "util/status.h"

namespace fanout {

// Writes all of buf at offset (offset < 0: at the current position).  The
// error names name and the offset.  A write that takes nothing at all is
// ENOSPC rather than a retry for ever.
Status WriteFully(int fd, const uint8_t* buf, uint64_t length, off_t offset,
                  const std::string& name);

// Reads length bytes at offset into buf, stopping early only at the end of
// the file: *got is set to the bytes read, also on error.  A read that
// returns a count that is not a multiple of unit ends the file too: with
// O_DIRECT (unit: its alignment) that is how an unaligned end of file
// shows, and the next read, unaligned, could fail instead of returning 0.  A failed read returns
// its errno, in a Status whose message names the offset of that read; callers that name the file
// their own way take err() and *got.
Status ReadFully(int fd, uint8_t* buf, uint64_t length, uint64_t offset, uint64_t* got,
                 uint64_t unit = 1);

// Writes all of buf to a descriptor opened O_NONBLOCK (a FIFO, a pipe to a
// command), so a reader that stops reading never holds the calling thread
// in the kernel: while the pipe is full it waits in poll(2) for room or for
// cancel_fd to become readable (an eventfd; -1: none), which ends the write
// with ECANCELED.  progress() runs after every write(2) that took bytes.
// written, if given, is set to the bytes the pipe took, also on error (a
// command took part of buf before it went).
Status WritePolled(int fd, const uint8_t* buf, uint64_t length, int cancel_fd,
                   const std::string& name, const std::function<void()>& progress,
                   uint64_t* written = nullptr);

}  // namespace fanout

#endif  // FANOUT_UTIL_FD_IO_H
