// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// The process-wide parts of the nbdkit glue that the plugin and the tee
// filter share: signals, the sanitizer exit, and nbdkit's exit status.
//
// Not part of the engine (common/): these call nbdkit.  Each .so links its
// own copy (a convenience library), so the plugin and the filter loaded
// into one nbdkit each keep their own record.
#ifndef FANOUT_GLUE_EXIT_STATUS_H
#define FANOUT_GLUE_EXIT_STATUS_H

namespace fanout {
namespace glue {

// From .load: a FIFO reader or command that goes away must fail its
// destination with EPIPE, not kill nbdkit; sanitizer builds drop LD_PRELOAD
// and end the process early (see exit_status.cpp).
void PrepareProcess();

// From .config_complete, before nbdkit forks: maps the memory shared by
// nbdkit's processes and registers the on_exit(3) handler.
void PrepareExitStatus();

// From .after_fork, in the serving process: records its pid (so the --run
// parent ignores its SIGCHLD) and gives SIGCHLD back its default here, where
// the engine waits for its own commands.
void ServingProcessStarted();

// How the --run command ended, as the parent process saw it (see
// exit_status.cpp): valid once it has ended.  Async-signal-safe.
struct RunCommandEnd {
  bool ended = false;
  int code = 0;    // CLD_EXITED, CLD_KILLED or CLD_DUMPED
  int status = 0;  // the exit status, or the signal
};
RunCommandEnd RunCommandStatus();
// This is the serving process of nbdkit --run (its parent runs the
// command).  Async-signal-safe.
bool InRunMode();

// A destination failed: nbdkit exits with status 1 (unless its status is
// already non-zero).  Thread-safe; async-signal-unsafe.
void RecordFailure();

}  // namespace glue
}  // namespace fanout

#endif  // FANOUT_GLUE_EXIT_STATUS_H
