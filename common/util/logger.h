// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Logger: how the engine speaks.  The nbdkit glue implements it with
// nbdkit_error / nbdkit_debug (and its debug flags); the unit tests with
// nothing or a recorder.  Keeps the engine free of nbdkit calls.
//
// Thread-safe implementations required: writers log from their own threads.
#ifndef FANOUT_UTIL_LOGGER_H
#define FANOUT_UTIL_LOGGER_H

#include <string>

namespace fanout {

enum class LogTopic {
  kGeneral,  // -v
  kWindow,   // -D fanout.window=1: slides and commits
  kWriter,   // -D fanout.writer=1: each destination's I/O
};

class Logger {
 public:
  virtual ~Logger() = default;
  // Something the user must see (a failed destination, a refused request).
  virtual void Error(const std::string& msg) = 0;
  // Shown always, not an error: the end-of-stream summary.
  virtual void Notice(const std::string& msg) = 0;
  // Debug output, shown when the topic is enabled.
  virtual bool DebugEnabled(LogTopic topic) const = 0;
  virtual void Debug(LogTopic topic, const std::string& msg) = 0;
  // msg as it will be printed, where the logger rewrites messages (the tee
  // filter names its parameters tee-*): for lining up columns of names.
  virtual std::string Spelled(const std::string& msg) const { return msg; }
};

// Discards everything; for tests and for tools that need no output.
class NullLogger final : public Logger {
 public:
  void Error(const std::string&) override {}
  void Notice(const std::string&) override {}
  bool DebugEnabled(LogTopic) const override { return false; }
  void Debug(LogTopic, const std::string&) override {}
};

}  // namespace fanout

#endif  // FANOUT_UTIL_LOGGER_H
