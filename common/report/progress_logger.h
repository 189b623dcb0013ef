// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// ProgressLogger: a Logger that sends errors and notices through the
// progress display while there is one, so a message printed between two
// redraws is neither overwritten nor leaves a stale bar behind.
#ifndef FANOUT_REPORT_PROGRESS_LOGGER_H
#define FANOUT_REPORT_PROGRESS_LOGGER_H

#include <atomic>
#include <functional>
#include <string>

#include "report/progress.h"
#include "util/logger.h"

namespace fanout {

class ProgressLogger final : public Logger {
 public:
  // REQUIRES: inner outlives this.
  explicit ProgressLogger(Logger* inner) : inner_(inner) {}
  // Where messages go above the bars; null: straight to inner (the final
  // bars stay on screen and messages go below them).  Thread-safe.
  void set_display(ProgressDisplay* d) { display_ = d; }

  void Error(const std::string& msg) override {
    Through([&] { inner_->Error(msg); });
  }
  void Notice(const std::string& msg) override {
    Through([&] { inner_->Notice(msg); });
  }
  bool DebugEnabled(LogTopic topic) const override { return inner_->DebugEnabled(topic); }
  std::string Spelled(const std::string& msg) const override { return inner_->Spelled(msg); }
  void Debug(LogTopic topic, const std::string& msg) override {
    Through([&] { inner_->Debug(topic, msg); });
  }

 private:
  void Through(const std::function<void()>& print) {
    ProgressDisplay* d = display_.load();
    if (d)
      d->Above(print);
    else
      print();
  }
  Logger* const inner_;
  std::atomic<ProgressDisplay*> display_{nullptr};
};

}  // namespace fanout

#endif  // FANOUT_REPORT_PROGRESS_LOGGER_H
