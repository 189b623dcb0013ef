// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "window/hole_map.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "window/buffer_pool.h"

namespace fanout {
namespace {

TEST(HoleMapTest, NeverWrittenIsAHole) {
  HoleMap holes;
  std::vector<Extent> out;
  holes.Classify(Extent::Zero(0, 100), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].hole);
  EXPECT_EQ(out[0].length, 100u);
}

TEST(HoleMapTest, WrittenZerosAreNotHoles) {
  HoleMap holes;
  holes.Written(40, 60);
  std::vector<Extent> out;
  holes.Classify(Extent::Zero(0, 100), &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].hole);
  EXPECT_EQ(out[0].end(), 40u);
  EXPECT_FALSE(out[1].hole);
  EXPECT_EQ(out[1].offset, 40u);
  EXPECT_EQ(out[1].end(), 60u);
  EXPECT_TRUE(out[2].hole);
  EXPECT_EQ(out[2].end(), 100u);
}

TEST(HoleMapTest, ZeroAfterWriteMakesAHoleAgain) {
  HoleMap holes;
  holes.Written(0, 100);
  holes.Zeroed(20, 30);
  std::vector<Extent> out;
  holes.Classify(Extent::Zero(0, 100), &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].hole);
  EXPECT_TRUE(out[1].hole);
  EXPECT_EQ(out[1].offset, 20u);
  EXPECT_EQ(out[1].length, 10u);
  EXPECT_FALSE(out[2].hole);
}

TEST(HoleMapTest, DataExtentsPassAndLateIsKept) {
  HoleMap holes;
  std::vector<Extent> out;
  BufferPool pool(4096, 1);
  std::shared_ptr<const Buffer> buffer = pool.Acquire();
  holes.Classify(Extent::Data(0, 10, buffer, 0), &out);
  Extent late = Extent::Zero(50, 10);
  late.late = std::make_shared<const std::string>("late");
  holes.Written(55, 70);
  holes.Classify(late, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].is_zero());
  EXPECT_FALSE(out[0].hole);
  for (int i = 1; i < 3; i++) EXPECT_TRUE(out[i].late != nullptr);
  EXPECT_TRUE(out[1].hole);
  EXPECT_FALSE(out[2].hole);
}

// Against a byte model: the pieces cover the extent, in order, and each
// byte is a hole exactly when its last request was a zero or none.
TEST(HoleMapTest, MatchesAByteModel) {
  std::mt19937 rng(3);
  const uint64_t size = 1000;
  for (int round = 0; round < 200; round++) {
    HoleMap holes;
    std::vector<bool> written(size, false);
    for (int op = 0; op < 30; op++) {
      const uint64_t a = rng() % size, n = 1 + rng() % 100, b = std::min(size, a + n);
      const bool write = rng() % 2;
      if (write)
        holes.Written(a, b);
      else
        holes.Zeroed(a, b);
      for (uint64_t i = a; i < b; i++) written[i] = write;
    }
    const uint64_t a = rng() % size, b = a + 1 + rng() % (size - a);
    std::vector<Extent> out;
    holes.Classify(Extent::Zero(a, b - a), &out);
    uint64_t at = a;
    for (const Extent& e : out) {
      ASSERT_EQ(e.offset, at);
      ASSERT_GT(e.length, 0u);
      for (uint64_t i = e.offset; i < e.end(); i++) ASSERT_EQ(e.hole, !written[i]) << i;
      at = e.end();
    }
    ASSERT_EQ(at, b);
    uint64_t hole_bytes = 0, model_holes = 0;
    holes.ForEachHole(0, size, [&](uint64_t s, uint64_t e) { hole_bytes += e - s; });
    for (bool w : written) model_holes += !w;
    EXPECT_EQ(hole_bytes, model_holes);
  }
}

}  // namespace
}  // namespace fanout
