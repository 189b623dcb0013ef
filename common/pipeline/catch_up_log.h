// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// CatchUpLog: the committed stream, kept for stream laggards when there is
// no seekable destination to catch up from (lag= with streams only and
// spill=DIR).
//
// A ring of `capacity` bytes (lag=, at most the export size) in its own
// unlinked file in DIR: export offset o is kept at o mod capacity.  The bus
// appends every committed data extent before publishing it, and a stream
// laggard at position P reads [P, C) back from it.  Nothing a laggard still
// needs is overwritten, because the bus never lets a laggard's map (which
// for a stream is exactly [P, C)) grow beyond lag= bytes: the file never
// holds more than lag= bytes.  Zero ranges are not kept; the laggard writes
// its zeros itself.
//
// A write that fails (DIR full) breaks the log: every later Read() fails
// with that error, and the laggards that needed it fail with it.
//
// Thread-safe: Append() is the bus's (under its lock), Read() any laggard's.
#ifndef FANOUT_PIPELINE_CATCH_UP_LOG_H
#define FANOUT_PIPELINE_CATCH_UP_LOG_H

#include <cstdint>
#include <memory>

#include "util/mutex.h"
#include "util/status.h"
#include "window/extent.h"
#include "window/spill_file.h"

namespace fanout {

class CatchUpLog {
 public:
  // REQUIRES: capacity > 0.
  CatchUpLog(std::unique_ptr<SpillFile> file, uint64_t capacity);

  void Append(const Extent& extent);
  // Reads [offset, offset + length) of the export as it was last appended.
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) const;

  uint64_t capacity() const { return capacity_; }
  const std::string& dir() const { return file_->dir(); }

 private:
  const std::unique_ptr<SpillFile> file_;
  const uint64_t capacity_;
  mutable Mutex mu_;
  Status error_ GUARDED_BY(mu_);
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_CATCH_UP_LOG_H
