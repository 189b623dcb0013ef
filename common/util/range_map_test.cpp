// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for RangeMap: the merged set of [start, end) ranges with values that
// the window and the engine use to remember what each byte holds.

#include "util/range_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace fanout {
namespace {

// The map's logic does not depend on its value type: int values make
// more than two distinct values easy to write.
using RangeMap = BasicRangeMap<int>;
using Range = RangeMap::Range;

// Every stored piece of [start, end), as ForEach reports it.
std::vector<Range> Pieces(const RangeMap& map, uint64_t start = 0, uint64_t end = UINT64_MAX) {
  std::vector<Range> out;
  map.ForEach(start, end, [&](const Range& r) { out.push_back(r); });
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> Gaps(const RangeMap& map, uint64_t start, uint64_t end) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  map.ForEachGap(start, end, [&](uint64_t s, uint64_t e) { out.emplace_back(s, e); });
  return out;
}

// "[0,10)=1 [10,20)=2", for readable failures.
std::string Show(const std::vector<Range>& ranges) {
  std::string s;
  for (const Range& r : ranges) {
    if (!s.empty()) s += ' ';
    s += "[" + std::to_string(r.start) + "," + std::to_string(r.end) +
         ")=" + std::to_string(r.value);
  }
  return s;
}

std::string Show(const RangeMap& map) {
  return Show(Pieces(map));
}

TEST(RangeMapTest, StartsEmpty) {
  RangeMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(0u, map.size());
  EXPECT_FALSE(map.Intersects(0, UINT64_MAX));
  EXPECT_TRUE(Pieces(map).empty());
}

TEST(RangeMapTest, SetStoresRange) {
  RangeMap map;
  map.Set(10, 20, 1);
  EXPECT_EQ("[10,20)=1", Show(map));
  EXPECT_EQ(1u, map.size());
  EXPECT_FALSE(map.empty());
}

TEST(RangeMapTest, SetEmptyRangeIsNoOp) {
  RangeMap map;
  map.Set(10, 10, 1);
  EXPECT_TRUE(map.empty());
  map.Set(0, 5, 1);
  map.Set(3, 3, 2);
  EXPECT_EQ("[0,5)=1", Show(map));
}

TEST(RangeMapTest, AdjacentEqualValuesMerge) {
  RangeMap map;
  map.Set(10, 20, 1);
  map.Set(20, 30, 1);  // touches on the right
  map.Set(0, 10, 1);   // touches on the left
  EXPECT_EQ("[0,30)=1", Show(map));
  EXPECT_EQ(1u, map.size());
}

TEST(RangeMapTest, FillingHoleMergesBothNeighbours) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(20, 30, 1);
  EXPECT_EQ(2u, map.size());
  map.Set(10, 20, 1);
  EXPECT_EQ("[0,30)=1", Show(map));
}

TEST(RangeMapTest, AdjacentDifferentValuesStaySeparate) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(10, 20, 2);
  EXPECT_EQ("[0,10)=1 [10,20)=2", Show(map));
}

TEST(RangeMapTest, NonAdjacentEqualValuesStaySeparate) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(11, 20, 1);
  EXPECT_EQ("[0,10)=1 [11,20)=1", Show(map));
}

TEST(RangeMapTest, OverwriteInsideSplitsRange) {
  RangeMap map;
  map.Set(0, 100, 1);
  map.Set(40, 60, 2);
  EXPECT_EQ("[0,40)=1 [40,60)=2 [60,100)=1", Show(map));
  // Setting the old value back merges everything again.
  map.Set(40, 60, 1);
  EXPECT_EQ("[0,100)=1", Show(map));
}

TEST(RangeMapTest, OverwriteAcrossSeveralRanges) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(10, 20, 2);
  map.Set(30, 40, 1);
  map.Set(50, 60, 2);
  map.Set(5, 55, 3);
  EXPECT_EQ("[0,5)=1 [5,55)=3 [55,60)=2", Show(map));
}

TEST(RangeMapTest, OverwriteWithSameValueExtends) {
  RangeMap map;
  map.Set(10, 20, 1);
  map.Set(15, 30, 1);
  map.Set(5, 12, 1);
  EXPECT_EQ("[5,30)=1", Show(map));
}

