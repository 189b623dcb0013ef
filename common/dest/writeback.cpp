// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/writeback.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

namespace fanout {

Status Writeback::Wrote(uint64_t offset, uint64_t length) {
  MutexLock lock(&mu_);
  // After an error the destination has failed: nothing more is worth
  // writing back, and its pages stay where they are.
  if (!error_.ok()) return error_;
  if (current_.empty()) {
    current_ = {offset, offset + length};
  } else {
    current_.start = std::min(current_.start, offset);
    current_.end = std::max(current_.end, offset + length);
  }
  current_bytes_ += length;
  if (current_bytes_ < kChunk) return Status::OK();
  // Start this chunk's writeback; the disk works on it while the next one
  // is written.  Then the one before, started a chunk ago, should be (nearly)
  // done: wait for it and drop it.
  SyncRange(current_, SYNC_FILE_RANGE_WRITE);
  Retire(previous_);
  previous_ = current_;
  current_ = Range();
  current_bytes_ = 0;
  return error_;
}

Status Writeback::Finish() {
  MutexLock lock(&mu_);
  Retire(previous_);
  Retire(current_);
  previous_ = current_ = Range();
  current_bytes_ = 0;
  return error_;
}

void Writeback::SyncRange(const Range& r, unsigned flags) {
  if (!error_.ok() || r.empty()) return;
  int rc;
  do rc = sync_file_range(fd_, r.start, r.end - r.start, flags);
  while (rc == -1 && errno == EINTR);
  if (rc == 0) return;
  error_ =
      Status::FromErrno(name_ + ": write-back (cache=none) of " + std::to_string(r.end - r.start) +
                        " bytes at offset " + std::to_string(r.start))
          .WithOffset(r.start);
}

void Writeback::Retire(const Range& r) {
  SyncRange(r, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  if (!error_.ok() || r.empty()) return;
  (void)posix_fadvise(fd_, r.start, r.end - r.start, POSIX_FADV_DONTNEED);
}

}  // namespace fanout
