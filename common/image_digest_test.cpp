// Tests for the image's SHA-256: the bare digest against known values, and
// the in-order digest giving up (never a wrong digest) when extents do not
// arrive in order.

#include "image_digest.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fanout {
namespace {

std::string Of(const std::vector<uint8_t>& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return sha.FinalHex();
}

TEST(Sha256Test, KnownValues) {
  Sha256 empty;
  EXPECT_EQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", empty.FinalHex());
  EXPECT_EQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            Of({'a', 'b', 'c'}));
}

TEST(Sha256Test, ZerosWithoutAllocating) {
  const uint64_t n = (3 << 20) + 17;  // more than the zero block, and ragged
  Sha256 sha;
  sha.UpdateZeros(n);
  EXPECT_EQ(Of(std::vector<uint8_t>(n, 0)), sha.FinalHex());
}

std::vector<uint8_t> Image(size_t size) {
  std::vector<uint8_t> v(size);
  for (size_t i = 0; i < size; i++) v[i] = static_cast<uint8_t>(i * 31 + 7);
  return v;
}

TEST(StreamDigestTest, InOrderDataAndZerosIsTheImage) {
  std::vector<uint8_t> image = Image(10000);
  std::fill(image.begin() + 3000, image.begin() + 7000, 0);
  StreamDigest d(image.size());
  d.Apply(0, 3000, image.data());
  d.Apply(3000, 4000, nullptr);
  d.Apply(7000, 3000, image.data() + 7000);
  EXPECT_FALSE(d.abandoned());
  EXPECT_EQ(Of(image), d.Final());
}

TEST(StreamDigestTest, ALateExtentGivesUp) {
  const std::vector<uint8_t> image = Image(8192);
  StreamDigest d(image.size());
  d.Apply(0, 4096, image.data());
  d.Apply(512, 512, image.data() + 512);  // behind: even the same bytes
  d.Apply(4096, 4096, image.data() + 4096);
  EXPECT_TRUE(d.abandoned());
  EXPECT_EQ(std::nullopt, d.Final());
}

TEST(StreamDigestTest, AGapOrAShortImageGivesNoDigest) {
  const std::vector<uint8_t> image = Image(8192);
  StreamDigest gap(image.size());
  gap.Apply(4096, 4096, image.data() + 4096);
  EXPECT_EQ(std::nullopt, gap.Final());
  StreamDigest shorter(image.size());
  shorter.Apply(0, 4096, image.data());
  EXPECT_FALSE(shorter.abandoned());
  EXPECT_EQ(std::nullopt, shorter.Final());
}

}  // namespace
}  // namespace fanout
