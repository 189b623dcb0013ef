// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/command_destination.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "util/absolute_path.h"

extern char** environ;

namespace fanout {

namespace {
// Waits until pid can be reaped without blocking, or cancel_fd becomes
// readable; returns false for the latter.  A pidfd (Linux 5.3) makes this
// one poll(2); without one, the child is asked after every second.
bool WaitExitable(pid_t pid, int cancel_fd) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  for (;;) {
    struct pollfd fds[2] = {};
    fds[0].fd = pidfd;
    fds[0].events = POLLIN;
    fds[1].fd = cancel_fd;
    fds[1].events = POLLIN;
    const int r = poll(fds, 2, pidfd >= 0 ? -1 : 1000);
    if (r > 0 && (fds[1].revents & POLLIN)) {
      if (pidfd >= 0) close(pidfd);
      return false;
    }
    if (pidfd >= 0 && r > 0 && fds[0].revents != 0) {
      close(pidfd);
      return true;
    }
    if (pidfd < 0) {
      siginfo_t info = {};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
        return true;
    }
  }
}
}  // namespace

// Constructed at configuration time, before nbdkit forks and changes to /.
CommandDestination::CommandDestination(std::string command)
    : StreamDestination("cmd=" + command, ""),
      command_(std::move(command)),
      directory_(WorkingDirectory().value_or("/")) {}

CommandDestination::~CommandDestination() {
  if (pid_ > 0) {
    // Never reached Close(): do not leave a zombie or an orphan behind.
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    if (cancelled()) kill(pid_, SIGKILL);
    int status;
    while (waitpid(pid_, &status, 0) == -1 && errno == EINTR) {
    }
  }
}

Status CommandDestination::Start() {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) == -1) return Status::FromErrno(name() + ": pipe");

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // dup2 clears O_CLOEXEC on the child's stdin; every other descriptor of
  // ours is close-on-exec.
  posix_spawn_file_actions_adddup2(&actions, pipefd[0], STDIN_FILENO);
  // cmd='gzip > out.gz' means out.gz where the user started nbdkit.
  posix_spawn_file_actions_addchdir_np(&actions, directory_.c_str());
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  // A process group of its own: an interrupted run stops the command and
  // everything it started (the shell, gzip) with one signal.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);

  const char* argv[] = {"/bin/sh", "-c", command_.c_str(), nullptr};
  const int err = posix_spawn(&pid_, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pipefd[0]);
  if (err != 0) {
    close(pipefd[1]);
    pid_ = -1;
    return Status::FromErrno(name() + ": cannot start /bin/sh", err);
  }
  fd_ = pipefd[1];
  // Our end only: the command's stdin blocks as usual.  Writes wait in
  // poll(2), where Cancel() can wake them (see WritePolled).
  const int flags = fcntl(fd_, F_GETFL);
  if (flags == -1 || fcntl(fd_, F_SETFL, flags | O_NONBLOCK) == -1)
    return Status::FromErrno(name() + ": fcntl");
  EnlargePipe();
  MutexLock lock(&group_mu_);
  group_ = pid_;
  return Status::OK();
}

Status CommandDestination::Prepare(uint64_t export_size) {
  export_size_ = export_size;
  return Status::OK();
}

Status CommandDestination::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  uint64_t written = 0;
  if (s.ok()) s = Put(buf, length, &written);
  if (s.err() == EPIPE) return Gone(s, written);
  return Advance(s, length);
}

Status CommandDestination::Zero(uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  uint64_t written = 0;
  if (s.ok()) s = PutZeros(length, &written);
  if (s.err() == EPIPE) return Gone(s, written);
  return Advance(s, length);
}

