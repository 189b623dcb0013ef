// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// ImageIntegrity: what the run knows of the image it wrote, and the proof
// that destinations hold it.  It keeps the expected page hashes
// (PageHashes) and the SHA-256 hashed while the image is written
// (DigestFollower), reads back from the destinations what either needs,
// remembers destinations that did not hold what was written to them
// (suspects), and at the end of the stream runs verify= and settles which
// SHA-256 is reported, or why none is.
//
// The engine tells it three things, in this order: an extent was committed
// (Committed), the stream ended (StreamEnding, AllCommitted, then Finish
// once the writers are joined); and it asks it for its part of the
// snapshot (Report).  Nothing here calls back into the engine: it reads
// back from the writers it was given.
//
// Thread-safe as each function says.  Its locks are its own, and none is
// held while it waits for the pool, so the digest follower can always free
// a request that the engine's lock holds blocked on it.
#ifndef FANOUT_INTEGRITY_IMAGE_INTEGRITY_H
#define FANOUT_INTEGRITY_IMAGE_INTEGRITY_H

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dest/destination.h"
#include "integrity/digest_follower.h"
#include "integrity/page_hashes.h"
#include "integrity/sha256.h"
#include "integrity/verification.h"
#include "pipeline/bus.h"
#include "pipeline/destination_state.h"
#include "pipeline/writer.h"
#include "util/logger.h"
#include "util/mutex.h"
#include "window/extent.h"

namespace fanout {

// ImageIntegrity's part of a snapshot.
struct IntegrityReport {
  // A destination that was read back: its verdict replaces its writer's
  // state (index: the writer's).
  struct Verdict {
    size_t index;
    DestinationState state;
    uint64_t verified_bytes;
    std::optional<Failure> failure;          // when the verdict is not kVerifying or kVerified
    std::optional<uint64_t> repaired_pages;  // kRepaired
  };
  std::vector<Verdict> verdicts;
  // Destinations are being read back at the end of the stream.
  bool verifying = false;
  // The image's SHA-256 (hex) once known; otherwise, at the end, why not.
  std::optional<std::string> sha256;
  std::string sha256_unavailable;
  // The SHA-256 of [0, image_bytes), with sha256.
  std::optional<std::string> image_sha256;
};

class ImageIntegrity {
 public:
  struct Spec {
    uint64_t size = 0;     // the export's
    bool verify = false;   // verify=
    bool repair = false;   // verify=repair
    bool sha256 = false;   // sha256=
    bool ordered = false;  // the window commits in order (there is a stream)
  };

  // writers: the run's, in destination order, filled before the first
  // Committed() and not changed after; bus: the one they consume.  They
  // and log outlive this.
  ImageIntegrity(const Spec& spec, const std::vector<std::shared_ptr<Writer>>* writers,
                 const Bus* bus, Logger* log);
  ImageIntegrity(const ImageIntegrity&) = delete;
  ImageIntegrity& operator=(const ImageIntegrity&) = delete;

  // holes=skip: the export's holes, which the writers that skip them
  // (Writer::skip_holes()) left as they were; read back, those compare
  // their other bytes only.  REQUIRES: before Finish(); holes outlives
  // this and no longer changes once the stream ended.
  void set_holes(const HoleMap* holes) { holes_ = holes; }
  // Starts the digest follower's thread (after nbdkit has forked).
  void Start();
  // One committed extent, in commit order, before it is published on the
  // bus as sequence seq.  REQUIRES: commits serialised (the engine's lock).
  void Committed(const Extent& extent, uint64_t seq);
  // The window is about to commit what it holds and zero-fill the rest:
  // with every destination failed there is nobody to hash it for.
  // REQUIRES: commits serialised.
  // image_end: the highest end of the client's writes and zeros (the
  // image's digest, image_sha256, covers [0, image_end)).
  void StreamEnding(uint64_t image_end);
  // Every extent is committed: the digest follower hashes what is left,
  // reading back from destinations that are still open, so before the bus
  // is closed.
  void AllCommitted();
  // After the writers are joined: verify= reads back the destinations
  // that are done, and the SHA-256 is settled, read back from one that
  // holds the image if it was not hashed while written.  A destination
  // that was suspect is read back too, and reported if it still does not
  // hold the image.
  void Finish();
  // The run was interrupted: the digest follower gives up and any
  // read-back running stops soon (it ends kIncomplete).  Thread-safe.
  void Interrupt(const std::string& reason);
  // No SHA-256 is reported after all, for `why`.  Thread-safe.
  void WithdrawDigest(const std::string& why);

  // Thread-safe.
  IntegrityReport Report() const;

