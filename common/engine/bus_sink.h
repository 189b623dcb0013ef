// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// BusSink: where the window's commits go.  This is where each committed
// extent's bytes are in hand, in commit order, which is the order every
// destination performs them: the image's integrity (its page hashes and
// SHA-256) is kept up to date here, before the extent is published on the
// bus for the writers.
#ifndef FANOUT_ENGINE_BUS_SINK_H
#define FANOUT_ENGINE_BUS_SINK_H

#include <string>
#include <utility>

#include "integrity/image_integrity.h"
#include "pipeline/bus.h"
#include "util/logger.h"
#include "window/commit_sink.h"

namespace fanout {

class BusSink final : public CommitSink {
 public:
  // REQUIRES: bus, integrity and log outlive this.
  BusSink(Bus* bus, ImageIntegrity* integrity, Logger* log)
      : bus_(bus), integrity_(integrity), log_(log) {}

  // REQUIRES: commits serialised (the engine's lock, held while the window
  // commits).
  void Commit(Extent extent) override {
    if (log_->DebugEnabled(LogTopic::kWindow))
      log_->Debug(LogTopic::kWindow,
                  std::string("commit ") + (extent.is_zero() ? "zero " : "data ") +
                      std::to_string(extent.offset) + "+" + std::to_string(extent.length));
    // Only the window publishes, so the sequence is the next one.
    integrity_->Committed(extent, bus_->last_published() + 1);
    bus_->Publish(std::move(extent));
  }

 private:
  Bus* const bus_;
  ImageIntegrity* const integrity_;
  Logger* const log_;
};

}  // namespace fanout

#endif  // FANOUT_ENGINE_BUS_SINK_H
