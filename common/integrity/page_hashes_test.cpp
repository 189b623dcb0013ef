// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for PageHashes: the expected page hashes of the image must be
// exact whatever the extents' granularity and order: never a page wrongly
// known, and unknown only when no destination held its earlier bytes.

#include "integrity/page_hashes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace fanout {
namespace {

constexpr uint64_t kPage = PageHashes::kPageSize;

// The memory the table holds, by what the man page says it costs: a region
// holds a hash (8 bytes) and a state (1 byte) for each of its pages, and
// its map node; a partial page holds its bytes, the map of which of them
// are known, and its map node.
uint64_t MemoryBytes(const PageHashes& h) {
  // A map node holds the key, the pointer and three links besides.
  constexpr uint64_t kNode = 48;
  constexpr uint64_t kRegion = PageHashes::kRegionPages * (8 + 1) + sizeof(uint32_t) + kNode;
  constexpr uint64_t kPartial = kPage + sizeof(RangeMap) + kNode;
  return h.regions() * kRegion + h.partial_pages() * kPartial;
}

// The image as committed so far, byte by byte: what a correct destination
// holds, and what the hashes must describe.
struct Model {
  explicit Model(uint64_t size) : bytes(size, 0) {}
  void Apply(uint64_t offset, uint64_t length, const uint8_t* data) {
    for (uint64_t i = 0; i < length; i++) bytes[offset + i] = data ? data[i] : 0;
  }
  uint64_t PageHash(uint64_t page, size_t length) const {
    return PageHashes::Hash(bytes.data() + page * kPage, length);
  }
  std::vector<uint8_t> bytes;
};

// A page source that reads a destination holding `dest` (normally the model
// itself), checking the hash as the engine's does.
PageHashes::PageSource SourceFrom(const std::vector<uint8_t>* dest, int* calls) {
  return [dest, calls](uint64_t offset, size_t length, uint64_t expected, uint8_t* out) {
    (*calls)++;
    std::copy(dest->begin() + offset, dest->begin() + offset + length, out);
    return PageHashes::Hash(out, length) == expected;
  };
}

// Every page the table knows must match the model; returns how many it does
// not know.
uint64_t CheckAgainst(const PageHashes& h, const Model& m) {
  uint64_t unknown = 0;
  for (uint64_t p = 0; p < h.pages(); p++) {
    uint64_t expected;
    if (!h.Expected(p, &expected)) {
      unknown++;
      continue;
    }
    EXPECT_EQ(m.PageHash(p, h.PageLength(p)), expected) << "page " << p;
  }
  return unknown;
}

TEST(PageHashesTest, NothingCommittedIsZeros) {
  PageHashes h(3 * kPage + 100, nullptr);
  Model m(3 * kPage + 100);
  EXPECT_EQ(4u, h.pages());
  EXPECT_EQ(100u, h.PageLength(3));
  EXPECT_EQ(0u, CheckAgainst(h, m));
}

TEST(PageHashesTest, PartOfANewPageKeepsTheRestAsZeros) {
  PageHashes h(4 * kPage, nullptr);
  Model m(4 * kPage);
  std::vector<uint8_t> data(300, 0xab);
  h.Apply(kPage + 100, 300, data.data());
  m.Apply(kPage + 100, 300, data.data());
  EXPECT_EQ(1u, h.partial_pages());
  EXPECT_EQ(0u, CheckAgainst(h, m));
  // The rest of the page arrives in two pieces: the page becomes whole.
  std::vector<uint8_t> more(kPage, 0x5c);
  h.Apply(kPage, 100, more.data());
  m.Apply(kPage, 100, more.data());
  h.Apply(kPage + 400, kPage - 400, more.data());
  m.Apply(kPage + 400, kPage - 400, more.data());
  EXPECT_EQ(0u, h.partial_pages());
  EXPECT_EQ(0u, CheckAgainst(h, m));
}

TEST(PageHashesTest, PartialRewriteOfAWholePageReadsTheDestination) {
  Model m(2 * kPage);
  int calls = 0;
  PageHashes h(2 * kPage, SourceFrom(&m.bytes, &calls));
  std::vector<uint8_t> data(2 * kPage);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i * 7);
  h.Apply(0, 2 * kPage, data.data());
  m.Apply(0, 2 * kPage, data.data());
  // The model is the destination: it still holds the page's earlier bytes
  // when the source is asked (before the rewrite is applied to it).
  std::vector<uint8_t> patch(512, 0xee);
  h.Apply(kPage + 1024, 512, patch.data());
  m.Apply(kPage + 1024, 512, patch.data());
  EXPECT_EQ(1, calls);
  EXPECT_EQ(0u, h.partial_pages());
  EXPECT_EQ(0u, CheckAgainst(h, m));
}