 private:
  // The page [offset, offset + length) as a healthy seekable destination
  // holds it once every extent committed so far has reached it, if its
  // bytes hash to expected (PageHashes' page source).  It runs inside a
  // commit's Apply, with hashes_mu_ held.
  bool ReadCommittedPage(uint64_t offset, size_t length, uint64_t expected, uint8_t* out)
      REQUIRES(hashes_mu_);
  // The digest follower's reader: [offset, offset + length) once applied
  // through seq, from a destination whose whole pages there are the image's.
  bool ReadImagePiece(uint64_t seq, uint64_t offset, uint64_t length, uint8_t* out);
  // [offset, offset + length) from the first healthy seekable destination,
  // once it has applied extent seq, whose bytes accept (if given) takes.
  bool ReadApplied(uint64_t seq, uint64_t offset, uint64_t length, uint8_t* out,
                   const std::function<bool(const Destination&)>& accept = nullptr);
  // The digest follower's check: whole pages against the page hashes; the
  // first that differs.
  std::optional<uint64_t> PageNotTheImage(uint64_t offset, const uint8_t* data, uint64_t length);
  // d was read back while the image was written and did not hold what was
  // written to it: it is read back in full at the end (verify= or not) and
  // reported if it still does not hold the image.  Thread-safe.
  void Suspect(const Destination& d);
  // Some destination may still end up holding the image.
  bool AnyHealthy() const;

  // Finish()'s steps.
  // Seekable destinations whose writers are done: they hold the whole
  // image, if all went well.
  std::vector<size_t> DoneSeekable() const;
  // Says in the debug log what became of the digest hashed while written.
  void LogFollowed(bool hashed, bool can_read_back) const;
  // Which candidates are suspect (by writer index).
  std::vector<bool> Suspects(const std::vector<size_t>& candidates);
  // Reads back, in parallel, every candidate verify= asks for, every
  // suspect one, and `feeder` (if any) into sha.  Interrupted before it
  // began, it reads none and empties candidates.  True if feeder's read
  // verified (sha is the image's).
  bool ReadBackAtEnd(std::vector<size_t>* candidates, const std::vector<bool>& suspect,
                     std::optional<size_t> feeder, Sha256* sha);
  // The feeder's read did not hold the image: the SHA-256 from another
  // candidate that does, if any.
  // (*image: the digest of [0, image_end), from the same read.)
  std::optional<std::string> DigestFromAnother(const std::vector<size_t>& candidates, size_t feeder,
                                               std::optional<std::string>* image);
  // A Verification of writer i (its holes set if it skips them).
  std::unique_ptr<Verification> NewVerification(size_t i, Sha256* digest) const;
  // verify=repair: each destination that differs in some pages has them
  // rewritten from one that verified.
  void RepairMismatches();
  // Runs v, cancellable by Interrupt(); false if interrupted before it began.
  bool RunCancellable(Verification* v);
  // Records the SHA-256 (and the image's), or why there is none.
  void Settle(const std::optional<std::string>& digest,
              const std::optional<std::string>& image_digest, std::string unavailable);

  const bool verify_;
  const bool repair_;
  const HoleMap* holes_ = nullptr;  // see set_holes()
  const bool want_sha256_;
  const uint64_t size_;
  const std::vector<std::shared_ptr<Writer>>* const writers_;
  const Bus* const bus_;
  Logger* const log_;

  // Expected page hashes of the image (verify=, or when the SHA-256 may
  // have to be read from a destination): fed by Committed(), read by the
  // digest follower under hashes_mu_, and by the verifications without it
  // once the writers are joined (nothing applies to it any more).
  // hashes_mu_ is never held while waiting for the pool.
  Mutex hashes_mu_;
  std::unique_ptr<PageHashes> hashes_ PT_GUARDED_BY(hashes_mu_);
  // Hashes the image's SHA-256 as it is committed (sha256=).  Declared
  // after hashes_, which its thread uses.
  std::unique_ptr<DigestFollower> follower_;
  // What the follower ended with (AllCommitted() to Finish(), the
  // finishing thread only).
  std::optional<std::string> followed_;
  std::optional<std::string> followed_image_;
  // StreamEnding()'s image_end (the finishing thread only).
  uint64_t image_end_ = 0;
  Mutex suspects_mu_;
  std::set<const Destination*> suspects_ GUARDED_BY(suspects_mu_);  // see Suspect()

  mutable Mutex verify_mu_;
  // One per writer (null: not read back), once Finish() begins.
  std::vector<std::unique_ptr<Verification>> verifications_ GUARDED_BY(verify_mu_);
  // The read-backs running now (Interrupt() cancels them).
  std::vector<Verification*> running_ GUARDED_BY(verify_mu_);
  bool interrupted_ GUARDED_BY(verify_mu_) = false;
  std::optional<std::string> digest_ GUARDED_BY(verify_mu_);
  std::optional<std::string> image_digest_ GUARDED_BY(verify_mu_);
  std::string digest_unavailable_ GUARDED_BY(verify_mu_);
  std::atomic<bool> verifying_{false};
};

}  // namespace fanout

#endif  // FANOUT_INTEGRITY_IMAGE_INTEGRITY_H
