// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for the image's SHA-256: the bare digest against known values.
// (digest_follower_test.cpp has the digest taken while the image is written.)

#include "integrity/sha256.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fanout {
namespace {

// The SHA-256 of bytes, at once.
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

}  // namespace
}  // namespace fanout
