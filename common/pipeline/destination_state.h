// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// DestinationState: where a destination's writer is in its life, and what
// a failed one records.  Its own header, so that what reports states (the
// snapshot, verification) needs no writer.
#ifndef FANOUT_PIPELINE_DESTINATION_STATE_H
#define FANOUT_PIPELINE_DESTINATION_STATE_H

#include <cstdint>
#include <string>

namespace fanout {

// After kDone, verify= moves a seekable destination on through kVerifying
// to kVerified, kMismatch (its bytes differ from the image) or
// kUnverifiable (some page's expected content could not be known; see
// page_hashes.h).  The last two count as failures.  kIncomplete: the run
// was interrupted (Writer::Interrupt) before this destination was proven to
// hold the whole image; a failure too.
enum class DestinationState {
  kWriting,
  kDone,
  kFailed,
  kVerifying,
  kVerified,
  kRepaired,  // verify=repair: it differed in some pages, rewritten and verified again
  kMismatch,
  kUnverifiable,
  kIncomplete
};
const char* StateName(DestinationState state);

// What a failed destination records.
struct Failure {
  int err = 0;          // errno value (EPIPE, ENOSPC, EIO, ...)
  uint64_t offset = 0;  // of the operation that failed
  std::string message;  // one line, naming the destination
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_DESTINATION_STATE_H
