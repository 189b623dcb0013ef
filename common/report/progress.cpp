// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "report/progress.h"

#include <algorithm>

#include "util/human_units.h"

namespace fanout {

ProgressDisplay::ProgressDisplay(FILE* out, bool terminal, int width)
    : out_(out), terminal_(terminal), width_(std::max(width, 60)) {}

std::string ProgressDisplay::Line(const DestinationSnapshot& d, uint64_t size, int width) {
  // Rewrites can make a seekable destination's count pass the size.  While
  // verifying, the bar starts again and counts the bytes read back.
  const bool verifying = d.state == DestinationState::kVerifying;
  const uint64_t done = std::min(verifying ? d.verified_bytes.value_or(0) : d.bytes, size);
  const double fraction = size ? static_cast<double>(done) / size : 1.0;

  std::string name = d.name;
  const size_t name_width = 20;
  if (name.size() > name_width) name = "…" + name.substr(name.size() - (name_width - 1));
  name.resize(name_width + (name.size() - std::min(name.size(), name_width)), ' ');

  std::string tail =
      "  " + HumanBytes(done) + " of " + HumanBytes(size) + "  " + HumanRate(d.rate) + "  ";
  if (d.state == DestinationState::kWriting && d.stalled_seconds) {
    tail += "stalled, no progress for " + HumanDuration(*d.stalled_seconds);
  } else if (d.state == DestinationState::kWriting && d.behind_bytes) {
    tail += "behind by " + HumanBytes(*d.behind_bytes) + ", catching up";
  } else if (d.state == DestinationState::kWriting) {
    const double eta = d.rate > 0 ? (size - done) / d.rate : -1;
    tail += "ETA " + HumanDuration(eta) + "  writing";
  } else if (verifying) {
    tail += "verifying";
  } else {
    tail += HumanDuration(d.seconds) + "  " + StateName(d.state);
  }
  if (d.failure) tail += ": " + d.failure->message;

  const int bar_width = std::clamp(width - static_cast<int>(name_width) - 70, 10, 40);
  std::string bar(bar_width, ' ');
  const int filled = static_cast<int>(fraction * bar_width);
  std::fill(bar.begin(), bar.begin() + filled, '#');
  if (d.state == DestinationState::kFailed || d.state == DestinationState::kMismatch ||
      d.state == DestinationState::kUnverifiable || d.state == DestinationState::kIncomplete)
    std::fill(bar.begin() + filled, bar.end(), 'x');

  char pct[16];
  snprintf(pct, sizeof pct, " %3d%%", static_cast<int>(fraction * 100));
  return name + " [" + bar + "]" + pct + tail;
}

void ProgressDisplay::Above(const std::function<void()>& print) {
  MutexLock lock(&mu_);
  if (terminal_ && lines_drawn_ > 0) {
    // Up to the first bar, then clear to the end of the screen.
    fprintf(out_, "\033[%zuA\r\033[J", lines_drawn_);
    fflush(out_);
    lines_drawn_ = 0;
  }
  print();
}

void ProgressDisplay::Print(const Snapshot& snap) {
  MutexLock lock(&mu_);
  if (terminal_) {
    // Back to the first line we drew, then overwrite every line.
    if (lines_drawn_ > 0) fprintf(out_, "\033[%zuA", lines_drawn_);
    for (const DestinationSnapshot& d : snap.destinations) {
      std::string line = Line(d, snap.size, width_);
      if (static_cast<int>(line.size()) >= width_) line.resize(width_ - 1);
      fprintf(out_, "\r\033[2K%s\n", line.c_str());
    }
    lines_drawn_ = snap.destinations.size();
  } else {
    for (const DestinationSnapshot& d : snap.destinations)
      fprintf(out_, "fanout: %s\n", Line(d, snap.size, 200).c_str());
  }
  fflush(out_);
}

}  // namespace fanout
