// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// PageHashes: the expected content of the final image, as one XXH3-64 hash
// per 4 KiB page, for verify= (and to check the destination the image's
// SHA-256 is read from).
//
// It is fed every committed extent in commit order (the engine's BusSink,
// where the extent's bytes are in hand), which is also the order in which
// every destination performs them, so the table always describes what a
// correct destination holds once it has caught up.  Extents come in any
// granularity: the unordered window commits the written ranges of a chunk
// (any length), rewrites them later, commits zero extents; the ordered
// window commits [0, C) in order but late extents change bytes behind C.
//
// Each page is in one of four states:
//   unset    nothing committed yet (the bytes are the export's zeros);
//   whole    its final-so-far content is known by its hash alone (8 bytes);
//   partial  its bytes are kept in a side map (4 KiB + a mask) because only
//            part of it has been committed since it was unset;
//   unknown  a partial extent rewrote part of a whole page, and no
//            destination held the page's committed bytes to complete it.
//
// The difficult case is a partial extent over a whole page: the bytes it
// does not cover are known only by their hash.  Apply() then asks the page
// source (the engine) for the page as a destination holds it now, after
// every earlier extent has reached that destination, and accepts the bytes
// only if they hash to the expected value.  So the table never guesses:
// either it knows a page exactly, or the page is unknown and the verifier
// says it could not check it ("unverifiable", never a false verdict).
// Later extents that cover the rest of an unknown page make it known again.
//
// Memory grows with what was written, not with the export: zero pages (never
// written, or wholly zeroed since) are "unset" and need no stored hash, so
// the table is sparse, in regions of kRegionPages pages allocated when a page
// of theirs first holds data and freed when all of them are zero again.  A
// region costs about 650 bytes with its map node (9 bytes per page and the
// node: 2.5 MiB per GiB written; a lone 4 KiB write costs a whole region),
// plus 4.6 KiB per partial page.  Partial
// pages exist only while a client has written part of a page that it never
// wrote whole (sub-4 KiB writes into new ground); the window's end-of-stream
// zero fill completes every one of them.
//
// Not thread-safe.  Apply() runs under the engine's lock; the accessors are
// used by the verifier after the last Apply(), once the writers are joined.
#ifndef FANOUT_INTEGRITY_PAGE_HASHES_H
#define FANOUT_INTEGRITY_PAGE_HASHES_H

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "util/range_map.h"
#include "util/rounding.h"

namespace fanout {

class PageHashes {
 public:
  static constexpr uint64_t kPageSize = fanout::kPageSize;
  // Pages per region: small, so that scattered writes allocate little they
  // do not use (a region covers 256 KiB of the export).
  static constexpr uint64_t kRegionPages = 64;

  // Fills out with the page at offset (length bytes, the page's length) as
  // some destination holds it now, with every extent committed so far
  // applied; returns false if no destination holds bytes that hash to
  // expected.  The implementation must check the hash itself (Hash()).
  using PageSource =
      std::function<bool(uint64_t offset, size_t length, uint64_t expected, uint8_t* out)>;

  // size: the export's size.  source may be null (the unit tests): then a
  // partial rewrite of a whole page makes it unknown.
  PageHashes(uint64_t size, PageSource source);
  PageHashes(const PageHashes&) = delete;
  PageHashes& operator=(const PageHashes&) = delete;

  // The hash of length bytes (an XXH3-64); a null data means zeros.
  static uint64_t Hash(const uint8_t* data, size_t length);

  // Records one committed extent: [offset, offset + length) now holds data
  // (or zeros when data is null).  REQUIRES: in commit order; inside the
  // export.
  void Apply(uint64_t offset, uint64_t length, const uint8_t* data);

  uint64_t size() const { return size_; }
  uint64_t pages() const { return DivRoundUp(size_, kPageSize); }
  // The page's length: kPageSize, except for a short last page.
  size_t PageLength(uint64_t page) const;
  // The page's expected hash, or false if its content is unknown.
  bool Expected(uint64_t page, uint64_t* hash) const;

  size_t partial_pages() const { return partial_.size(); }
  uint64_t unknown_pages() const;
  // Regions allocated (pages that are not all zero, in kRegionPages).
  size_t regions() const { return regions_.size(); }

 private:
  // kUnset: the page reads as zeros (never written, or zeroed whole).
  enum State : uint8_t { kUnset, kWhole, kPartial, kUnknown };
  struct Partial {
    uint8_t bytes[kPageSize];
    RangeMap known;  // page-relative ranges whose bytes are in `bytes`
  };
  struct Region {
    uint64_t hashes[kRegionPages];  // valid for whole pages
    State states[kRegionPages];
    uint32_t set = 0;  // pages not kUnset; the region is freed at 0
  };

  // The page's state (kUnset where no region is allocated).
  State StateOf(uint64_t page) const;
  // The page's region, allocated (all unset) if it was not.
  Region* RegionFor(uint64_t page);
  // Gives the page a state other than kUnset, with its hash if kWhole.
  void SetPage(uint64_t page, State state, uint64_t hash);
  // Makes the whole pages [first, end) zero: unset, their regions freed
  // when nothing else in them is set.  Costs nothing where no region is.
  void ZeroPages(uint64_t first, uint64_t end);
  // Applies the piece [start, end) of a page (page-relative) from data.
  void ApplyPart(uint64_t page, size_t start, size_t end, const uint8_t* data);
  // A partial page whose bytes are all known becomes whole.
  void SealIfComplete(uint64_t page, Partial* p);

  const uint64_t size_;
  const PageSource source_;
  const uint64_t zero_page_hash_;
  // Region index -> region; ordered, so that zeroing a long range visits
  // only the regions it holds.
  std::map<uint64_t, std::unique_ptr<Region>> regions_;
  // The last region RegionFor() found: commits are mostly sequential.
  // (Not used by the const accessors, which verifiers call in parallel.)
  uint64_t last_index_ = UINT64_MAX;
  Region* last_region_ = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<Partial>> partial_;  // partial and unknown pages
};

}  // namespace fanout

#endif  // FANOUT_INTEGRITY_PAGE_HASHES_H
