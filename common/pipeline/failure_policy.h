// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// FailurePolicy: whether a client request may succeed now.  A destination
// that fails stops alone (its writer detaches from the bus); what the
// client hears is decided here, from the writers' health:
//
//   on-error=continue  requests succeed while at least quorum= destinations
//                      are healthy;
//   on-error=fail      every request after the first failure fails.
//
// A late extent (a write behind the stream position) reaches the seekable
// destinations but every stream will fail on it: DoomStreams() counts them
// failed at once, so the request that went out late and every later one
// see the same policy.  Two refusals are not the policy's own but are said
// the same way: the window lost what it had to hold (spill=), and the run
// was interrupted.  Each refusal is logged once: a client retrying would
// flood the log otherwise.
//
// Thread-safe.  It takes no lock of the engine's, and none of its own
// while it asks the writers.
#ifndef FANOUT_PIPELINE_FAILURE_POLICY_H
#define FANOUT_PIPELINE_FAILURE_POLICY_H

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/writer.h"
#include "util/logger.h"
#include "util/mutex.h"
#include "util/status.h"

namespace fanout {

class FailurePolicy {
 public:
  enum class OnError { kContinue, kFail };

  // writers: the run's writers, filled before the first Admit() and not
  // changed after; they and log outlive the policy.
  FailurePolicy(OnError on_error, size_t quorum,
                const std::vector<std::shared_ptr<Writer>>* writers, Logger* log);
  FailurePolicy(const FailurePolicy&) = delete;
  FailurePolicy& operator=(const FailurePolicy&) = delete;

  // OK if a request may succeed now; else the refusal, logged the first
  // time.  After Interrupt(), the interruption's refusal (logged once too).
  Status Admit();
  // A late extent went out: every stream destination will fail on it.
  void DoomStreams();

  // The window refused a request because it lost bytes (spill=); the
  // window itself said why, once.
  void NoteWindowRefused() { window_refused_ = true; }
  // Some request was refused by the policy or the window (the status
  // file's refused_requests): what the destinations hold is what the
  // client wrote until then.
  bool refused_requests() const { return refusal_logged_.load() || window_refused_.load(); }

  // The run ends before the client finished: every request is refused
  // from now on.  True the first time; later calls keep the first reason.
  bool Interrupt(const std::string& reason);
  bool interrupted() const { return interrupted_.load(); }
  // Interrupt()'s reason; empty before.
  std::string interrupted_reason() const;

 private:
  // The refusal under on-error= and quorum=, or OK.
  Status Refusal() const;

  const OnError on_error_;
  const size_t quorum_;
  const std::vector<std::shared_ptr<Writer>>* const writers_;
  Logger* const log_;
  std::atomic<bool> refusal_logged_{false};  // the policy's first refusal is logged, once
  std::atomic<bool> window_refused_{false};
  std::atomic<bool> interrupted_refusal_logged_{false};  // likewise after Interrupt()
  // Set once, with its reason.
  std::atomic<bool> interrupted_{false};
  mutable Mutex mu_;
  std::string interrupted_reason_ GUARDED_BY(mu_);
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_FAILURE_POLICY_H
