// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "interruption.h"

// nbdkit_shutdown is shared by plugins and filters; nbdkit-plugin.h is the
// header that may be included for it.
#define NBDKIT_API_VERSION 2
#include <fcntl.h>
#include <nbdkit-plugin.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "exit_status.h"
#include "util/mutex.h"

namespace fanout {
namespace glue {

namespace {

constexpr int kSignals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};

// How long a client that was already leaving when the first signal came
// gets to finish closing before its connection counts as interrupted.
constexpr std::chrono::milliseconds kCloseGrace{500};

// Written by the handler, read by the thread: lock-free atomics.
std::atomic<int> connections{0};
std::atomic<int> signals_seen{0};
std::atomic<int> first_signal{0};
std::atomic<bool> first_in_run_mode{false};
std::atomic<bool> first_after_command{false};
std::atomic<int> later_signal{0};
int wake_fds[2] = {-1, -1};
struct sigaction nbdkit_handlers[NSIG];

std::function<void(const std::string&)> interrupt_fn;
std::thread watcher;
Mutex settle_mu;
int settled GUARDED_BY(settle_mu) = 0;  // signals acted on
int clients_at_first GUARDED_BY(settle_mu) = 0;

// nbdkit's own handler for sig, which sets its quit flag.
void PassOn(int sig, siginfo_t* info, void* context) {
  const struct sigaction& prev = nbdkit_handlers[sig];
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) prev.sa_sigaction(sig, info, context);
  } else if (prev.sa_handler == SIG_DFL) {
    signal(sig, SIG_DFL);
    raise(sig);
  } else if (prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  }
}

// The first signal is not passed on at once: the thread first lets a
// client that was already leaving finish closing (nbdkit calls no .close
// once it is quitting, so a client that closed just after the signal could
// not be told from one still writing), then calls nbdkit_shutdown(), which
// is what nbdkit's handler does.  Later signals go straight on.
// Async-signal-safe: atomics, getpid/getppid, write.
void OnQuitSignal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  const bool first = signals_seen.fetch_add(1) == 0;
  if (first) {
    first_in_run_mode = InRunMode();
    first_after_command = RunCommandStatus().ended;
    first_signal = sig;
  } else {
    later_signal = sig;
  }
  const char c = 's';
  if (write(wake_fds[1], &c, 1) == -1) {
    // A full pipe: the thread is awake already.
  }
  if (!first) PassOn(sig, info, context);
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
std::string FirstSignalReason() REQUIRES(settle_mu) {
  const std::string name = SignalName(first_signal.load());
  const int clients = clients_at_first;
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
  MutexLock lock(&settle_mu);
  const int seen = signals_seen.load();
  if (seen == settled || !interrupt_fn) return;
  if (settled == 0) {
    clients_at_first = connections.load();
    const std::string why = FirstSignalReason();
    if (!why.empty()) interrupt_fn(why);
  }
  if (seen > 1)
    interrupt_fn("nbdkit received " + SignalName(later_signal.load()) +
                 " again while ending the run");
  settled = seen;
}

// The first signal: the grace for leaving clients (not needed in --run
// mode, where the command's status decides), the verdict, then nbdkit's
// own shutdown.
void FirstSignal() {
  if (!first_in_run_mode.load()) {
    const auto until = std::chrono::steady_clock::now() + kCloseGrace;
    while (connections.load() > 0 && signals_seen.load() == 1 &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Settle();
  nbdkit_shutdown();
}

void Watch() {
  char buf[64];
  bool first_done = false;
  for (;;) {
    const ssize_t n = read(wake_fds[0], buf, sizeof buf);
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0) return;
    if (memchr(buf, 'q', n)) return;
    if (!first_done) {
      first_done = true;
      FirstSignal();
    }
    Settle();
  }
}

}  // namespace

void WatchSignals(std::function<void(const std::string&)> interrupt) {
  if (watcher.joinable()) return;
  if (pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK) == -1) return;
  // Only the handler's end is non-blocking.
  fcntl(wake_fds[0], F_SETFL, fcntl(wake_fds[0], F_GETFL) & ~O_NONBLOCK);
  interrupt_fn = std::move(interrupt);
  watcher = std::thread(Watch);
  struct sigaction sa = {};
  sa.sa_sigaction = OnQuitSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kSignals) sigaction(sig, &sa, &nbdkit_handlers[sig]);
}

void ConnectionOpened() {
  connections++;
}
void ConnectionClosed() {
  connections--;
}

void SettleSignals() {
  Settle();
}

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
  MutexLock lock(&settle_mu);
  interrupt_fn = nullptr;
}

}  // namespace glue
}  // namespace fanout
