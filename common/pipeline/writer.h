// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Writer: one thread per destination.  It takes extents off the bus in
// order, performs them on its destination, counts what it wrote, and on an
// error marks the destination failed and detaches from the bus, so one slow
// or broken destination never corrupts or stops the others.  At the end of
// the stream it closes the destination (sync, close, wait for a command).
//
// Stalls.  A writer with work (extents waiting on the bus for it,
// operations in flight, or a close in progress) that gets nowhere is
// watched from outside (stall_watch.h), which calls FailStalled() at the
// timeout.  Its thread may then be stuck in the kernel for good (a device
// that never completes a write), so the engine does not wait for it for
// ever: JoinUntil() gives up at a deadline and abandons the thread.  For
// that to be safe, a writer that may be abandoned is owned by a
// std::shared_ptr (its thread holds a reference, so the Writer and its
// destination live until the thread ends, however late), and what its
// thread uses that it does not own (the bus, the logger) is handed to
// KeepAlive().  An abandoned thread that wakes finds itself failed and
// detached: it takes nothing more from the bus and logs nothing.
#ifndef FANOUT_PIPELINE_WRITER_H
#define FANOUT_PIPELINE_WRITER_H

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dest/destination.h"
#include "pipeline/bus.h"
#include "pipeline/catch_up.h"
#include "pipeline/destination_state.h"
#include "util/logger.h"
#include "util/mutex.h"

namespace fanout {

class Writer : public std::enable_shared_from_this<Writer> {
 public:
  using Clock = std::chrono::steady_clock;

  // Attaches to the bus now, so the writer sees every extent published from
  // here on, even before its thread starts.
  Writer(std::unique_ptr<Destination> dest, Bus* bus, Logger* log);
  // REQUIRES: Join() was called if Start() was.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // How long a destination that is not ready (a FIFO with no reader) may
  // keep extents waiting before it fails: it holds the others back.
  static constexpr std::chrono::seconds kOpenGrace{10};

  // Starts the thread.  Call once, after nbdkit has forked.  If the writer
  // is owned by a std::shared_ptr, the thread holds a reference.
  void Start();
  // Waits for the thread: it ends when the bus is closed and drained, or
  // when the destination fails.
  void Join();
  // Waits for the thread until deadline.  Returns true if it ended (it is
  // joined), false if it did not: the thread is then detached and
  // abandoned (see the top of this file), and later calls return false at
  // once.  REQUIRES: owned by a std::shared_ptr if it may return false.
  bool JoinUntil(Clock::time_point deadline);
  // Waits until the thread has ended, the writer has failed or the run was
  // interrupted (the thread may be stuck; JoinUntil() decides how long it
  // gets).
  void WaitEndedOrFailed();
  // The engine gave up on this writer's thread (JoinUntil() returned
  // false): if the run was interrupted and the writer has not ended, it
  // ends kIncomplete now, without touching the destination the thread may
  // still be using.  Thread-safe.
  void EndAbandoned();
  // Keeps `owner` alive as long as this writer: for what the thread uses
  // and does not own (the bus, the logger), so an abandoned thread that
  // wakes after the engine is gone finds them.  Call before Start().
  void KeepAlive(std::shared_ptr<const void> owner) { keep_alive_.push_back(std::move(owner)); }
  // lag=: when the bus lets this writer go (bus.h), it catches up from
  // `sources` (catch_up.h) rather than waiting for the bus.  Call before
  // Start(); without it the writer never lags (the bus lets go only
  // writers that have it).
  void EnableCatchUp(std::shared_ptr<CatchUpSources> sources);

  // What the stall watch looks at.  busy: the writer has work (extents on
  // the bus for it, operations in flight, a close in progress) and has not
  // ended.  last_progress: when it last got on.  Thread-safe.
  struct Activity {
    bool busy = false;
    Clock::time_point last_progress;
  };
  Activity activity() const;
  // No progress for the stall timeout: fails with ETIMEDOUT and message,
  // detaches from the bus (the client and the others go on) and cancels
  // the destination (Destination::Cancel), which wakes the thread where
  // it can be woken.  Thread-safe; the first failure is the one kept.
  void FailStalled(const std::string& message);
  // The stall watch's verdict, for the snapshot: busy and without progress
  // for longer than its notice threshold.  stalled() is false once the
  // writer has ended.  Thread-safe.
  void set_stalled(bool stalled) { stalled_ = stalled; }
  bool stalled() const { return stalled_.load() && state() == DestinationState::kWriting; }

