// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/bus.h"

#include <cassert>

#include "pipeline/catch_up_log.h"

namespace fanout {

Bus::Bus(size_t max_entries, LagSpec lag) : max_entries_(max_entries), lag_(lag) {
  assert(max_entries > 0);
}

Bus::ConsumerId Bus::Attach(bool seekable) {
  MutexLock lock(&mu_);
  Consumer c;
  c.seekable = seekable;
  if (seekable && lag_.export_size != 0) c.missed.Coarsen(lag_.export_size);
  c.fetched = c.applied = next_seq_ - 1;
  consumers_.push_back(std::move(c));
  return consumers_.size() - 1;
}

void Bus::Detach(ConsumerId id) {
  {
    MutexLock lock(&mu_);
    Consumer& c = consumers_[id];
    if (c.mode == Mode::kGone) return;
    c.mode = Mode::kGone;
    c.missed.Clear();
    TrimLocked();
  }
  SignalAll();
}

uint64_t Bus::Publish(Extent extent) {
  MutexLock lock(&mu_);
  assert(!closed_);
  WaitLettingGoLocked(&space_, [&]() REQUIRES(mu_) { return entries_.size() < max_entries_; });
  WaitLagRoomLocked(extent);
  // The log is written before the extent is published, so every data
  // range a laggard finds in its map is in the log already.  The lag
  // bound just waited for keeps what laggards still need from being
  // overwritten (catch_up_log.h).
  if (lag_.log && !extent.is_zero()) lag_.log->Append(extent);
  RecordMissedLocked(extent);
  entries_.push_back(std::move(extent));
  const uint64_t seq = next_seq_++;
  const bool let_go = LetGoLaggardsLocked();
  // With no consumer attached, nothing would ever trim.
  TrimLocked();
  lock.Unlock();
  available_.SignalAll();
  progress_.SignalAll();
  if (let_go) space_.SignalAll();
  return seq;
}

uint64_t Bus::BehindLocked(const Consumer& c, uint64_t offset, uint64_t length) const {
  // |map ∪ extra| plus the part of the copied range in neither.
  const uint64_t a = std::max(c.copy_offset, offset);
  const uint64_t b = std::min(c.copy_offset + c.copying, offset + length);
  const uint64_t both = a < b ? b - a : 0;  // copied range ∩ extra
  const uint64_t copy_only = c.copying - c.missed.BytesIn(c.copy_offset, c.copying) - both +
                             (both ? c.missed.BytesIn(a, both) : 0);
  return c.missed.BytesAfterAdd(offset, length) + copy_only;
}

void Bus::WaitLagRoomLocked(const Extent& extent) {
  // A laggard whose map is empty takes the extent whatever its size.  A
  // stream's range being copied is still needed from the log.
  space_.Wait(&mu_, [&]() REQUIRES(mu_) {
    for (const Consumer& c : consumers_)
      if (c.mode == Mode::kLagging && (!c.missed.empty() || c.copying != 0) &&
          BehindLocked(c, extent.offset, extent.length) > lag_.lag)
        return false;
    return true;
  });
}

void Bus::RecordMissedLocked(const Extent& extent) {
  for (Consumer& c : consumers_) {
    if (c.mode != Mode::kLagging) continue;
    c.missed.Add(extent.offset, extent.length, extent.is_zero() ? Content::kZero : Content::kData);
    if (extent.late && !c.seekable && !c.late) c.late = extent.late;
  }
}

size_t Bus::UnappliedBuffersLocked(const Consumer& c) const {
  // Extents cut from one buffer are published one after another.
  size_t n = 0;
  const Buffer* last = nullptr;
  for (uint64_t seq = std::max(c.applied + 1, first_seq_); seq < next_seq_; seq++) {
    const Buffer* b = entries_[seq - first_seq_].buffer.get();
    if (b != nullptr && b != last) n++;
    if (b != nullptr) last = b;
  }
  return n;
}

void Bus::LetGoLaggards() {
  if (lag_.lag == 0) return;
  MutexLock lock(&mu_);
  if (!LetGoLaggardsLocked()) return;
  lock.Unlock();
  SignalAll();
}

void Bus::SignalAll() {
  space_.SignalAll();
  available_.SignalAll();
  progress_.SignalAll();
}

template <typename Predicate>
void Bus::WaitLettingGoLocked(CondVar* cv, Predicate ready) {
  if (lag_.lag == 0) {
    cv->Wait(&mu_, ready);
    return;
  }
  while (!cv->WaitFor(&mu_, kLetGoInterval, ready))
    if (LetGoLaggardsLocked()) SignalAll();
}

bool Bus::LetGoLaggardsLocked() {
  if (lag_.lag == 0) return false;
  // The fastest consumer in step: a laggard is let go only for someone
  // who keeps up.
  size_t fastest = SIZE_MAX;
  const auto now = std::chrono::steady_clock::now();
  std::vector<size_t> pinned(consumers_.size(), 0);
  for (ConsumerId id = 0; id < consumers_.size(); id++) {
    Consumer& c = consumers_[id];
    if (c.mode != Mode::kInStep) continue;
    const size_t data = pinned[id] = UnappliedBuffersLocked(c);
    fastest = std::min(fastest, data);
    // Since when it has been behind: from the first time it was, until it
    // has applied everything published before this extent (a destination
    // that keeps up gets there between the client's bursts; one that sets
    // the pace never does while the client writes).
    if (next_seq_ - 1 - c.applied <= 1)
      c.behind_since.reset();
    else if (!c.behind_since &&
             (data >= lag_.behind_buffers || next_seq_ - 1 - c.applied >= max_entries_ / 2))
      c.behind_since = now;
  }
  if (fastest == SIZE_MAX) return false;
  bool any = false;
  for (ConsumerId id = 0; id < consumers_.size(); id++)
    if (MayLetGoLocked(id, pinned[id], fastest, now)) {
      LetGoLocked(id);
      any = true;
    }
  if (any) TrimLocked();
  return any;
}

bool Bus::MayLetGoLocked(ConsumerId id, size_t pinned, size_t fastest,
                         std::chrono::steady_clock::time_point now) const {
  const Consumer& c = consumers_[id];
  if (c.mode != Mode::kInStep) return false;
  if (!c.behind_since || pinned <= fastest) return false;
  // A seekable destination is a catch-up source: one as fast as the
  // others that falls behind for a moment is not let go.  A stream is
  // nobody's source, and letting it go early costs nothing.
  if (c.seekable && now - *c.behind_since < lag_.let_go_after) return false;
  if (!SourceLeftLocked(id)) return false;
  if (c.seekable || lag_.log == nullptr || c.fetched + 1 >= next_seq_) return true;
  // Caught up from the log, a stream must find in it everything it has
  // not fetched: the log holds the last lag= bytes committed.  (From a
  // destination, it may be let go however far behind it is: the client
  // then waits, WaitLagRoomLocked, until it is within lag=.)
  const Extent& oldest = entries_[std::max(c.fetched + 1, first_seq_) - first_seq_];
  return entries_.back().end() - oldest.offset <= lag_.lag;
}

bool Bus::SourceLeftLocked(ConsumerId id) const {
  const Consumer& c = consumers_[id];
  if (lag_.log != nullptr && !c.seekable) return true;
  size_t sources = 0;
  bool laggards = false;
  for (ConsumerId o = 0; o < consumers_.size(); o++) {
    const Consumer& d = consumers_[o];
    if (o != id && d.mode == Mode::kInStep && d.seekable) sources++;
    laggards = laggards || d.mode == Mode::kLagging;
  }
  // A stream, or the first to fall behind, needs one source.  A seekable
  // destination is a source itself: while others catch up, it is let go
  // only if two stay in step, so that one failing does not leave the
  // laggards without any.
  return sources >= (c.seekable && laggards ? 2 : 1);
}

void Bus::LetGoLocked(ConsumerId id) {
  Consumer& c = consumers_[id];
  c.mode = Mode::kLagging;
  c.demotions++;
  c.missed.Clear();
  c.late = nullptr;
  c.copying = 0;
  c.behind_since.reset();
  // What it has fetched is in flight and will land; the rest it missed.
  for (uint64_t seq = std::max(c.fetched + 1, first_seq_); seq < next_seq_; seq++) {
    const Extent& e = entries_[seq - first_seq_];
    c.missed.Add(e.offset, e.length, e.is_zero() ? Content::kZero : Content::kData);
    if (e.late && !c.seekable && !c.late) c.late = e.late;
  }
}

void Bus::Close() {
  {
    MutexLock lock(&mu_);
    closed_ = true;
  }
  available_.SignalAll();
  progress_.SignalAll();
}

bool Bus::Fetch(ConsumerId id, Extent* extent, uint64_t* seq) {
  MutexLock lock(&mu_);
  Consumer& c = consumers_[id];
  available_.Wait(&mu_, [&]() REQUIRES(mu_) {
    return c.mode != Mode::kInStep || c.fetched + 1 < next_seq_ || closed_;
  });
  if (c.mode != Mode::kInStep || c.fetched + 1 >= next_seq_) return false;
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
    if (c.mode == Mode::kInStep && c.applied < min_applied) min_applied = c.applied;
  while (first_seq_ <= min_applied && !entries_.empty()) {
    entries_.pop_front();
    first_seq_++;
  }
}

bool Bus::TakeLagged(ConsumerId id, uint64_t max_data, uint64_t max_zero, LagMap::Range* out,
                     uint64_t* seq) {
  bool taken;
  {
    MutexLock lock(&mu_);
    Consumer& c = consumers_[id];
    if (c.mode != Mode::kLagging) return false;
    // What was taken before has been read from its source by now.
    c.copying = 0;
    taken = c.missed.TakeFirst(max_data, max_zero, out);
    if (taken) {
      c.copy_offset = out->offset;
      c.copying = out->length;
    }
    // Everything committed to the range so far is at or below this.
    *seq = next_seq_ - 1;
  }
  space_.SignalAll();  // the lag shrank: WaitLagRoomLocked
  return taken;
}

Bus::RejoinResult Bus::Rejoin(ConsumerId id) {
  {
    MutexLock lock(&mu_);
    Consumer& c = consumers_[id];
    if (c.mode == Mode::kGone) return RejoinResult::kGone;
    if (c.mode == Mode::kInStep) return RejoinResult::kRejoined;
    if (!c.missed.empty()) return RejoinResult::kBehind;
    // In step again, at the head; once the bus is closed, there is nothing
    // more to fetch, and it holds the export.
    c.mode = Mode::kInStep;
    c.fetched = c.applied = next_seq_ - 1;
    if (closed_) return RejoinResult::kCaughtUp;
  }
  space_.SignalAll();
  return RejoinResult::kRejoined;
}

std::shared_ptr<const std::string> Bus::LateFor(ConsumerId id) const {
  MutexLock lock(&mu_);
  return consumers_[id].late;
}

Bus::SourceResult Bus::WaitSource(ConsumerId self, uint64_t seq, ConsumerId* source) {
  MutexLock lock(&mu_);
  if (lag_.log && !consumers_[self].seekable) return SourceResult::kLog;
  SourceResult result = SourceResult::kNone;
  progress_.Wait(&mu_, [&]() REQUIRES(mu_) {
    if (consumers_[self].mode == Mode::kGone) {
      result = SourceResult::kGone;
      return true;
    }
    bool any = false, found = false;
    uint64_t best = 0;
    for (ConsumerId o = 0; o < consumers_.size(); o++) {
      const Consumer& c = consumers_[o];
      if (o == self || c.mode != Mode::kInStep || !c.seekable) continue;
      any = true;
      if (c.applied >= seq && (!found || c.applied > best)) {
        found = true;
        best = c.applied;
        *source = o;
      }
    }
    result = found ? SourceResult::kConsumer : SourceResult::kNone;
    return found || !any;
  });
  return result;
}

bool Bus::HasWork(ConsumerId id) const {
  MutexLock lock(&mu_);
  const Consumer& c = consumers_[id];
  if (c.mode == Mode::kLagging) return !c.missed.empty();
  return c.mode == Mode::kInStep && c.fetched + 1 < next_seq_;
}

bool Bus::lagging(ConsumerId id) const {
  MutexLock lock(&mu_);
  return consumers_[id].mode == Mode::kLagging;
}

bool Bus::in_step(ConsumerId id) const {
  MutexLock lock(&mu_);
  return consumers_[id].mode == Mode::kInStep;
}

uint64_t Bus::demotions(ConsumerId id) const {
  MutexLock lock(&mu_);
  return consumers_[id].demotions;
}

uint64_t Bus::behind_bytes(ConsumerId id) const {
  MutexLock lock(&mu_);
  const Consumer& c = consumers_[id];
  return c.mode == Mode::kLagging ? BehindLocked(c, 0, 0) : 0;
}

bool Bus::HasPending(ConsumerId id) const {
  MutexLock lock(&mu_);
  return consumers_[id].mode == Mode::kInStep && consumers_[id].fetched + 1 < next_seq_;
}

uint64_t Bus::last_published() const {
  MutexLock lock(&mu_);
  return next_seq_ - 1;
}

void Bus::WaitApplied(uint64_t seq) {
  MutexLock lock(&mu_);
  const auto applied = [&]() REQUIRES(mu_) {
    for (const Consumer& c : consumers_)
      if (c.mode == Mode::kInStep && c.applied < seq) return false;
    return true;
  };
  // A flush waits for the destinations in step only: one that holds it
  // back while another keeps up is let go (lag=).
  WaitLettingGoLocked(&progress_, applied);
}

bool Bus::WaitConsumerApplied(ConsumerId id, uint64_t seq) {
  MutexLock lock(&mu_);
  const Consumer& c = consumers_[id];
  progress_.Wait(&mu_, [&]() REQUIRES(mu_) { return c.mode != Mode::kInStep || c.applied >= seq; });
  return c.mode == Mode::kInStep && c.applied >= seq;
}

std::vector<Extent> Bus::Overlapping(uint64_t offset, uint64_t length) const {
  std::vector<Extent> out;
  MutexLock lock(&mu_);
  for (const Extent& e : entries_)
    if (e.offset < offset + length && offset < e.end()) out.push_back(e);
  return out;
}

}  // namespace fanout
