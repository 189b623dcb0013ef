// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Verification: verify='s read-back of one seekable destination.  After
// every writer has drained and synced (Engine::Finish), it reads the
// destination back past the page cache (Destination::OpenReadBack) and
// compares each 4 KiB page with the expected hash of the final image
// (PageHashes).  The first page that differs makes it a mismatch at that
// page's offset; a page whose expected content is unknown makes it
// unverifiable (never a guess either way); otherwise it is verified.
//
// It can feed what it reads, in order, into a SHA-256 (the image's digest
// when only seekable destinations exist, or when a late write made the
// in-order digest stale): that digest is the image's only if the
// verification ends kVerified, which the caller checks.
//
// Run() reads on the calling thread; RunInParallel() gives each
// verification a thread of its own (one per destination, not per request).
// The accessors are thread-safe: the reporter shows progress while it runs.
#ifndef FANOUT_INTEGRITY_VERIFICATION_H
#define FANOUT_INTEGRITY_VERIFICATION_H

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "dest/destination.h"
#include "integrity/page_hashes.h"
#include "integrity/sha256.h"
#include "pipeline/destination_state.h"
#include "util/logger.h"
#include "util/mutex.h"

namespace fanout {

class Verification {
 public:
  // Bytes read at once: large enough for O_DIRECT to stream, small enough
  // to be nothing next to the bus.
  static constexpr size_t kReadSize = 1 << 20;

  // REQUIRES: dest->seekable(); dest, hashes, log (and digest, if not null)
  // outlive this; nothing applies to hashes any more.
  Verification(Destination* dest, const PageHashes* hashes, Logger* log, Sha256* digest = nullptr);
  Verification(const Verification&) = delete;
  Verification& operator=(const Verification&) = delete;

  // Reads and compares; logs the verdict when it is not kVerified.
  void Run();

  // Stop reading soon (the run was interrupted): Run() ends kIncomplete
  // with `why`.  Thread-safe.
  void Cancel(const std::string& why);

  Destination* destination() const { return dest_; }
  // kVerifying until Run() ends; then kVerified, kMismatch, kUnverifiable,
  // or kFailed (the read-back itself failed).
  DestinationState state() const { return state_.load(); }
  // Bytes read and compared so far.
  uint64_t verified_bytes() const { return bytes_.load(); }
  // The verdict when it is not kVerified: offset (the first differing page,
  // the first unknown page, or where the read failed), errno and message.
  Failure failure() const;

 private:
  void End(DestinationState state, int err, uint64_t offset, const std::string& message);

  Destination* const dest_;
  const PageHashes* const hashes_;
  Logger* const log_;
  Sha256* const digest_;
  std::atomic<DestinationState> state_{DestinationState::kVerifying};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<bool> cancelled_{false};
  mutable Mutex mu_;
  Failure failure_ GUARDED_BY(mu_);
  std::string cancelled_why_ GUARDED_BY(mu_);
};

// Runs each verification on a thread of its own and waits for all of them.
void RunInParallel(const std::vector<Verification*>& verifications);

}  // namespace fanout

#endif  // FANOUT_INTEGRITY_VERIFICATION_H
