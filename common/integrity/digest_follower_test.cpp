// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for DigestFollower: the SHA-256 hashed while the image is written.
// A byte model of the image plays the destination it reads back from and
// the page hashes it checks against; the digest must equal the model's
// SHA-256 whatever order the extents come in, or be absent with a reason,
// never wrong.

#include "integrity/digest_follower.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "integrity/sha256.h"
#include "util/test_watchdog.h"
#include "window/buffer_pool.h"

namespace fanout {
namespace {

// The SHA-256 of bytes, at once.
std::string Of(const std::vector<uint8_t>& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return sha.FinalHex();
}

std::vector<uint8_t> Image(size_t size, uint32_t seed) {
  std::vector<uint8_t> v(size);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// A destination that holds `held` and a page check against `image`.
struct Model {
  explicit Model(std::vector<uint8_t> img) : image(std::move(img)), held(image) {}
  std::vector<uint8_t> image;  // what the client wrote
  std::vector<uint8_t> held;   // what the destination holds
  bool reads_fail = false;
  std::vector<std::pair<uint64_t, uint64_t>> reads;  // offset, length
  std::vector<std::pair<uint64_t, uint64_t>> checks;
  uint64_t last_seq = 0;

  DigestFollower Follower() {
    return DigestFollower(
        image.size(),
        [this](uint64_t seq, uint64_t offset, uint64_t length, uint8_t* out) {
          if (reads_fail) return false;
          last_seq = std::max(last_seq, seq);
          reads.push_back({offset, length});
          memcpy(out, held.data() + offset, length);
          return true;
        },
        [this](uint64_t offset, const uint8_t* data, uint64_t length) {
          EXPECT_EQ(0u, offset % DigestFollower::kPageSize);
          EXPECT_TRUE(length % DigestFollower::kPageSize == 0 || offset + length == image.size());
          checks.push_back({offset, length});
          for (uint64_t p = 0; p < length; p += DigestFollower::kPageSize)
            if (memcmp(data + p, image.data() + offset + p,
                       std::min(DigestFollower::kPageSize, length - p)) != 0)
              return std::optional<uint64_t>(offset + p);
          return std::optional<uint64_t>();
        });
  }
};

// Extents carry pool buffers, as the window's do.
class Extents {
 public:
  explicit Extents(const std::vector<uint8_t>& image) : image_(image), pool_(256 << 10, 1024) {}
  Extent Data(uint64_t offset, uint64_t length) {
    EXPECT_LE(length, pool_.buffer_size());
    std::shared_ptr<Buffer> b = pool_.Acquire();
    memcpy(b->data(), image_.data() + offset, length);
    return Extent::Data(offset, length, b, 0);
  }

 private:
  const std::vector<uint8_t>& image_;
  BufferPool pool_;
};

TEST(DigestFollowerTest, InOrderDataAndZerosNeedNoReading) {
  std::vector<uint8_t> image = Image(10000, 1);
  std::fill(image.begin() + 3000, image.begin() + 7000, 0);
  Model m(image);
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Start();
  f.Commit(e.Data(0, 3000), 1);
  f.Commit(Extent::Zero(3000, 4000), 2);
  f.Commit(e.Data(7000, 3000), 3);
  EXPECT_EQ(Of(image), f.Finish());
  EXPECT_EQ(10000u, f.bytes_from_memory());
  EXPECT_EQ(0u, f.bytes_read_back());
  EXPECT_TRUE(m.reads.empty());
  EXPECT_TRUE(m.checks.empty());  // nothing read back, nothing to check
}

TEST(DigestFollowerTest, OutOfOrderBytesAreReadBackOnceTheyContinueThePrefix) {
  const std::vector<uint8_t> image = Image(64 << 10, 2);
  Model m(image);
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Start();
  // Two regions written at once, as nbdcopy's threads do: the second is
  // remembered, then read back when the first reaches it.
  f.Commit(e.Data(32 << 10, 8 << 10), 1);
  f.Commit(e.Data(0, 16 << 10), 2);
  f.Commit(e.Data(40 << 10, 8 << 10), 3);
  f.Commit(e.Data(16 << 10, 16 << 10), 4);  // the prefix reaches 48K
  f.Commit(e.Data(48 << 10, 16 << 10), 5);  // in order again
  EXPECT_EQ(Of(image), f.Finish());
  EXPECT_EQ(16u << 10, f.bytes_read_back());
  EXPECT_EQ(48u << 10, f.bytes_from_memory());
  ASSERT_EQ(1u, m.reads.size());
  EXPECT_EQ((std::pair<uint64_t, uint64_t>{32 << 10, 16 << 10}), m.reads[0]);
  EXPECT_EQ(4u, m.last_seq);  // read only once extent 4 had reached it
}

TEST(DigestFollowerTest, OutOfOrderZerosAreNotRead) {
  std::vector<uint8_t> image = Image(16 << 10, 3);
  std::fill(image.begin() + (8 << 10), image.end(), 0);
  Model m(image);
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Commit(Extent::Zero(8 << 10, 8 << 10), 1);
  f.Commit(e.Data(0, 8 << 10), 2);
  EXPECT_EQ(Of(image), f.Finish());  // never started: Finish() hashes it
  EXPECT_TRUE(m.reads.empty());
}

TEST(DigestFollowerTest, AWriteBehindThePrefixGivesUp) {
  const std::vector<uint8_t> image = Image(8192, 4);
  Model m(image);
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Start();
  f.Commit(e.Data(0, 4096), 1);
  f.Commit(e.Data(512, 512), 2);  // even the same bytes: they were taken
  f.Commit(e.Data(4096, 4096), 3);
  EXPECT_EQ(std::nullopt, f.Finish());
  EXPECT_NE(std::string::npos, f.gave_up().find("a write at offset 512 changed bytes"))
      << f.gave_up();
}

TEST(DigestFollowerTest, RewritesBeyondThePrefixAreFine) {
  std::vector<uint8_t> image = Image(12288, 5);
  Model m(image);
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Start();
  f.Commit(Extent::Zero(4096, 8192), 1);  // zeros first...
  f.Commit(e.Data(6000, 6288), 2);        // ...then data over part of them
  f.Commit(e.Data(4096, 1904), 3);
  f.Commit(e.Data(0, 4096), 4);
  EXPECT_EQ(Of(image), f.Finish());
  EXPECT_EQ(8192u, f.bytes_read_back());
}

TEST(DigestFollowerTest, AGapGivesNoDigest) {
  const std::vector<uint8_t> image = Image(8192, 6);
  Model m(image);
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Commit(e.Data(4096, 4096), 1);
  EXPECT_EQ(std::nullopt, f.Finish());
  EXPECT_NE(std::string::npos, f.gave_up().find("from offset 0 on were never committed"))
      << f.gave_up();
}

TEST(DigestFollowerTest, BytesReadBackThatAreNotTheImageGiveUp) {
  const std::vector<uint8_t> image = Image(16384, 7);
  Model m(image);
  m.held[9000] ^= 1;  // the destination changed behind the plugin's back
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Start();
  f.Commit(e.Data(8192, 8192), 1);
  f.Commit(e.Data(0, 8192), 2);
  EXPECT_EQ(std::nullopt, f.Finish());
  EXPECT_NE(std::string::npos, f.gave_up().find("in the page at offset 8192 are not the image's"))
      << f.gave_up();
}

TEST(DigestFollowerTest, APagePartlyReadBackIsCheckedWhenWhole) {
  // The prefix ends inside a page: that page is completed partly from
  // memory, partly from what is read back, and checked as a whole.
  const std::vector<uint8_t> image = Image(8192, 8);
  for (int corrupt = 0; corrupt < 2; corrupt++) {
    Model m(image);
    if (corrupt) m.held[3000] ^= 0x80;
    Extents e(image);
    DigestFollower f = m.Follower();
    f.Commit(e.Data(2500, 5692), 1);
    f.Commit(e.Data(0, 2500), 2);
    if (corrupt) {
      EXPECT_EQ(std::nullopt, f.Finish());
      EXPECT_NE(std::string::npos, f.gave_up().find("in the page at offset 0")) << f.gave_up();
    } else {
      EXPECT_EQ(Of(image), f.Finish());
      ASSERT_EQ(2u, m.checks.size());
      EXPECT_EQ((std::pair<uint64_t, uint64_t>{0, 4096}), m.checks[0]);
      EXPECT_EQ((std::pair<uint64_t, uint64_t>{4096, 4096}), m.checks[1]);
    }
  }
}

TEST(DigestFollowerTest, AFailedReadGivesUp) {
  const std::vector<uint8_t> image = Image(8192, 9);
  Model m(image);
  m.reads_fail = true;
  Extents e(image);
  DigestFollower f = m.Follower();
  f.Start();
  f.Commit(e.Data(4096, 4096), 1);
  f.Commit(e.Data(0, 4096), 2);
  EXPECT_EQ(std::nullopt, f.Finish());
  EXPECT_NE(std::string::npos, f.gave_up().find("no destination could be read back at offset 4096"))
      << f.gave_up();
}

TEST(DigestFollowerTest, WithoutAReaderOutOfOrderGivesUp) {
  const std::vector<uint8_t> image = Image(8192, 10);
  Extents e(image);
  DigestFollower f(image.size(), nullptr, nullptr);
  f.Start();
  f.Commit(e.Data(4096, 4096), 1);
  f.Commit(e.Data(0, 4096), 2);
  EXPECT_EQ(std::nullopt, f.Finish());
  EXPECT_NE(std::string::npos, f.gave_up().find("out of order")) << f.gave_up();
}

// Every byte committed exactly once, in random pieces, in random order,
// some as zero extents, sizes not multiples of a page: always the image's
// digest, and reading back only what did not come in order.
TEST(DigestFollowerTest, RandomOrdersGiveTheImagesDigest) {
  std::mt19937 rng(11);
  for (int round = 0; round < 40; round++) {
    const uint64_t size = 1 + rng() % (3 << 20);
    std::vector<uint8_t> image = Image(size, round);
    std::vector<std::pair<uint64_t, uint64_t>> pieces;
    for (uint64_t pos = 0; pos < size;) {
      const uint64_t n = std::min<uint64_t>(size - pos, 1 + rng() % (256 << 10));
      if (rng() % 5 == 0) std::fill(image.begin() + pos, image.begin() + pos + n, 0);
      pieces.push_back({pos, n});
      pos += n;
    }
    // Mostly in order, with pieces moved earlier, as parallel clients do.
    for (size_t i = 0; i < pieces.size(); i++)
      if (rng() % 3 == 0) std::swap(pieces[i], pieces[rng() % pieces.size()]);
    Model m(image);
    Extents e(image);
    DigestFollower f = m.Follower();
    if (round % 2) f.Start();
    uint64_t seq = 0;
    for (const auto& [off, n] : pieces) {
      const bool zero = std::all_of(image.begin() + off, image.begin() + off + n,
                                    [](uint8_t b) { return b == 0; });
      f.Commit(zero ? Extent::Zero(off, n) : e.Data(off, n), ++seq);
    }
    ASSERT_EQ(Of(image), f.Finish()) << "round " << round << ": " << f.gave_up();
    EXPECT_EQ(size, f.bytes_from_memory() + f.bytes_read_back());
    uint64_t read = 0;
    for (const auto& r : m.reads) read += r.second;
    EXPECT_EQ(read, f.bytes_read_back());
  }
}

// A terabyte of zeros (the zero-fill at the end of a large export) takes
// many minutes to hash; abandoned, the follower stops within a piece and
// gives no digest.  So does one told that nobody can hold the image.
TEST(DigestFollowerTest, AbandonStopsHashingALongRunOfZeros) {
  testing_support::Watchdog watchdog(std::chrono::seconds(20));
  DigestFollower f(1ull << 40, nullptr, nullptr);
  f.Start();
  f.Commit(Extent::Zero(0, 1ull << 40), 1);
  f.Abandon("the run was interrupted");
  EXPECT_EQ(std::nullopt, f.Finish());
  EXPECT_EQ("the run was interrupted", f.gave_up());

  DigestFollower g(1ull << 40, nullptr, nullptr);
  g.set_still_needed([] { return false; });
  g.Start();
  g.Commit(Extent::Zero(0, 1ull << 40), 1);
  EXPECT_EQ(std::nullopt, g.Finish());
  EXPECT_EQ("no destination can hold the image (every one failed)", g.gave_up());
}

}  // namespace
}  // namespace fanout
