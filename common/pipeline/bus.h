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
// Lagging consumers (lag=, LagSpec).  With a lag budget, a consumer that
// holds the bus back while another is in step is let go instead of making
// the producer wait: it becomes a laggard.  It stops counting, as a
// detached one does, and what it has not fetched, and every extent
// published from then on, goes into its LagMap as ranges (never as data).
// It catches up by taking ranges out of the map (TakeLagged) and copying
// data ranges from a catch-up source (WaitSource): a seekable consumer in
// step that has applied the extents committed so far, or the catch-up log.
// Once its map is empty it rejoins (Rejoin) at the head of the bus.  A
// consumer is let go only if a source remains for it, and only while its
// map stays within lag bytes; beyond that the producer waits for it, as in
// lock-step.
//
// Thread-safe.
#ifndef FANOUT_PIPELINE_BUS_H
#define FANOUT_PIPELINE_BUS_H

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "pipeline/lag_map.h"
#include "util/mutex.h"
#include "window/extent.h"

namespace fanout {

class CatchUpLog;

struct LagSpec {
  // lag=: how many bytes of the export a laggard may be behind (its map's
  // bytes).  0: lock-step, nobody is let go.
  uint64_t lag = 0;
  // A consumer whose unapplied extents pin this many pool buffers is
  // behind, and is let go if another consumer in step pins fewer (the
  // client waits for buffers).
  size_t behind_buffers = 2;
  // ...and, if it is seekable (a catch-up source for the others), has been
  // behind for this long without once applying everything published (a
  // destination as fast as the others falls behind for a moment now and
  // then: it is not let go).
  std::chrono::milliseconds let_go_after{100};
  // The export's size: a seekable laggard's map is coarsened within it
  // (LagMap::Coarsen).  0: never coarsened.
  uint64_t export_size = 0;
  // Stream consumers may be let go only if there is a seekable consumer in
  // step to catch up from, or this log (spill=, streams only).  Not owned.
  CatchUpLog* log = nullptr;
};

class Bus {
 public:
  using ConsumerId = size_t;

  explicit Bus(size_t max_entries, LagSpec lag = {});
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Adds a consumer that will see every extent published from now on.
  // seekable: it can take extents at any offset, and be read from as a
  // catch-up source; a stream is fed its missed ranges in order.
  ConsumerId Attach(bool seekable = true);
  // Removes a consumer; its unapplied extents no longer hold the bus.  Idempotent.
  void Detach(ConsumerId id);

  // Appends an extent, blocking while the bus is full.  Returns its
  // sequence number.  REQUIRES: not closed.
  uint64_t Publish(Extent extent);
  // No more extents will be published.  Wakes every consumer.
  void Close();

  // Fetches the consumer's next extent, blocking until there is one.
  // Returns false when the bus is closed and the consumer has fetched
  // everything, or the consumer was detached or let go (lagging()).  A consumer may fetch several
  // extents before it applies them (several I/Os in flight).
  bool Fetch(ConsumerId id, Extent* extent, uint64_t* seq);
  // Marks every extent up to and including seq as performed by this
  // consumer.  REQUIRES: seq was fetched by it; calls are in order.
  void Applied(ConsumerId id, uint64_t seq);

  // Lets go of the consumers that hold the others back, as Publish() does
  // (lag=): for whoever waits for them without publishing (a window waiting
  // for pool buffers; Flush's WaitApplied does it itself).
  void LetGoLaggards();

