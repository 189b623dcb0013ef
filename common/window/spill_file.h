// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// SpillFile: where the window keeps what it cannot keep in memory (spill=DIR).
//
// An unlinked, sparse temporary file in DIR (open(DIR, O_TMPFILE)), so it
// needs no name, no cleanup, and vanishes with the process however it ends.
// It is addressed like an image: the window stores a chunk's bytes at their
// own export offsets, the ahead map at its own offsets plus the export size
// (so the two never share a byte).  Only bytes written take room in DIR, and
// Discard() gives room back once bytes leave the window.
//
// Thread-safe (pread/pwrite at explicit offsets, and counters that are
// atomics); the window calls it under the engine's lock anyway.
#ifndef FANOUT_WINDOW_SPILL_FILE_H
#define FANOUT_WINDOW_SPILL_FILE_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "util/status.h"

namespace fanout {

class SpillFile {
 public:
  // Opens an unlinked temporary file in dir.  Fails with one line naming
  // spill= when dir is not a writable directory on a filesystem with
  // O_TMPFILE.
  static Status Open(const std::string& dir, std::unique_ptr<SpillFile>* out);
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  ~SpillFile();

  // Both fail with a message naming spill= and saying the data could not
  // be held (a full DIR is ENOSPC).
  Status Write(const uint8_t* buf, uint64_t length, uint64_t offset);
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) const;
  // Gives the room of [offset, offset + length) back to DIR (punches a
  // hole).  Best effort: a filesystem that cannot punch keeps the blocks.
  void Discard(uint64_t offset, uint64_t length);

  const std::string& dir() const { return dir_; }
  // Bytes written and read back so far (tests, debug).
  uint64_t bytes_written() const { return bytes_written_.load(std::memory_order_relaxed); }
  uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }

 private:
  SpillFile(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  const std::string dir_;
  const int fd_;
  std::atomic<uint64_t> bytes_written_{0};
  mutable std::atomic<uint64_t> bytes_read_{0};
};

}  // namespace fanout

#endif  // FANOUT_WINDOW_SPILL_FILE_H
