// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/stream_destination.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/zero_block.h"

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

Status StreamDestination::Put(const uint8_t* buf, uint64_t length, uint64_t* written) {
  return WritePolled(
      fd_, buf, length, cancel_fd(), name(), [this] { NoteProgress(); }, written);
}

Status StreamDestination::PutZeros(uint64_t length, uint64_t* written) {
  // Small pieces, so that an interruption stops the filling soon.
  constexpr uint64_t kPiece = 64 << 10;
  *written = 0;
  for (uint64_t left = length; left > 0;) {
    if (interrupted_) return Status::IOError(EINTR, name() + ": zero-filling interrupted");
    const uint64_t n = std::min<uint64_t>(left, kPiece);
    uint64_t piece = 0;
    Status s = Put(kZeroBlock, n, &piece);
    *written += piece;
    if (!s.ok()) return s;
    left -= n;
  }
  return Status::OK();
}

Status StreamDestination::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  uint64_t written = 0;
  if (s.ok()) s = Put(buf, length, &written);
  return Advance(s, length);
}

Status StreamDestination::Zero(uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  uint64_t written = 0;
  if (s.ok()) s = PutZeros(length, &written);
  return Advance(s, length);
}

Status StreamDestination::Advance(const Status& s, uint64_t length) {
  if (!s.ok())
    return Status::IOError(s.err(),
                           s.message() + " at stream position " + std::to_string(position_));
  position_ += length;
  return s;
}

Status StreamDestination::Read(uint8_t*, uint64_t, uint64_t offset) {
  return Status::IOError(
      EIO, name() + ": a stream cannot be read back (offset " + std::to_string(offset) + ")");
}

Status StreamDestination::Close() {
  Status s;
  if (fd_ >= 0 && close(fd_) == -1) s = Status::FromErrno(name() + ": close");
  fd_ = -1;
  return s;
}

}  // namespace fanout