TEST(RangeMapTest, EraseMiddleSplits) {
  RangeMap map;
  map.Set(0, 100, 1);
  map.Erase(40, 60);
  EXPECT_EQ("[0,40)=1 [60,100)=1", Show(map));
}

TEST(RangeMapTest, EraseAcrossRangesAndEverything) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(20, 30, 2);
  map.Set(40, 50, 1);
  map.Erase(5, 45);
  EXPECT_EQ("[0,5)=1 [45,50)=1", Show(map));
  map.Erase(0, 100);
  EXPECT_TRUE(map.empty());
}

TEST(RangeMapTest, EraseOfGapIsNoOp) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(20, 30, 1);
  map.Erase(10, 20);
  map.Erase(50, 60);
  map.Erase(5, 5);
  EXPECT_EQ("[0,10)=1 [20,30)=1", Show(map));
}

TEST(RangeMapTest, ClearEmpties) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(20, 30, 2);
  map.Clear();
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.Intersects(0, 100));
}

TEST(RangeMapTest, ForEachClipsToQuery) {
  RangeMap map;
  map.Set(10, 20, 1);
  map.Set(30, 40, 2);
  EXPECT_EQ("[15,20)=1 [30,35)=2", Show(Pieces(map, 15, 35)));
  EXPECT_EQ("[12,18)=1", Show(Pieces(map, 12, 18)));
  EXPECT_EQ("", Show(Pieces(map, 20, 30)));
  EXPECT_EQ("", Show(Pieces(map, 0, 10)));
  EXPECT_EQ("", Show(Pieces(map, 40, 100)));
  EXPECT_EQ("", Show(Pieces(map, 15, 15)));
  EXPECT_EQ("[39,40)=2", Show(Pieces(map, 39, 41)));
}

TEST(RangeMapTest, ForEachGapReportsHolesInOrder) {
  RangeMap map;
  map.Set(10, 20, 1);
  map.Set(30, 40, 2);
  using Gap = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ((std::vector<Gap>{{0, 10}, {20, 30}, {40, 50}}), Gaps(map, 0, 50));
  EXPECT_EQ((std::vector<Gap>{{20, 30}}), Gaps(map, 15, 35));
  EXPECT_EQ((std::vector<Gap>{{22, 28}}), Gaps(map, 22, 28));
  EXPECT_TRUE(Gaps(map, 10, 20).empty());
  EXPECT_TRUE(Gaps(map, 12, 12).empty());
}

TEST(RangeMapTest, ForEachGapOfEmptyMapIsWholeRange) {
  RangeMap map;
  using Gap = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ((std::vector<Gap>{{5, 500}}), Gaps(map, 5, 500));
}

TEST(RangeMapTest, Covers) {
  RangeMap map;
  map.Set(0, 10, 1);
  map.Set(10, 20, 2);
  map.Set(30, 40, 1);
  EXPECT_TRUE(map.Covers(0, 10, 1));
  EXPECT_TRUE(map.Covers(2, 8, 1));
  EXPECT_TRUE(map.Covers(10, 20, 2));
  EXPECT_FALSE(map.Covers(0, 10, 2));   // wrong value
  EXPECT_FALSE(map.Covers(5, 15, 1));   // second half has another value
  EXPECT_FALSE(map.Covers(15, 25, 2));  // runs into a gap
  EXPECT_FALSE(map.Covers(25, 35, 1));  // starts in a gap
  EXPECT_FALSE(map.Covers(20, 30, 1));  // all gap
  EXPECT_FALSE(map.Covers(35, 45, 1));  // runs off the end
}

TEST(RangeMapTest, IntersectsIsHalfOpen) {
  RangeMap map;
  map.Set(10, 20, 1);
  EXPECT_TRUE(map.Intersects(0, 100));
  EXPECT_TRUE(map.Intersects(19, 20));
  EXPECT_TRUE(map.Intersects(0, 11));
  EXPECT_TRUE(map.Intersects(15, 16));
  EXPECT_FALSE(map.Intersects(0, 10));
  EXPECT_FALSE(map.Intersects(20, 30));
  EXPECT_FALSE(map.Intersects(15, 15));
}

