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
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
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
  std::unique_lock<std::mutex> lock(mu_);
  for (int n = 0; !stop_; n++) {
    lock.unlock();
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
    lock.lock();
    wake_.wait_for(lock, tick, [&] { return stop_; });
  }
}

Status Reporter::Stop(const Snapshot& final_snapshot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return Status::OK();
    stopped_ = stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  Status s = UpdateStatusFile(final_snapshot);
  if (progress_) progress_->Print(final_snapshot);
  return s;
}

}  // namespace fanout
