// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// LagMap: what a lagging destination has missed (lag=), as ranges of the
// export, each holding data or zeros: DRBD's resync bitmap, at byte
// granularity.  The lag is tracked as ranges, never held as data, so a
// destination may fall as far behind as lag= says without costing memory.
//
// A range the client rewrites before the laggard has caught up with it just
// stays in the map (with its newer content: a zero over data becomes a
// zero).  Catching up takes the lowest range first, so a stream laggard is
// fed in order.
//
// Data ranges are copied from a catch-up source once the source has
// applied every extent committed so far (Bus::TakeLagged hands out the bus
// sequence to wait for); zero ranges need no source.
//
// Not thread-safe: the bus's lock protects it.
#ifndef FANOUT_PIPELINE_LAG_MAP_H
#define FANOUT_PIPELINE_LAG_MAP_H

#include <cstdint>

#include "util/range_map.h"

namespace fanout {

class LagMap {
 public:
  // The most ranges a coarse map keeps fine-grained (see Coarsen()).
  static constexpr size_t kMaxRanges = 1 << 16;

  struct Range {
    uint64_t offset = 0;
    uint64_t length = 0;
    Content content = Content::kData;
    uint64_t end() const { return offset + length; }
  };

  // A seekable laggard's map (a stream's must stay exact: it is fed in
  // order, zeros from nothing): once it holds kMaxRanges ranges, what is
  // added is widened to whole granules of max(1 MiB, export_size /
  // kMaxRanges) bytes, clipped to the export, as data, so that a client
  // scattering millions of tiny writes costs a bounded map.  Copying more
  // than was missed is harmless: a source holds the image there too.
  void Coarsen(uint64_t export_size);

  // The laggard missed [offset, offset + length), which now holds content.
  void Add(uint64_t offset, uint64_t length, Content content);
  // Takes the lowest range out of the map: at most max_data bytes of it if
  // it is data, max_zero if zeros.  Returns false if the map is empty.
  // REQUIRES: max_data > 0, max_zero > 0.
  bool TakeFirst(uint64_t max_data, uint64_t max_zero, Range* out);
  // The lowest offset the map holds.  REQUIRES: !empty().
  uint64_t first() const;
  void Clear();

  bool empty() const { return map_.empty(); }
  // Bytes of the export the map holds (data and zeros): how far behind the
  // laggard is.
  uint64_t bytes() const { return bytes_; }
  // Bytes the map would hold after Add(offset, length, ...).
  uint64_t BytesAfterAdd(uint64_t offset, uint64_t length) const;
  // Bytes of [offset, offset + length) the map holds.
  uint64_t BytesIn(uint64_t offset, uint64_t length) const;

 private:
  RangeMap map_;
  uint64_t bytes_ = 0;
  uint64_t granule_ = 0;  // 0: exact (see Coarsen())
  uint64_t export_size_ = 0;
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_LAG_MAP_H
