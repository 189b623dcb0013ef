// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// What the progress line may use of nbdkit's standard error: whether it is
// a terminal, and how wide.  The plugin and the tee filter both ask, when
// they start the engine.
#ifndef FANOUT_GLUE_TERMINAL_H
#define FANOUT_GLUE_TERMINAL_H

namespace fanout {
namespace glue {

struct Terminal {
  bool is_terminal;
  int width;  // columns; 80 where it is no terminal or does not say
};

Terminal ProbeStderr();

}  // namespace glue
}  // namespace fanout

#endif  // FANOUT_GLUE_TERMINAL_H
