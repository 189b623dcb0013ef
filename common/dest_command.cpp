#include "dest_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

extern char** environ;

namespace fanout {

namespace {
std::string CurrentDirectory() {
  char cwd[PATH_MAX];
  return getcwd(cwd, sizeof cwd) ? cwd : "/";
}

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
      directory_(CurrentDirectory()) {}

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
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

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
  return Status::OK();
}

Status CommandDestination::Close() {
  Status s = StreamDestination::Close();
  if (pid_ <= 0) return s;
  // A command that does not exit once its input ends (cmd='cat >/dev/null;
  // sleep 1000') is waited for until Cancel(), which kills it.
  if (!WaitExitable(pid_, cancel_fd())) kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid_, &status, 0)) == -1 && errno == EINTR) {
  }
  pid_ = -1;
  if (r == -1) return Status::FromErrno(name() + ": waitpid");
  exit_status_ = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    return Status::IOError(EIO, name() + ": the command exited with status " +
                                    std::to_string(WEXITSTATUS(status)));
  if (WIFSIGNALED(status))
    return Status::IOError(EIO, name() + ": the command was killed by signal " +
                                    std::to_string(WTERMSIG(status)) + " (" +
                                    strsignal(WTERMSIG(status)) + ")");
  return s;
}

}  // namespace fanout
