// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// StallWatch: notices a destination that has work but gets nowhere, and
// fails it at stall-timeout=, so one stuck destination (a FIFO reader that
// stopped reading, an NBD server that stopped answering, a command that
// never exits, a device that never completes I/O) neither hangs the client
// and the others nor the end of the stream.
//
// A writer is watched while it is busy (Writer::Activity: extents waiting
// for it, operations in flight, a close in progress).  Progress is the
// later of its last step (Destination::last_progress) and the moment it
// became busy, or the kernel's count of its device's I/O moving
// (Destination::kernel_progress: a long final sync).  After NoticeAfter()
// without progress it is shown stalled (the status file, the bars) and
// logged "NAME: no progress for N s", again each time that doubles; at the
// timeout (0: never) Writer::FailStalled() fails it with ETIMEDOUT and
// cancels its destination.
//
// One thread of its own, which looks once a second.  Thread-safe.
#ifndef FANOUT_PIPELINE_STALL_WATCH_H
#define FANOUT_PIPELINE_STALL_WATCH_H

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "pipeline/writer.h"
#include "util/logger.h"
#include "util/mutex.h"

namespace fanout {

class StallWatch {
 public:
  using Clock = std::chrono::steady_clock;

  // timeout: stall-timeout= (0: never fail, only tell).  REQUIRES: log
  // outlives the watch.
  StallWatch(std::vector<std::shared_ptr<Writer>> writers, std::chrono::seconds timeout,
             Logger* log);
  ~StallWatch();
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;

  void Start();
  // Ends the thread, after one last look.  Idempotent.
  void Stop();
  // One look at every writer, as of now (the thread's tick; the unit tests
  // call it themselves).
  void Check(Clock::time_point now) EXCLUDES(mu_);

  // How long without progress before a busy destination counts as stalled:
  // 10 s, or a third of a shorter timeout (at least 1 s).
  static std::chrono::seconds NoticeAfter(std::chrono::seconds timeout);

 private:
  struct Watched {
    std::shared_ptr<Writer> writer;
    bool busy = false;
    Clock::time_point busy_since;
    uint64_t kernel = 0;                  // kernel_progress() last seen
    Clock::time_point kernel_moved;       // when it last changed
    std::chrono::seconds next_notice{0};  // log again at this much silence
    bool stalled = false;                 // shown stalled, not yet over
  };
  void Run();

  const std::chrono::seconds timeout_;
  const std::chrono::seconds notice_;
  Logger* const log_;
  Mutex mu_;  // Check() and the thread's life
  CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<Watched> watched_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_STALL_WATCH_H
