// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// TestMemoryDestination: a destination in memory, for the unit tests and
// the window fuzzer (not part of the library).  Seekable (a file) or a
// stream (a FIFO: like StreamDestination it refuses an extent that is not
// at its position, and remembers that it was sent one).  Held, its writes
// block until released, so a test chooses which destination falls behind
// rather than leaving it to a race; its reads can be made to fail.  A use
// no destination should see (a read from a stream, an extent outside the
// export or empty) is refused with EINVAL and kept in misuse() for the
// caller to check.
#ifndef FANOUT_DEST_TEST_MEMORY_DESTINATION_H
#define FANOUT_DEST_TEST_MEMORY_DESTINATION_H

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dest/destination.h"
#include "util/mutex.h"
#include "util/status.h"

namespace fanout {

class TestMemoryDestination final : public Destination {
 public:
  // Every byte starts as `fill`.
  TestMemoryDestination(const std::string& name, uint64_t size, bool seekable, uint8_t fill)
      : Destination(name), seekable_(seekable), image_(size, fill) {}

  DestinationKind kind() const override {
    return seekable_ ? DestinationKind::kFile : DestinationKind::kFifo;
  }
  bool seekable() const override { return seekable_; }
  Status Prepare(uint64_t) override { return Status::OK(); }
  Status Start() override { return Status::OK(); }
  Status Write(const uint8_t* buf, uint64_t length, uint64_t offset) override {
    return Perform(buf, length, offset);
  }
  Status Zero(uint64_t length, uint64_t offset) override {
    return Perform(nullptr, length, offset);
  }
  Status Sync() override { return Status::OK(); }
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) override {
    MutexLock lock(&mu_);
    if (!seekable_) return MisusedLocked("read from a stream destination", offset, length);
    if (offset + length > image_.size())
      return MisusedLocked("destination read past the end", offset, length);
    if (fail_reads_) return Status::IOError(EIO, name() + ": pread at " + std::to_string(offset));
    std::memcpy(buf, image_.data() + offset, length);
    return Status::OK();
  }
  Status Close() override { return Status::OK(); }
  void Cancel() override {
    Destination::Cancel();
    Release();
  }

  void Hold() {
    MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    {
      MutexLock lock(&mu_);
      held_ = false;
    }
    released_.SignalAll();
  }
  void FailReads() {
    MutexLock lock(&mu_);
    fail_reads_ = true;
  }

  std::vector<uint8_t> image() const {
    MutexLock lock(&mu_);
    return image_;
  }
  // A stream's position: the bytes written to it in order.
  uint64_t written() const {
    MutexLock lock(&mu_);
    return written_;
  }
  bool out_of_order() const {
    MutexLock lock(&mu_);
    return out_of_order_;
  }
  // The first misuse ("what (a, b)"), or empty.
  std::string misuse() const {
    MutexLock lock(&mu_);
    return misuse_;
  }

 private:
  Status MisusedLocked(const char* what, uint64_t a, uint64_t b) REQUIRES(mu_) {
    if (misuse_.empty())
      misuse_ = std::string(what) + " (" + std::to_string(a) + ", " + std::to_string(b) + ")";
    return Status::IOError(EINVAL, name() + ": " + what);
  }
  Status Perform(const uint8_t* buf, uint64_t length, uint64_t offset) {
    MutexLock lock(&mu_);
    released_.Wait(&mu_, [this]() REQUIRES(mu_) { return !held_; });
    if (offset + length > image_.size() || length == 0)
      return MisusedLocked("destination extent outside the export", offset, length);
    if (!seekable_) {
      if (offset != written_) {
        out_of_order_ = true;
        return Status::IOError(EIO, name() + ": internal error: stream extent at " +
                                        std::to_string(offset) + " but the stream is at " +
                                        std::to_string(written_));
      }
      written_ = offset + length;
    }
    if (buf)
      std::memcpy(image_.data() + offset, buf, length);
    else
      std::memset(image_.data() + offset, 0, length);
    return Status::OK();
  }

  const bool seekable_;
  mutable Mutex mu_;
  CondVar released_;
  bool held_ GUARDED_BY(mu_) = false;
  bool fail_reads_ GUARDED_BY(mu_) = false;
  bool out_of_order_ GUARDED_BY(mu_) = false;
  uint64_t written_ GUARDED_BY(mu_) = 0;
  std::string misuse_ GUARDED_BY(mu_);
  std::vector<uint8_t> image_ GUARDED_BY(mu_);
};

}  // namespace fanout

#endif  // FANOUT_DEST_TEST_MEMORY_DESTINATION_H
