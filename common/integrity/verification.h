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
#include "window/hole_map.h"

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

  // holes=skip: d leaves holes as they were, so they are not compared:
  // reads that are all holes are not made, and holes inside a read count
  // as the zeros the image has there.  REQUIRES: before Run(); holes
  // outlives this and no longer changes.
  void set_holes(const HoleMap* holes) { holes_ = holes; }
  // verify=repair: Run() goes on past a page that differs, collecting up
  // to kMaxRepairPages of them for Repair(), and ends kMismatch without
  // logging it (Repair() says what became of it).
  static constexpr size_t kMaxRepairPages = 65536;
  void set_collect_mismatches(bool collect) { collect_ = collect; }

  // Reads and compares; logs the verdict when it is not kVerified.
  void Run();

  // A destination to copy pages from, with its holes if it skips them.
  struct RepairSource {
    Destination* dest;
    const HoleMap* holes;
  };
  // After a Run() that ended kMismatch with pages collected: copies each
  // of those pages from the first of sources whose copy of the page hashes
  // as the image's page should, writes it to this destination, makes it
  // durable, and reads it back again.  Ends kRepaired (repaired_pages()),
  // or kMismatch if a page had no good copy or still differs.  Logs the
  // verdict.
  void Repair(const std::vector<RepairSource>& sources);
  bool repairable() const { return state() == DestinationState::kMismatch && !bad_pages_.empty(); }
  uint64_t repaired_pages() const { return repaired_pages_.load(); }

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
  // Compares the n bytes read at offset (buf) page by page: unknown pages
  // are counted, differing ones collected (set_collect_mismatches()) or
  // the end.  False if it ended the verification.
  bool ComparePages(const uint8_t* buf, uint64_t offset, uint64_t n, uint64_t* unknown,
                    uint64_t* first_unknown);
  // "NAME: verify: differs from the image in N 4 KiB pages, the first at
  // offset X", for the pages collected.  REQUIRES: some were.
  std::string DiffersInPages() const;
  // Reads the page p through reader into buf (kPageSize, aligned), with
  // holes (if any) as zeros; true if it holds the image's bytes.
  bool ReadPage(ReadBack* reader, const HoleMap* holes, uint64_t p, uint8_t* buf, Status* s) const;

  Destination* const dest_;
  const PageHashes* const hashes_;
  Logger* const log_;
  Sha256* const digest_;
  std::atomic<DestinationState> state_{DestinationState::kVerifying};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<bool> cancelled_{false};
  const HoleMap* holes_ = nullptr;   // see set_holes()
  bool collect_ = false;             // see set_collect_mismatches()
  std::vector<uint64_t> bad_pages_;  // collected by Run(), in order
  std::atomic<uint64_t> repaired_pages_{0};
  mutable Mutex mu_;
  Failure failure_ GUARDED_BY(mu_);
  std::string cancelled_why_ GUARDED_BY(mu_);
};

// Runs each verification on a thread of its own and waits for all of them.
void RunInParallel(const std::vector<Verification*>& verifications);

}  // namespace fanout

#endif  // FANOUT_INTEGRITY_VERIFICATION_H
