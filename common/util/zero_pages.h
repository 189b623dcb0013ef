// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Zero pages (detect-zeroes=): the parts of a client's write that are
// whole pages of zeros, aligned to the export's page boundaries, so that
// the engine can hand them on as zero requests (holes in files, no window
// memory) and the rest as data.
//
// Random data must cost nothing measurable: each page is given up at its
// first non-zero byte, which for random data is in its first word.
#ifndef FANOUT_UTIL_ZERO_PAGES_H
#define FANOUT_UTIL_ZERO_PAGES_H

#include <cstdint>
#include <vector>

namespace fanout {

// One piece of a write: [start, end) in export offsets.
struct WritePiece {
  uint64_t start;
  uint64_t end;
  bool zero;  // whole aligned pages of zeros
};

// True if the n bytes at p are all zero.
bool AllZero(const uint8_t* p, uint64_t n);

// Cuts the write of buf to [offset, offset + length) into consecutive
// pieces that cover it: runs of whole aligned zero pages (zero), and what
// lies between them (data; partial pages at either end are always data).
// Adjacent pieces differ in kind.  A write with no zero page is one data
// piece.
std::vector<WritePiece> SplitZeroPages(const uint8_t* buf, uint64_t length, uint64_t offset);

}  // namespace fanout

#endif  // FANOUT_UTIL_ZERO_PAGES_H
