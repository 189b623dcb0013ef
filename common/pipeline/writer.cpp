// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/writer.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <deque>
#include <vector>

namespace fanout {

Writer::Writer(std::unique_ptr<Destination> dest, Bus* bus, Logger* log)
    : dest_(std::move(dest)), bus_(bus), log_(log), consumer_(bus->Attach(dest_->seekable())) {}

void Writer::EnableCatchUp(std::shared_ptr<CatchUpSources> sources) {
  catch_up_ = std::make_unique<CatchUp>(dest_.get(), bus_, consumer_, sources.get(), log_);
  KeepAlive(std::move(sources));
}

Writer::~Writer() {
  assert(!thread_.joinable());
}

void Writer::Start() {
  thread_started_ = true;
  // The thread's own reference (null if not shared-owned): an abandoned
  // thread keeps this writer, its destination and keep_alive_ alive.
  std::shared_ptr<Writer> self = weak_from_this().lock();
  thread_ = std::thread([this, self] {
    Run();
    MutexLock lock(&mu_);
    thread_ended_ = true;
    ended_cv_.SignalAll();
  });
}

void Writer::Join() {
  if (thread_.joinable()) thread_.join();
}

bool Writer::JoinUntil(Clock::time_point deadline) {
  if (abandoned_) return false;
  if (!thread_.joinable()) return true;
  {
    MutexLock lock(&mu_);
    if (!ended_cv_.WaitUntil(&mu_, deadline, [this]() REQUIRES(mu_) { return thread_ended_; })) {
      lock.Unlock();
      assert(!weak_from_this().expired());
      thread_.detach();
      abandoned_ = true;
      return false;
    }
  }
  thread_.join();
  return true;
}

void Writer::WaitEndedOrFailed() {
  if (!thread_started_) return;
  MutexLock lock(&mu_);
  ended_cv_.Wait(&mu_, [this]() REQUIRES(mu_) {
    return thread_ended_ || state_ == DestinationState::kFailed || interrupted_;
  });
}

void Writer::EndAbandoned() {
  if (!interrupted_) return;
  std::string why;
  {
    MutexLock lock(&mu_);
    why = interrupted_why_;
  }
  const std::string message =
      dest_->name() + ": incomplete, " + why + "; its writer is still blocked (in the kernel)";
  const Failure failure{EINTR, bytes_.load(), message};
  if (Settle(DestinationState::kIncomplete, &failure)) log_->Error(message);
}

Writer::Activity Writer::activity() const {
  Activity a;
  a.last_progress = dest_->last_progress();
  bool ended;
  {
    MutexLock lock(&mu_);
    ended = thread_ended_;
  }
  // A laggard waiting for its source to apply what it copies is not the
  // one stalled (the source is, if anyone).
  const bool waiting = catch_up_ && catch_up_->waiting_for_source();
  a.busy = thread_started_ && !ended && state() == DestinationState::kWriting && !waiting &&
           (closing_ || in_flight_count_ > 0 || bus_->HasWork(consumer_));
  return a;
}

void Writer::FailStalled(const std::string& message) {
  // As FailSync: failed first, then detached, so a thread that wakes finds
  // the failure; then woken where it can be.
  const Failure failure{ETIMEDOUT, bytes_.load(), message};
  const bool first = Settle(DestinationState::kFailed, &failure);
  bus_->Detach(consumer_);
  // Not if it ended meanwhile: a destination that is done stays usable
  // (verify= reads it back).
  if (!first) return;
  dest_->Cancel();
  log_->Error(message);
}

Status Writer::CloseDestination() {
  // Closing is work the stall watch sees (a sync, a command's exit), from
  // now on.
  dest_->NoteProgress();
  closing_ = true;
  Status s = dest_->Close();
  closing_ = false;
  return s;
}

void Writer::FailAtEnd(const std::string& why) {
  doomed_ = true;
  MutexLock lock(&mu_);
  fail_at_end_ = why;
}

void Writer::Interrupt(const std::string& why) {
  {
    MutexLock lock(&mu_);
    if (interrupted_.exchange(true)) return;
    interrupted_why_ = why;
  }
  ended_cv_.SignalAll();  // WaitEndedOrFailed() returns
  dest_->Interrupt();
  bus_->Detach(consumer_);
}

void Writer::Abort() {
  // Whatever the thread was doing when the interruption came, the
  // destination gets no well-formed end: a stream stops short, a command
  // is killed before its input ends (Destination::Abort).
  Status s = dest_->Abort();
  std::string why;
  {
    MutexLock lock(&mu_);
    why = interrupted_why_;
  }
  std::string message = dest_->name() + ": incomplete, " + why;
  if (!s.ok()) message += " (" + s.message() + ")";
  const Failure failure{EINTR, bytes_.load(), message};
  if (Settle(DestinationState::kIncomplete, &failure)) log_->Error(message);
}

Failure Writer::failure() const {
  MutexLock lock(&mu_);
  return failure_;
}

std::optional<Writer::Clock::time_point> Writer::ended() const {
  MutexLock lock(&mu_);
  return ended_;
}

bool Writer::Settle(DestinationState state, const Failure* failure, bool over_done) {
  MutexLock lock(&mu_);
  // The first ending wins: a flush's failed sync and the writer's own end
  // may race.  (A failure over done keeps the time it was done.)
  const DestinationState was = state_.load();
  const bool done = was == DestinationState::kDone;
  if (was != DestinationState::kWriting && !(over_done && done)) return false;
  if (!done) ended_ = Clock::now();
  if (failure) failure_ = *failure;
  state_ = state;
  ended_cv_.SignalAll();
  return true;
}

void Writer::End(DestinationState state) {
  Settle(state, nullptr);
}

void Writer::FailSync(const Status& s) {
  // Failed first, then detached: detaching wakes the writer thread, which
  // must find the failure rather than end the stream as done.
  const Failure failure{s.err(), s.offset().value_or(bytes_.load()), s.message()};
  const bool first = Settle(DestinationState::kFailed, &failure);
  bus_->Detach(consumer_);
  if (first) log_->Error(failure.message);
}

void Writer::FailAsSource(const Status& s) {
  const Failure failure{s.err(), s.offset().value_or(bytes_.load()), s.message()};
  const bool first = Settle(DestinationState::kFailed, &failure, /*over_done=*/true);
  bus_->Detach(consumer_);
  if (first) log_->Error(failure.message);
}

void Writer::Fail(const Status& s, uint64_t offset) {
  // An error caused by the interruption itself (a killed command's broken
  // pipe) is not the destination's failure: it is incomplete.
  if (interrupted_) {
    Abort();
    return;
  }
  // Give up our place at once: the others must not wait for us.
  bus_->Detach(consumer_);
  std::string message = s.message();
  // A stream is closed now so its reader (or command) sees the end.  For a
  // command that means waiting for it: its exit status usually says more
  // than our EPIPE does (cmd exited 3 after reading 10 MiB).  A seekable
  // destination keeps its descriptor until the engine goes, since a
  // concurrent flush may still be syncing it.
  if (!dest_->seekable()) {
    Status closed = CloseDestination();
    if (!closed.ok() && closed.message() != message) {
      // "cmd=X: write: Broken pipe ...; the command exited with status 3":
      // every message of a destination starts with its name (destination.h),
      // which the second part need not repeat.
      // (A message shorter than the name breaks that contract; it is kept
      // whole rather than cut.)
      const size_t named = dest_->name().size() + 2;
      const std::string& rest = closed.message();
      message += "; " + (rest.size() > named ? rest.substr(named) : rest);
    }
  }
  const Failure failure{s.err(), s.offset().value_or(offset), message};
  if (Settle(DestinationState::kFailed, &failure)) log_->Error(message);
}

Status Writer::Open() {
  std::optional<Clock::time_point> waiting_since;
  for (;;) {
    Status s = dest_->Start();
    // Waiting for a reader is not a stall: it has a rule of its own.
    dest_->NoteProgress();
    if (!s.not_ready()) return s;
    // Not ready: a FIFO nobody has opened yet.  That is fine until data
    // waits for it; from then on it holds every other destination back (and
    // the client, once the bus is full), so it gets kOpenGrace.  This also
    // covers the end of the stream, which always leaves data waiting.
    if (bus_->HasWork(consumer_)) {
      const auto now = Clock::now();
      if (!waiting_since) waiting_since = now;
      if (now - *waiting_since >= kOpenGrace)
        return Status::IOError(EPIPE, s.message() + " within " +
                                          std::to_string(kOpenGrace.count()) +
                                          " s of data waiting for it");
    }
    if (interrupted_) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Writer::Run() {
  Status s = Open();
  if (interrupted_) {
    Abort();
    return;
  }
  if (!s.ok()) {
    Fail(s, 0);
    return;
  }
  s = PumpAndCatchUp();
  if (!s.ok()) return;  // failed already
  if (interrupted_) {
    Abort();
    return;
  }
  // A flush's sync failed (FailSync): the bus let us go; the descriptor
  // stays open, as for any failed seekable destination.
  if (state() == DestinationState::kFailed) return;
  std::string why;
  {
    MutexLock lock(&mu_);
    why = fail_at_end_;
  }
  if (!why.empty()) {
    Fail(Status::IOError(EIO, dest_->name() + ": " + why), bytes_.load());
    return;
  }
  s = CloseDestination();
  if (!s.ok()) {
    Fail(s, bytes_.load());
    return;
  }
  End(DestinationState::kDone);
}

Status Writer::PumpAndCatchUp() {
  for (;;) {
    Status s = Pump();
    if (!s.ok() || !catch_up_ || !bus_->lagging(consumer_)) return s;
    if (log_->DebugEnabled(LogTopic::kWriter))
      log_->Debug(LogTopic::kWriter, dest_->name() + ": fell behind by " +
                                         std::to_string(bus_->behind_bytes(consumer_)) +
                                         " bytes; catching up");
    Bus::RejoinResult how = Bus::RejoinResult::kGone;
    s = catch_up_->Run(&bytes_, &how);
    if (!s.ok()) {
      Fail(s, s.offset().value_or(bytes_.load()));
      return s;
    }
    if (how != Bus::RejoinResult::kRejoined) return Status::OK();
    if (log_->DebugEnabled(LogTopic::kWriter))
      log_->Debug(LogTopic::kWriter, dest_->name() + ": caught up, back in step");
  }
}

// The extents this writer has submitted and not yet marked applied, in bus
// order.  Completions may come in any order; the bus hears of them in order.
// Only the writer thread uses it, inside Pump().
struct Writer::InFlight {
  struct Op {
    uint64_t seq;
    uint64_t offset;
    uint64_t length;
    bool done;
    Writer::Kind kind;  // which of the writer's byte counts it adds to
  };

  explicit InFlight(Writer* writer)
      : w(writer), debug(writer->log_->DebugEnabled(LogTopic::kWriter)) {}

  bool empty() const { return ops.empty(); }
  size_t size() const { return ops.size(); }

  // Hands the extent to the destination, once nothing in flight overlaps
  // it, and drops the writer's reference to its buffer.  Returns the error,
  // having failed the writer.
  Status Submit(Extent* e, uint64_t seq);
  // Waits for at least one completion, then tells the bus about the
  // completed prefix.  Returns the destination's error, having failed.
  Status Reap();
  // Reaps until nothing is in flight.
  Status Drain();
  // Counts the done prefix of ops as performed and tells the bus.
  void MarkApplied();

 private:
  bool Overlaps(const Extent& e) const;

  Writer* const w;
  const bool debug;
  std::deque<Op> ops;
  std::vector<uint64_t> done;  // Reap()'s, kept to reuse its memory
};

Status Writer::InFlight::Submit(Extent* e, uint64_t seq) {
  const std::unique_ptr<Destination>& dest = w->dest_;
  if (debug)
    w->log_->Debug(LogTopic::kWriter, dest->name() + ": " + (e->is_zero() ? "zero " : "write ") +
                                          std::to_string(e->offset) + "+" +
                                          std::to_string(e->length) + (e->late ? " (late)" : ""));
  if (e->late && !dest->seekable()) {
    // The stream has passed this offset: it can never hold the image now.
    w->Fail(Status::IOError(EIO, dest->name() + ": " + *e->late), e->offset);
    return Status::IOError(EIO, *e->late);
  }
  if (e->hole && w->skip_holes_) {
    // holes=skip: the device keeps what it holds there.  Done at once, but
    // told to the bus in order, after what is in flight before it.
    ops.push_back(Op{seq, e->offset, e->length, true, Kind::kSkipped});
    *e = Extent();
    if (ops.size() == 1) MarkApplied();
    return Status::OK();
  }
  // Overlapping operations in flight could complete in either order.
  while (Overlaps(*e)) {
    Status r = Reap();
    if (!r.ok()) return r;
  }
  ops.push_back(Op{seq, e->offset, e->length, false, e->is_zero() ? Kind::kZero : Kind::kData});
  w->in_flight_count_ = ops.size();
  Status r = dest->Submit(*e, seq);
  // Drop our reference: the destination holds one while it needs it, so
  // the buffer goes back to the pool as soon as the last writer is done.
  *e = Extent();
  if (!r.ok()) w->Fail(r, ops.back().offset);
  return r;
}

Status Writer::InFlight::Reap() {
  done.clear();
  uint64_t failed_tag = 0;
  Status r = w->dest_->Reap(&done, &failed_tag);
  for (uint64_t tag : done)
    for (Op& op : ops)
      if (op.seq == tag) op.done = true;
  MarkApplied();
  if (!done.empty()) w->dest_->NoteProgress();
  if (!r.ok()) {
    uint64_t offset = w->bytes_.load();
    for (const Op& op : ops)
      if (op.seq == failed_tag) offset = op.offset;
    w->Fail(r, offset);
  }
  return r;
}

void Writer::InFlight::MarkApplied() {
  uint64_t applied = 0;
  while (!ops.empty() && ops.front().done) {
    const Op& op = ops.front();
    w->bytes_ += op.length;
    w->kind_bytes_[static_cast<size_t>(op.kind)] += op.length;
    applied = op.seq;
    ops.pop_front();
  }
  w->in_flight_count_ = ops.size();
  if (applied != 0) w->bus_->Applied(w->consumer_, applied);
}

Status Writer::InFlight::Drain() {
  while (!ops.empty()) {
    Status r = Reap();
    if (!r.ok()) return r;
  }
  return Status::OK();
}

bool Writer::InFlight::Overlaps(const Extent& e) const {
  for (const Op& op : ops)
    if (!op.done && op.offset < e.end() && e.offset < op.offset + op.length) return true;
  return false;
}

Status Writer::Pump() {
  const size_t depth = std::max(1u, dest_->queue_depth());
  InFlight in_flight(this);
  Extent e;
  uint64_t seq;
  for (;;) {
    // Interrupted: stop taking extents; what is in flight completes below.
    if (interrupted_) break;
    // Fetch while there is room, but never block on the bus while our own
    // I/O could be completing: with operations in flight, fetch only what
    // is already waiting.
    const bool room = in_flight.size() < depth;
    if (room && (in_flight.empty() || bus_->HasPending(consumer_))) {
      if (!bus_->Fetch(consumer_, &e, &seq)) break;
      dest_->NoteProgress();
      Status r = in_flight.Submit(&e, seq);
      if (!r.ok()) return r;
    } else {
      Status r = in_flight.Reap();
      if (!r.ok()) return r;
    }
  }
  return in_flight.Drain();
}

}  // namespace fanout
