// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for AheadMap: the parked writes far beyond the window.
//
// The contract: a sparse set of byte ranges with their data, readable,
// rewritable and erasable at any byte, holding at most `budget` bytes, where
// rewriting parked bytes does not count against the budget twice; taking
// the lowest range again and again (TakeFirst, as the window does; the
// TakeBelow helper here) hands back, in offset order, exactly the parked
// bytes below a point.
// With a spill file, the same holds while bytes beyond the memory budget
// live in the file.

#include "window/ahead_map.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace fanout {
namespace {

constexpr uint64_t kO = AheadMap::kRangeOverhead;

std::vector<uint8_t> Bytes(uint64_t n, uint8_t value) {
  return std::vector<uint8_t>(n, value);
}

// Reads [offset, offset + length) with 0xEE where nothing is parked.
std::vector<uint8_t> ReadBack(const AheadMap& m, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> buf(length, 0xEE);
  EXPECT_TRUE(m.Read(buf.data(), length, offset).ok());
  return buf;
}

void Put(AheadMap* m, uint64_t offset, uint64_t length, uint8_t value) {
  ASSERT_TRUE(m->Fits(offset, length)) << offset << "+" << length;
  const std::vector<uint8_t> data = Bytes(length, value);
  ASSERT_TRUE(m->Put(data.data(), length, offset).ok());
}

// Removes and returns, in offset order, the parked bytes below end, one
// range at a time as the window takes them.
std::vector<AheadMap::Piece> TakeBelow(AheadMap* m, uint64_t end) {
  std::vector<AheadMap::Piece> got;
  while (!m->empty() && m->first() < end) {
    AheadMap::Piece p;
    Status s = m->TakeFirst(end, &p);
    EXPECT_TRUE(s.ok()) << s.message();
    if (!s.ok()) break;
    got.push_back(std::move(p));
  }
  return got;
}

// A spill file in a fresh directory under TMPDIR.
std::unique_ptr<SpillFile> MakeSpill() {
  const char* tmp = getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/ahead_map_test.XXXXXX";
  if (!mkdtemp(dir.data())) return nullptr;
  std::unique_ptr<SpillFile> spill;
  Status s = SpillFile::Open(dir, &spill);
  EXPECT_TRUE(s.ok()) << s.message();
  rmdir(dir.c_str());  // the file is unlinked: the directory can go now
  return spill;
}

TEST(AheadMapTest, StartsEmpty) {
  AheadMap m(4096);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(0u, m.bytes());
  EXPECT_EQ(4096u, m.budget());
  EXPECT_FALSE(m.Intersects(0, UINT64_MAX / 2));
  EXPECT_EQ(Bytes(16, 0xEE), ReadBack(m, 0, 16));
  EXPECT_TRUE(TakeBelow(&m, UINT64_MAX).empty());
}

// Fits() counts every range's overhead, and reserves it for two more (the
// new range, and one it may split in two).
TEST(AheadMapTest, FitsWithinBudget) {
  AheadMap m(1000 + 2 * kO);
  EXPECT_TRUE(m.Fits(5000, 1000));
  EXPECT_FALSE(m.Fits(5000, 1001));
  Put(&m, 5000, 600, 1);
  EXPECT_EQ(600u, m.bytes());
  EXPECT_EQ(600u + kO, m.charged());
  EXPECT_TRUE(m.Fits(9000, 400 - kO));
  EXPECT_FALSE(m.Fits(9000, 401 - kO));
  // A zero budget (ahead=0) parks nothing but empty requests.
  AheadMap none(0);
  EXPECT_FALSE(none.Fits(0, 1));
  EXPECT_TRUE(none.Fits(0, 0));
}

TEST(AheadMapTest, RewriteDoesNotCountTwice) {
  AheadMap m(1000 + 3 * kO);
  Put(&m, 5000, 1000, 1);
  EXPECT_EQ(1000u, m.bytes());
  // The same bytes again, and a part of them: nothing is added.
  EXPECT_TRUE(m.Fits(5000, 1000));
  Put(&m, 5000, 1000, 2);
  EXPECT_TRUE(m.Fits(5200, 100));
  Put(&m, 5200, 100, 3);
  EXPECT_EQ(1000u, m.bytes());
  EXPECT_EQ(1u, m.ranges());  // rewritten in place
  // Overlapping the edge adds only the new bytes, over the budget here.
  EXPECT_FALSE(m.Fits(5900, 101));
  EXPECT_FALSE(m.Fits(4999, 2));
  std::vector<uint8_t> expected = Bytes(1000, 2);
  std::fill(expected.begin() + 200, expected.begin() + 300, 3);
  EXPECT_EQ(expected, ReadBack(m, 5000, 1000));
}

TEST(AheadMapTest, RewriteAcrossSeveralRangesCountsOnlyNewBytes) {
  AheadMap m(300 + 4 * kO);
  Put(&m, 100, 100, 1);
  Put(&m, 300, 100, 2);
  EXPECT_EQ(200u, m.bytes());
  // [100, 400) holds 200 parked bytes: 100 new ones fit exactly.
  EXPECT_TRUE(m.Fits(100, 300));
  EXPECT_FALSE(m.Fits(99, 302));
  Put(&m, 100, 300, 3);
  EXPECT_EQ(300u, m.bytes());
  EXPECT_EQ(Bytes(300, 3), ReadBack(m, 100, 300));
  EXPECT_EQ(100u, m.first());
}

// Millions of 1-byte writes must not hold more memory than the budget:
// each costs its overhead, so parking stops when bytes and overhead fill it.
TEST(AheadMapTest, TinyWritesRunOutOfBudgetThroughTheirOverhead) {
  const uint64_t budget = 64 * 1024;
  AheadMap m(budget);
  const std::vector<uint8_t> one = Bytes(1, 7);
  uint64_t n = 0;
  while (m.Fits(1000 + 2 * n, 1)) {
    ASSERT_TRUE(m.Put(one.data(), 1, 1000 + 2 * n).ok());
    n++;
  }
  EXPECT_EQ(n, m.ranges());
  EXPECT_LE(m.charged(), budget);
  EXPECT_EQ(n * (1 + kO), m.charged());
  EXPECT_GE(n, budget / (1 + kO) - 2);
  EXPECT_LE(m.memory_use(), budget);
}

// Zero requests that would split a range beyond the budget zero its bytes
// in place instead: the map never grows past the budget, and reads as the
// requests say.
TEST(AheadMapTest, ZeroesInPlaceWhenSplittingWouldExceedTheBudget) {
  for (const bool spill : {false, true}) {
    std::unique_ptr<SpillFile> file;
    if (spill) {
      file = MakeSpill();
      ASSERT_TRUE(file);
    }
    const uint64_t budget = 1000 + 8 * kO;
    // With spill, memory holds the overhead only: the bytes are spilled.
    AheadMap m = spill ? AheadMap(budget, file.get(), 1 << 20, 8 * kO) : AheadMap(budget);
    Put(&m, 0, 1000, 9);
    std::vector<uint8_t> model = Bytes(1000, 9);
    for (uint64_t off = 1; off < 1000; off += 2) {
      ASSERT_TRUE(m.Zero(off, 1).ok());
      model[off] = 0;
      ASSERT_LE(m.charged(), budget) << off;
      if (spill) {
        ASSERT_LE(m.memory_use(), 8 * kO) << off;
      }
    }
    EXPECT_LE(m.ranges(), 8u);
    EXPECT_GT(m.ranges(), 1u);
    // Erased bytes read as not parked (0xEE), zeroed ones as zeros.
    std::vector<uint8_t> got = ReadBack(m, 0, 1000);
    for (uint64_t i = 0; i < 1000; i++)
      ASSERT_EQ(model[i], got[i] == 0xEE ? 0 : got[i]) << "byte " << i << " spill " << spill;
    std::vector<AheadMap::Piece> pieces = TakeBelow(&m, UINT64_MAX);
    std::vector<uint8_t> taken(1000, 0);
    for (const auto& p : pieces) std::copy(p.data.begin(), p.data.end(), taken.begin() + p.offset);
    EXPECT_EQ(model, taken);
  }
}

TEST(AheadMapTest, TouchingRangesReadAsOne) {
  AheadMap m(1 << 20);
  Put(&m, 0, 512, 1);
  Put(&m, 512, 512, 2);
  Put(&m, 1024, 512, 3);
  EXPECT_EQ(1536u, m.bytes());
  std::vector<uint8_t> expected = Bytes(512, 1);
  std::vector<uint8_t> b = Bytes(512, 2), c = Bytes(512, 3);
  expected.insert(expected.end(), b.begin(), b.end());
  expected.insert(expected.end(), c.begin(), c.end());
  EXPECT_EQ(expected, ReadBack(m, 0, 1536));
}

TEST(AheadMapTest, ReadLeavesUnparkedBytesAlone) {
  AheadMap m(1 << 20);
  Put(&m, 1000, 10, 7);
  std::vector<uint8_t> expected = Bytes(30, 0xEE);
  std::fill(expected.begin() + 10, expected.begin() + 20, 7);
  EXPECT_EQ(expected, ReadBack(m, 990, 30));
  // Reads clipped at both edges of the range.
  EXPECT_EQ(Bytes(3, 7), ReadBack(m, 1003, 3));
  EXPECT_EQ(std::vector<uint8_t>({0xEE, 7}), ReadBack(m, 999, 2));
  EXPECT_EQ(std::vector<uint8_t>({7, 0xEE}), ReadBack(m, 1009, 2));
}

TEST(AheadMapTest, IntersectsAtEdges) {
  AheadMap m(1 << 20);
  Put(&m, 1000, 10, 7);
  EXPECT_FALSE(m.Intersects(990, 10));  // ends where it starts
  EXPECT_TRUE(m.Intersects(990, 11));
  EXPECT_TRUE(m.Intersects(1009, 1));
  EXPECT_FALSE(m.Intersects(1010, 100));  // starts where it ends
  EXPECT_TRUE(m.Intersects(0, 1 << 20));
  EXPECT_FALSE(m.Intersects(1005, 0));
}

TEST(AheadMapTest, EraseSplitsRange) {
  AheadMap m(1 << 20);
  std::vector<uint8_t> data(100);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i);
  EXPECT_TRUE(m.Put(data.data(), data.size(), 1000).ok());
  m.Erase(1040, 20);
  EXPECT_EQ(80u, m.bytes());
  EXPECT_TRUE(m.Intersects(1039, 1));
  EXPECT_FALSE(m.Intersects(1040, 20));
  EXPECT_TRUE(m.Intersects(1060, 1));
  std::vector<uint8_t> expected = data;
  std::fill(expected.begin() + 40, expected.begin() + 60, 0xEE);
  EXPECT_EQ(expected, ReadBack(m, 1000, 100));
  // The erased bytes no longer count: 200 bytes back in the budget, less
  // the overhead of the range the split added.
  AheadMap small(1000 + 3 * kO);
  const std::vector<uint8_t> big = Bytes(1000, 1);
  EXPECT_TRUE(small.Put(big.data(), 1000, 0).ok());
  EXPECT_FALSE(small.Fits(5000, 1));
  small.Erase(10, 200);
  EXPECT_EQ(2u, small.ranges());
  EXPECT_TRUE(small.Fits(5000, 200 - kO));
  EXPECT_FALSE(small.Fits(5000, 201 - kO));
}

