// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for Bus: ordered broadcast of extents to every destination writer,
// bounded, with back-pressure, detaching and draining.

#include "pipeline/bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/test_watchdog.h"
#include "window/buffer_pool.h"
#include "window/extent.h"

namespace fanout {
namespace {

using namespace testing_support;

class BusTest : public ::testing::Test {
 private:
  Watchdog watchdog_{seconds(30)};
};

// A zero extent is enough where only identity and order matter: its offset
// says which one it is.
Extent Marker(uint64_t n) {
  return Extent::Zero(n, 1);
}

// Fetches one extent that must be there now (the bus is closed or has it).
::testing::AssertionResult FetchNow(Bus* bus, Bus::ConsumerId id, Extent* e, uint64_t* seq) {
  if (!bus->Fetch(id, e, seq)) return ::testing::AssertionFailure() << "Fetch returned false";
  return ::testing::AssertionSuccess();
}

std::vector<uint64_t> Offsets(const std::vector<Extent>& extents) {
  std::vector<uint64_t> out;
  for (const Extent& e : extents) out.push_back(e.offset);
  return out;
}

TEST_F(BusTest, SequenceNumbersStartAtOne) {
  Bus bus(8);
  bus.Attach();
  EXPECT_EQ(0u, bus.last_published());
  EXPECT_EQ(1u, bus.Publish(Marker(0)));
  EXPECT_EQ(2u, bus.Publish(Marker(1)));
  EXPECT_EQ(3u, bus.Publish(Marker(2)));
  EXPECT_EQ(3u, bus.last_published());
}

TEST_F(BusTest, FetchReturnsExtentsInOrderWithTheirSequence) {
  Bus bus(8);
  const auto id = bus.Attach();
  BufferPool pool(4096, 1);
  auto buf = pool.Acquire();
  std::memset(buf->data(), 0x42, buf->size());
  bus.Publish(Extent::Zero(100, 10));
  bus.Publish(Extent::Data(200, 20, buf, 4));
  Extent e;
  uint64_t seq = 0;
  ASSERT_TRUE(FetchNow(&bus, id, &e, &seq));
  EXPECT_EQ(1u, seq);
  EXPECT_EQ(100u, e.offset);
  EXPECT_EQ(10u, e.length);
  EXPECT_TRUE(e.is_zero());
  ASSERT_TRUE(FetchNow(&bus, id, &e, &seq));
  EXPECT_EQ(2u, seq);
  EXPECT_EQ(200u, e.offset);
  EXPECT_EQ(20u, e.length);
  ASSERT_FALSE(e.is_zero());
  EXPECT_EQ(buf->data() + 4, e.bytes()) << "the extent must share the buffer, not copy it";
}

TEST_F(BusTest, OrderPreservedForSeveralConsumers) {
  constexpr int kConsumers = 3;
  constexpr uint64_t kExtents = 2000;
  Bus bus(16);
  std::vector<Bus::ConsumerId> ids;
  for (int i = 0; i < kConsumers; i++) ids.push_back(bus.Attach());
  std::vector<std::vector<uint64_t>> seen(kConsumers);
  std::vector<std::vector<uint64_t>> seqs(kConsumers);
  {
    std::vector<std::unique_ptr<Background>> consumers;
    for (int i = 0; i < kConsumers; i++) {
      consumers.push_back(std::make_unique<Background>([&, i] {
        Extent e;
        uint64_t seq;
        uint64_t n = 0;
        while (bus.Fetch(ids[i], &e, &seq)) {
          seen[i].push_back(e.offset);
          seqs[i].push_back(seq);
          // Apply in batches, as a writer with several I/Os in flight does.
          if (++n % (i + 1) == 0) bus.Applied(ids[i], seq);
        }
        if (!seqs[i].empty()) bus.Applied(ids[i], seqs[i].back());
      }));
    }
    Background producer([&] {
      for (uint64_t n = 0; n < kExtents; n++) bus.Publish(Marker(n));
      bus.Close();
    });
    ASSERT_TRUE(producer.WaitFor(kTimeout)) << "producer stuck";
    for (auto& c : consumers) ASSERT_TRUE(c->WaitFor(kTimeout)) << "consumer did not finish";
  }
  for (int i = 0; i < kConsumers; i++) {
    SCOPED_TRACE("consumer " + std::to_string(i));
    ASSERT_EQ(kExtents, seen[i].size());
    for (uint64_t n = 0; n < kExtents; n++) {
      ASSERT_EQ(n, seen[i][n]);
      ASSERT_EQ(n + 1, seqs[i][n]);
    }
  }
}

TEST_F(BusTest, PublishBlocksWhenSlowestConsumerIsFull) {
  Bus bus(4);
  const auto fast = bus.Attach();
  const auto slow = bus.Attach();
  for (uint64_t n = 0; n < 4; n++) bus.Publish(Marker(n));
  // The slow consumer has fetched everything but applied nothing (fetched
  // extents still hold the bus); then the fast one applies everything.
  Extent e;
  uint64_t seq = 0;
  for (int n = 0; n < 4; n++) ASSERT_TRUE(FetchNow(&bus, slow, &e, &seq));
  for (int n = 0; n < 4; n++) ASSERT_TRUE(FetchNow(&bus, fast, &e, &seq));
  bus.Applied(fast, 4);

  std::atomic<uint64_t> published{0};
  Background producer([&] { published = bus.Publish(Marker(4)); });
  EXPECT_FALSE(producer.WaitFor(kStillBlocked)) << "Publish did not block on a full bus";
  EXPECT_EQ(0u, published.load());

  bus.Applied(slow, 1);
  EXPECT_TRUE(producer.WaitFor(kTimeout)) << "Publish did not resume when the slowest applied";
  EXPECT_EQ(5u, published.load());
}

TEST_F(BusTest, PublishBlocksUntilAppliedNotFetched) {
  Bus bus(2);
  const auto id = bus.Attach();
  bus.Publish(Marker(0));
  bus.Publish(Marker(1));
  Extent e;
  uint64_t seq = 0;
  ASSERT_TRUE(FetchNow(&bus, id, &e, &seq));
  Background producer([&] { bus.Publish(Marker(2)); });
  EXPECT_FALSE(producer.WaitFor(kStillBlocked)) << "a fetched extent must hold its place";
  bus.Applied(id, seq);
  EXPECT_TRUE(producer.WaitFor(kTimeout));
}

TEST_F(BusTest, PublishWithoutConsumersDoesNotBlock) {
  Bus bus(2);
  Background producer([&] {
    for (uint64_t n = 0; n < 10; n++) bus.Publish(Marker(n));
  });
  EXPECT_TRUE(producer.WaitFor(kTimeout)) << "nobody can ever apply: nothing should be held";
  EXPECT_EQ(10u, bus.last_published());
}

TEST_F(BusTest, DetachedConsumerNoLongerHoldsTheBus) {
  Bus bus(3);
  const auto live = bus.Attach();
  const auto dead = bus.Attach();
  for (uint64_t n = 0; n < 3; n++) bus.Publish(Marker(n));
  Extent e;
  uint64_t seq = 0;
  for (int n = 0; n < 3; n++) ASSERT_TRUE(FetchNow(&bus, live, &e, &seq));
  bus.Applied(live, 3);

  Background producer([&] { bus.Publish(Marker(3)); });
  EXPECT_FALSE(producer.WaitFor(kStillBlocked));
  bus.Detach(dead);
  ASSERT_TRUE(producer.WaitFor(kTimeout)) << "a detached consumer still held the bus";
  bus.Detach(dead);  // idempotent

  // The live one goes on; the detached one gets nothing more.
  ASSERT_TRUE(FetchNow(&bus, live, &e, &seq));
  EXPECT_EQ(4u, seq);
  EXPECT_EQ(3u, e.offset);
  EXPECT_FALSE(bus.Fetch(dead, &e, &seq));
}

TEST_F(BusTest, DetachWakesConsumerBlockedInFetch) {
  Bus bus(4);
  const auto id = bus.Attach();
  std::atomic<int> result{-1};
  Background consumer([&] {
    Extent e;
    uint64_t seq;
    result = bus.Fetch(id, &e, &seq) ? 1 : 0;
  });
  EXPECT_FALSE(consumer.WaitFor(kStillBlocked)) << "Fetch on an empty open bus must block";
  bus.Detach(id);
  ASSERT_TRUE(consumer.WaitFor(kTimeout)) << "Detach did not wake Fetch";
  EXPECT_EQ(0, result.load());
}

TEST_F(BusTest, LateAttachSeesOnlyNewExtents) {
  Bus bus(8);
  const auto early = bus.Attach();
  bus.Publish(Marker(0));
  bus.Publish(Marker(1));
  const auto late = bus.Attach();
  bus.Publish(Marker(2));
  Extent e;
  uint64_t seq = 0;
  ASSERT_TRUE(FetchNow(&bus, late, &e, &seq));
  EXPECT_EQ(3u, seq);
  EXPECT_EQ(2u, e.offset);
  bus.Applied(late, 3);
  ASSERT_TRUE(FetchNow(&bus, early, &e, &seq));
  EXPECT_EQ(1u, seq);
  EXPECT_EQ(0u, e.offset);
}

TEST_F(BusTest, CloseLetsConsumersDrain) {
  Bus bus(8);
  const auto a = bus.Attach();
  const auto b = bus.Attach();
  for (uint64_t n = 0; n < 3; n++) bus.Publish(Marker(n));
  bus.Close();
  for (auto id : {a, b}) {
    Extent e;
    uint64_t seq = 0;
    for (uint64_t n = 0; n < 3; n++) {
      ASSERT_TRUE(FetchNow(&bus, id, &e, &seq)) << "extent " << n << " lost at close";
      EXPECT_EQ(n + 1, seq);
      EXPECT_EQ(n, e.offset);
    }
    bus.Applied(id, seq);
    EXPECT_FALSE(bus.Fetch(id, &e, &seq));
    EXPECT_FALSE(bus.Fetch(id, &e, &seq));  // and stays so
  }
}

TEST_F(BusTest, CloseWakesConsumerBlockedInFetch) {
  Bus bus(4);
  const auto id = bus.Attach();
  std::atomic<int> result{-1};
  Background consumer([&] {
    Extent e;
    uint64_t seq;
    result = bus.Fetch(id, &e, &seq) ? 1 : 0;
  });
  EXPECT_FALSE(consumer.WaitFor(kStillBlocked));
  bus.Close();
  ASSERT_TRUE(consumer.WaitFor(kTimeout)) << "Close did not wake Fetch";
  EXPECT_EQ(0, result.load());
}

TEST_F(BusTest, FetchWakesOnPublish) {
  Bus bus(4);
  const auto id = bus.Attach();
  std::atomic<uint64_t> got{0};
  Background consumer([&] {
    Extent e;
    uint64_t seq;
    if (bus.Fetch(id, &e, &seq)) got = e.offset;
  });
  EXPECT_FALSE(consumer.WaitFor(kStillBlocked));
  bus.Publish(Marker(77));
  ASSERT_TRUE(consumer.WaitFor(kTimeout)) << "Publish did not wake Fetch";
  EXPECT_EQ(77u, got.load());
}

TEST_F(BusTest, WaitAppliedWaitsForEveryConsumer) {
  Bus bus(8);
  const auto a = bus.Attach();
  const auto b = bus.Attach();
  for (uint64_t n = 0; n < 3; n++) bus.Publish(Marker(n));
  Extent e;
  uint64_t seq = 0;
  for (int n = 0; n < 3; n++) {
    ASSERT_TRUE(FetchNow(&bus, a, &e, &seq));
    ASSERT_TRUE(FetchNow(&bus, b, &e, &seq));
  }
  Background flusher([&] { bus.WaitApplied(3); });
  EXPECT_FALSE(flusher.WaitFor(kStillBlocked));
  bus.Applied(a, 3);
  bus.Applied(b, 2);
  EXPECT_FALSE(flusher.WaitFor(kStillBlocked)) << "returned before every consumer applied";
  bus.Applied(b, 3);
  EXPECT_TRUE(flusher.WaitFor(kTimeout));
}

TEST_F(BusTest, WaitAppliedReturnsWhenLaggardDetaches) {
  Bus bus(8);
  const auto a = bus.Attach();
  const auto b = bus.Attach();
  bus.Publish(Marker(0));
  Extent e;
  uint64_t seq = 0;
  ASSERT_TRUE(FetchNow(&bus, a, &e, &seq));
  bus.Applied(a, 1);
  Background flusher([&] { bus.WaitApplied(1); });
  EXPECT_FALSE(flusher.WaitFor(kStillBlocked));
  bus.Detach(b);
  EXPECT_TRUE(flusher.WaitFor(kTimeout)) << "a detached consumer still held WaitApplied";
}

TEST_F(BusTest, WaitAppliedForOlderSequenceReturnsAtOnce) {
  Bus bus(8);
  const auto a = bus.Attach();
  bus.Publish(Marker(0));
  bus.Publish(Marker(1));
  Extent e;
  uint64_t seq = 0;
  ASSERT_TRUE(FetchNow(&bus, a, &e, &seq));
  bus.Applied(a, 1);
  Background flusher([&] {
    bus.WaitApplied(0);
    bus.WaitApplied(1);
  });
  EXPECT_TRUE(flusher.WaitFor(kTimeout));
}

TEST_F(BusTest, OverlappingReturnsUnappliedOverlapsInPublishOrder) {
  Bus bus(16);
  const auto a = bus.Attach();
  const auto b = bus.Attach();
  bus.Publish(Extent::Zero(0, 100));    // 1
  bus.Publish(Extent::Zero(200, 100));  // 2
  bus.Publish(Extent::Zero(50, 100));   // 3: [50, 150)
  bus.Publish(Extent::Zero(1000, 10));  // 4
  bus.Publish(Extent::Zero(0, 60));     // 5

  EXPECT_EQ((std::vector<uint64_t>{0, 50, 0}), Offsets(bus.Overlapping(0, 100)));
  EXPECT_EQ((std::vector<uint64_t>{200, 50}), Offsets(bus.Overlapping(120, 100)));
  // Half-open: [100, 200) touches 1 and 2 but overlaps only 3.
  EXPECT_EQ((std::vector<uint64_t>{50}), Offsets(bus.Overlapping(100, 100)));
  EXPECT_TRUE(bus.Overlapping(300, 700).empty());
  EXPECT_TRUE(bus.Overlapping(1010, 5).empty());

  // Fetched but not applied by one consumer (its write may not have reached
  // the destination yet), applied by the other: still on the bus.
  Extent e;
  uint64_t seq = 0;
  for (int n = 0; n < 3; n++) ASSERT_TRUE(FetchNow(&bus, b, &e, &seq));
  for (int n = 0; n < 3; n++) ASSERT_TRUE(FetchNow(&bus, a, &e, &seq));
  bus.Applied(a, 3);
  EXPECT_EQ((std::vector<uint64_t>{0, 50, 0}), Offsets(bus.Overlapping(0, 100)));

  // Applied by both: gone.
  bus.Applied(b, 3);
  EXPECT_EQ((std::vector<uint64_t>{0}), Offsets(bus.Overlapping(0, 100)));
  const auto left = bus.Overlapping(0, 2000);
  ASSERT_EQ(2u, left.size());
  EXPECT_EQ(1000u, left[0].offset);
  EXPECT_EQ(10u, left[0].length);
  EXPECT_EQ(0u, left[1].offset);
  EXPECT_EQ(60u, left[1].length);
}

TEST_F(BusTest, OverlappingCarriesTheBytes) {
  Bus bus(4);
  bus.Attach();
  BufferPool pool(4096, 1);
  auto buf = pool.Acquire();
  for (size_t i = 0; i < buf->size(); i++) buf->data()[i] = static_cast<uint8_t>(i);
  bus.Publish(Extent::Data(8192, 100, buf, 10));
  const auto over = bus.Overlapping(8200, 1);
  ASSERT_EQ(1u, over.size());
  ASSERT_FALSE(over[0].is_zero());
  EXPECT_EQ(8192u, over[0].offset);
  EXPECT_EQ(100u, over[0].length);
  EXPECT_EQ(10, over[0].bytes()[0]);
  EXPECT_EQ(109, over[0].bytes()[99]);
}

TEST_F(BusTest, BuffersReturnToPoolOnceEveryConsumerApplied) {
  BufferPool pool(4096, 8);
  Bus bus(8);
  const auto a = bus.Attach();
  const auto b = bus.Attach();
  for (uint64_t n = 0; n < 8; n++) {
    auto buf = pool.Acquire();
    bus.Publish(Extent::Data(n * 4096, 4096, std::move(buf), 0));
  }
  EXPECT_EQ(8u, pool.in_use()) << "the bus holds the buffers now";

  auto consume_all = [&](Bus::ConsumerId id) {
    Extent e;
    uint64_t seq = 0;
    for (int n = 0; n < 8; n++) ASSERT_TRUE(FetchNow(&bus, id, &e, &seq));
    e = Extent();  // drop this consumer's own reference
    bus.Applied(id, seq);
  };
  consume_all(a);
  EXPECT_EQ(8u, pool.in_use()) << "released before every consumer applied";
  consume_all(b);
  EXPECT_EQ(0u, pool.in_use()) << "the bus kept buffers after every consumer applied";
}

TEST_F(BusTest, BuffersReturnToPoolWithThreadedConsumers) {
  BufferPool pool(4096, 4);
  Bus bus(2);
  std::vector<Bus::ConsumerId> ids = {bus.Attach(), bus.Attach()};
  {
    std::vector<std::unique_ptr<Background>> consumers;
    for (auto id : ids)
      consumers.push_back(std::make_unique<Background>([&bus, id] {
        Extent e;
        uint64_t seq;
        while (bus.Fetch(id, &e, &seq)) {
          e = Extent();
          bus.Applied(id, seq);
        }
      }));
    // 200 extents through a pool of 4: only possible if buffers come back.
    Background producer([&] {
      for (uint64_t n = 0; n < 200; n++) {
        auto buf = pool.Acquire();
        std::memset(buf->data(), static_cast<int>(n), 64);
        bus.Publish(Extent::Data(n * 64, 64, std::move(buf), 0));
      }
      bus.WaitApplied(bus.last_published());
      bus.Close();
    });
    ASSERT_TRUE(producer.WaitFor(kTimeout)) << "buffers did not come back to the pool";
    for (auto& c : consumers) ASSERT_TRUE(c->WaitFor(kTimeout));
  }
  EXPECT_EQ(0u, pool.in_use());
  EXPECT_LE(pool.peak_in_use(), 4u);
}

}  // namespace
}  // namespace fanout
