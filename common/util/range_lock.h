// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// RangeLock: requests on overlapping byte ranges take turns, in the order
// they arrived; requests on disjoint ranges run at once.
//
// The tee filter sends each write to the plugin below and then to the
// engine.  Two overlapping writes in flight at once could reach the plugin
// in one order and the engine in the other, and the mirror would then hold
// the other write's bytes where they overlap.  Holding the range across
// both steps makes the two orders the same, without serialising requests
// that do not overlap (the common case: nbdcopy's, qemu-img's).
//
// Among overlapping requests the order is arrival order: a request waits
// for every earlier request (held or still waiting) that overlaps it, so
// none is overtaken for ever.  The cost is a walk over the requests in
// flight, which nbdkit's thread count bounds (16 per connection).
//
// Thread-safe.
#ifndef FANOUT_UTIL_RANGE_LOCK_H
#define FANOUT_UTIL_RANGE_LOCK_H

#include <cstdint>
#include <list>

#include "util/mutex.h"

namespace fanout {

class RangeLock {
 private:
  struct Entry {
    uint64_t start;
    uint64_t end;
  };

 public:
  // Holds [offset, offset + length) until destroyed (or moved from).
  class Guard {
   public:
    Guard(Guard&& other) noexcept : lock_(other.lock_), entry_(other.entry_) {
      other.lock_ = nullptr;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (lock_) lock_->Unlock(entry_);
    }

   private:
    friend class RangeLock;
    Guard(RangeLock* lock, std::list<Entry>::iterator entry) : lock_(lock), entry_(entry) {}
    RangeLock* lock_;
    std::list<Entry>::iterator entry_;
  };

  RangeLock() = default;
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;

  // Blocks while an earlier request overlapping the range is in flight.  An
  // empty range overlaps nothing.
  Guard Lock(uint64_t offset, uint64_t length);

  // Requests in flight (held or waiting), for tests.
  size_t in_flight() const;

 private:
  void Unlock(std::list<Entry>::iterator entry);

  mutable Mutex mu_;
  CondVar released_;
  std::list<Entry> entries_ GUARDED_BY(mu_);  // in arrival order
};

}  // namespace fanout

#endif  // FANOUT_UTIL_RANGE_LOCK_H
