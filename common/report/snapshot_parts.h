// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// The parts of a Snapshot that the components below know: a destination's
// as its writer sees it, and the verdicts and the SHA-256 as the image's
// integrity sees them.  Engine::TakeSnapshot() puts them together.
#ifndef FANOUT_REPORT_SNAPSHOT_PARTS_H
#define FANOUT_REPORT_SNAPSHOT_PARTS_H

#include <chrono>
#include <optional>

#include "integrity/image_integrity.h"
#include "pipeline/writer.h"
#include "report/snapshot.h"

namespace fanout {

// w's destination now; start: when serving started (nullopt: not yet, so
// no time has passed).
DestinationSnapshot WriterSnapshot(const Writer& w, std::chrono::steady_clock::time_point now,
                                   std::optional<std::chrono::steady_clock::time_point> start);
// Lays what the integrity reports over snap: a destination read back at
// the end has its verdict for state, a run reading back is verifying, and
// the SHA-256 or why there is none.
void AddIntegrity(IntegrityReport report, Snapshot* snap);

}  // namespace fanout

#endif  // FANOUT_REPORT_SNAPSHOT_PARTS_H
