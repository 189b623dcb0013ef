#include "dest_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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
  EnlargePipe();
  std::lock_guard<std::mutex> lock(group_mu_);
  group_ = pid_;
  return Status::OK();
}

void CommandDestination::Interrupt() {
  StreamDestination::Interrupt();
  std::lock_guard<std::mutex> lock(group_mu_);
  if (group_ > 0) kill(-group_, SIGTERM);
}

int CommandDestination::Reap() {
  {
    std::lock_guard<std::mutex> lock(group_mu_);
    group_ = -1;
  }
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid_, &status, 0)) == -1 && errno == EINTR) {
  }
  pid_ = -1;
  if (r == -1) return -1;
  exit_status_ = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return status;
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
      if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == -1 || info.si_pid != 0)
        break;
      usleep(20 * 1000);
    }
    // Whatever is left of the group (the shell gone, its child not).
    kill(-pid_, SIGKILL);
    (void)Reap();
  }
  return StreamDestination::Close();
}

Status CommandDestination::Close() {
  Status s = StreamDestination::Close();
  if (pid_ <= 0) return s;
  const int status = Reap();
  if (status == -1) return Status::FromErrno(name() + ": waitpid");
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
