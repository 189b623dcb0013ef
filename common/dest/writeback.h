// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Writeback: cache=none.  Drains the dirty pages a destination produces at
// the rate it produces them, instead of letting gigabytes pile up in the
// page cache until the kernel's dirty limits throttle everything (and
// evict what other programs were using).
//
// The file is written in chunks of kChunk bytes (counted in bytes written,
// whatever their offsets).  When a chunk is finished its writeback is
// started (sync_file_range WRITE), the chunk before it is waited for and its
// pages dropped (posix_fadvise DONTNEED): at most about two chunks per
// destination are dirty or under writeback at any time.  Finish() waits for
// and drops everything (flush, close).
//
// Errors are reported here, and only here.  sync_file_range's waits report
// a write-back error the way fdatasync does, once per open file: the kernel
// advances the file's error cursor, so a later fdatasync on the same
// descriptor returns 0 for the same lost pages.  The first error is
// therefore kept, and every later call returns it again.  The range it names
// is the one being waited for when the kernel reported the error (the
// kernel does not say which pages it failed to write); its pages are kept
// in the cache rather than dropped, so reads do not see what the device
// holds instead.
//
// Thread-safe: the writer reports writes, flush finishes from any thread.
#ifndef FANOUT_DEST_WRITEBACK_H
#define FANOUT_DEST_WRITEBACK_H

#include <cstdint>
#include <string>

#include "util/mutex.h"
#include "util/status.h"

namespace fanout {

class Writeback {
 public:
  static constexpr uint64_t kChunk = 32ull << 20;

  // fd must stay open as long as this object is used.  name: the
  // destination, for error messages.
  Writeback(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  // [offset, offset + length) has been written (the write completed).
  // Returns the first write-back error there has been, if any.
  Status Wrote(uint64_t offset, uint64_t length);
  // Writes back and drops everything reported so far.  Returns the first
  // write-back error there has been, if any.
  Status Finish();

 private:
  struct Range {
    uint64_t start = 0, end = 0;
    bool empty() const { return start >= end; }
  };
  // One sync_file_range call on r; a failure is kept in error_.
  void SyncRange(const Range& r, unsigned flags) REQUIRES(mu_);
  // Waits for the range's writeback (starting what is not started yet) and
  // drops its pages.
  void Retire(const Range& r) REQUIRES(mu_);

  const int fd_;
  const std::string name_;
  Mutex mu_;
  Range current_ GUARDED_BY(mu_);  // being written
  uint64_t current_bytes_ GUARDED_BY(mu_) = 0;
  Range previous_ GUARDED_BY(mu_);  // writeback started
  Status error_ GUARDED_BY(mu_);    // the first write-back error
};

}  // namespace fanout

#endif  // FANOUT_DEST_WRITEBACK_H