  // True if extents wait for this consumer to fetch them.
  bool HasPending(ConsumerId id) const;
  // HasPending(), or lagging with ranges left to catch up.
  bool HasWork(ConsumerId id) const;
  // The sequence number of the newest published extent (0: none).
  uint64_t last_published() const;
  // Blocks until every attached consumer has applied through seq (or
  // detached).  Used by flush.
  void WaitApplied(uint64_t seq);
  // Blocks until this consumer has applied through seq, or is no longer in
  // step.  Returns whether it is in step with seq applied.
  bool WaitConsumerApplied(ConsumerId id, uint64_t seq);
  // Catching up (see the top of this file).  For a lagging consumer: takes
  // the lowest range of its map (at most max_data bytes of data, max_zero
  // of zeros) into *out,
  // and the bus sequence a source must have applied before that range is
  // read from it into *seq.  Returns false if the map is empty (or the
  // consumer is no longer lagging).
  bool TakeLagged(ConsumerId id, uint64_t max_data, uint64_t max_zero, LagMap::Range* out,
                  uint64_t* seq);
  // The laggard's map is empty: it rejoins the bus (kRejoined; it is in step
  // again, at the head), or, once the bus is closed, has caught up for good
  // (kCaughtUp).  kBehind: its map is not empty after all.  kGone: it was
  // detached.
  enum class RejoinResult { kRejoined, kCaughtUp, kBehind, kGone };
  RejoinResult Rejoin(ConsumerId id);
  // A stream laggard was sent a late extent: the message it fails with
  // (null: none).
  std::shared_ptr<const std::string> LateFor(ConsumerId id) const;
  // Where a laggard reads its data ranges: blocks until a seekable consumer
  // in step other than `self` has applied through seq and returns it in
  // *source (the one furthest ahead), or returns kLog if the bus has a
  // catch-up log.  kNone: no such consumer is left; kGone: self was detached.
  enum class SourceResult { kConsumer, kLog, kNone, kGone };
  SourceResult WaitSource(ConsumerId self, uint64_t seq, ConsumerId* source);
  bool lagging(ConsumerId id) const;
  // In step: attached and not lagging.
  bool in_step(ConsumerId id) const;
  // How many times the consumer was let go: a reader of what it holds
  // checks that this did not change across the read.
  uint64_t demotions(ConsumerId id) const;
  // Bytes of the export the laggard has still to catch up (0 in step).
  uint64_t behind_bytes(ConsumerId id) const;

  // Copies the extents still on the bus (not yet applied by every consumer)
  // that overlap [offset, offset + length), in publish order.  Reads lay them
  // over what they read from a destination.
  std::vector<Extent> Overlapping(uint64_t offset, uint64_t length) const;

 private:
  enum class Mode { kInStep, kLagging, kGone };
  struct Consumer {
    Mode mode = Mode::kInStep;
    bool seekable = true;
    uint64_t fetched = 0;  // highest sequence fetched
    uint64_t applied = 0;  // highest sequence applied
    // Lagging: what it missed, and the late message a stream fails with.
    LagMap missed;
    std::shared_ptr<const std::string> late;
    // The range last taken out of the map, which the laggard may still be
    // reading from its source: a stream's log must keep it too.
    uint64_t copy_offset = 0;
    uint64_t copying = 0;
    uint64_t demotions = 0;
    // In step: since when it has been behind (see LagSpec).
    std::optional<std::chrono::steady_clock::time_point> behind_since;
  };
  // Drops entries every consumer in step has applied.
  void TrimLocked() REQUIRES(mu_);
  // How far behind laggard c is: the bytes of its map, of the range it is
  // copying and of [offset, offset + length), together.
  uint64_t BehindLocked(const Consumer& c, uint64_t offset, uint64_t length) const REQUIRES(mu_);
  // Waits while adding the extent would take a laggard's map beyond the lag.
  void WaitLagRoomLocked(const Extent& extent) REQUIRES(mu_);
  // Records a published extent in every laggard's map.
  void RecordMissedLocked(const Extent& extent) REQUIRES(mu_);
  // Lets go of the consumers that hold the bus back while another keeps up.
  // Returns whether it let one go (then trimmed; the caller signals).
  bool LetGoLaggardsLocked() REQUIRES(mu_);
  void SignalAll();
  // How often the bus's own waits look again whom to let go.
  static constexpr std::chrono::milliseconds kLetGoInterval{25};
  // Whether consumer c, whose unapplied extents pin `pinned` buffers, may
  // be let go now (behind for long enough, sources left, the log).
  bool MayLetGoLocked(ConsumerId c, size_t pinned, size_t fastest,
                      std::chrono::steady_clock::time_point now) const REQUIRES(mu_);
  // cv->Wait(ready), looking whom to let go every kLetGoInterval meanwhile
  // (lag=; without it, a plain wait).
  template <typename Predicate>
  void WaitLettingGoLocked(CondVar* cv, Predicate ready) REQUIRES(mu_);
  // Whether a source is left for consumer c if it is let go.
  bool SourceLeftLocked(ConsumerId c) const REQUIRES(mu_);
  void LetGoLocked(ConsumerId c) REQUIRES(mu_);
  // The buffers that extents consumer c has not applied pin.
  size_t UnappliedBuffersLocked(const Consumer& c) const REQUIRES(mu_);

  const size_t max_entries_;
  const LagSpec lag_;
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