Status CommandDestination::Gone(const Status& failed, uint64_t written) {
  // The pipe keeps what the command never read until our end is closed:
  // what went in less what is still there is what it read.
  const uint64_t entered = position_ + written;
  int unread = 0;
  const bool known =
      ioctl(fd_, FIONREAD, &unread) == 0 && unread >= 0 && static_cast<uint64_t>(unread) <= entered;
  (void)StreamDestination::Close();
  if (pid_ <= 0) return Advance(failed, 0);
  const std::string how = WaitForExit();
  std::string message = name() + ": the command " + how;
  if (known)
    message += " after reading " + std::to_string(entered - unread) + " of " +
               std::to_string(export_size_) + " bytes";
  else
    message += " before reading the whole stream (" + std::to_string(position_) + " of " +
               std::to_string(export_size_) + " bytes were sent)";
  return Status::IOError(EPIPE, message);
}

void CommandDestination::Interrupt() {
  StreamDestination::Interrupt();
  MutexLock lock(&group_mu_);
  if (group_ > 0) kill(-group_, SIGTERM);
}

std::string CommandDestination::WaitForExit() {
  {
    MutexLock lock(&group_mu_);
    group_ = -1;
  }
  // A command that does not exit once its input ends (cmd='cat >/dev/null;
  // sleep 1000') is waited for until Cancel(), which kills it.
  if (!WaitExitable(pid_, cancel_fd())) kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid_, &status, 0)) == -1 && errno == EINTR) {
  }
  pid_ = -1;
  if (r == -1) return std::string("could not be waited for: waitpid: ") + strerror(errno);
  exit_status_ = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

Status CommandDestination::Abort() {
  if (pid_ > 0) {
    // Killed while its standard input is still open: it never sees the
    // end of its input, so it cannot mistake part of the stream for all.
    kill(-pid_, SIGTERM);
    // WNOWAIT leaves it a zombie, so its process group stays reserved
    // for the SIGKILL below.
    for (int waited = 0; waited < kKillGraceMs; waited += 20) {
      siginfo_t info = {};
      if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == -1 || info.si_pid != 0) break;
      usleep(20 * 1000);
    }
    // Whatever is left of the group (the shell gone, its child not).
    kill(-pid_, SIGKILL);
    (void)WaitForExit();
  }
  return StreamDestination::Close();
}

int CommandDestination::OpenPipeWatch() const {
  // The command's fd 0 opened again is another reader of the same pipe,
  // if fd 0 still is that pipe (the command may have replaced it).
  const std::string path = "/proc/" + std::to_string(pid_) + "/fd/0";
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd == -1) return -1;
  struct stat ours, theirs;
  if (fstat(fd_, &ours) == -1 || fstat(fd, &theirs) == -1 || !S_ISFIFO(theirs.st_mode) ||
      IdentityOf(ours) != IdentityOf(theirs)) {
    close(fd);
    return -1;
  }
  return fd;
}

Status CommandDestination::Close() {
  // Every byte may be in the pipe and the command still exit 0 without
  // reading the last of them (the pipe's buffer took them, so no write
  // failed).  A reader of our own on the pipe, opened before our end
  // closes, keeps what the command left unread countable once it has
  // exited; it does not keep the end of file from the command.
  const int watch = pid_ > 0 && fd_ >= 0 ? OpenPipeWatch() : -1;
  Status s = StreamDestination::Close();
  if (pid_ <= 0) {
    if (watch >= 0) close(watch);
    return s;
  }
  const std::string how = WaitForExit();
  int unread = 0;
  const bool left = watch >= 0 && ioctl(watch, FIONREAD, &unread) == 0 && unread > 0 &&
                    static_cast<uint64_t>(unread) <= position_;
  if (watch >= 0) close(watch);
  const std::string reading = left ? " after reading " + std::to_string(position_ - unread) +
                                         " of " + std::to_string(export_size_) + " bytes"
                                   : "";
  if (exit_status_.load() != 0)
    return Status::IOError(EIO, name() + ": the command " + how + reading);
  if (left) return Status::IOError(EPIPE, name() + ": the command " + how + reading);
  return s;
}

}  // namespace fanout
