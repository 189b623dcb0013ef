// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Command destinations: cmd=COMMAND runs under /bin/sh -c with the stream on
// its standard input.  Its exit status is part of the result: a command that
// exits non-zero or is killed failed, whatever it was sent.
#ifndef FANOUT_DEST_COMMAND_DESTINATION_H
#define FANOUT_DEST_COMMAND_DESTINATION_H

#include <sys/types.h>

#include <atomic>

#include "dest/stream_destination.h"
#include "util/mutex.h"

namespace fanout {

class CommandDestination final : public StreamDestination {
 public:
  explicit CommandDestination(std::string command);
  ~CommandDestination() override;

  DestinationKind kind() const override { return DestinationKind::kCommand; }

  // Keeps the export size, for saying how much of it the command read.
  Status Prepare(uint64_t export_size) override;

  // Starts the command, its stdin a new pipe.  SIGPIPE is reset to its
  // default in the child whatever nbdkit does with it.
  Status Start() override;
  // A write the command no longer reads (EPIPE: it has exited or closed
  // its standard input) fails with what the command did instead, the one
  // thing that explains it: "cmd=true: the command exited with status 0
  // after reading 0 of 67108864 bytes".  The command is waited for here.
  Status Write(const uint8_t* buf, uint64_t length, uint64_t offset) override;
  Status Zero(uint64_t length, uint64_t offset) override;
  // Closes the pipe (end of file for the command), waits for it, and fails
  // unless it exited 0 having read the whole stream.  Cancel() ends the
  // wait by killing the command (SIGKILL): the result is then "killed by
  // signal 9".
  Status Close() override;
  // Sends SIGTERM to the command's process group (it runs in one of its
  // own), so a writer blocked on its pipe gets EPIPE.
  void Interrupt() override;
  // Kills the command before its standard input is closed: SIGTERM to its
  // process group, SIGKILL after kKillGraceMs, then reaps it.  A compressor
  // killed this way leaves an archive without its end, which its own test
  // (gzip -t, zstd -t) rejects, rather than a well-formed archive of part
  // of the image.
  Status Abort() override;
  static constexpr int kKillGraceMs = 2000;

  // Its exit status once Close() has reaped it (128 + N if killed by
  // signal N, as the shell says).
  std::optional<int> exit_status() const override {
    const int s = exit_status_.load();
    return s < 0 ? std::nullopt : std::optional<int>(s);
  }

 private:
  // After a write failed with EPIPE (written: what that write had put into
  // the pipe): the failure, saying how the command ended and how much of
  // the stream it had read.
  Status Gone(const Status& failed, uint64_t written);
  // Waits for the command; "exited with status N" or "was killed by signal
  // N (Killed)", or a waitpid error.  Sets exit_status_.
  std::string WaitForExit();
  // Another reader of the command's standard input pipe (through
  // /proc/PID/fd/0), or -1 if the command's fd 0 is no longer that pipe.
  int OpenPipeWatch() const;

  const std::string command_;
  uint64_t export_size_ = 0;
  const std::string directory_;  // where nbdkit was started: the command runs there
  pid_t pid_ = -1;
  // pid_ as Interrupt() may see it from another thread: set once the
  // command runs, cleared (under group_mu_) before it is reaped, so a
  // signal never reaches a process group that has gone.
  Mutex group_mu_;
  pid_t group_ GUARDED_BY(group_mu_) = -1;
  std::atomic<int> exit_status_{-1};  // read by the status reporter
};

}  // namespace fanout

#endif  // FANOUT_DEST_COMMAND_DESTINATION_H
