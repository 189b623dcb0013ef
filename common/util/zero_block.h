// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// kZeroBlock: one read-only block of zeros, page-aligned (so that an
// O_DIRECT write may take it as it is), for everything that writes, sends
// or hashes zeros without allocating them: in pieces of at most
// kZeroBlockSize bytes.
#ifndef FANOUT_UTIL_ZERO_BLOCK_H
#define FANOUT_UTIL_ZERO_BLOCK_H

#include <cstddef>
#include <cstdint>

#include "util/rounding.h"

namespace fanout {

inline constexpr size_t kZeroBlockSize = 1 << 20;
alignas(kPageSize) extern const uint8_t kZeroBlock[kZeroBlockSize];

}  // namespace fanout

#endif  // FANOUT_UTIL_ZERO_BLOCK_H
