// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Reporter: a thread that shows the run while it goes: the status file at
// least once a second, the progress bars a few times a second on a terminal
// (a plain line every few seconds elsewhere).  Stop() writes both one last
// time.  It sleeps on a condition variable between ticks: no busy loop.
#ifndef FANOUT_REPORT_REPORTER_H
#define FANOUT_REPORT_REPORTER_H

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "report/progress.h"
#include "report/snapshot.h"
#include "util/logger.h"
#include "util/mutex.h"
#include "util/status.h"

namespace fanout {

class Reporter {
 public:
  // status_file: "" for none.  progress: null for none.
  Reporter(std::function<Snapshot()> take, std::string status_file,
           std::unique_ptr<ProgressDisplay> progress, bool terminal, Logger* log);
  ~Reporter();  // Stop()s

  void Start();
  // The display, for printing lines above it; null without progress=.
  ProgressDisplay* display() const { return progress_.get(); }
  // Writes the final snapshot to the status file and the display, and ends
  // the thread.  Returns whether the final status file was written: if
  // not, the status file does not tell how the run ended, and the run must
  // not look successful.  Later calls return OK and do nothing.
  Status Stop(const Snapshot& final_snapshot);

 private:
  void Run();
  // Writes the status file (if any); the first error is logged once.
  Status UpdateStatusFile(const Snapshot& snap);

  const std::function<Snapshot()> take_;
  const std::string status_file_;
  const std::unique_ptr<ProgressDisplay> progress_;
  const bool terminal_;
  Logger* const log_;
  std::thread thread_;
  Mutex mu_;
  CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;  // Stop() was called
  bool status_error_ = false;             // reported once; reporter thread only
};

}  // namespace fanout

#endif  // FANOUT_REPORT_REPORTER_H
