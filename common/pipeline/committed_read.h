// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// ReadCommitted: a client read of bytes the window no longer holds.  They
// are on the destinations, or still on the bus on their way there: read
// from a healthy seekable destination, with what is still on the bus laid
// over it, the result is never older than the window.
#ifndef FANOUT_PIPELINE_COMMITTED_READ_H
#define FANOUT_PIPELINE_COMMITTED_READ_H

#include <cstdint>
#include <memory>
#include <vector>

#include "pipeline/writer.h"
#include "util/logger.h"
#include "window/extent.h"
#include "window/window.h"

namespace fanout {

// Fills the ranges `backing` of buf (which holds [offset, ...)) from the
// first healthy seekable destination that can read them all, then lays
// `overlay` (the bus's extents over the read, taken before it began) over
// them.  A destination whose read fails (logged) or that fails meanwhile
// is passed over for the next.  False if none could.
bool ReadCommitted(const std::vector<std::shared_ptr<Writer>>& writers,
                   const std::vector<ByteRange>& backing, const std::vector<Extent>& overlay,
                   uint8_t* buf, uint64_t offset, Logger* log);

}  // namespace fanout

#endif  // FANOUT_PIPELINE_COMMITTED_READ_H
