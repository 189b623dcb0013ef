// ProgressDisplay: progress=true.  On a terminal, one live bar per
// destination (name, bar, bytes of size, rate, ETA, state; a failed one
// shows why), redrawn in place.  Elsewhere (a log file, CI), one plain line
// per destination each time Print() is called.
//
// Not thread-safe: the reporter thread alone uses it.
#ifndef FANOUT_PROGRESS_H
#define FANOUT_PROGRESS_H

#include <cstdio>
#include <string>

#include "snapshot.h"

namespace fanout {

class ProgressDisplay {
 public:
  // terminal: redraw in place with ANSI escapes; width: the terminal's.
  ProgressDisplay(FILE* out, bool terminal, int width);

  void Print(const Snapshot& snapshot);

  // One destination's line, without escapes; exposed for the unit tests.
  static std::string Line(const DestinationSnapshot& d, uint64_t size, int width);

 private:
  FILE* const out_;
  const bool terminal_;
  const int width_;
  size_t lines_drawn_ = 0;
};

}  // namespace fanout

#endif  // FANOUT_PROGRESS_H
