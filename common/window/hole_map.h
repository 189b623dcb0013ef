// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// HoleMap (holes=skip): which of the export's bytes are holes, that is,
// bytes whose last request from the client was a zero or a trim, or that
// the client never wrote.  Everything else was written as data (zeros the
// client wrote as data included, detect-zeroes= or not: a file system may
// rely on them).
//
// The window commits zeros without saying why (a zero request, a gap, the
// end-of-stream fill, detected zero pages); Classify() cuts each committed
// zero extent into the parts that are holes and the parts that are not,
// so that a block device that skips holes (bmaptool's mode) leaves exactly
// the holes alone.  It is asked at commit time, under the same lock as the
// requests that change it, so it answers for the content the extent
// carries.
//
// Not thread-safe: the engine's lock protects it while requests come;
// after the stream ended it is only read.
#ifndef FANOUT_WINDOW_HOLE_MAP_H
#define FANOUT_WINDOW_HOLE_MAP_H

#include <cstdint>
#include <functional>
#include <vector>

#include "util/range_map.h"
#include "window/extent.h"

namespace fanout {

class HoleMap {
 public:
  // The client wrote [start, end) as data.
  void Written(uint64_t start, uint64_t end) { written_.Set(start, end, Content::kData); }
  // The client zeroed or trimmed [start, end).
  void Zeroed(uint64_t start, uint64_t end) { written_.Erase(start, end); }

  // Appends extent to out, a zero extent cut into pieces with hole set on
  // those that are holes; a data extent as it is.
  void Classify(Extent extent, std::vector<Extent>* out) const;

  // Calls fn(start, end) for every hole in [start, end), in order.
  void ForEachHole(uint64_t start, uint64_t end,
                   const std::function<void(uint64_t, uint64_t)>& fn) const {
    written_.ForEachGap(start, end, fn);
  }
  // Zeroes the holes in buf, which holds [start, end) of a destination
  // that skipped them: it then holds the image's bytes there.
  void ZeroHoles(uint8_t* buf, uint64_t start, uint64_t end) const;
  // True if some byte of [start, end) was written as data.
  bool AnyWritten(uint64_t start, uint64_t end) const { return written_.Intersects(start, end); }
  // The ranges it keeps (its memory: about 64 bytes each).
  size_t ranges() const { return written_.size(); }

 private:
  RangeMap written_;  // kData where written as data; holes are its gaps
};

}  // namespace fanout

#endif  // FANOUT_WINDOW_HOLE_MAP_H
