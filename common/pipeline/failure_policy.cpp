// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/failure_policy.h"

#include <cerrno>

namespace fanout {

FailurePolicy::FailurePolicy(OnError on_error, size_t quorum,
                             const std::vector<std::shared_ptr<Writer>>* writers, Logger* log)
    : on_error_(on_error), quorum_(quorum), writers_(writers), log_(log) {}

Status FailurePolicy::Admit() {
  if (interrupted_) {
    Status s =
        Status::IOError(EIO, "refusing requests: the run was interrupted: " + interrupted_reason());
    // Not the failure policy's refusal (refused_requests()).
    if (!interrupted_refusal_logged_.exchange(true)) log_->Error(s.message());
    return s;
  }
  Status s = Refusal();
  // Said once: a client retrying would flood the log otherwise.
  if (!s.ok() && !refusal_logged_.exchange(true)) log_->Error(s.message());
  return s;
}

Status FailurePolicy::Refusal() const {
  size_t healthy = 0;
  const Writer* failed = nullptr;
  for (const auto& w : *writers_) {
    if (w->healthy())
      healthy++;
    else if (!failed)
      failed = w.get();
  }
  if (failed && on_error_ == OnError::kFail) {
    const std::string why = failed->state() == DestinationState::kFailed
                                ? failed->failure().message
                                : "a write behind the stream position";
    return Status::IOError(EIO, "refusing requests (on-error=fail): destination " +
                                    failed->destination()->name() + " failed: " + why);
  }
  if (healthy < quorum_)
    return Status::IOError(
        EIO, "refusing requests: " + std::to_string(healthy) + " of " +
                 std::to_string(writers_->size()) +
                 " destinations are healthy, fewer than quorum=" + std::to_string(quorum_));
  return Status::OK();
}

void FailurePolicy::DoomStreams() {
  for (auto& w : *writers_)
    if (!w->destination()->seekable()) w->Doom();
}

bool FailurePolicy::Interrupt(const std::string& reason) {
  MutexLock lock(&mu_);
  if (interrupted_.load()) return false;
  interrupted_reason_ = reason;
  interrupted_ = true;
  return true;
}

std::string FailurePolicy::interrupted_reason() const {
  MutexLock lock(&mu_);
  return interrupted_reason_;
}

}  // namespace fanout
