// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

namespace fanout {
namespace glue {

Terminal ProbeStderr() {
  const bool terminal = isatty(STDERR_FILENO);
  struct winsize ws = {};
  const int width =
      terminal && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
  return Terminal{terminal, width};
}

}  // namespace glue
}  // namespace fanout
