// RangeMap: a set of disjoint half-open byte ranges [start, end), each with a
// small value (for example "data" or "zero"), kept merged.
//
// The window uses it for what each chunk holds, the engine for which parts of
// the export have been written to the destinations.  Setting a range
// overwrites whatever values overlapped it; adjacent ranges with equal values
// are merged so the map stays as small as the write pattern allows.
//
// Not thread-safe: the owner's lock protects it.
#ifndef FANOUT_UTIL_RANGE_MAP_H
#define FANOUT_UTIL_RANGE_MAP_H

#include <cstdint>
#include <functional>
#include <map>

namespace fanout {

class RangeMap {
 public:
  struct Range {
    uint64_t start;
    uint64_t end;
    int value;
  };

  // Gives [start, end) the value, replacing what overlapped.  REQUIRES: start <= end.
  void Set(uint64_t start, uint64_t end, int value);
  // Removes [start, end) from the map.
  void Erase(uint64_t start, uint64_t end);
  void Clear() { ranges_.clear(); }

  // Calls fn for every stored piece of [start, end), clipped to it, in order.
  void ForEach(uint64_t start, uint64_t end, const std::function<void(const Range&)>& fn) const;
  // Calls fn for every gap (part of [start, end) with no value), in order.
  void ForEachGap(uint64_t start, uint64_t end,
                  const std::function<void(uint64_t, uint64_t)>& fn) const;
  // True if every byte of [start, end) has the value.
  bool Covers(uint64_t start, uint64_t end, int value) const;
  // True if any byte of [start, end) has a value.
  bool Intersects(uint64_t start, uint64_t end) const;
  // The stored piece that begins exactly at start, if there is one.
  bool StartingAt(uint64_t start, Range* out) const;

  bool empty() const { return ranges_.empty(); }
  size_t size() const { return ranges_.size(); }

 private:
  // start -> (end, value); disjoint; adjacent entries have different values.
  struct Tail {
    uint64_t end;
    int value;
  };
  std::map<uint64_t, Tail> ranges_;
};

}  // namespace fanout

#endif  // FANOUT_UTIL_RANGE_MAP_H
