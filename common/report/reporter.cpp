// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "report/reporter.h"

#include <chrono>

#include "report/status_json.h"

namespace fanout {

Reporter::Reporter(std::function<Snapshot()> take, std::string status_file,
                   std::unique_ptr<ProgressDisplay> progress, bool terminal, Logger* log)
    : take_(std::move(take)),
      status_file_(std::move(status_file)),
      progress_(std::move(progress)),
      terminal_(terminal),
      log_(log) {}

Reporter::~Reporter() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void Reporter::Start() {
  if (status_file_.empty() && !progress_) return;
  thread_ = std::thread([this] { Run(); });
}

Status Reporter::UpdateStatusFile(const Snapshot& snap) {
  if (status_file_.empty()) return Status::OK();
  Status s = WriteStatusFile(status_file_, snap);
  if (!s.ok() && !status_error_) {
    status_error_ = true;  // once: a full disk must not flood the log
    log_->Error(s.message());
  }
  return s;
}

void Reporter::Run() {
  using namespace std::chrono;
  // Bars four times a second on a terminal; a plain line every 5 s in a
  // log, and at once when a destination becomes stalled (a stall is
  // news).  The status file every second.
  const milliseconds tick = milliseconds(250);
  const int status_every = 4;
  const int plain_every = 20;
  const bool plain = progress_ && !terminal_;
  size_t stalled_shown = 0;
  MutexLock lock(&mu_);
  for (int n = 0; !stop_; n++) {
    lock.Unlock();
    const bool status_now = n % status_every == 0;
    bool progress_now = progress_ && (terminal_ || (n > 0 && n % plain_every == 0));
    if (status_now || progress_now || plain) {
      const Snapshot snap = take_();
      if (plain) {
        size_t stalled = 0;
        for (const DestinationSnapshot& d : snap.destinations)
          if (d.stalled_seconds) stalled++;
        if (stalled > stalled_shown) progress_now = true;
        stalled_shown = stalled;
      }
      if (status_now) (void)UpdateStatusFile(snap);
      if (progress_now) progress_->Print(snap);
    }
    lock.Lock();
    wake_.WaitFor(&mu_, tick, [&]() REQUIRES(mu_) { return stop_; });
  }
}

Status Reporter::Stop(const Snapshot& final_snapshot) {
  {
    MutexLock lock(&mu_);
    if (stopped_) return Status::OK();
    stopped_ = stop_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
  Status s = UpdateStatusFile(final_snapshot);
  if (progress_) progress_->Print(final_snapshot);
  return s;
}

}  // namespace fanout
