// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/bus.h"

#include <cassert>

namespace fanout {

Bus::Bus(size_t max_entries) : max_entries_(max_entries) {
  assert(max_entries > 0);
}

Bus::ConsumerId Bus::Attach() {
  MutexLock lock(&mu_);
  Consumer c;
  c.fetched = c.applied = next_seq_ - 1;
  consumers_.push_back(c);
  return consumers_.size() - 1;
}

void Bus::Detach(ConsumerId id) {
  {
    MutexLock lock(&mu_);
    if (!consumers_[id].attached) return;
    consumers_[id].attached = false;
    TrimLocked();
  }
  space_.SignalAll();
  available_.SignalAll();
  progress_.SignalAll();
}

uint64_t Bus::Publish(Extent extent) {
  MutexLock lock(&mu_);
  assert(!closed_);
  space_.Wait(&mu_, [&]() REQUIRES(mu_) { return entries_.size() < max_entries_; });
  entries_.push_back(std::move(extent));
  const uint64_t seq = next_seq_++;
  // With no consumer attached, nothing would ever trim.
  TrimLocked();
  lock.Unlock();
  available_.SignalAll();
  return seq;
}

void Bus::Close() {
  {
    MutexLock lock(&mu_);
    closed_ = true;
  }
  available_.SignalAll();
}

bool Bus::Fetch(ConsumerId id, Extent* extent, uint64_t* seq) {
  MutexLock lock(&mu_);
  Consumer& c = consumers_[id];
  available_.Wait(
      &mu_, [&]() REQUIRES(mu_) { return !c.attached || c.fetched + 1 < next_seq_ || closed_; });
  if (!c.attached || c.fetched + 1 >= next_seq_) return false;
  c.fetched++;
  *seq = c.fetched;
  *extent = entries_[c.fetched - first_seq_];
  return true;
}

void Bus::Applied(ConsumerId id, uint64_t seq) {
  {
    MutexLock lock(&mu_);
    Consumer& c = consumers_[id];
    assert(seq <= c.fetched && seq >= c.applied);
    c.applied = seq;
    TrimLocked();
  }
  space_.SignalAll();
  progress_.SignalAll();
}

void Bus::TrimLocked() {
  uint64_t min_applied = next_seq_ - 1;
  for (const Consumer& c : consumers_)
    if (c.attached && c.applied < min_applied) min_applied = c.applied;
  while (first_seq_ <= min_applied && !entries_.empty()) {
    entries_.pop_front();
    first_seq_++;
  }
}

bool Bus::HasPending(ConsumerId id) const {
  MutexLock lock(&mu_);
  return consumers_[id].attached && consumers_[id].fetched + 1 < next_seq_;
}

uint64_t Bus::last_published() const {
  MutexLock lock(&mu_);
  return next_seq_ - 1;
}

void Bus::WaitApplied(uint64_t seq) {
  MutexLock lock(&mu_);
  progress_.Wait(&mu_, [&]() REQUIRES(mu_) {
    for (const Consumer& c : consumers_)
      if (c.attached && c.applied < seq) return false;
    return true;
  });
}

void Bus::WaitConsumerApplied(ConsumerId id, uint64_t seq) {
  MutexLock lock(&mu_);
  progress_.Wait(&mu_, [&]() REQUIRES(mu_) {
    return !consumers_[id].attached || consumers_[id].applied >= seq;
  });
}

std::vector<Extent> Bus::Overlapping(uint64_t offset, uint64_t length) const {
  std::vector<Extent> out;
  MutexLock lock(&mu_);
  for (const Extent& e : entries_)
    if (e.offset < offset + length && offset < e.end()) out.push_back(e);
  return out;
}

}  // namespace fanout
