// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// ProgressDisplay: progress=true.  On a terminal, one live bar per
// destination (name, bar, bytes of size, rate, ETA, state; a failed one
// shows why), redrawn in place.  Elsewhere (a log file, CI), one plain line
// per destination each time Print() is called.
//
// Thread-safe: the reporter thread draws, and any thread may print a line
// above the bars (Above()).
#ifndef FANOUT_REPORT_PROGRESS_H
#define FANOUT_REPORT_PROGRESS_H

#include <cstdio>
#include <functional>
#include <string>

#include "report/snapshot.h"
#include "util/mutex.h"

namespace fanout {

class ProgressDisplay {
 public:
  // terminal: redraw in place with ANSI escapes; width: the terminal's.
  ProgressDisplay(FILE* out, bool terminal, int width);

  void Print(const Snapshot& snapshot);
  // Prints something (an error line) above the bars: on a terminal the
  // bars are erased first, and the next Print() draws them again below it,
  // so neither overwrites the other.
  void Above(const std::function<void()>& print);

  // One destination's line, without escapes; exposed for the unit tests.
  static std::string Line(const DestinationSnapshot& d, uint64_t size, int width);

 private:
  FILE* const out_;
  const bool terminal_;
  const int width_;
  Mutex mu_;
  size_t lines_drawn_ GUARDED_BY(mu_) = 0;
};

}  // namespace fanout

#endif  // FANOUT_REPORT_PROGRESS_H
