// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "report/summary.h"

#include <algorithm>
#include <cstdio>

#include "util/human_units.h"

namespace fanout {

namespace {
std::string Seconds(double s) {
  if (s >= 60) return HumanDuration(s);
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}
}  // namespace

std::vector<std::string> SummaryLines(
    const Snapshot& snap, const std::function<std::string(const std::string&)>& spelled) {
  constexpr size_t kMaxNameWidth = 40;
  std::vector<std::string> lines;
  std::vector<std::string> names;
  size_t name_width = 11;
  for (const DestinationSnapshot& d : snap.destinations) {
    std::string name = spelled ? spelled(d.name) : d.name;
    if (name.size() > kMaxNameWidth) name = name.substr(0, kMaxNameWidth - 3) + "...";
    name_width = std::max(name_width, name.size());
    names.push_back(std::move(name));
  }

  char buf[512];
  snprintf(buf, sizeof buf, "%-*s  %-7s  %-8s  %14s  %8s  %12s  %s", static_cast<int>(name_width),
           "destination", "kind", "state", "bytes", "time", "rate", "error");
  lines.push_back(buf);
  size_t done = 0;
  for (size_t i = 0; i < snap.destinations.size(); i++) {
    const DestinationSnapshot& d = snap.destinations[i];
    std::string error = d.failure ? d.failure->message : "-";
    // What a good verdict covered goes where an error would be.
    if (d.state == DestinationState::kRepaired)
      error = "repaired (" + std::to_string(d.repaired_pages.value_or(0)) +
              (d.repaired_pages.value_or(0) == 1 ? " page)" : " pages)");
    else if (d.state == DestinationState::kVerified && d.holds_data_ranges)
      error = "verified (data ranges; holes not checked)";
    else if (d.holds_data_ranges && !d.failure)
      error = "holds the data ranges (holes=skip)";
    else if (snap.verify == 2 && d.state == DestinationState::kDone &&
             (d.kind == DestinationKind::kFifo || d.kind == DestinationKind::kCommand))
      error = "a stream: not read back, so not verified or repaired";
    if (d.state == DestinationState::kDone || d.state == DestinationState::kVerified ||
        d.state == DestinationState::kRepaired)
      done++;
    snprintf(buf, sizeof buf, "%-*s  %-7s  %-8s  %14llu  %8s  %12s  ", static_cast<int>(name_width),
             names[i].c_str(), KindName(d.kind), StateName(d.state),
             static_cast<unsigned long long>(d.bytes), Seconds(d.seconds).c_str(),
             HumanRate(d.rate).c_str());
    lines.push_back(buf + error);
  }
  snprintf(buf, sizeof buf,
           "%zu of %zu destinations done, %zu failed: %s export (%llu bytes) in %s", done,
           snap.destinations.size(), snap.failed(), HumanBytes(snap.size).c_str(),
           static_cast<unsigned long long>(snap.size), Seconds(snap.elapsed).c_str());
  lines.push_back(buf);
  if (snap.state == RunState::kInterrupted)
    lines.push_back("interrupted: " + snap.interrupted_reason);
  if (snap.sha256) lines.push_back("sha256 " + *snap.sha256);
  if (snap.image_sha256 && snap.image_bytes < snap.size)
    lines.push_back("image sha256 " + *snap.image_sha256 + " (its first " +
                    std::to_string(snap.image_bytes) + " bytes, to its last write)");
  else if (!snap.sha256_unavailable.empty())
    lines.push_back("sha256 unavailable: " + snap.sha256_unavailable);
  if (snap.refused_requests)
    lines.push_back(
        "requests were refused after a failure (on-error=, quorum=, or a spill= that failed): "
        "the destinations hold what the client wrote until then");
  return lines;
}

}  // namespace fanout
