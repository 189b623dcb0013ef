// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "window/hole_map.h"

#include <cstring>

namespace fanout {

void HoleMap::ZeroHoles(uint8_t* buf, uint64_t start, uint64_t end) const {
  written_.ForEachGap(start, end,
                      [&](uint64_t a, uint64_t b) { memset(buf + (a - start), 0, b - a); });
}

void HoleMap::Classify(Extent extent, std::vector<Extent>* out) const {
  if (!extent.is_zero()) {
    out->push_back(std::move(extent));
    return;
  }
  // Alternating pieces: the written ones (not holes) and the gaps between
  // them (holes), in order.
  uint64_t at = extent.offset;
  auto piece = [&](uint64_t start, uint64_t end, bool hole) {
    Extent e = Extent::Zero(start, end - start);
    e.late = extent.late;
    e.hole = hole;
    out->push_back(std::move(e));
  };
  written_.ForEach(extent.offset, extent.end(), [&](const RangeMap::Range& r) {
    if (r.start > at) piece(at, r.start, true);
    piece(r.start, r.end, false);
    at = r.end;
  });
  if (at < extent.end()) piece(at, extent.end(), true);
}

}  // namespace fanout
