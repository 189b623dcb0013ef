#include "util/range_map.h"

#include <cassert>

namespace fanout {

void RangeMap::Erase(uint64_t start, uint64_t end) {
  if (start >= end) return;
  // The first range that could overlap starts at or before start.
  auto it = ranges_.upper_bound(start);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > start) it = prev;
  }
  while (it != ranges_.end() && it->first < end) {
    const uint64_t s = it->first;
    const Tail t = it->second;
    it = ranges_.erase(it);
    if (s < start) ranges_.emplace(s, Tail{start, t.value});
    if (t.end > end) {
      ranges_.emplace(end, Tail{t.end, t.value});
      break;
    }
  }
}

void RangeMap::Set(uint64_t start, uint64_t end, int value) {
  assert(start <= end);
  if (start == end) return;
  Erase(start, end);
  // Merge with an equal neighbour on either side.
  auto next = ranges_.find(end);
  if (next != ranges_.end() && next->second.value == value) {
    end = next->second.end;
    ranges_.erase(next);
  }
  auto it = ranges_.lower_bound(start);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end == start && prev->second.value == value) {
      prev->second.end = end;
      return;
    }
  }
  ranges_.emplace(start, Tail{end, value});
}

bool RangeMap::StartingAt(uint64_t start, Range* out) const {
  auto it = ranges_.find(start);
  if (it == ranges_.end()) return false;
  *out = Range{it->first, it->second.end, it->second.value};
  return true;
}

void RangeMap::ForEach(uint64_t start, uint64_t end,
                       const std::function<void(const Range&)>& fn) const {
  if (start >= end) return;
  auto it = ranges_.upper_bound(start);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > start) it = prev;
  }
  for (; it != ranges_.end() && it->first < end; ++it) {
    Range r{std::max(it->first, start), std::min(it->second.end, end), it->second.value};
    fn(r);
  }
}

void RangeMap::ForEachGap(uint64_t start, uint64_t end,
                          const std::function<void(uint64_t, uint64_t)>& fn) const {
  uint64_t pos = start;
  ForEach(start, end, [&](const Range& r) {
    if (r.start > pos) fn(pos, r.start);
    pos = r.end;
  });
  if (pos < end) fn(pos, end);
}

bool RangeMap::Covers(uint64_t start, uint64_t end, int value) const {
  uint64_t pos = start;
  bool ok = true;
  ForEach(start, end, [&](const Range& r) {
    if (r.start != pos || r.value != value) ok = false;
    pos = r.end;
  });
  return ok && pos >= end;
}

bool RangeMap::Intersects(uint64_t start, uint64_t end) const {
  bool any = false;
  ForEach(start, end, [&](const Range&) { any = true; });
  return any;
}

}  // namespace fanout
