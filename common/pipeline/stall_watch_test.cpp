// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for StallWatch and the writer's side of a stall: a destination
// with work and no progress is shown stalled, then failed with ETIMEDOUT
// and cancelled; one whose thread cannot be woken is abandoned by
// JoinUntil() and, when it wakes after everyone else let go, touches only
// what it owns (run under ASan to see that); an idle one is never stalled.

#include "pipeline/stall_watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>

#include "dest/destination.h"
#include "pipeline/bus.h"
#include "util/mutex.h"
#include "util/test_watchdog.h"
#include "window/extent.h"

namespace fanout {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;
using namespace testing_support;

// What the test and the destination share, so the test can see the
// destination go even after it gave up its own reference to the writer.
struct Gate {
  Mutex mu;
  CondVar cv;
  bool open = false;
  bool entered = false;
  bool destroyed = false;
};

// A stream destination whose first write waits: until the gate opens
// (stuck in the kernel: Cancel() cannot wake it), or, if cancellable,
// until Cancel().
class StuckDestination final : public Destination {
 public:
  StuckDestination(std::shared_ptr<Gate> gate, bool cancellable)
      : Destination("stuck"), gate_(std::move(gate)), cancellable_(cancellable) {}
  ~StuckDestination() override {
    MutexLock lock(&gate_->mu);
    gate_->destroyed = true;
    gate_->cv.SignalAll();
  }
  DestinationKind kind() const override { return DestinationKind::kFifo; }
  bool seekable() const override { return false; }
  Status Prepare(uint64_t) override { return Status::OK(); }
  Status Start() override { return Status::OK(); }
  Status Write(const uint8_t*, uint64_t, uint64_t) override { return Wait(); }
  Status Zero(uint64_t, uint64_t) override { return Wait(); }
  Status Sync() override { return Status::OK(); }
  Status Read(uint8_t*, uint64_t, uint64_t) override { return Status::IOError(EIO, "no"); }
  Status Close() override { return Status::OK(); }
  void Cancel() override {
    Destination::Cancel();
    MutexLock lock(&gate_->mu);
    gate_->cv.SignalAll();
  }

 private:
  Status Wait() {
    MutexLock lock(&gate_->mu);
    gate_->entered = true;
    gate_->cv.SignalAll();
    gate_->cv.Wait(&gate_->mu, [&]() REQUIRES(gate_->mu) {
      return gate_->open || (cancellable_ && cancelled());
    });
    if (cancelled()) return Status::IOError(ECANCELED, "stuck: write cancelled");
    return Status::OK();
  }
  const std::shared_ptr<Gate> gate_;
  const bool cancellable_;
};

void WaitEntered(Gate* g) {
  MutexLock lock(&g->mu);
  g->cv.Wait(&g->mu, [&]() REQUIRES(g->mu) { return g->entered; });
}

TEST(StallWatchTest, NoticeAfter) {
  EXPECT_EQ(StallWatch::NoticeAfter(120s), 10s);
  EXPECT_EQ(StallWatch::NoticeAfter(0s), 10s);
  EXPECT_EQ(StallWatch::NoticeAfter(3s), 1s);
  EXPECT_EQ(StallWatch::NoticeAfter(1s), 1s);
  EXPECT_EQ(StallWatch::NoticeAfter(15s), 5s);
}

TEST(StallWatchTest, IdleWriterIsNeverStalled) {
  Watchdog watchdog(seconds(30));
  auto gate = std::make_shared<Gate>();
  auto bus = std::make_shared<Bus>(16);
  NullLogger log;
  auto w =
      std::make_shared<Writer>(std::make_unique<StuckDestination>(gate, true), bus.get(), &log);
  w->Start();
  StallWatch watch({w}, 3s, &log);
  watch.Check(Writer::Clock::now() + 1h);
  EXPECT_FALSE(w->stalled());
  EXPECT_EQ(w->state(), DestinationState::kWriting);
  bus->Close();
  w->Join();
  EXPECT_EQ(w->state(), DestinationState::kDone);
}

TEST(StallWatchTest, CancellableStallFailsAndIsJoined) {
  Watchdog watchdog(seconds(30));
  auto gate = std::make_shared<Gate>();
  auto bus = std::make_shared<Bus>(16);
  NullLogger log;
  auto w =
      std::make_shared<Writer>(std::make_unique<StuckDestination>(gate, true), bus.get(), &log);
  w->Start();
  bus->Publish(Extent::Zero(0, 4096));
  WaitEntered(gate.get());
  StallWatch watch({w}, 3s, &log);
  const auto t0 = Writer::Clock::now();
  watch.Check(t0);  // busy from now
  watch.Check(t0 + 1500ms);
  EXPECT_TRUE(w->stalled());
  EXPECT_EQ(w->state(), DestinationState::kWriting);
  watch.Check(t0 + 3500ms);
  EXPECT_EQ(w->state(), DestinationState::kFailed);
  EXPECT_EQ(w->failure().err, ETIMEDOUT);
  EXPECT_EQ(w->failure().message, "stuck: no progress for 3 s (stall-timeout=3)");
  EXPECT_TRUE(w->destination()->cancelled());
  // Cancel() woke it: it ends by itself.
  EXPECT_TRUE(w->JoinUntil(Writer::Clock::now() + 10s));
  bus->Close();
}

TEST(StallWatchTest, StuckThreadIsAbandonedAndOutlivesEveryoneSafely) {
  Watchdog watchdog(seconds(30));
  auto gate = std::make_shared<Gate>();
  NullLogger log;
  {
    auto bus = std::make_shared<Bus>(16);
    auto w =
        std::make_shared<Writer>(std::make_unique<StuckDestination>(gate, false), bus.get(), &log);
    w->KeepAlive(bus);
    w->Start();
    bus->Publish(Extent::Zero(0, 4096));
    WaitEntered(gate.get());
    StallWatch watch({w}, 2s, &log);
    const auto t0 = Writer::Clock::now();
    watch.Check(t0);
    watch.Check(t0 + 2500ms);
    ASSERT_EQ(w->state(), DestinationState::kFailed);
    // The publisher is not held back by the failed writer.
    bus->Publish(Extent::Zero(4096, 4096));
    bus->Close();
    w->WaitEndedOrFailed();
    EXPECT_FALSE(w->JoinUntil(Writer::Clock::now() + 100ms));
    EXPECT_FALSE(w->JoinUntil(Writer::Clock::now() + 100ms));
    watch.Stop();
  }
  // Everyone else let go; the thread alone keeps its writer, destination
  // and bus.  It wakes now, and must end cleanly and free them.
  MutexLock lock(&gate->mu);
  EXPECT_FALSE(gate->destroyed);
  gate->open = true;
  gate->cv.SignalAll();
  gate->cv.Wait(&gate->mu, [&]() REQUIRES(gate->mu) { return gate->destroyed; });
}

}  // namespace
}  // namespace fanout
