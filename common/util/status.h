// Status: the result of an engine operation, in the style of leveldb.
//
// The engine never throws across its boundary: every operation that can fail
// returns a Status.  A failed Status carries the errno that the NBD client
// should see (EIO, ENOSPC, ...) and a one-line message that names what failed
// (the destination, the parameter, the offset).  The nbdkit glue turns it into
// nbdkit_error() + errno.
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
  static Status IOError(int err, std::string msg) { return Status(err, std::move(msg)); }
  // Bad parameter or bad combination of parameters (errno EINVAL).
  static Status InvalidArgument(std::string msg);
  // Like IOError(errno, context + ": " + strerror(errno)), with errno read now.
  static Status FromErrno(const std::string& context);
  static Status FromErrno(const std::string& context, int err);

  bool ok() const { return err_ == 0; }
  int err() const { return err_; }
  const std::string& message() const { return msg_; }
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
