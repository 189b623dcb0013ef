// Command destinations: cmd=COMMAND runs under /bin/sh -c with the stream on
// its standard input.  Its exit status is part of the result: a command that
// exits non-zero or is killed failed, whatever it was sent.
#ifndef FANOUT_DEST_COMMAND_H
#define FANOUT_DEST_COMMAND_H

#include <sys/types.h>

#include <atomic>

#include "dest_stream.h"

namespace fanout {

class CommandDestination final : public StreamDestination {
 public:
  explicit CommandDestination(std::string command);
  ~CommandDestination() override;

  DestinationKind kind() const override { return DestinationKind::kCommand; }

  // Starts the command, its stdin a new pipe.  SIGPIPE is reset to its
  // default in the child whatever nbdkit does with it.
  Status Start() override;
  // Closes the pipe (end of file for the command), waits for it, and fails
  // unless it exited 0.  Cancel() ends the wait by killing the command
  // (SIGKILL): the result is then "killed by signal 9".
  Status Close() override;

  // Its exit status once Close() has reaped it (128 + N if killed by
  // signal N, as the shell says).
  std::optional<int> exit_status() const override {
    const int s = exit_status_.load();
    return s < 0 ? std::nullopt : std::optional<int>(s);
  }

 private:
  const std::string command_;
  const std::string directory_;  // where nbdkit was started: the command runs there
  pid_t pid_ = -1;
  std::atomic<int> exit_status_{-1};  // read by the status reporter
};

}  // namespace fanout

#endif  // FANOUT_DEST_COMMAND_H
