// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/stall_watch.h"

#include <algorithm>
#include <string>

namespace fanout {

using std::chrono::seconds;

StallWatch::StallWatch(std::vector<std::shared_ptr<Writer>> writers, seconds timeout, Logger* log)
    : timeout_(timeout), notice_(NoticeAfter(timeout)), log_(log) {
  for (auto& w : writers) {
    Watched x;
    x.writer = std::move(w);
    watched_.push_back(std::move(x));
  }
}

StallWatch::~StallWatch() {
  Stop();
}

seconds StallWatch::NoticeAfter(seconds timeout) {
  constexpr seconds kNotice{10};
  if (timeout.count() == 0 || timeout >= 3 * kNotice) return kNotice;
  return std::max(seconds(1), timeout / 3);
}

void StallWatch::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StallWatch::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  if (!thread_.joinable()) return;
  thread_.join();
  // A last look, so a stall that ended since the last tick is told as over.
  Check(Clock::now());
}

void StallWatch::Run() {
  MutexLock lock(&mu_);
  while (!stop_) {
    // Once a second: a timeout is met within a second of its time.
    if (wake_.WaitFor(&mu_, seconds(1), [this]() REQUIRES(mu_) { return stop_; })) break;
    lock.Unlock();
    Check(Clock::now());
    lock.Lock();
  }
}

void StallWatch::Check(Clock::time_point now) {
  MutexLock lock(&mu_);
  for (Watched& x : watched_) {
    Writer& w = *x.writer;
    const Destination& d = *w.destination();
    const Writer::Activity a = w.activity();
    // It got on again after it was shown stalled (not failed: that ends
    // the stall in its own words).
    auto unstall = [&] {
      if (x.stalled && w.state() != DestinationState::kFailed)
        log_->Notice(d.name() + ": progressing again");
      x.stalled = false;
      w.set_stalled(false);
    };
    if (!a.busy) {
      // Idle (nothing for it to do) or ended: nothing is late.
      x.busy = false;
      unstall();
      continue;
    }
    const uint64_t kernel = d.kernel_progress();
    if (!x.busy) {
      // Work has just appeared: silence counts from now.
      x.busy = true;
      x.busy_since = now;
      x.kernel = kernel;
      x.kernel_moved = now;
      x.next_notice = notice_;
    }
    if (kernel != x.kernel) {
      x.kernel = kernel;
      x.kernel_moved = now;
    }
    const auto since = std::max({a.last_progress, x.busy_since, x.kernel_moved});
    const seconds silent = std::chrono::duration_cast<seconds>(now - since);
    if (silent < notice_) {
      unstall();
      x.next_notice = notice_;
      continue;
    }
    x.stalled = true;
    w.set_stalled(true);
    if (timeout_.count() > 0 && silent >= timeout_) {
      w.FailStalled(d.name() + ": no progress for " + std::to_string(timeout_.count()) +
                    " s (stall-timeout=" + std::to_string(timeout_.count()) + ")");
      continue;
    }
    if (silent >= x.next_notice) {
      log_->Notice(d.name() + ": no progress for " + std::to_string(silent.count()) + " s");
      // Again when the silence has doubled: a long stall is not a flood.
      x.next_notice = 2 * silent;
    }
  }
}

}  // namespace fanout
