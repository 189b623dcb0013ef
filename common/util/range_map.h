// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// RangeMap: a set of disjoint half-open byte ranges [start, end), each with a
// small value: what those bytes hold (Content: data or zeros).
//
// The window uses it for what each chunk holds and what it has committed,
// the digest follower for what was committed beyond the part it has hashed,
// the page hashes for which bytes of a page they hold.  Setting a range
// overwrites whatever values overlapped it; adjacent ranges with equal values
// are merged, so that the map stays as small as the write pattern allows.
//
// BasicRangeMap is the same for any value that compares equal (the unit
// tests use int).
//
// Not thread-safe: the owner's lock protects it.
#ifndef FANOUT_UTIL_RANGE_MAP_H
#define FANOUT_UTIL_RANGE_MAP_H

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>

namespace fanout {

// What a range of the export holds: bytes a client wrote, or zeros (a zero
// or trim request).
enum class Content : uint8_t { kData = 1, kZero = 2 };

template <typename Value>
class BasicRangeMap {
 public:
  struct Range {
    uint64_t start;
    uint64_t end;
    Value value;
  };

  // Gives [start, end) the value, replacing what overlapped.  REQUIRES: start <= end.
  void Set(uint64_t start, uint64_t end, Value value);
  // Removes [start, end) from the map.
  void Erase(uint64_t start, uint64_t end);
  void Clear() { ranges_.clear(); }

  // Calls fn for every stored piece of [start, end), clipped to it, in order.
  void ForEach(uint64_t start, uint64_t end, const std::function<void(const Range&)>& fn) const;
  // Calls fn for every gap (part of [start, end) with no value), in order.
  void ForEachGap(uint64_t start, uint64_t end,
                  const std::function<void(uint64_t, uint64_t)>& fn) const;
  // True if every byte of [start, end) has the value.
  bool Covers(uint64_t start, uint64_t end, Value value) const;
  // True if any byte of [start, end) has a value.
  bool Intersects(uint64_t start, uint64_t end) const;
  // The stored piece that begins exactly at start, if there is one.
  bool StartingAt(uint64_t start, Range* out) const;
  // The lowest stored range, if the map is not empty.
  bool First(Range* out) const;

  bool empty() const { return ranges_.empty(); }
  size_t size() const { return ranges_.size(); }

 private:
  // start -> (end, value); disjoint; adjacent entries have different values.
  struct Tail {
    uint64_t end;
    Value value;
  };
  std::map<uint64_t, Tail> ranges_;
};

using RangeMap = BasicRangeMap<Content>;

template <typename Value>
void BasicRangeMap<Value>::Erase(uint64_t start, uint64_t end) {
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

template <typename Value>
void BasicRangeMap<Value>::Set(uint64_t start, uint64_t end, Value value) {
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

template <typename Value>
bool BasicRangeMap<Value>::StartingAt(uint64_t start, Range* out) const {
  auto it = ranges_.find(start);
  if (it == ranges_.end()) return false;
  *out = Range{it->first, it->second.end, it->second.value};
  return true;
}

template <typename Value>
bool BasicRangeMap<Value>::First(Range* out) const {
  if (ranges_.empty()) return false;
  auto it = ranges_.begin();
  *out = Range{it->first, it->second.end, it->second.value};
  return true;
}

template <typename Value>
void BasicRangeMap<Value>::ForEach(uint64_t start, uint64_t end,
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

template <typename Value>
void BasicRangeMap<Value>::ForEachGap(uint64_t start, uint64_t end,
                                      const std::function<void(uint64_t, uint64_t)>& fn) const {
  uint64_t pos = start;
  ForEach(start, end, [&](const Range& r) {
    if (r.start > pos) fn(pos, r.start);
    pos = r.end;
  });
  if (pos < end) fn(pos, end);
}

template <typename Value>
bool BasicRangeMap<Value>::Covers(uint64_t start, uint64_t end, Value value) const {
  uint64_t pos = start;
  bool ok = true;
  ForEach(start, end, [&](const Range& r) {
    if (r.start != pos || r.value != value) ok = false;
    pos = r.end;
  });
  return ok && pos >= end;
}

template <typename Value>
bool BasicRangeMap<Value>::Intersects(uint64_t start, uint64_t end) const {
  bool any = false;
  ForEach(start, end, [&](const Range&) { any = true; });
  return any;
}

}  // namespace fanout

#endif  // FANOUT_UTIL_RANGE_MAP_H
