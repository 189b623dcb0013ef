// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "util/zero_block.h"

namespace fanout {

alignas(kPageSize) const uint8_t kZeroBlock[kZeroBlockSize] = {};

}  // namespace fanout