TEST(PageHashesTest, NoDestinationHoldingThePageMakesItUnknownNotWrong) {
  Model m(2 * kPage);
  std::vector<uint8_t> corrupt(2 * kPage, 0x11);  // the destination lost our bytes
  int calls = 0;
  PageHashes h(2 * kPage, SourceFrom(&corrupt, &calls));
  std::vector<uint8_t> data(2 * kPage, 0x42);
  h.Apply(0, 2 * kPage, data.data());
  m.Apply(0, 2 * kPage, data.data());
  std::vector<uint8_t> patch(8, 0xee);
  h.Apply(kPage + 8, 8, patch.data());
  m.Apply(kPage + 8, 8, patch.data());
  EXPECT_EQ(1, calls);
  EXPECT_EQ(1u, CheckAgainst(h, m));
  EXPECT_EQ(1u, h.unknown_pages());
  // Rewriting the rest of it makes it known again.
  h.Apply(kPage, 8, patch.data());
  m.Apply(kPage, 8, patch.data());
  EXPECT_EQ(1u, h.unknown_pages());
  h.Apply(kPage + 16, kPage - 16, data.data());
  m.Apply(kPage + 16, kPage - 16, data.data());
  EXPECT_EQ(0u, h.unknown_pages());
  EXPECT_EQ(0u, CheckAgainst(h, m));
}

TEST(PageHashesTest, ZeroExtentsOverData) {
  PageHashes h(8 * kPage + 512, nullptr);
  Model m(8 * kPage + 512);
  std::vector<uint8_t> data(8 * kPage + 512, 0x99);
  h.Apply(0, data.size(), data.data());
  m.Apply(0, data.size(), data.data());
  // Pages 1-6 whole; page 7's first 512 bytes, with no source: unknown.
  h.Apply(kPage, 6 * kPage + 512, nullptr);
  m.Apply(kPage, 6 * kPage + 512, nullptr);
  EXPECT_EQ(1u, h.unknown_pages());
  // The rest of page 7 and the short last page: page 7 is known again.
  h.Apply(7 * kPage + 512, kPage, nullptr);
  m.Apply(7 * kPage + 512, kPage, nullptr);
  EXPECT_EQ(0u, h.unknown_pages());
  EXPECT_EQ(0u, CheckAgainst(h, m));
}

// Random extents of any length, at any offset, in any order, rewritten and
// zeroed: with a destination that holds what was committed, every page is
// known and exact; without a source, every known page is still exact.
TEST(PageHashesTest, RandomExtentsAgainstAByteModel) {
  for (const bool with_source : {true, false}) {
    for (uint32_t seed = 1; seed <= 20; seed++) {
      std::mt19937_64 rng(seed);
      // Three regions and a bit, so extents cross region boundaries.
      const uint64_t size = (3 * PageHashes::kRegionPages + 5) * kPage + (rng() % kPage);
      Model m(size);
      int calls = 0;
      PageHashes h(size, with_source ? SourceFrom(&m.bytes, &calls) : PageHashes::PageSource());
      for (int i = 0; i < 300; i++) {
        uint64_t offset, length;
        switch (rng() % 8) {
          case 0:
          case 1:  // sector-sized pieces, as the unordered window commits
            offset = (rng() % (size / 512)) * 512;
            length = std::min<uint64_t>(size - offset, 512 * (1 + rng() % 16));
            break;
          case 2:
          case 3:  // any bytes
            offset = rng() % size;
            length = 1 + rng() % std::min<uint64_t>(size - offset, 3 * kPage);
            break;
          case 4:
          case 5:
          case 6:  // whole pages
            offset = (rng() % (size / kPage)) * kPage;
            length = std::min<uint64_t>(size - offset, kPage * (1 + rng() % 4));
            break;
          default:  // long runs across regions, as the ordered window commits
            offset = rng() % size;
            length = 1 + rng() % (size - offset);
        }
        std::vector<uint8_t> data(length);
        for (auto& b : data) b = static_cast<uint8_t>(rng());
        const bool zero = rng() % 4 == 0;
        h.Apply(offset, length, zero ? nullptr : data.data());
        m.Apply(offset, length, zero ? nullptr : data.data());
      }
      const uint64_t unknown = CheckAgainst(h, m);
      if (with_source) {
        EXPECT_EQ(0u, unknown) << "seed " << seed;
        EXPECT_GT(calls, 0) << "seed " << seed;
      }
      // The end-of-stream zero fill is not needed for exactness: partial
      // pages of new ground hash their never-committed bytes as zeros.
      // Regions hold no more than the pages that are not zero need.
      uint64_t nonzero_regions = 0;
      for (uint64_t r = 0; r * PageHashes::kRegionPages < h.pages(); r++) {
        bool nonzero = false;
        for (uint64_t p = r * PageHashes::kRegionPages;
             p < std::min(h.pages(), (r + 1) * PageHashes::kRegionPages); p++)
          nonzero = nonzero ||
                    m.PageHash(p, h.PageLength(p)) != PageHashes::Hash(nullptr, h.PageLength(p));
        nonzero_regions += nonzero;
      }
      EXPECT_GE(h.regions(), nonzero_regions) << "seed " << seed;
    }
  }
}

