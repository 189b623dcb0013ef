// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// RunResult: what Engine::Finish() returns, and so nbdkit's exit status,
// from the final snapshot.  A run succeeds only if every destination holds
// the image and the status file says so.
#ifndef FANOUT_REPORT_RUN_RESULT_H
#define FANOUT_REPORT_RUN_RESULT_H

#include <string>

#include "report/snapshot.h"
#include "util/status.h"

namespace fanout {

// window: the window's end of stream (it fails when it lost bytes a client
// wrote, spill=); interrupted_reason: empty unless the run was
// interrupted; status_written: the final status file's write.
Status RunResult(const Snapshot& snap, const Status& window, const std::string& interrupted_reason,
                 const Status& status_written);

}  // namespace fanout

#endif  // FANOUT_REPORT_RUN_RESULT_H
