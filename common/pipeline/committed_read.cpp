// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/committed_read.h"

#include <algorithm>
#include <cstring>

namespace fanout {

bool ReadCommitted(const std::vector<std::shared_ptr<Writer>>& writers,
                   const std::vector<ByteRange>& backing, const std::vector<Extent>& overlay,
                   uint8_t* buf, uint64_t offset, Logger* log) {
  for (const auto& w : writers) {
    // A laggard (lag=) holds less than the bus assumes until it catches up.
    if (!w->healthy() || !w->destination()->seekable() || !w->in_step()) continue;
    const uint64_t demotions = w->demotions();
    Status s;
    for (const ByteRange& r : backing) {
      s = w->destination()->Read(buf + (r.start - offset), r.end - r.start, r.start);
      if (!s.ok()) break;
      for (const Extent& e : overlay) {
        const uint64_t a = std::max(e.offset, r.start), b = std::min(e.end(), r.end);
        if (a >= b) continue;
        if (e.is_zero())
          memset(buf + (a - offset), 0, b - a);
        else
          memcpy(buf + (a - offset), e.bytes() + (a - e.offset), b - a);
      }
    }
    // A destination that failed meanwhile may hold less than the bus
    // assumed: try the next one.
    if (s.ok() && w->healthy() && w->in_step() && w->demotions() == demotions) return true;
    if (!s.ok()) log->Error(s.message());
  }
  return false;
}

}  // namespace fanout
