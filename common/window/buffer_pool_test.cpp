// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for BufferPool: aligned, reused buffers, and the blocking Acquire()
// that is the engine's memory bound.

#include "window/buffer_pool.h"

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
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "util/test_watchdog.h"

namespace fanout {
namespace {

using namespace testing_support;

class BufferPoolTest : public ::testing::Test {
 private:
  Watchdog watchdog_{seconds(30)};
};

bool Aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % BufferPool::kAlignment == 0;
}

TEST_F(BufferPoolTest, ReportsItsParameters) {
  BufferPool pool(8192, 3);
  EXPECT_EQ(8192u, pool.buffer_size());
  EXPECT_EQ(3u, pool.max_buffers());
  EXPECT_EQ(0u, pool.in_use());
  EXPECT_EQ(0u, pool.peak_in_use());
}

TEST_F(BufferPoolTest, BuffersArePageAlignedAndSized) {
  EXPECT_EQ(4096u, BufferPool::kAlignment);
  for (size_t size : {size_t{1}, size_t{1000}, size_t{4096}, size_t{65536}, size_t{1} << 20}) {
    SCOPED_TRACE("size=" + std::to_string(size));
    BufferPool pool(size, 4);
    std::vector<std::shared_ptr<Buffer>> held;
    for (int i = 0; i < 4; i++) {
      held.push_back(pool.Acquire());
      ASSERT_NE(nullptr, held.back());
      EXPECT_TRUE(Aligned(held.back()->data()));
      EXPECT_EQ(size, held.back()->size());
      // The whole buffer is ours to write (ASan checks the bounds).
      std::memset(held.back()->data(), 0x5a, size);
    }
  }
}

TEST_F(BufferPoolTest, BuffersHeldAtOnceAreDistinct) {
  BufferPool pool(4096, 8);
  std::vector<std::shared_ptr<Buffer>> held;
  std::set<const uint8_t*> seen;
  for (int i = 0; i < 8; i++) {
    held.push_back(pool.Acquire());
    seen.insert(held.back()->data());
  }
  EXPECT_EQ(8u, seen.size());
}

TEST_F(BufferPoolTest, ReleasedBufferIsReused) {
  BufferPool pool(4096, 2);
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  const uint8_t* a_data = a->data();
  const uint8_t* b_data = b->data();
  a.reset();
  auto c = pool.Acquire();
  EXPECT_EQ(a_data, c->data()) << "a pool of two buffers handed out a third";
  b.reset();
  auto d = pool.Acquire();
  EXPECT_EQ(b_data, d->data());
}

TEST_F(BufferPoolTest, BufferReturnsOnlyWhenLastReferenceGoes) {
  BufferPool pool(4096, 2);
  auto a = pool.Acquire();
  std::shared_ptr<const Buffer> copy = a;  // as an extent on the bus would hold it
  a.reset();
  EXPECT_EQ(1u, pool.in_use());
  copy.reset();
  EXPECT_EQ(0u, pool.in_use());
}

TEST_F(BufferPoolTest, InUseAndPeak) {
  BufferPool pool(4096, 4);
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  auto c = pool.Acquire();
  EXPECT_EQ(3u, pool.in_use());
  EXPECT_EQ(3u, pool.peak_in_use());
  a.reset();
  b.reset();
  EXPECT_EQ(1u, pool.in_use());
  EXPECT_EQ(3u, pool.peak_in_use());
  auto d = pool.Acquire();
  EXPECT_EQ(2u, pool.in_use());
  EXPECT_EQ(3u, pool.peak_in_use());
  c.reset();
  d.reset();
  EXPECT_EQ(0u, pool.in_use());
  EXPECT_EQ(3u, pool.peak_in_use());
}

TEST_F(BufferPoolTest, AcquireBlocksWhenAllInUseAndResumesOnRelease) {
  BufferPool pool(4096, 2);
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  std::shared_ptr<Buffer> got;
  std::atomic<bool> acquired{false};
  {
    Background waiter([&] {
      got = pool.Acquire();
      acquired = true;
    });
    EXPECT_FALSE(waiter.WaitFor(kStillBlocked)) << "Acquire did not block with all buffers in use";
    EXPECT_FALSE(acquired.load());
    const uint8_t* a_data = a->data();
    a.reset();
    ASSERT_TRUE(waiter.WaitFor(kTimeout)) << "Acquire did not wake when a buffer was released";
    ASSERT_NE(nullptr, got);
    EXPECT_EQ(a_data, got->data());
  }
  EXPECT_EQ(2u, pool.in_use());
  EXPECT_EQ(2u, pool.peak_in_use());
}

TEST_F(BufferPoolTest, SeveralWaitersAllEventuallyServed) {
  BufferPool pool(4096, 1);
  auto held = pool.Acquire();
  std::atomic<int> served{0};
  {
    std::vector<std::unique_ptr<Background>> waiters;
    for (int i = 0; i < 3; i++)
      waiters.push_back(std::make_unique<Background>([&] {
        auto b = pool.Acquire();
        served++;
        // Drop it at once so the next waiter can go.
      }));
    EXPECT_FALSE(waiters[0]->WaitFor(kStillBlocked));
    EXPECT_EQ(0, served.load());
    held.reset();
    for (auto& w : waiters) ASSERT_TRUE(w->WaitFor(kTimeout)) << "a waiter was never served";
  }
  EXPECT_EQ(3, served.load());
  EXPECT_EQ(0u, pool.in_use());
  EXPECT_EQ(1u, pool.peak_in_use());
}

TEST_F(BufferPoolTest, ConcurrentUseNeverExceedsMax) {
  BufferPool pool(4096, 3);
  std::atomic<int> outstanding{0};
  std::atomic<int> max_seen{0};
  {
    std::vector<std::unique_ptr<Background>> workers;
    for (int t = 0; t < 4; t++)
      workers.push_back(std::make_unique<Background>([&, t] {
        for (int i = 0; i < 2000; i++) {
          auto b = pool.Acquire();
          const int now = ++outstanding;
          int prev = max_seen.load();
          while (now > prev && !max_seen.compare_exchange_weak(prev, now)) {
          }
          b->data()[0] = static_cast<uint8_t>(t);
          --outstanding;
        }
      }));
    for (auto& w : workers) ASSERT_TRUE(w->WaitFor(kTimeout));
  }
  EXPECT_LE(max_seen.load(), 3);
  EXPECT_LE(pool.peak_in_use(), 3u);
  EXPECT_EQ(0u, pool.in_use());
}

TEST_F(BufferPoolTest, BufferOutlivesPool) {
  auto pool = std::make_unique<BufferPool>(65536, 2);
  auto a = pool->Acquire();
  auto b = pool->Acquire();
  b.reset();  // one buffer back on the free list before the pool goes
  pool.reset();
  // Still usable (ASan would report a use after free), and releasing it
  // after the pool is gone must not crash.
  std::memset(a->data(), 0x11, a->size());
  EXPECT_EQ(0x11, a->data()[a->size() - 1]);
  EXPECT_EQ(65536u, a->size());
  a.reset();
}

}  // namespace
}  // namespace fanout
