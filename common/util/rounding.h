// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// The page and the sector, and rounding to them, in the manner of nbdkit's
// common/include/rounding.h.
//
// kPageSize is the unit of everything the engine aligns: the buffer pool's
// buffers, O_DIRECT offsets, lengths and memory (4096 suits every device
// and file system Linux has), the page hashes, and the smallest window.
// kSectorSize is what BLKZEROOUT requires.
#ifndef FANOUT_UTIL_ROUNDING_H
#define FANOUT_UTIL_ROUNDING_H

#include <cstdint>

namespace fanout {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kSectorSize = 512;

// REQUIRES: unit is a power of 2.
constexpr uint64_t RoundDown(uint64_t n, uint64_t unit) {
  return n & ~(unit - 1);
}
constexpr uint64_t RoundUp(uint64_t n, uint64_t unit) {
  return RoundDown(n + unit - 1, unit);
}
constexpr bool IsAligned(uint64_t n, uint64_t unit) {
  return (n & (unit - 1)) == 0;
}
// How many units n bytes take, the last perhaps part full.  Any unit > 0.
constexpr uint64_t DivRoundUp(uint64_t n, uint64_t unit) {
  return (n + unit - 1) / unit;
}

}  // namespace fanout

#endif  // FANOUT_UTIL_ROUNDING_H
