// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "report/snapshot.h"

namespace fanout {

const char* RunStateName(RunState state) {
  switch (state) {
    case RunState::kRunning:
      return "running";
    case RunState::kFinishing:
      return "finishing";
    case RunState::kVerifying:
      return "verifying";
    case RunState::kFinished:
      return "finished";
    case RunState::kInterrupted:
      return "interrupted";
  }
  return "?";
}

size_t Snapshot::failed() const {
  size_t n = 0;
  for (const DestinationSnapshot& d : destinations)
    if (d.state == DestinationState::kFailed || d.state == DestinationState::kMismatch ||
        d.state == DestinationState::kUnverifiable || d.state == DestinationState::kIncomplete)
      n++;
  return n;
}

}  // namespace fanout
