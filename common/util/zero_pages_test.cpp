// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "util/zero_pages.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "util/rounding.h"

namespace fanout {
namespace {

// The model: byte by byte, which bytes lie in a whole aligned page of zeros.
std::vector<bool> ZeroPageModel(const std::vector<uint8_t>& buf, uint64_t offset) {
  std::vector<bool> zero(buf.size(), false);
  for (uint64_t page = RoundUp(offset, kPageSize); page + kPageSize <= offset + buf.size();
       page += kPageSize) {
    bool all = true;
    for (uint64_t i = 0; i < kPageSize; i++) all = all && buf[page - offset + i] == 0;
    for (uint64_t i = 0; all && i < kPageSize; i++) zero[page - offset + i] = true;
  }
  return zero;
}

void CheckAgainstModel(const std::vector<uint8_t>& buf, uint64_t offset) {
  const auto pieces = SplitZeroPages(buf.data(), buf.size(), offset);
  const auto model = ZeroPageModel(buf, offset);
  uint64_t at = offset;
  for (size_t i = 0; i < pieces.size(); i++) {
    const WritePiece& p = pieces[i];
    ASSERT_EQ(p.start, at);
    ASSERT_LT(p.start, p.end);
    if (i > 0) {
      ASSERT_NE(p.zero, pieces[i - 1].zero) << "adjacent pieces of one kind";
    }
    for (uint64_t b = p.start; b < p.end; b++) ASSERT_EQ(model[b - offset], p.zero) << b;
    at = p.end;
  }
  ASSERT_EQ(at, offset + buf.size());
}

TEST(ZeroPagesTest, RandomDataIsOneDataPiece) {
  std::vector<uint8_t> buf(1 << 20);
  std::mt19937 rng(1);
  for (auto& b : buf) b = static_cast<uint8_t>(rng() | 1);
  const auto pieces = SplitZeroPages(buf.data(), buf.size(), 0);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_FALSE(pieces[0].zero);
  EXPECT_EQ(pieces[0].end, buf.size());
}

TEST(ZeroPagesTest, AllZerosAlignedIsOneZeroPiece) {
  std::vector<uint8_t> buf(64 * kPageSize, 0);
  const auto pieces = SplitZeroPages(buf.data(), buf.size(), 8 * kPageSize);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_TRUE(pieces[0].zero);
}

TEST(ZeroPagesTest, PartialPagesAtTheEndsAreData) {
  // Zeros from 1000 to 3 pages + 1000: only pages 1 and 2 are whole.
  std::vector<uint8_t> buf(3 * kPageSize, 0);
  const auto pieces = SplitZeroPages(buf.data(), buf.size(), 1000);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].start, 1000u);
  EXPECT_EQ(pieces[0].end, kPageSize);
  EXPECT_FALSE(pieces[0].zero);
  EXPECT_TRUE(pieces[1].zero);
  EXPECT_EQ(pieces[1].end, 3 * kPageSize);
  EXPECT_FALSE(pieces[2].zero);
  EXPECT_EQ(pieces[2].end, 3 * kPageSize + 1000);
}

TEST(ZeroPagesTest, InsideOnePage) {
  std::vector<uint8_t> buf(3000, 0);
  for (uint64_t offset : {0ull, 1000ull, 4095ull}) CheckAgainstModel(buf, offset);
  const auto pieces = SplitZeroPages(buf.data(), buf.size(), 1000);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_FALSE(pieces[0].zero);
}

TEST(ZeroPagesTest, AHalfZeroPageIsData) {
  std::vector<uint8_t> buf(2 * kPageSize, 0);
  buf[kPageSize + kPageSize / 2] = 7;  // the second page's second half
  const auto pieces = SplitZeroPages(buf.data(), buf.size(), 0);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_TRUE(pieces[0].zero);
  EXPECT_FALSE(pieces[1].zero);
  // The last byte of a page alone makes it data.
  buf.assign(kPageSize, 0);
  buf[kPageSize - 1] = 1;
  EXPECT_FALSE(SplitZeroPages(buf.data(), buf.size(), 0)[0].zero);
}

TEST(ZeroPagesTest, RandomMixesMatchTheModel) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; round++) {
    std::vector<uint8_t> buf(1 + rng() % (40 * kPageSize), 0);
    // Islands of data: a few bytes, or whole runs.
    const int islands = rng() % 6;
    for (int i = 0; i < islands; i++) {
      const size_t at = rng() % buf.size();
      const size_t n = std::min<size_t>(buf.size() - at, 1 + rng() % (2 * kPageSize));
      for (size_t j = 0; j < n; j++) buf[at + j] = static_cast<uint8_t>(rng() % 2 ? 0 : rng());
    }
    CheckAgainstModel(buf, rng() % (8 * kPageSize));
  }
}

TEST(ZeroPagesTest, AllZero) {
  std::vector<uint8_t> buf(100, 0);
  EXPECT_TRUE(AllZero(buf.data(), 0));
  EXPECT_TRUE(AllZero(buf.data(), 1));
  EXPECT_TRUE(AllZero(buf.data(), 100));
  buf[99] = 1;
  EXPECT_FALSE(AllZero(buf.data(), 100));
  EXPECT_TRUE(AllZero(buf.data(), 99));
  buf[3] = 1;
  EXPECT_FALSE(AllZero(buf.data(), 5));
}

}  // namespace
}  // namespace fanout