TEST(AheadMapTest, EraseEdgesAndAcrossRanges) {
  AheadMap m(1 << 20);
  Put(&m, 100, 100, 1);
  Put(&m, 300, 100, 2);
  Put(&m, 500, 100, 3);
  m.Erase(150, 400);  // the tail of the first, all the second, the head of the third
  EXPECT_EQ(100u, m.bytes());
  EXPECT_EQ(Bytes(50, 1), ReadBack(m, 100, 50));
  EXPECT_EQ(Bytes(400, 0xEE), ReadBack(m, 150, 400));
  EXPECT_EQ(Bytes(50, 3), ReadBack(m, 550, 50));
  // Erasing exactly a range, and nothing.
  m.Erase(100, 50);
  EXPECT_EQ(50u, m.bytes());
  EXPECT_EQ(550u, m.first());
  m.Erase(0, 550);
  m.Erase(600, 1000);
  m.Erase(560, 0);
  EXPECT_EQ(50u, m.bytes());
  m.Erase(0, 1 << 20);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(0u, m.bytes());
}

TEST(AheadMapTest, TakeBelowSplitsAtEnd) {
  AheadMap m(1 << 20);
  Put(&m, 100, 100, 1);
  Put(&m, 300, 100, 2);
  Put(&m, 500, 100, 3);
  std::vector<AheadMap::Piece> got = TakeBelow(&m, 350);
  ASSERT_EQ(2u, got.size());
  EXPECT_EQ(100u, got[0].offset);
  EXPECT_EQ(Bytes(100, 1), got[0].data);
  EXPECT_EQ(300u, got[1].offset);
  EXPECT_EQ(Bytes(50, 2), got[1].data);
  EXPECT_EQ(150u, m.bytes());
  EXPECT_EQ(350u, m.first());
  EXPECT_EQ(Bytes(50, 2), ReadBack(m, 350, 50));
  // Nothing below the first parked byte.
  EXPECT_TRUE(TakeBelow(&m, 350).empty());
  EXPECT_TRUE(TakeBelow(&m, 0).empty());
  // A range ending exactly at `end` is taken whole.
  got = TakeBelow(&m, 400);
  ASSERT_EQ(1u, got.size());
  EXPECT_EQ(350u, got[0].offset);
  EXPECT_EQ(50u, got[0].data.size());
  got = TakeBelow(&m, UINT64_MAX);
  ASSERT_EQ(1u, got.size());
  EXPECT_EQ(500u, got[0].offset);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(0u, m.bytes());
  // Taken bytes return to the budget (the rest stays one range).
  AheadMap small(100 + 3 * kO);
  Put(&small, 0, 100, 1);
  TakeBelow(&small, 40);
  EXPECT_EQ(1u, small.ranges());
  EXPECT_TRUE(small.Fits(1000, 40));
  EXPECT_FALSE(small.Fits(1000, 41));
}

