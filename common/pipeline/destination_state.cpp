// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/destination_state.h"

namespace fanout {

const char* StateName(DestinationState state) {
  switch (state) {
    case DestinationState::kWriting:
      return "writing";
    case DestinationState::kDone:
      return "done";
    case DestinationState::kFailed:
      return "failed";
    case DestinationState::kVerifying:
      return "verifying";
    case DestinationState::kVerified:
      return "verified";
    case DestinationState::kRepaired:
      return "repaired";
    case DestinationState::kMismatch:
      return "mismatch";
    case DestinationState::kUnverifiable:
      return "unverifiable";
    case DestinationState::kIncomplete:
      return "incomplete";
  }
  return "?";
}

}  // namespace fanout
