// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Bus: a bounded broadcast channel of extents.  One producer (the window,
// under the engine's lock), one consumer per destination writer.
//
// Every published extent gets a sequence number (1, 2, 3, ...).  Each
// consumer fetches extents in that order, performs them, and then marks them
// applied.  An extent leaves the bus when every attached consumer has applied
// it; its buffer returns to the pool when the last reference goes.
//
// Bounds: at most max_entries extents are on the bus at once.  The bytes they
// pin are bounded by the BufferPool they come from.  When the slowest
// attached consumer is that far behind, Publish() blocks: back-pressure on the
// producer, never unbounded buffering.
//
// A consumer that fails Detach()es: it stops counting, so it never holds the
// others back.  Close() ends the stream: consumers drain what is left, then
// Fetch() returns false.
//
// Thread-safe.
#ifndef FANOUT_PIPELINE_BUS_H
#define FANOUT_PIPELINE_BUS_H

#include <cstdint>
#include <deque>
#include <vector>

#include "util/mutex.h"
#include "window/extent.h"

namespace fanout {

class Bus {
 public:
  using ConsumerId = size_t;

  explicit Bus(size_t max_entries);
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Adds a consumer that will see every extent published from now on.
  ConsumerId Attach();
  // Removes a consumer; its unapplied extents no longer hold the bus.  Idempotent.
  void Detach(ConsumerId id);

  // Appends an extent, blocking while the bus is full.  Returns its
  // sequence number.  REQUIRES: not closed.
  uint64_t Publish(Extent extent);
  // No more extents will be published.  Wakes every consumer.
  void Close();

  // Fetches the consumer's next extent, blocking until there is one.
  // Returns false when the bus is closed and the consumer has fetched
  // everything (or the consumer was detached).  A consumer may fetch several
  // extents before it applies them (several I/Os in flight).
  bool Fetch(ConsumerId id, Extent* extent, uint64_t* seq);
  // Marks every extent up to and including seq as performed by this
  // consumer.  REQUIRES: seq was fetched by it; calls are in order.
  void Applied(ConsumerId id, uint64_t seq);

  // True if extents wait for this consumer to fetch them.
  bool HasPending(ConsumerId id) const;
  // The sequence number of the newest published extent (0: none).
  uint64_t last_published() const;
  // Blocks until every attached consumer has applied through seq (or
  // detached).  Used by flush.
  void WaitApplied(uint64_t seq);
  // Blocks until this consumer has applied through seq (or detached).
  void WaitConsumerApplied(ConsumerId id, uint64_t seq);
  // Copies the extents still on the bus (not yet applied by every consumer)
  // that overlap [offset, offset + length), in publish order.  Reads lay them
  // over what they read from a destination.
  std::vector<Extent> Overlapping(uint64_t offset, uint64_t length) const;

 private:
  struct Consumer {
    bool attached = true;
    uint64_t fetched = 0;  // highest sequence fetched
    uint64_t applied = 0;  // highest sequence applied
  };
  // Drops entries every attached consumer has applied.
  void TrimLocked() REQUIRES(mu_);

  const size_t max_entries_;
  mutable Mutex mu_;
  CondVar space_;                               // signalled when entries leave
  CondVar available_;                           // signalled on publish and close
  CondVar progress_;                            // signalled on applied / detach
  std::deque<Extent> entries_ GUARDED_BY(mu_);  // sequence first_seq_ ...
  uint64_t first_seq_ GUARDED_BY(mu_) = 1;
  uint64_t next_seq_ GUARDED_BY(mu_) = 1;
  bool closed_ GUARDED_BY(mu_) = false;
  std::vector<Consumer> consumers_ GUARDED_BY(mu_);
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_BUS_H
