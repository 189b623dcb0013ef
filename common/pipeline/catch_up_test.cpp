// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for catching up (lag=): the bus letting a held-back destination go,
// its writer copying what it missed from a source while the client rewrites
// and zeroes, the source switch when one fails, the lost source, the stream
// fed from the catch-up log, the lag bound, and rejoining.  Destinations are
// in memory; the slow one is held (its writes block) until the test lets it
// go, so which destination lags is the test's choice, not a race's.

#include "pipeline/catch_up.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dest/destination.h"
#include "dest/test_memory_destination.h"
#include "pipeline/bus.h"
#include "pipeline/catch_up_log.h"
#include "pipeline/writer.h"
#include "util/mutex.h"
#include "util/test_watchdog.h"
#include "window/buffer_pool.h"
#include "window/spill_file.h"

namespace fanout {
namespace {

using namespace testing_support;

class CatchUpTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 1 << 20;
  static constexpr size_t kBuf = 64 << 10;

  ~CatchUpTest() override {
    if (!bus_) return;
    for (auto* d : dests_) d->Release();
    if (!closed_) bus_->Close();
    for (auto& w : writers_) w->Join();
  }

  // The bus with lag= lag (and the catch-up log, for streams only), and a
  // destination per entry of `seekable`, started.
  void Begin(uint64_t lag, std::vector<bool> seekable, bool log = false) {
    if (log) {
      char dir[] = "/tmp/catch_up_test.XXXXXX";
      ASSERT_NE(nullptr, mkdtemp(dir));
      std::unique_ptr<SpillFile> file;
      ASSERT_TRUE(SpillFile::Open(dir, &file).ok());
      rmdir(dir);  // the file is unlinked already (O_TMPFILE)
      log_ = std::make_unique<CatchUpLog>(std::move(file), std::min<uint64_t>(lag, kSize));
    }
    LagSpec spec;
    spec.lag = lag;
    spec.behind_buffers = 2;
    spec.let_go_after = milliseconds(0);  // LetOthersApply() keeps the others in step
    spec.log = log_.get();
    bus_ = std::make_unique<Bus>(1024, spec);
    auto sources = std::make_shared<CatchUpSources>(bus_.get(), log_.get());
    for (size_t i = 0; i < seekable.size(); i++) {
      auto d = std::make_unique<TestMemoryDestination>("d" + std::to_string(i), kSize, seekable[i],
                                                       0xEE);
      dests_.push_back(d.get());
      writers_.push_back(std::make_shared<Writer>(std::move(d), bus_.get(), &logger_));
      sources->Add(writers_.back());
    }
    for (auto& w : writers_) {
      if (lag > 0) w->EnableCatchUp(sources);
      w->Start();
    }
  }

