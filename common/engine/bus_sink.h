// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// BusSink: where the window's commits go.  This is where each committed
// extent's bytes are in hand, in commit order, which is the order every
// destination performs them: the image's integrity (its page hashes and
// SHA-256) is kept up to date here, before the extent is published on the
// bus for the writers.  With holes=skip, each zero extent is cut into its
// holes and the rest first (hole_map.h).
#ifndef FANOUT_ENGINE_BUS_SINK_H
#define FANOUT_ENGINE_BUS_SINK_H

#include <string>
#include <utility>
#include <vector>

#include "integrity/image_integrity.h"
#include "pipeline/bus.h"
#include "util/logger.h"
#include "window/commit_sink.h"
#include "window/hole_map.h"

namespace fanout {

class BusSink final : public CommitSink {
 public:
  // REQUIRES: bus, integrity, log (and holes, if not null) outlive this.
  BusSink(Bus* bus, ImageIntegrity* integrity, Logger* log, const HoleMap* holes = nullptr)
      : bus_(bus), integrity_(integrity), log_(log), holes_(holes) {}

  // REQUIRES: commits serialised (the engine's lock, held while the window
  // commits).
  void Commit(Extent extent) override {
    if (holes_ == nullptr || !extent.is_zero()) {
      Publish(std::move(extent));
      return;
    }
    pieces_.clear();
    holes_->Classify(std::move(extent), &pieces_);
    for (Extent& e : pieces_) Publish(std::move(e));
  }

 private:
  void Publish(Extent extent) {
    if (log_->DebugEnabled(LogTopic::kWindow))
      log_->Debug(LogTopic::kWindow,
                  std::string("commit ") +
                      (extent.is_zero() ? (extent.hole ? "hole " : "zero ") : "data ") +
                      std::to_string(extent.offset) + "+" + std::to_string(extent.length));
    // Only the window publishes, so the sequence is the next one.
    integrity_->Committed(extent, bus_->last_published() + 1);
    bus_->Publish(std::move(extent));
  }

  Bus* const bus_;
  ImageIntegrity* const integrity_;
  Logger* const log_;
  const HoleMap* const holes_;
  std::vector<Extent> pieces_;  // Commit()'s, kept to reuse its memory
};

}  // namespace fanout

#endif  // FANOUT_ENGINE_BUS_SINK_H