// Random Put/Erase/TakeBelow/Read against a byte model: a vector of bytes
// and a parked flag per byte.
// With spill, a memory budget of a few hundred bytes sends most ranges to
// the file, and every split, read and take crosses it.
void RandomMatchesByteModel(bool spill) {
  constexpr uint64_t kSpan = 64 * 1024;
  std::unique_ptr<SpillFile> file = spill ? MakeSpill() : nullptr;
  ASSERT_EQ(spill, file != nullptr);
  for (uint32_t seed = 1; seed <= 20; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937 rng(seed);
    const uint64_t budget = 1 + rng() % (kSpan / 2);
    const uint64_t memory = 4 * kO + rng() % 1024;
    // The file is shared by the seeds: a base per seed keeps them apart,
    // as the export size keeps the ahead map clear of the window's chunks.
    AheadMap m = spill ? AheadMap(budget, file.get(), seed * kSpan, memory) : AheadMap(budget);
    std::vector<uint8_t> model(kSpan, 0);
    std::vector<bool> parked(kSpan, false);
    uint64_t low = 0;  // TakeBelow moves the floor up, as the window does
    auto count = [&](uint64_t off, uint64_t len) {
      return static_cast<uint64_t>(
          std::count(parked.begin() + off, parked.begin() + off + len, true));
    };
    uint8_t stamp = 0;
    for (int op = 0; op < 2000 && low < kSpan; op++) {
      SCOPED_TRACE("op " + std::to_string(op));
      const uint64_t off = low + rng() % (kSpan - low);
      const uint64_t len =
          std::min<uint64_t>(kSpan - off, rng() % 4 == 0 ? rng() % 8192 : rng() % 512);
      const uint64_t total = count(0, kSpan);
      const int kind = rng() % 10;
      // Fits() reserves the overhead of two more ranges.
      const uint64_t overhead = (m.ranges() + 2) * kO;
      const bool fits = len == 0 || (total - count(off, len) + len + overhead <= budget &&
                                     (!spill || m.memory_bytes() + overhead <= memory));
      ASSERT_EQ(fits, m.Fits(off, len));
      if (kind < 5) {
        if (!fits) continue;
        std::vector<uint8_t> data(len);
        for (uint8_t& b : data) b = ++stamp;
        ASSERT_TRUE(m.Put(data.data(), len, off).ok());
        std::copy(data.begin(), data.end(), model.begin() + off);
        std::fill(parked.begin() + off, parked.begin() + off + len, true);
      } else if (kind < 6) {
        m.Erase(off, len);
        std::fill(parked.begin() + off, parked.begin() + off + len, false);
      } else if (kind < 7) {
        // A zero request: each byte is either no longer parked or a zero.
        const size_t before = m.ranges();
        ASSERT_TRUE(m.Zero(off, len).ok());
        for (uint64_t i = 0; i < len; i++) {
          parked[off + i] = m.Intersects(off + i, 1);
          model[off + i] = 0;
        }
        if (m.ranges() > before) {
          ASSERT_LE(m.charged(), budget);
        }
      } else if (kind < 8) {
        const uint64_t end = low + rng() % std::min<uint64_t>(kSpan - low + 1, 4096);
        std::vector<AheadMap::Piece> got = TakeBelow(&m, end);
        uint64_t prev_end = 0;
        for (const AheadMap::Piece& p : got) {
          ASSERT_FALSE(p.data.empty());
          ASSERT_GE(p.offset, prev_end) << "pieces out of order or overlapping";
          ASSERT_LE(p.offset + p.data.size(), end);
          for (size_t i = 0; i < p.data.size(); i++) {
            ASSERT_TRUE(parked[p.offset + i]) << "byte " << p.offset + i << " was not parked";
            ASSERT_EQ(model[p.offset + i], p.data[i]) << "byte " << p.offset + i;
            parked[p.offset + i] = false;
          }
          prev_end = p.offset + p.data.size();
        }
        ASSERT_EQ(0u, count(0, std::min(end, kSpan))) << "parked bytes below " << end << " left";
        low = std::max(low, end);
      } else {
        std::vector<uint8_t> buf(len, 0xEE);
        EXPECT_TRUE(m.Read(buf.data(), len, off).ok());
        for (uint64_t i = 0; i < len; i++)
          ASSERT_EQ(parked[off + i] ? model[off + i] : 0xEE, buf[i]) << "byte " << off + i;
        ASSERT_EQ(count(off, len) > 0, m.Intersects(off, len));
      }
      ASSERT_EQ(count(0, kSpan), m.bytes());
      ASSERT_LE(m.bytes(), budget);
      if (spill) {
        ASSERT_LE(m.memory_bytes(), memory);
      }
      // (Erase() may split over the budget; the window takes the parts at once.)
      ASSERT_EQ(m.bytes() == 0, m.empty());
      if (!m.empty()) {
        const uint64_t first = std::find(parked.begin(), parked.end(), true) - parked.begin();
        ASSERT_EQ(first, m.first());
      }
    }
  }
}