  void PublishData(uint64_t offset, uint64_t length) {
    auto buf = pool_.Acquire();
    for (uint64_t i = 0; i < length; i++) buf->data()[i] = static_cast<uint8_t>(rng_());
    std::memcpy(model_.data() + offset, buf->data(), length);
    bus_->Publish(Extent::Data(offset, length, std::move(buf), 0));
  }
  void PublishZero(uint64_t offset, uint64_t length) {
    std::memset(model_.data() + offset, 0, length);
    bus_->Publish(Extent::Zero(offset, length));
  }
  // A client's random write, rewrite or zero anywhere in the export.
  void PublishRandom() {
    const uint64_t length = 4096 * (1 + rng_() % 16);
    const uint64_t offset = 4096 * (rng_() % ((kSize - length) / 4096));
    if (rng_() % 5 == 0)
      PublishZero(offset, length);
    else
      PublishData(offset, length);
  }
  // Waits until every writer but `held` has applied what was published
  // (or left the bus), so that they are the ones keeping up when the bus
  // next decides whom to let go, however the threads are scheduled.
  void LetOthersApply(size_t held) {
    const uint64_t seq = bus_->last_published();
    for (size_t j = 0; j < writers_.size(); j++)
      if (j != held) (void)writers_[j]->WaitApplied(seq);
  }
  // PublishRandom(), the others then applying it.
  void PublishRandomBehind(size_t held) {
    PublishRandom();
    LetOthersApply(held);
  }
  // Publishes random extents until writer i is let go.
  void PublishUntilLagging(size_t i) {
    for (int n = 0; n < 2000 && !writers_[i]->lagging(); n++) {
      PublishRandom();
      LetOthersApply(i);
    }
    ASSERT_TRUE(writers_[i]->lagging());
  }
  // Waits (no busy loop: short sleeps, bounded) for cond.
  template <typename F>
  bool Eventually(F cond) {
    for (int n = 0; n < 500; n++) {
      if (cond()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return cond();
  }
  void End() {
    bus_->Close();
    closed_ = true;
    for (auto& w : writers_) w->Join();
  }

  Watchdog watchdog_{seconds(60)};
  NullLogger logger_;
  BufferPool pool_{kBuf, 4096};
  std::unique_ptr<CatchUpLog> log_;
  std::unique_ptr<Bus> bus_;
  std::vector<TestMemoryDestination*> dests_;
  std::vector<std::shared_ptr<Writer>> writers_;
  std::vector<uint8_t> model_ = std::vector<uint8_t>(kSize, 0xEE);
  std::mt19937_64 rng_{14};
  bool closed_ = false;
};

TEST_F(CatchUpTest, SeekableLaggardEndsAsTheImageUnderRewritesAndZeros) {
  Begin(kSize, {true, true});
  dests_[1]->Hold();
  PublishUntilLagging(1);
  // Rewrites and zeros while it is behind stay in its map.
  for (int n = 0; n < 300; n++) PublishRandomBehind(1);
  EXPECT_TRUE(writers_[1]->lagging());
  EXPECT_GT(writers_[1]->behind_bytes(), 0u);
  EXPECT_TRUE(writers_[0]->in_step());
  dests_[1]->Release();
  for (int n = 0; n < 100; n++) PublishRandom();
  End();
  EXPECT_EQ(DestinationState::kDone, writers_[0]->state());
  EXPECT_EQ(DestinationState::kDone, writers_[1]->state());
  EXPECT_EQ(model_, dests_[0]->image());
  EXPECT_EQ(model_, dests_[1]->image());
  EXPECT_GE(writers_[1]->demotions(), 1u);
  EXPECT_GT(writers_[1]->caught_up_bytes(), 0u);
}

TEST_F(CatchUpTest, LaggardRejoinsTheBusOnceCaughtUp) {
  Begin(kSize, {true, true});
  dests_[1]->Hold();
  PublishUntilLagging(1);
  dests_[1]->Release();
  ASSERT_TRUE(Eventually([&] { return writers_[1]->in_step(); }));
  EXPECT_EQ(0u, writers_[1]->behind_bytes());
  // In step again: what follows reaches it through the bus.
  const uint64_t copied = writers_[1]->caught_up_bytes();
  for (int n = 0; n < 20; n++) PublishRandom();
  End();
  EXPECT_EQ(model_, dests_[1]->image());
  if (writers_[1]->demotions() == 1) {
    EXPECT_EQ(copied, writers_[1]->caught_up_bytes());
  }
}

TEST_F(CatchUpTest, AnotherSourceTakesOverWhenTheSourceFails) {
  Begin(kSize, {true, true, true});
  dests_[2]->Hold();
  PublishUntilLagging(2);
  for (int n = 0; n < 50; n++) PublishRandomBehind(2);
  writers_[0]->FailSync(Status::IOError(EIO, "d0: fdatasync: Input/output error"));
  dests_[2]->Release();
  for (int n = 0; n < 50; n++) PublishRandom();
  End();
  EXPECT_EQ(DestinationState::kFailed, writers_[0]->state());
  EXPECT_EQ(DestinationState::kDone, writers_[2]->state());
  EXPECT_EQ(model_, dests_[2]->image());
}

TEST_F(CatchUpTest, ASourceThatCannotBeReadFailsAndTheNextIsUsed) {
  Begin(kSize, {true, true, true});
  dests_[0]->FailReads();
  dests_[1]->FailReads();
  dests_[2]->Hold();
  PublishUntilLagging(2);
  // Both sources fail when read; the laggard then has none left.
  dests_[2]->Release();
  End();
  EXPECT_EQ(DestinationState::kFailed, writers_[0]->state());
  EXPECT_EQ(DestinationState::kFailed, writers_[1]->state());
  EXPECT_NE(std::string::npos,
            writers_[0]->failure().message.find("(reading for the catch-up of d"));
  EXPECT_EQ(DestinationState::kFailed, writers_[2]->state());
  EXPECT_EQ(0u, writers_[2]->failure().message.find("d2: lost its catch-up source: "))
      << writers_[2]->failure().message;
}

TEST_F(CatchUpTest, LaggardWithoutASourceFailsSayingSo) {
  Begin(kSize, {true, true});
  dests_[1]->Hold();
  PublishUntilLagging(1);
  writers_[0]->FailSync(Status::IOError(ENOSPC, "d0: write: No space left on device"));
  dests_[1]->Release();
  End();
  EXPECT_EQ(DestinationState::kFailed, writers_[1]->state());
  EXPECT_EQ(
      "d1: lost its catch-up source: no healthy seekable destination in step holds the ranges it "
      "missed",
      writers_[1]->failure().message.substr(0, writers_[1]->failure().message.find(" (")));
}

TEST_F(CatchUpTest, StreamLaggardIsFedInOrderFromTheLog) {
  Begin(256 << 10, {false, false}, /*log=*/true);
  dests_[1]->Hold();
  uint64_t pos = 0;
  // A stream's commits are in order: data, and now and then zeros.
  while (pos < kSize) {
    const uint64_t length = std::min<uint64_t>(kSize - pos, 16384);
    if ((pos / length) % 7 == 3)
      PublishZero(pos, length);
    else
      PublishData(pos, length);
    LetOthersApply(1);
    pos += length;
    // Released before its map reaches lag=, which would make the client
    // wait for it.
    if (pos == 192 << 10) {
      ASSERT_TRUE(writers_[1]->lagging());
      dests_[1]->Release();
    }
    // Never more behind than lag=: the log's ring is that large.
    EXPECT_LE(writers_[1]->behind_bytes(), 256u << 10);
  }
  End();
  EXPECT_EQ(DestinationState::kDone, writers_[1]->state());
  EXPECT_FALSE(dests_[1]->out_of_order());
  EXPECT_EQ(model_, dests_[1]->image());
  EXPECT_EQ(model_, dests_[0]->image());
}

TEST_F(CatchUpTest, TheClientWaitsOnceALaggardIsLagBehind) {
  constexpr uint64_t kLag = 128 << 10;
  Begin(kLag, {true, true});
  dests_[1]->Hold();
  PublishUntilLagging(1);
  std::atomic<int> published{0};
  std::thread client([&] {
    for (uint64_t off = 0; off < kSize; off += 16384) {
      PublishData(off, 16384);
      published++;
    }
  });
  // The laggard's map reaches lag= and the client waits for it.
  std::this_thread::sleep_for(kStillBlocked);
  const int stuck = published.load();
  std::this_thread::sleep_for(kStillBlocked);
  EXPECT_EQ(stuck, published.load());
  EXPECT_LT(stuck, static_cast<int>(kSize / 16384));
  EXPECT_LE(writers_[1]->behind_bytes(), kLag);
  dests_[1]->Release();
  client.join();
  End();
  EXPECT_EQ(model_, dests_[1]->image());
}

TEST_F(CatchUpTest, NobodyIsLetGoInLockStepOrWithoutASource) {
  // lag=0: lock-step.
  Begin(0, {true, true});
  dests_[1]->Hold();
  for (int n = 0; n < 40; n++) PublishRandom();
  EXPECT_FALSE(writers_[1]->lagging());
  dests_[1]->Release();
  End();
  EXPECT_EQ(model_, dests_[1]->image());
  EXPECT_EQ(0u, writers_[1]->demotions());
}

TEST_F(CatchUpTest, StreamsWithoutALogAreNotLetGo) {
  Begin(kSize, {false, false});
  dests_[1]->Hold();
  for (uint64_t off = 0; off < 40 * 16384; off += 16384) PublishData(off, 16384);
  EXPECT_FALSE(writers_[1]->lagging());
  dests_[1]->Release();
  for (uint64_t off = 40 * 16384; off < kSize; off += 16384) PublishData(off, 16384);
  End();
  EXPECT_EQ(model_, dests_[1]->image());
}

TEST_F(CatchUpTest, StreamLaggardFailsOnALateExtent) {
  Begin(kSize, {true, false});
  dests_[1]->Hold();
  uint64_t pos = 0;
  for (; pos < kSize / 2; pos += 16384) {
    PublishData(pos, 16384);
    LetOthersApply(1);
  }
  ASSERT_TRUE(writers_[1]->lagging());
  auto buf = pool_.Acquire();
  std::memset(buf->data(), 0x55, 4096);
  Extent late = Extent::Data(4096, 4096, std::move(buf), 0);
  late.late = std::make_shared<const std::string>("write at offset 4096 is behind the stream");
  bus_->Publish(std::move(late));
  dests_[1]->Release();
  End();
  EXPECT_EQ(DestinationState::kDone, writers_[0]->state());
  EXPECT_EQ(DestinationState::kFailed, writers_[1]->state());
  EXPECT_EQ("d1: write at offset 4096 is behind the stream", writers_[1]->failure().message);
}

}  // namespace
}  // namespace fanout
