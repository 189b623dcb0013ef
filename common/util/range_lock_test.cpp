// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for RangeLock: overlapping requests take turns in arrival order,
// disjoint ones do not wait.

#include "util/range_lock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

#include "util/test_watchdog.h"

namespace fanout {
namespace {

using namespace testing_support;

// Waits (bounded) until the lock has n requests in flight.
bool WaitInFlight(const RangeLock& lock, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (lock.in_flight() != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

TEST(RangeLockTest, DisjointRangesDoNotWait) {
  Watchdog dog(kTimeout);
  RangeLock lock;
  auto a = lock.Lock(0, 4096);
  auto b = lock.Lock(4096, 4096);  // touches a, does not overlap it
  auto c = lock.Lock(1 << 20, 1);
  EXPECT_EQ(3u, lock.in_flight());
}

TEST(RangeLockTest, EmptyRangeOverlapsNothing) {
  Watchdog dog(kTimeout);
  RangeLock lock;
  auto a = lock.Lock(0, 4096);
  auto b = lock.Lock(100, 0);
  EXPECT_EQ(2u, lock.in_flight());
}

TEST(RangeLockTest, OverlappingRangeWaitsForRelease) {
  Watchdog dog(kTimeout);
  RangeLock lock;
  std::optional<RangeLock::Guard> a(lock.Lock(0, 8192));
  std::atomic<bool> got{false};
  Background b([&] {
    auto g = lock.Lock(4095, 2);
    got = true;
  });
  ASSERT_TRUE(WaitInFlight(lock, 2));
  EXPECT_FALSE(b.WaitFor(kStillBlocked));
  EXPECT_FALSE(got);
  a.reset();
  EXPECT_TRUE(b.WaitFor(kTimeout));
  EXPECT_TRUE(got);
  EXPECT_EQ(0u, lock.in_flight());
}

// A waits for H; B overlaps A's range only, and arrived after A: it must
// wait for A even though nothing B overlaps is held yet, so that
// overlapping requests complete in arrival order.
TEST(RangeLockTest, OverlappingRequestsKeepArrivalOrder) {
  Watchdog dog(kTimeout);
  RangeLock lock;
  std::optional<RangeLock::Guard> held(lock.Lock(0, 100));
  Mutex mu;
  std::vector<char> order;
  Background a([&] {
    auto g = lock.Lock(50, 100);  // [50, 150): overlaps held
    MutexLock l(&mu);
    order.push_back('A');
  });
  ASSERT_TRUE(WaitInFlight(lock, 2));
  Background b([&] {
    auto g = lock.Lock(120, 100);  // [120, 220): overlaps A only
    MutexLock l(&mu);
    order.push_back('B');
  });
  ASSERT_TRUE(WaitInFlight(lock, 3));
  EXPECT_FALSE(b.WaitFor(kStillBlocked));
  held.reset();
  EXPECT_TRUE(a.WaitFor(kTimeout));
  EXPECT_TRUE(b.WaitFor(kTimeout));
  ASSERT_EQ(2u, order.size());
  EXPECT_EQ('A', order[0]);
  EXPECT_EQ('B', order[1]);
}

TEST(RangeLockTest, MovedGuardReleasesOnce) {
  Watchdog dog(kTimeout);
  RangeLock lock;
  {
    auto a = lock.Lock(0, 10);
    RangeLock::Guard b(std::move(a));
    EXPECT_EQ(1u, lock.in_flight());
  }
  EXPECT_EQ(0u, lock.in_flight());
}

// Many threads writing overlapping ranges of a shared model under the lock,
// each doing two steps (as the filter does: plugin, then engine): both
// copies end equal.
TEST(RangeLockTest, TwoStepsSeeTheSameOrder) {
  Watchdog dog(seconds(30));
  RangeLock lock;
  std::vector<int> first(1000, -1), second(1000, -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; i++) {
        const uint64_t off = (t * 131 + i * 17) % 900;
        const uint64_t len = 1 + (t + i) % 100;
        auto g = lock.Lock(off, len);
        for (uint64_t j = off; j < off + len; j++) first[j] = t * 1000 + i;
        std::this_thread::yield();
        for (uint64_t j = off; j < off + len; j++) second[j] = t * 1000 + i;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(first, second);
}

}  // namespace
}  // namespace fanout
