#include "interruption.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "exit_status.h"

namespace fanout {
namespace glue {

namespace {

constexpr int kSignals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};

// Written by the handler, read by the thread: plain atomics, lock-free.
std::atomic<int> connections{0};
std::atomic<int> signals_seen{0};
std::atomic<int> first_signal{0};
std::atomic<int> first_connections{0};
std::atomic<bool> first_in_run_mode{false};
std::atomic<bool> first_after_command{false};
std::atomic<int> later_signal{0};
int wake_fds[2] = {-1, -1};
struct sigaction nbdkit_handlers[NSIG];

std::function<void(const std::string&)> interrupt_fn;
std::thread watcher;
std::mutex settle_mu;
int settled = 0;  // GUARDED_BY(settle_mu): signals acted on

void OnQuitSignal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (signals_seen.fetch_add(1) == 0) {
    first_connections = connections.load();
    first_in_run_mode = InRunMode();
    first_after_command = RunCommandStatus().ended;
    first_signal = sig;
  } else {
    later_signal = sig;
  }
  const char c = 's';
  if (wake_fds[1] >= 0 && write(wake_fds[1], &c, 1) == -1) {
    // Full pipe: the thread is awake already.
  }
  // Then nbdkit's own handler, which sets its quit flag.
  const struct sigaction& prev = nbdkit_handlers[sig];
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) prev.sa_sigaction(sig, info, context);
  } else if (prev.sa_handler == SIG_DFL) {
    signal(sig, SIG_DFL);
    raise(sig);
  } else if (prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  }
  errno = saved_errno;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string Clients(int n) {
  return std::to_string(n) + (n == 1 ? " client was" : " clients were");
}

// What the first signal means; empty if it is the ordinary end of serving.
std::string FirstSignalReason() {
  const std::string name = SignalName(first_signal.load());
  const int clients = first_connections.load();
  if (first_in_run_mode.load()) {
    if (!first_after_command.load())
      return "nbdkit received " + name + " while the --run command was still running" +
             (clients > 0 ? " and " + Clients(clients) + " connected" : "");
    const RunCommandEnd end = RunCommandStatus();
    if (end.code == CLD_EXITED && end.status == 0) return "";
    if (end.code == CLD_EXITED)
      return "the --run command exited with status " + std::to_string(end.status);
    return "the --run command was killed by " + SignalName(end.status);
  }
  if (clients > 0) return "nbdkit received " + name + " while " + Clients(clients) + " connected";
  return "";
}

void Settle() {
  std::lock_guard<std::mutex> lock(settle_mu);
  const int seen = signals_seen.load();
  if (seen == settled || !interrupt_fn) return;
  if (settled == 0) {
    const std::string why = FirstSignalReason();
    if (!why.empty()) interrupt_fn(why);
  }
  if (seen > 1)
    interrupt_fn("nbdkit received " + SignalName(later_signal.load()) +
                 " again while ending the run");
  settled = seen;
}

void Watch() {
  char buf[64];
  for (;;) {
    const ssize_t n = read(wake_fds[0], buf, sizeof buf);
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0) return;
    if (memchr(buf, 'q', n)) return;
    Settle();
  }
}

}  // namespace

void WatchSignals(std::function<void(const std::string&)> interrupt) {
  if (watcher.joinable()) return;
  if (pipe2(wake_fds, O_CLOEXEC) == -1) return;
  interrupt_fn = std::move(interrupt);
  watcher = std::thread(Watch);
  struct sigaction sa = {};
  sa.sa_sigaction = OnQuitSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kSignals) sigaction(sig, &sa, &nbdkit_handlers[sig]);
}

void ConnectionOpened() { connections++; }
void ConnectionClosed() { connections--; }

void SettleSignals() { Settle(); }

void StopWatchingSignals() {
  if (!watcher.joinable()) return;
  for (int sig : kSignals) sigaction(sig, &nbdkit_handlers[sig], nullptr);
  const char c = 'q';
  while (write(wake_fds[1], &c, 1) == -1 && errno == EINTR) {
  }
  watcher.join();
  close(wake_fds[0]);
  close(wake_fds[1]);
  wake_fds[0] = wake_fds[1] = -1;
  std::lock_guard<std::mutex> lock(settle_mu);
  interrupt_fn = nullptr;
}

}  // namespace glue
}  // namespace fanout
