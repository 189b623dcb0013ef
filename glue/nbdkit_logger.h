// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// NbdkitLogger: the engine's Logger (common/logger.h) over nbdkit_error and
// nbdkit_debug, shared by the plugin and the tee filter.  Thread-safe.
#ifndef FANOUT_GLUE_NBDKIT_LOGGER_H
#define FANOUT_GLUE_NBDKIT_LOGGER_H

#include <functional>
#include <string>

#include "util/logger.h"

namespace fanout {
namespace glue {

class NbdkitLogger final : public Logger {
 public:
  // name: how notices begin ("fanout" prints "nbdkit: fanout: ...").
  // debug_window / debug_writer: the .so's -D NAME.window / NAME.writer
  // flags, which nbdkit sets before .load.  spelling, if given, rewrites
  // every message (the tee filter names its parameters tee-*).
  NbdkitLogger(const char* name, const int* debug_window, const int* debug_writer,
               std::function<std::string(const std::string&)> spelling = nullptr)
      : name_(name),
        debug_window_(debug_window),
        debug_writer_(debug_writer),
        spelling_(std::move(spelling)) {}

  void Error(const std::string& msg) override;
  void Notice(const std::string& msg) override;
  bool DebugEnabled(LogTopic topic) const override;
  void Debug(LogTopic topic, const std::string& msg) override;
  std::string Spelled(const std::string& msg) const override {
    return spelling_ ? spelling_(msg) : msg;
  }

 private:
  const char* const name_;
  const int* const debug_window_;
  const int* const debug_writer_;
  const std::function<std::string(const std::string&)> spelling_;
};

}  // namespace glue
}  // namespace fanout

#endif  // FANOUT_GLUE_NBDKIT_LOGGER_H
