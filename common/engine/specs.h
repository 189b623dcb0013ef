// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// What each component of the engine is given, from the parameters: how
// files are written, the failure policy, the image's integrity, and the
// window's shape with the memory behind it (how many chunks it may hold,
// from window=, bucket= and spill=, and the pool that bounds them plus the
// buffers the bus may pin, buckets=).  The pool is the hard bound on the
// engine's memory (see buffer_pool.h).
#ifndef FANOUT_ENGINE_SPECS_H
#define FANOUT_ENGINE_SPECS_H

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "dest/destination.h"
#include "integrity/image_integrity.h"
#include "pipeline/failure_policy.h"
#include "window/window.h"

namespace fanout {

// io=, cache=, direct=.
FileIoOptions FileIoOf(const Config& config);
// on-error=.
FailurePolicy::OnError OnErrorOf(const Config& config);
// verify= and sha256= for an export of `size` bytes; ordered: some
// destination is a stream.
ImageIntegrity::Spec IntegritySpecOf(const Config& config, uint64_t size, bool ordered);

// The window for an export of `size` bytes; ordered: some destination is
// a stream; spill: spill=DIR is open.
WindowConfig PlanWindow(const Config& config, uint64_t size, bool ordered, bool spill);
// Buffers in the pool: the window's chunks plus `buckets` on the bus.
size_t PoolBuffers(const Config& config, const WindowConfig& window);
// One line for the debug log: the size, the destinations, the mode, the
// pool and where the window spills.
std::string DescribePlan(const Config& config, const WindowConfig& window, size_t destinations);

}  // namespace fanout

#endif  // FANOUT_ENGINE_SPECS_H