TEST(RangeMapTest, LargeOffsets) {
  RangeMap map;
  const uint64_t base = uint64_t{1} << 62;
  map.Set(base, base + 4096, 1);
  map.Set(base + 4096, base + 8192, 1);
  EXPECT_EQ(1u, map.size());
  EXPECT_TRUE(map.Covers(base, base + 8192, 1));
  EXPECT_FALSE(map.Intersects(0, base));
}

// Randomized: a byte-per-slot model (0 = no value) over a small address space.
class RangeModel {
 public:
  explicit RangeModel(size_t n) : v_(n, 0) {}
  void Set(uint64_t s, uint64_t e, int value) {
    for (uint64_t i = s; i < e; i++) v_[i] = value;
  }
  void Erase(uint64_t s, uint64_t e) { Set(s, e, 0); }
  bool Covers(uint64_t s, uint64_t e, int value) const {
    for (uint64_t i = s; i < e; i++)
      if (v_[i] != value) return false;
    return true;
  }
  bool Intersects(uint64_t s, uint64_t e) const {
    for (uint64_t i = s; i < e; i++)
      if (v_[i] != 0) return true;
    return false;
  }
  // Maximal runs of one non-zero value: what a merged map must hold.
  std::vector<Range> Runs(uint64_t s, uint64_t e) const {
    std::vector<Range> out;
    for (uint64_t i = s; i < e; i++) {
      if (v_[i] == 0) continue;
      if (!out.empty() && out.back().end == i && out.back().value == v_[i])
        out.back().end = i + 1;
      else
        out.push_back(Range{i, i + 1, v_[i]});
    }
    return out;
  }
  std::vector<std::pair<uint64_t, uint64_t>> Gaps(uint64_t s, uint64_t e) const {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (uint64_t i = s; i < e; i++) {
      if (v_[i] != 0) continue;
      if (!out.empty() && out.back().second == i)
        out.back().second = i + 1;
      else
        out.emplace_back(i, i + 1);
    }
    return out;
  }

 private:
  std::vector<int> v_;
};

TEST(RangeMapTest, RandomizedAgainstByteModel) {
  constexpr uint64_t kSpace = 4096;
  for (uint32_t seed = 1; seed <= 10; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937 rng(seed);
    RangeMap map;
    RangeModel model(kSpace);
    // Mostly short ranges so that merges and splits happen often.
    auto random_range = [&](uint64_t* s, uint64_t* e) {
      *s = rng() % kSpace;
      const uint64_t max_len = (rng() % 4 == 0) ? kSpace : 64;
      *e = std::min(kSpace, *s + rng() % (max_len + 1));
    };
    for (int op = 0; op < 400; op++) {
      uint64_t s, e;
      random_range(&s, &e);
      if (rng() % 4 == 0) {
        map.Erase(s, e);
        model.Erase(s, e);
      } else {
        const int value = 1 + rng() % 3;
        map.Set(s, e, value);
        model.Set(s, e, value);
      }
      // Whole content, and merged: equal to the model's maximal runs.
      const std::vector<Range> runs = model.Runs(0, kSpace);
      ASSERT_EQ(Show(runs), Show(map)) << "after op " << op;
      ASSERT_EQ(runs.size(), map.size());
      ASSERT_EQ(runs.empty(), map.empty());

      // Random queries.
      uint64_t qs, qe;
      random_range(&qs, &qe);
      ASSERT_EQ(Show(model.Runs(qs, qe)), Show(Pieces(map, qs, qe)))
          << "ForEach [" << qs << "," << qe << ")";
      ASSERT_EQ(model.Gaps(qs, qe), Gaps(map, qs, qe)) << "ForEachGap [" << qs << "," << qe << ")";
      ASSERT_EQ(model.Intersects(qs, qe), map.Intersects(qs, qe))
          << "Intersects [" << qs << "," << qe << ")";
      if (qs < qe) {
        for (int value = 1; value <= 3; value++)
          ASSERT_EQ(model.Covers(qs, qe, value), map.Covers(qs, qe, value))
              << "Covers [" << qs << "," << qe << ") value " << value;
      }
    }
  }
}

}  // namespace
}  // namespace fanout
