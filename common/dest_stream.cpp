#include "dest_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace fanout {

StreamDestination::StreamDestination(std::string name, std::string path,
                                     std::optional<DestinationIdentity> identity)
    : Destination(std::move(name)), path_(std::move(path)), identity_(identity) {}

StreamDestination::~StreamDestination() {
  if (fd_ >= 0) close(fd_);
}

Status StreamDestination::Start() {
  if (path_.empty()) return Status::OK();
  // A non-blocking open of a FIFO with no reader fails at once with ENXIO.
  do {
    fd_ = open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  } while (fd_ == -1 && errno == EINTR);
  if (fd_ == -1 && errno == ENXIO)
    return Status::IOError(EAGAIN, name() + ": no reader has opened the FIFO");
  if (fd_ == -1) return Status::FromErrno(name() + ": open for writing");
  // It stays O_NONBLOCK: writes wait in poll(2) (back-pressure from a slow
  // reader) where Cancel() can wake them (see WritePolled).
  EnlargePipe();
  return Status::OK();
}

void StreamDestination::EnlargePipe() {
  // 1 MiB is the default /proc/sys/fs/pipe-max-size; fails harmlessly on a
  // character device or where the limit is lower.
  (void)fcntl(fd_, F_SETPIPE_SZ, 1 << 20);
}

Status StreamDestination::CheckOrder(uint64_t offset) const {
  if (offset != position_)
    return Status::IOError(EIO, name() + ": internal error: stream extent at " +
                                    std::to_string(offset) + " but the stream is at " +
                                    std::to_string(position_));
  return Status::OK();
}

Status StreamDestination::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  if (s.ok()) s = WritePolled(fd_, buf, length, cancel_fd(), name(), [this] { NoteProgress(); });
  return Advance(s, length);
}

Status StreamDestination::Zero(uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  if (!s.ok()) return s;
  // From a static block of zeros, in pieces: the end of the stream
  // zero-fills the rest of the export in one extent, which can be
  // terabytes, and an interrupted run must stop it within seconds.
  static const uint8_t zeros[64 << 10] = {};
  for (uint64_t left = length; s.ok() && left > 0;) {
    if (interrupted_)
      return Advance(Status::IOError(EINTR, name() + ": zero-filling interrupted"), 0);
    const uint64_t n = std::min<uint64_t>(left, sizeof zeros);
    s = WritePolled(fd_, zeros, n, cancel_fd(), name(), [this] { NoteProgress(); });
    left -= n;
  }
  return Advance(s, length);
}

Status StreamDestination::Advance(const Status& s, uint64_t length) {
  if (!s.ok())
    return Status::IOError(s.err(), s.message() + " at stream position " + std::to_string(position_));
  position_ += length;
  return s;
}

Status StreamDestination::Read(uint8_t*, uint64_t, uint64_t offset) {
  return Status::IOError(EIO, name() + ": a stream cannot be read back (offset " +
                                  std::to_string(offset) + ")");
}

Status StreamDestination::Close() {
  Status s;
  if (fd_ >= 0 && close(fd_) == -1) s = Status::FromErrno(name() + ": close");
  fd_ = -1;
  return s;
}

}  // namespace fanout
