// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "report/snapshot_parts.h"

#include <algorithm>

namespace fanout {

DestinationSnapshot WriterSnapshot(const Writer& w, std::chrono::steady_clock::time_point now,
                                   std::optional<std::chrono::steady_clock::time_point> start) {
  using std::chrono::duration;
  DestinationSnapshot d;
  const Destination* dest = w.destination();
  d.name = dest->name();
  d.kind = dest->kind();
  d.state = w.state();
  d.bytes = w.bytes();
  const auto end = w.ended().value_or(now);
  d.seconds = start ? duration<double>(end - *start).count() : 0;
  d.rate = d.seconds > 0 ? d.bytes / d.seconds : 0;
  if (d.state == DestinationState::kFailed || d.state == DestinationState::kIncomplete)
    d.failure = w.failure();
  d.exit_status = dest->exit_status();
  if (d.state == DestinationState::kWriting && w.lagging()) d.behind_bytes = w.behind_bytes();
  d.fell_behind = w.demotions();
  d.caught_up_bytes = w.caught_up_bytes();
  d.data_bytes = w.bytes_of(Writer::Kind::kData);
  d.zero_bytes = w.bytes_of(Writer::Kind::kZero);
  d.skipped_bytes = w.bytes_of(Writer::Kind::kSkipped);
  d.holds_data_ranges = w.skip_holes();
  if (w.stalled())
    d.stalled_seconds = std::max(0.0, duration<double>(now - dest->last_progress()).count());
  return d;
}

void AddIntegrity(IntegrityReport report, Snapshot* snap) {
  for (IntegrityReport::Verdict& v : report.verdicts) {
    DestinationSnapshot& d = snap->destinations[v.index];
    d.state = v.state;
    d.verified_bytes = v.verified_bytes;
    d.repaired_pages = v.repaired_pages;
    if (v.failure) d.failure = std::move(v.failure);
  }
  if (snap->state == RunState::kFinishing && report.verifying) snap->state = RunState::kVerifying;
  snap->sha256 = std::move(report.sha256);
  snap->image_sha256 = std::move(report.image_sha256);
  snap->sha256_unavailable = std::move(report.sha256_unavailable);
}

}  // namespace fanout
