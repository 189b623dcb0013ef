// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "report/run_result.h"

#include <cerrno>

namespace fanout {

Status RunResult(const Snapshot& snap, const Status& window, const std::string& interrupted_reason,
                 const Status& status_written) {
  // The window could not hold what clients wrote (spill=): the
  // destinations miss it, and the run must not look successful.
  Status result = window;
  if (!interrupted_reason.empty())
    result = Status::IOError(EINTR, "interrupted: " + interrupted_reason + "; " +
                                        std::to_string(snap.failed()) + " of " +
                                        std::to_string(snap.destinations.size()) +
                                        " destinations incomplete or failed");
  if (result.ok() && snap.failed() > 0)
    result =
        Status::IOError(EIO, std::to_string(snap.failed()) + " of " +
                                 std::to_string(snap.destinations.size()) + " destinations failed");
  // A status file that does not say how the run ended (a full disk, say):
  // whoever watches it cannot tell, so the run must not look successful.
  if (result.ok() && !status_written.ok())
    result = Status::IOError(status_written.err(),
                             "the final status was not written: " + status_written.message());
  return result;
}

}  // namespace fanout
