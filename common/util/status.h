// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Status: the result of an engine operation, in the style of leveldb.
//
// The engine never throws across its boundary: every operation that can fail
// returns a Status.  A failed Status carries the errno that the NBD client
// should see (EIO, ENOSPC, ...) and a one-line message that names what failed
// (the destination, the parameter, the offset).  The nbdkit glue turns it into
// nbdkit_error() + errno.
//
// A failed Status is never OK: IOError(0, ...) would be a failure that
// ok() calls success, so the error were silently lost (an errno read after
// something cleared it).  It becomes EIO, what the client should see for
// an I/O error nothing could name better; the plugin never aborts for it.
//
// Two errno values are conventions between the engine's layers rather than
// errors to show the client, and have predicates, so no caller compares
// errno values for them:
//   not_ready()      EAGAIN: the operation cannot be done yet, and the
//                    caller should try it again later (a FIFO that no
//                    reader has opened).
//   not_supported()  ENOTSUP (== EOPNOTSUPP on Linux): this kind of object
//                    cannot do this at all (a stream cannot be read back).
//
// Running out of memory is one policy everywhere: the engine lets
// std::bad_alloc propagate (standard containers throw it, and a half-made
// object cannot go on), and the nbdkit glue catches it at every callback
// and fails the request with ENOMEM (glue/callback.h), so no exception
// ever unwinds through nbdkit's C frames.  Nothing aborts on allocation.
#ifndef FANOUT_UTIL_STATUS_H
#define FANOUT_UTIL_STATUS_H

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace fanout {

class [[nodiscard]] Status {
 public:
  // An ok status; cheap to copy.
  Status() = default;

  static Status OK() { return Status(); }
  // Failure of a system call or device; err is an errno value.
  // An err of 0 becomes EIO (see the top of this file).
  static Status IOError(int err, std::string msg);
  // Bad parameter or bad combination of parameters (errno EINVAL).
  static Status InvalidArgument(std::string msg);
  // Like IOError(errno, context + ": " + strerror(errno)), with errno read now.
  static Status FromErrno(const std::string& context);
  static Status FromErrno(const std::string& context, int err);

  bool ok() const { return err_ == 0; }
  int err() const { return err_; }
  const std::string& message() const { return msg_; }
  // The conventions described at the top of this file.
  bool not_ready() const;
  bool not_supported() const;
  // Where on the destination the failure lies, when the call that failed
  // knows better than its caller: a write-back error belongs to the range
  // the kernel was writing back, not to the write that was being made when
  // it surfaced.
  std::optional<uint64_t> offset() const { return offset_; }
  Status WithOffset(uint64_t offset) const {
    Status s = *this;
    s.offset_ = offset;
    return s;
  }

 private:
  Status(int err, std::string msg) : err_(err), msg_(std::move(msg)) {}
  int err_ = 0;
  std::string msg_;
  std::optional<uint64_t> offset_;
};

}  // namespace fanout

#endif  // FANOUT_UTIL_STATUS_H
