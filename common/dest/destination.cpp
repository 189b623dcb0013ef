// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/destination.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "util/zero_block.h"

namespace fanout {

const char* KindName(DestinationKind kind) {
  switch (kind) {
    case DestinationKind::kFile:
      return "file";
    case DestinationKind::kBlock:
      return "block";
    case DestinationKind::kFifo:
      return "fifo";
    case DestinationKind::kCommand:
      return "command";
    case DestinationKind::kNbd:
      return "nbd";
  }
  return "?";
}

Destination::Destination(std::string name)
    : name_(std::move(name)),
      cancel_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      progress_ns_(Clock::now().time_since_epoch().count()) {}

Destination::~Destination() {
  if (cancel_fd_ >= 0) close(cancel_fd_);
}

void Destination::Cancel() {
  if (cancelled_.exchange(true)) return;
  // The counter stays non-zero: every later poll sees it too.
  const uint64_t one = 1;
  ssize_t r = write(cancel_fd_, &one, sizeof one);
  (void)r;
}

Status ReadBack::Rewrite(const uint8_t*, uint64_t, uint64_t offset) {
  return Status::IOError(
      EOPNOTSUPP, "cannot be written after the end of the stream, at " + std::to_string(offset));
}

Status Destination::Submit(const Extent& extent, uint64_t tag) {
  Status s = extent.is_zero() ? Zero(extent.length, extent.offset)
                              : Write(extent.bytes(), extent.length, extent.offset);
  if (s.ok()) completed_.push_back(tag);
  return s;
}

Status Destination::Reap(std::vector<uint64_t>* done, uint64_t* /*failed*/) {
  done->insert(done->end(), completed_.begin(), completed_.end());
  completed_.clear();
  return Status::OK();
}

Status WriteZeros(int fd, uint64_t length, off_t offset, const std::string& name) {
  while (length > 0) {
    const uint64_t n = length < kZeroBlockSize ? length : kZeroBlockSize;
    Status s = WriteFully(fd, kZeroBlock, n, offset, name);
    if (!s.ok()) return s;
    length -= n;
    if (offset >= 0) offset += n;
  }
  return Status::OK();
}

}  // namespace fanout
