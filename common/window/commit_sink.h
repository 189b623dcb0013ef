// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// CommitSink: where the window sends what it commits.
#ifndef FANOUT_WINDOW_COMMIT_SINK_H
#define FANOUT_WINDOW_COMMIT_SINK_H

#include "window/extent.h"

namespace fanout {

// The engine's implementation publishes on the bus; the unit tests record.
class CommitSink {
 public:
  virtual ~CommitSink() = default;
  // Called with the window's lock held, in commit order.  May block
  // (back-pressure).
  virtual void Commit(Extent extent) = 0;
};

}  // namespace fanout

#endif  // FANOUT_WINDOW_COMMIT_SINK_H
