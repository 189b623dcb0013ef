// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "util/range_lock.h"

namespace fanout {

namespace {

bool Overlap(uint64_t a_start, uint64_t a_end, uint64_t b_start, uint64_t b_end) {
  return a_start < a_end && b_start < b_end && a_start < b_end && b_start < a_end;
}

}  // namespace

RangeLock::Guard RangeLock::Lock(uint64_t offset, uint64_t length) {
  MutexLock lock(&mu_);
  const auto mine = entries_.insert(entries_.end(), Entry{offset, offset + length});
  released_.Wait(&mu_, [&]() REQUIRES(mu_) {
    for (auto it = entries_.begin(); it != mine; ++it)
      if (Overlap(it->start, it->end, mine->start, mine->end)) return false;
    return true;
  });
  return Guard(this, mine);
}

void RangeLock::Unlock(std::list<Entry>::iterator entry) {
  {
    MutexLock lock(&mu_);
    entries_.erase(entry);
  }
  // Any waiter behind this one may now be free; there are at most as many
  // as nbdkit has worker threads.
  released_.SignalAll();
}

size_t RangeLock::in_flight() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace fanout
