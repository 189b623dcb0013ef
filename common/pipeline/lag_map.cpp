// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/lag_map.h"

#include <algorithm>
#include <cassert>

#include "util/rounding.h"

namespace fanout {

uint64_t LagMap::BytesIn(uint64_t offset, uint64_t length) const {
  uint64_t held = 0;
  map_.ForEach(offset, offset + length, [&](const RangeMap::Range& r) { held += r.end - r.start; });
  return held;
}

uint64_t LagMap::BytesAfterAdd(uint64_t offset, uint64_t length) const {
  return bytes_ - BytesIn(offset, length) + length;
}

void LagMap::Coarsen(uint64_t export_size) {
  export_size_ = export_size;
  granule_ = std::max<uint64_t>(1 << 20, RoundUp(export_size / kMaxRanges, kPageSize));
}

void LagMap::Add(uint64_t offset, uint64_t length, Content content) {
  if (length == 0) return;
  if (granule_ != 0 && map_.size() >= kMaxRanges) {
    const uint64_t missed_end = offset + length;
    const uint64_t end =
        std::max(std::min(RoundUp(missed_end, granule_), export_size_), missed_end);
    offset = RoundDown(offset, granule_);
    length = end - offset;
    content = Content::kData;
  }
  bytes_ = BytesAfterAdd(offset, length);
  map_.Set(offset, offset + length, content);
}

uint64_t LagMap::first() const {
  RangeMap::Range r{};
  const bool found = map_.First(&r);
  assert(found);
  (void)found;
  return r.start;
}

bool LagMap::TakeFirst(uint64_t max_data, uint64_t max_zero, Range* out) {
  assert(max_data > 0 && max_zero > 0);
  RangeMap::Range r{};
  if (!map_.First(&r)) return false;
  const uint64_t limit = r.value == Content::kData ? max_data : max_zero;
  const uint64_t end = r.end - r.start <= limit ? r.end : r.start + limit;
  *out = Range{r.start, end - r.start, r.value};
  map_.Erase(r.start, end);
  bytes_ -= end - r.start;
  return true;
}

void LagMap::Clear() {
  map_.Clear();
  bytes_ = 0;
}

}  // namespace fanout
