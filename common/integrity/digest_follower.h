// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// DigestFollower: the image's SHA-256, hashed on a thread of its own while
// the image is being written, so that the end of the stream does not have
// to read a destination back for it.
//
// SHA-256 is a chain: bytes must go in in order, from offset 0.  Clients
// do not always write in that order (nbdcopy's threads each copy their own
// region; mkfs goes back to rewrite headers), so the follower keeps the
// committed prefix: [0, prefix) is the longest run from offset 0 in which
// every byte has been committed.  Each committed extent, in commit order:
//
//   - starts at the prefix: it is queued with its pool buffer (no copy) and
//     the prefix grows.  Ranges committed earlier just beyond it that are
//     now contiguous join the queue too, as "read back" items: their
//     buffers were not kept (that could be the whole image), so the
//     follower reads them from a seekable destination once it has applied
//     them.  Zero ranges are hashed without reading.
//   - starts beyond the prefix: only its range is remembered.
//   - starts behind the prefix: bytes already queued for the digest have
//     changed (a late write, a rewrite).  The follower gives up and the
//     engine reads a destination back at the end, as before it existed.
//
// Whatever is read back is checked, page by page, against the image's
// expected page hashes (PageCheck): the digest is printed only for bytes
// known to be what the client wrote.  A page partly read back and partly
// hashed from memory is checked once it is whole.
//
// The queue holds pool buffers, so a follower slower than the destinations
// slows the client as a slow destination does, and memory stays within the
// pool.  (Queuing extents to read back instead of holding them once the
// follower fell behind was tried: on 2 busy cores the extra reads and page
// checks cost more than the wait, 1 GiB to 1 and 4 tmpfs files took 3-30%
// longer.)  One thread, woken by commits; it never takes the engine's lock
// (the reader and the page check use their own), so a request blocked on
// the pool under that lock can always be freed by the follower.
//
// Thread-safe: Commit() runs under the engine's lock, the hashing on the
// follower's thread, Finish() on the engine's finishing thread.
#ifndef FANOUT_INTEGRITY_DIGEST_FOLLOWER_H
#define FANOUT_INTEGRITY_DIGEST_FOLLOWER_H

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "integrity/sha256.h"
#include "util/mutex.h"
#include "util/range_map.h"
#include "util/rounding.h"
#include "window/extent.h"

namespace fanout {

class DigestFollower {
 public:
  // Reads [offset, offset + length) into out as a seekable destination
  // holds it once it has applied every extent up to bus sequence seq;
  // false if no destination can.  A reader may pass over a destination
  // whose bytes it finds are not the image's, for the next.
  using Reader = std::function<bool(uint64_t seq, uint64_t offset, uint64_t length, uint8_t* out)>;
  // Checks that the whole pages [offset, offset + length) (offset
  // page-aligned; length a multiple of the page size, or reaching the end
  // of the image) hold the image's expected bytes: returns the offset of
  // the first page that does not, or nullopt.
  using PageCheck =
      std::function<std::optional<uint64_t>(uint64_t offset, const uint8_t* data, uint64_t length)>;

  static constexpr uint64_t kPageSize = fanout::kPageSize;
  // Largest piece read back at once.
  static constexpr uint64_t kReadSize = 4 << 20;

  // reader and check may be null when nothing can ever be read back (every
  // commit in order: a stream destination); a read-back item then gives up.
  DigestFollower(uint64_t size, Reader reader, PageCheck check);
  ~DigestFollower();
  DigestFollower(const DigestFollower&) = delete;
  DigestFollower& operator=(const DigestFollower&) = delete;

  // Whether some destination may still hold the image; checked between
  // pieces, and once it says no the follower abandons the digest (nothing
  // is hashed for nobody).  REQUIRES: before Start().
  void set_still_needed(std::function<bool()> needed) { needed_ = std::move(needed); }

  // Starts the hashing thread (after nbdkit has forked).
  void Start();
  // One committed extent, in commit order, before it is published on the
  // bus as sequence seq.
  void Commit(const Extent& extent, uint64_t seq);
  // After the last Commit() and once the writers have finished: hashes
  // what is still queued and stops the thread.  The digest, if every byte
  // [0, size) went in and nothing changed behind; otherwise nullopt and
  // gave_up() says why.  Call once.
  std::optional<std::string> Finish();
  // The end of the client's writes (image_bytes), once the stream ends
  // and before the window commits its zero-fill: the digest of [0, end)
  // is kept as it goes past (image_sha256).  Nothing committed before the
  // stream ends lies beyond it.
  void MarkImageEnd(uint64_t end);
  // That digest, after Finish() returned one.
  std::optional<std::string> image_digest() const { return sha_.mark_hex(); }

  // Nothing will need the digest any more (the run was interrupted, or no
  // destination can hold the image): give up with `why` and stop hashing
  // within one piece, even in the middle of a long run of zeros.
  // Thread-safe; Finish() then returns at once.
  void Abandon(const std::string& why);

  std::string gave_up() const;
  // Bytes hashed straight from committed extents, and read back.
  uint64_t bytes_from_memory() const { return from_memory_; }
  uint64_t bytes_read_back() const { return read_back_; }

 private:
  struct Item {
    uint64_t offset;
    uint64_t length;
    Extent extent;           // data or zeros, or...
    bool read_back = false;  // ...read from a destination once it applied seq
    uint64_t seq = 0;
  };

  void Run();
  // Absorbs remembered ranges that now continue the prefix.
  void AbsorbLocked(uint64_t seq) REQUIRES(mu_);
  // Queues [offset, offset + length) to be read back once seq is applied.
  void QueueReadBackLocked(uint64_t offset, uint64_t length, uint64_t seq) REQUIRES(mu_);
  void GiveUpLocked(const std::string& why) REQUIRES(mu_);
  void GiveUp(const std::string& why) EXCLUDES(mu_);
  // Hashes one item; false if it gave up.
  bool Hash(const Item& item, uint8_t* read_buf);
  // Feeds bytes at hashed_ (null: zeros) to the SHA-256 and the page check.
  bool Consume(const uint8_t* data, uint64_t length, bool read_back);

  const uint64_t size_;
  const Reader reader_;
  const PageCheck check_;

  mutable Mutex mu_;
  CondVar wake_;
  std::deque<Item> queue_ GUARDED_BY(mu_);
  uint64_t prefix_ GUARDED_BY(mu_) = 0;     // [0, prefix_) is queued or hashed
  RangeMap beyond_prefix_ GUARDED_BY(mu_);  // committed ranges beyond prefix_
  std::string gave_up_ GUARDED_BY(mu_);     // empty while following
  bool stop_ GUARDED_BY(mu_) = false;
  std::optional<uint64_t> image_end_ GUARDED_BY(mu_);  // see MarkImageEnd()
  std::atomic<bool> abandoned_{false};                 // see Abandon()
  std::function<bool()> needed_;                       // see set_still_needed()
  // Abandons the digest if needed_ says nobody can hold the image; true
  // while hashing should go on.
  bool StillNeeded();
  std::thread thread_;

  // The hashing thread's own (Finish() reads them after joining it).
  Sha256 sha_;
  uint64_t hashed_ = 0;
  // The page being assembled when a piece ends inside a page.
  uint8_t page_[kPageSize];
  bool page_read_back_ = false;  // some byte of page_ was read back
  std::atomic<uint64_t> from_memory_{0};
  std::atomic<uint64_t> read_back_{0};
};

}  // namespace fanout

#endif  // FANOUT_INTEGRITY_DIGEST_FOLLOWER_H
