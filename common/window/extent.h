// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Extent: one piece of the export's final content on its way to the
// destinations: {offset, length, data | zeroes}.
//
// A data extent points into a pool buffer that it shares (by reference
// count) with the window and with every destination writer: the client's
// bytes are copied once, into the buffer, and every destination writes from
// there.  A zero extent carries no memory at all.
#ifndef FANOUT_WINDOW_EXTENT_H
#define FANOUT_WINDOW_EXTENT_H

#include <cstdint>
#include <memory>
#include <string>

#include "window/buffer_pool.h"

namespace fanout {

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  // Null for a zero extent.  Otherwise the extent's bytes are
  // buffer->data()[buffer_offset, buffer_offset + length).
  std::shared_ptr<const Buffer> buffer;
  size_t buffer_offset = 0;
  // Set for a late extent: one behind the commit point, which streams have
  // already passed.  Seekable destinations perform it as usual; a stream
  // destination fails with this message (it names the window= needed).
  std::shared_ptr<const std::string> late;
  // A zero extent that is a hole (holes=skip, hole_map.h): the client
  // zeroed or trimmed it, or never wrote it.  A block device that skips
  // holes leaves it as it is; everything else zeroes it.
  bool hole = false;

  bool is_zero() const { return buffer == nullptr; }
  uint64_t end() const { return offset + length; }
  const uint8_t* bytes() const { return buffer->data() + buffer_offset; }

  static Extent Zero(uint64_t offset, uint64_t length) {
    return Extent{offset, length, nullptr, 0, nullptr, false};
  }
  static Extent Data(uint64_t offset, uint64_t length, std::shared_ptr<const Buffer> buffer,
                     size_t buffer_offset) {
    return Extent{offset, length, std::move(buffer), buffer_offset, nullptr, false};
  }
};

}  // namespace fanout

#endif  // FANOUT_WINDOW_EXTENT_H
