// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "util/zero_pages.h"

#include <cstring>

#include "util/rounding.h"

namespace fanout {

bool AllZero(const uint8_t* p, uint64_t n) {
  if (n == 0) return true;
  // The first word decides for random data; then memcmp against itself
  // shifted by one byte compares every byte with its neighbour, which is
  // zero throughout only if all are (libc compares whole words).
  uint64_t head = 0;
  memcpy(&head, p, n < sizeof head ? n : sizeof head);
  if (head != 0) return false;
  return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

std::vector<WritePiece> SplitZeroPages(const uint8_t* buf, uint64_t length, uint64_t offset) {
  std::vector<WritePiece> pieces;
  const uint64_t end = offset + length;
  const uint64_t first = RoundUp(offset, kPageSize);
  const uint64_t last = RoundDown(end, kPageSize);
  auto add = [&](uint64_t start, uint64_t stop, bool zero) {
    if (start == stop) return;
    if (!pieces.empty() && pieces.back().zero == zero && pieces.back().end == start)
      pieces.back().end = stop;
    else
      pieces.push_back(WritePiece{start, stop, zero});
  };
  const uint64_t head_end = first < end ? first : end;
  add(offset, head_end, false);
  for (uint64_t page = first; page < last; page += kPageSize)
    add(page, page + kPageSize, AllZero(buf + (page - offset), kPageSize));
  add(last > head_end ? last : head_end, end, false);
  return pieces;
}

}  // namespace fanout