  Destination* destination() const { return dest_.get(); }
  DestinationState state() const { return state_.load(); }
  // Not failed, and not doomed to fail (see Doom()).
  bool healthy() const { return !doomed_.load() && state() != DestinationState::kFailed; }
  // The engine has sent this destination something it will fail on (a late
  // extent to a stream): count it as failed from now on, before its thread
  // gets there.  Thread-safe.
  void Doom() { doomed_ = true; }
  // A sync from another thread (flush) failed: the destination has failed,
  // as if its own write had.  Thread-safe; the first failure is the one kept.
  void FailSync(const Status& s);
  // A laggard's read from this destination, its catch-up source, failed
  // (catch_up.h): it cannot give back what it was given, so it has failed,
  // even if it had ended done.  Thread-safe; the first failure is kept.
  void FailAsSource(const Status& s);
  // The engine cannot give this destination the whole export (the window
  // lost bytes it held, spill=): at the end of the stream it fails with
  // `why` instead of finishing, so it is not reported done.  Call before
  // the bus is closed.  Thread-safe.
  void FailAtEnd(const std::string& why);
  // The run was interrupted (Engine::Interrupt): stop at once.  The writer
  // leaves the bus (nothing waits for it any more), takes no further
  // extent, and ends its destination with Destination::Abort() rather
  // than a well-formed end, settling kIncomplete with `why` unless it had
  // ended already.  Calls Destination::Interrupt() now, from the calling
  // thread, so an operation blocked on a command's pipe returns.
  // Thread-safe and idempotent.
  void Interrupt(const std::string& why);
  bool interrupted() const { return interrupted_.load(); }
  // Bytes of extents performed (data and zeros; rewrites count again).
  uint64_t bytes() const { return bytes_.load(); }
  // bytes() from the bus, by what was done with them: written as data,
  // zeroed, or left alone (holes=skip); the rest of bytes() was copied
  // catching up (caught_up_bytes()).
  enum class Kind : uint8_t { kData, kZero, kSkipped };
  uint64_t bytes_of(Kind kind) const { return kind_bytes_[static_cast<size_t>(kind)].load(); }
  // holes=skip, for a block device: hole extents (extent.h) are left as
  // they are.  Call before Start().
  void set_skip_holes(bool skip) { skip_holes_ = skip; }
  bool skip_holes() const { return skip_holes_; }
  // Blocks until this writer has performed every extent through bus
  // sequence seq, or is no longer in step (failed, or lagging).  Returns
  // whether it holds every extent through seq.
  bool WaitApplied(uint64_t seq) { return bus_->WaitConsumerApplied(consumer_, seq); }
  // lag=: in step with the bus (not lagging, not failed), behind it (its
  // destination holds less than the extents applied say: catching up), how
  // many bytes of the export it has still to catch up, how many times it
  // fell behind, and how many bytes it has copied catching up.  A reader of
  // what the destination holds reads only in step, and checks demotions()
  // did not change across its read.  Thread-safe.
  bool in_step() const { return bus_->in_step(consumer_); }
  bool lagging() const { return bus_->lagging(consumer_); }
  uint64_t behind_bytes() const { return bus_->behind_bytes(consumer_); }
  uint64_t demotions() const { return bus_->demotions(consumer_); }
  uint64_t caught_up_bytes() const { return catch_up_ ? catch_up_->caught_up_bytes() : 0; }
  // When the writer stopped (done or failed); nullopt while writing.
  std::optional<Clock::time_point> ended() const;
  // The failure, once state() is kFailed.
  Failure failure() const;

 private:
  struct InFlight;
  void Run();
  // Moves extents from the bus to the destination, keeping up to its
  // queue_depth() in flight, until the bus is drained.  An error has failed
  // the writer already.
  Status Pump();
  // Starts the destination, waiting (no busy loop) while it is not ready.
  Status Open();
  void Fail(const Status& s, uint64_t offset);
  void End(DestinationState state);
  // The end of an interrupted writer: Destination::Abort(), kIncomplete.
  void Abort();
  // Ends the writer in `state` (with `failure`, if given) unless it has
  // ended already (over_done: or unless it has ended other than done).
  // Returns whether this call ended it.
  bool Settle(DestinationState state, const Failure* failure, bool over_done = false);

  // Close(), marking the writer busy for the stall watch meanwhile.
  Status CloseDestination();
  // Pump(), and while the bus lets this writer go, catches up and pumps
  // again once it rejoins.  An error has failed the writer already.
  Status PumpAndCatchUp();

  const std::unique_ptr<Destination> dest_;
  Bus* const bus_;
  Logger* const log_;
  const Bus::ConsumerId consumer_;
  std::thread thread_;
  std::atomic<DestinationState> state_{DestinationState::kWriting};
  std::atomic<bool> doomed_{false};
  std::atomic<bool> interrupted_{false};
  std::string interrupted_why_ GUARDED_BY(mu_);  // see Interrupt()
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> kind_bytes_[3] = {0, 0, 0};  // by Kind
  bool skip_holes_ = false;                          // see set_skip_holes()
  mutable Mutex mu_;
  Failure failure_ GUARDED_BY(mu_);
  std::string fail_at_end_ GUARDED_BY(mu_);  // see FailAtEnd()
  std::optional<Clock::time_point> ended_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<const void>> keep_alive_;  // see KeepAlive()
  std::unique_ptr<CatchUp> catch_up_;                    // see EnableCatchUp()
  // For the stall watch.
  std::atomic<size_t> in_flight_count_{0};
  std::atomic<bool> closing_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<bool> thread_started_{false};  // Start() was called
  // The thread has returned from Run(): signalled on ended_cv_ (as is
  // every Settle()).
  bool thread_ended_ GUARDED_BY(mu_) = false;
  CondVar ended_cv_;
  bool abandoned_ = false;  // the engine's thread only
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_WRITER_H
