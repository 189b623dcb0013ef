#include "writeback.h"

#include <fcntl.h>

#include <algorithm>

namespace fanout {

void Writeback::Wrote(uint64_t offset, uint64_t length) {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_.empty()) {
    current_ = {offset, offset + length};
  } else {
    current_.start = std::min(current_.start, offset);
    current_.end = std::max(current_.end, offset + length);
  }
  current_bytes_ += length;
  if (current_bytes_ < kChunk) return;
  // Start this chunk's writeback; the disk works on it while the next one
  // is written.  Then the one before, started a chunk ago, should be (nearly)
  // done: wait for it and drop it.
  (void)sync_file_range(fd_, current_.start, current_.end - current_.start,
                        SYNC_FILE_RANGE_WRITE);
  Retire(previous_);
  previous_ = current_;
  current_ = Range();
  current_bytes_ = 0;
}

void Writeback::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  Retire(previous_);
  Retire(current_);
  previous_ = current_ = Range();
  current_bytes_ = 0;
}

void Writeback::Retire(const Range& r) {
  if (r.empty()) return;
  (void)sync_file_range(fd_, r.start, r.end - r.start,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER);
  (void)posix_fadvise(fd_, r.start, r.end - r.start, POSIX_FADV_DONTNEED);
}

}  // namespace fanout