TEST(AheadMapTest, RandomMatchesByteModel) {
  RandomMatchesByteModel(/*spill=*/false);
}

TEST(AheadMapTest, RandomMatchesByteModelWithSpill) {
  RandomMatchesByteModel(/*spill=*/true);
}

TEST(AheadMapTest, SpillKeepsMemoryWithinItsBudget) {
  std::unique_ptr<SpillFile> file = MakeSpill();
  ASSERT_TRUE(file);
  // Memory for 140 bytes and the overhead of the ranges beside them.
  const uint64_t memory = 5 * kO;
  AheadMap m(1 << 20, file.get(), 1000000, memory);
  Put(&m, 100, 100, 1);  // fits in memory
  Put(&m, 300, 300, 2);  // would exceed the memory: spilled
  Put(&m, 700, 40, 3);   // fits beside the first
  EXPECT_EQ(440u, m.bytes());
  EXPECT_EQ(140u, m.memory_bytes());
  EXPECT_EQ(140u + 3 * kO, m.memory_use());
  EXPECT_LE(m.memory_use(), memory);
  EXPECT_EQ(300u, file->bytes_written());
  // Spilled bytes read back, split and erase like the others.
  EXPECT_EQ(Bytes(300, 2), ReadBack(m, 300, 300));
  m.Erase(320, 10);
  EXPECT_EQ(Bytes(10, 0xEE), ReadBack(m, 320, 10));
  EXPECT_EQ(Bytes(20, 2), ReadBack(m, 300, 20));
  EXPECT_EQ(Bytes(270, 2), ReadBack(m, 330, 270));
  std::vector<AheadMap::Piece> got = TakeBelow(&m, 350);
  ASSERT_EQ(3u, got.size());
  EXPECT_EQ(Bytes(100, 1), got[0].data);
  EXPECT_EQ(300u, got[1].offset);
  EXPECT_EQ(Bytes(20, 2), got[1].data);
  EXPECT_EQ(330u, got[2].offset);
  EXPECT_EQ(Bytes(20, 2), got[2].data);
  EXPECT_EQ(40u, m.memory_bytes());
  EXPECT_EQ(Bytes(250, 2), ReadBack(m, 350, 250));
}

}  // namespace
}  // namespace fanout
