// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "exit_status.h"

// Only nbdkit_error and nbdkit_debug are used, which plugins and filters
// share; nbdkit-plugin.h is the header that may be included for them.
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace fanout {
namespace glue {

namespace {

// The exit status.  nbdkit 1.32 has no API for a plugin or filter to set
// it, and the process that exits last is not always the one that served:
// with --run, nbdkit forks after .config_complete, the child serves (and
// runs .cleanup, where the end of the stream happens) and the parent runs
// the command, waits for the child, then calls exit() with the command's
// status.
//
// So: a page of shared memory, mapped before that fork, where the serving
// process records that a destination failed; and an on_exit(3) handler,
// registered before the fork too, which runs in whichever process exits,
// after nbdkit's own clean-up (socket, temporary directory, pidfile are all
// done before exit() is called).  It sees the status exit() was given, and
// only when that is 0 and a destination failed does it flush stdio and
// _exit(1).  A non-zero status (the --run command's own failure) is left
// alone.  The handler skips the exit handlers registered before it and the
// libraries' destructors, which is harmless at that point.  The .so is
// linked with -z nodelete so the handler's code is still mapped after nbdkit
// dlcloses it in the serving process.
//
// The same page carries how the --run command ended, which the serving
// process cannot see for itself: the parent runs the command with
// system(3), and SIGTERMs the serving child once it returns, whatever the
// command's status.  glibc's system() blocks SIGCHLD while it waits; when
// it restores the mask, the pending SIGCHLD is delivered, with the
// command's si_code and si_status, to a handler installed here before the
// fork.  So by the time the parent sends SIGTERM, the page says how the
// command ended, and the serving process reads it when the signal comes.
struct SharedOutcome {
  std::atomic<int> failed_destinations;
  std::atomic<pid_t> parent_pid;  // the process that ran .config_complete
  std::atomic<pid_t> server_pid;  // the serving process, once it runs
  std::atomic<int> command_ended;
  std::atomic<int> command_code;
  std::atomic<int> command_status;
};
SharedOutcome* outcome = nullptr;

// In the parent only (the serving process restores the default): records
// the end of any child but the serving process.  Async-signal-safe: only
// getpid() and atomics.
void RunCommandEnded(int, siginfo_t* info, void*) {
  if (!outcome || getpid() != outcome->parent_pid.load()) return;
  if (info->si_pid == outcome->server_pid.load()) return;
  if (info->si_code != CLD_EXITED && info->si_code != CLD_KILLED && info->si_code != CLD_DUMPED)
    return;
  outcome->command_code = info->si_code;
  outcome->command_status = info->si_status;
  outcome->command_ended = 1;
}

void ExitStatusHandler(int status, void*) {
  if (status == 0 && outcome && outcome->failed_destinations.load() > 0) {
    fflush(nullptr);
    _exit(EXIT_FAILURE);
  }
}

#ifdef FANOUT_SANITIZER_BUILD
// With a sanitizer runtime preloaded into an nbdkit that was not built with
// it, exit() can deadlock in a library destructor (p11-kit's freelocale on
// glibc's locale lock) after any message carrying strerror text.  The
// sanitizers report as they go (abort_on_error / halt_on_error), so ending
// the process here, with the same status, loses nothing.
void SanitizerExitHandler(int status, void*) {
  fflush(nullptr);
  _exit(status);
}
#endif

}  // namespace

void PrepareProcess() {
#ifdef FANOUT_SANITIZER_BUILD
  // The tests preload the sanitizer runtime into nbdkit; keep it out of the
  // commands nbdkit and the destinations start.
  unsetenv("LD_PRELOAD");
  on_exit(SanitizerExitHandler, nullptr);
#endif
  // nbdkit ignores SIGPIPE too; do not rely on it.
  signal(SIGPIPE, SIG_IGN);
}

void PrepareExitStatus() {
  if (outcome) return;
  void* p = mmap(nullptr, sizeof(SharedOutcome), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) {
    nbdkit_debug("mmap: %m: failed destinations will not change the exit status");
    return;
  }
  outcome = new (p) SharedOutcome{};
  outcome->parent_pid = getpid();
  on_exit(ExitStatusHandler, nullptr);
  struct sigaction sa = {};
  sa.sa_sigaction = RunCommandEnded;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, nullptr);
}

void ServingProcessStarted() {
  if (!outcome) return;
  outcome->server_pid = getpid();
  signal(SIGCHLD, SIG_DFL);
}

RunCommandEnd RunCommandStatus() {
  RunCommandEnd end;
  if (!outcome || !outcome->command_ended.load()) return end;
  end.ended = true;
  end.code = outcome->command_code.load();
  end.status = outcome->command_status.load();
  return end;
}

bool InRunMode() {
  // In the background (no --run), the parent that configured has exited
  // long since; with -f there was no fork at all.
  return outcome && getpid() != outcome->parent_pid.load() &&
         getppid() == outcome->parent_pid.load();
}

void RecordFailure() {
  if (outcome) outcome->failed_destinations = 1;
}

}  // namespace glue
}  // namespace fanout