// The table costs memory for what was written, not for the export: a 1 TiB
// export with two 4 KiB writes holds two regions, and the end-of-stream
// zero fill over all of it (no region for most of it) frees them.
TEST(PageHashesTest, MemoryFollowsWhatWasWrittenNotTheExport) {
  const uint64_t size = 1ull << 40;
  PageHashes h(size, nullptr);
  EXPECT_EQ(size / kPage, h.pages());
  EXPECT_EQ(0u, MemoryBytes(h));
  std::vector<uint8_t> data(kPage, 0x42);
  h.Apply(0, kPage, data.data());
  h.Apply(size / 2, kPage, data.data());
  EXPECT_EQ(2u, h.regions());
  EXPECT_LT(MemoryBytes(h), 2 * kPage);
  uint64_t hash;
  ASSERT_TRUE(h.Expected(0, &hash));
  EXPECT_EQ(PageHashes::Hash(data.data(), kPage), hash);
  ASSERT_TRUE(h.Expected(12345, &hash));
  EXPECT_EQ(PageHashes::Hash(nullptr, kPage), hash);
  // The zero fill of everything else leaves the written pages alone.
  h.Apply(kPage, size / 2 - kPage, nullptr);
  h.Apply(size / 2 + kPage, size / 2 - kPage, nullptr);
  EXPECT_EQ(2u, h.regions());
  ASSERT_TRUE(h.Expected(size / 2 / kPage, &hash));
  EXPECT_EQ(PageHashes::Hash(data.data(), kPage), hash);
  // Zeroing them too frees their regions.
  h.Apply(0, size, nullptr);
  EXPECT_EQ(0u, h.regions());
  EXPECT_EQ(0u, MemoryBytes(h));
}

// Dense writes cost 9 bytes a page and a region's map node, as the man
// page says (about 2.5 MiB per GiB written).
TEST(PageHashesTest, DenseWritesCostNineBytesAPage) {
  const uint64_t written = 64ull << 20;
  PageHashes h(1ull << 40, nullptr);
  std::vector<uint8_t> data(1 << 20, 0x17);
  for (uint64_t off = 0; off < written; off += data.size()) h.Apply(off, data.size(), data.data());
  EXPECT_EQ(written / kPage / PageHashes::kRegionPages, h.regions());
  EXPECT_LE(MemoryBytes(h), written / kPage * 10);
}

// A partial page in zeroed ground: zero pieces into a zero page store
// nothing; a data piece makes it partial, and zeroing it whole unsets it.
TEST(PageHashesTest, ZeroPiecesOfZeroPagesStoreNothing) {
  PageHashes h(4 * kPage, nullptr);
  h.Apply(100, 200, nullptr);
  EXPECT_EQ(0u, h.regions());
  EXPECT_EQ(0u, h.partial_pages());
  std::vector<uint8_t> data(200, 0x11);
  h.Apply(kPage + 100, 200, data.data());
  EXPECT_EQ(1u, h.regions());
  EXPECT_EQ(1u, h.partial_pages());
  h.Apply(0, 4 * kPage, nullptr);
  EXPECT_EQ(0u, h.regions());
  EXPECT_EQ(0u, h.partial_pages());
  uint64_t hash;
  ASSERT_TRUE(h.Expected(1, &hash));
  EXPECT_EQ(PageHashes::Hash(nullptr, kPage), hash);
}

}  // namespace
}  // namespace fanout
