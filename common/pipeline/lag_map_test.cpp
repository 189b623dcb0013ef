// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for LagMap against a byte model: what each byte of the export holds
// in the map (nothing, data, zero), after random misses, rewrites and takes.

#include "pipeline/lag_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace fanout {
namespace {

// 0: not in the map; otherwise the Content.
using Model = std::vector<uint8_t>;

uint64_t ModelBytes(const Model& m) {
  uint64_t n = 0;
  for (uint8_t b : m) n += b != 0;
  return n;
}

TEST(LagMapTest, EmptyTakesNothing) {
  LagMap map;
  LagMap::Range r;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(0u, map.bytes());
  EXPECT_FALSE(map.TakeFirst(4096, 4096, &r));
}

TEST(LagMapTest, RewritesStayOneRangeAndZeroReplacesData) {
  LagMap map;
  map.Add(0, 8192, Content::kData);
  map.Add(4096, 8192, Content::kData);  // a rewrite overlapping it
  EXPECT_EQ(12288u, map.bytes());
  map.Add(0, 4096, Content::kZero);  // zeroed before the laggard got there
  EXPECT_EQ(12288u, map.bytes());
  EXPECT_EQ(12288u, map.BytesAfterAdd(4096, 4096));
  EXPECT_EQ(16384u, map.BytesAfterAdd(10000, 6384));
  LagMap::Range r;
  ASSERT_TRUE(map.TakeFirst(1 << 20, 1 << 20, &r));
  EXPECT_EQ(0u, r.offset);
  EXPECT_EQ(4096u, r.length);
  EXPECT_EQ(Content::kZero, r.content);
  ASSERT_TRUE(map.TakeFirst(1 << 20, 1 << 20, &r));
  EXPECT_EQ(4096u, r.offset);
  EXPECT_EQ(8192u, r.length);
  EXPECT_EQ(Content::kData, r.content);
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(0u, map.bytes());
}

TEST(LagMapTest, TakesDataAndZerosInPiecesLowestFirst) {
  LagMap map;
  map.Add(1000, 10000, Content::kData);
  map.Add(20000, 50000, Content::kZero);
  LagMap::Range r;
  uint64_t expect = 1000;
  while (map.TakeFirst(4096, 16384, &r)) {
    EXPECT_EQ(expect < 11000 ? expect : std::max<uint64_t>(expect, 20000), r.offset);
    EXPECT_LE(r.length, r.content == Content::kData ? 4096u : 16384u);
    EXPECT_EQ(r.offset < 11000 ? Content::kData : Content::kZero, r.content);
    expect = r.end();
  }
  EXPECT_EQ(70000u, expect);
}

TEST(LagMapTest, ACoarseMapStaysBoundedAndCoversWhatWasMissed) {
  constexpr uint64_t kSize = 1ull << 40;  // 1 TiB: granules of 16 MiB
  LagMap map;
  map.Coarsen(kSize);
  std::mt19937_64 rng(16);
  std::vector<std::pair<uint64_t, uint64_t>> missed;
  for (size_t n = 0; n < 3 * LagMap::kMaxRanges; n++) {
    const uint64_t off = (rng() % (kSize / 4096)) * 4096;
    const uint64_t len = std::min<uint64_t>(512 * (1 + rng() % 8), kSize - off);
    map.Add(off, len, n % 2 ? Content::kZero : Content::kData);
    missed.emplace_back(off, len);
  }
  // Taking everything out covers every byte missed, within the export.
  LagMap::Range r;
  std::vector<std::pair<uint64_t, uint64_t>> taken;
  size_t ranges = 0;
  while (map.TakeFirst(UINT64_MAX, UINT64_MAX, &r)) {
    EXPECT_LE(r.end(), kSize);
    // Adjacent pieces (data beside zeros) together.
    if (!taken.empty() && taken.back().second == r.offset)
      taken.back().second = r.end();
    else
      taken.emplace_back(r.offset, r.end());
    ranges++;
  }
  EXPECT_LE(ranges, 2 * LagMap::kMaxRanges);
  for (const auto& [off, len] : missed) {
    auto it = std::upper_bound(taken.begin(), taken.end(), std::make_pair(off, UINT64_MAX));
    ASSERT_NE(it, taken.begin());
    --it;
    EXPECT_LE(it->first, off);
    EXPECT_GE(it->second, off + len);
  }
}

TEST(LagMapTest, MatchesAByteModel) {
  constexpr uint64_t kSize = 1 << 16;
  std::mt19937_64 rng(14);
  for (int round = 0; round < 50; round++) {
    LagMap map;
    Model model(kSize, 0);
    for (int op = 0; op < 200; op++) {
      if (rng() % 4 != 0) {
        const uint64_t off = rng() % kSize;
        const uint64_t len = 1 + rng() % std::min<uint64_t>(kSize - off, 5000);
        const Content c = rng() % 3 == 0 ? Content::kZero : Content::kData;
        EXPECT_EQ(map.BytesAfterAdd(off, len), [&] {
          Model after = model;
          std::fill_n(after.begin() + off, len, static_cast<uint8_t>(c));
          return ModelBytes(after);
        }());
        map.Add(off, len, c);
        std::fill_n(model.begin() + off, len, static_cast<uint8_t>(c));
      } else {
        LagMap::Range r;
        const uint64_t max_data = 1 + rng() % 3000, max_zero = 1 + rng() % 3000;
        const bool taken = map.TakeFirst(max_data, max_zero, &r);
        uint64_t first = 0;
        while (first < kSize && model[first] == 0) first++;
        ASSERT_EQ(first < kSize, taken);
        if (!taken) continue;
        // The lowest byte, at most the limit, all of one content.
        EXPECT_EQ(first, r.offset);
        EXPECT_LE(r.length, r.content == Content::kData ? max_data : max_zero);
        for (uint64_t i = r.offset; i < r.end(); i++) {
          ASSERT_EQ(static_cast<uint8_t>(r.content), model[i]) << "byte " << i;
          model[i] = 0;
        }
        // Taken as much as the limit allows: the next byte differs, or
        // the limit was reached.
        if (r.end() < kSize && model[r.end()] == static_cast<uint8_t>(r.content)) {
          EXPECT_EQ(r.length, r.content == Content::kData ? max_data : max_zero);
        }
      }
      ASSERT_EQ(ModelBytes(model), map.bytes());
      ASSERT_EQ(map.empty(), map.bytes() == 0);
    }
  }
}

}  // namespace
}  // namespace fanout
