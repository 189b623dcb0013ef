// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "nbdkit_logger.h"

// Only nbdkit_error and nbdkit_debug are used, which plugins and filters
// share; nbdkit-plugin.h is the header that may be included for them.
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <cstdio>

namespace fanout {
namespace glue {

void NbdkitLogger::Error(const std::string& msg) {
  nbdkit_error("%s", Spelled(msg).c_str());
}

void NbdkitLogger::Notice(const std::string& msg) {
  // The summary is for the user whatever -v says; nbdkit_debug would hide
  // it and nbdkit_error would call it an error.
  fprintf(stderr, "nbdkit: %s: %s\n", name_, Spelled(msg).c_str());
}

bool NbdkitLogger::DebugEnabled(LogTopic topic) const {
  switch (topic) {
    case LogTopic::kGeneral:
      return true;  // nbdkit_debug checks -v
    case LogTopic::kWindow:
      return *debug_window_ != 0;
    case LogTopic::kWriter:
      return *debug_writer_ != 0;
  }
  return false;
}

void NbdkitLogger::Debug(LogTopic, const std::string& msg) {
  nbdkit_debug("%s", Spelled(msg).c_str());
}

}  // namespace glue
}  // namespace fanout
