// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "integrity/page_hashes.h"

#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "util/zero_block.h"

namespace fanout {

uint64_t PageHashes::Hash(const uint8_t* data, size_t length) {
  assert(length <= kPageSize);
  return XXH3_64bits(data ? data : kZeroBlock, length);
}

PageHashes::PageHashes(uint64_t size, PageSource source)
    : size_(size), source_(std::move(source)), zero_page_hash_(Hash(nullptr, kPageSize)) {}

PageHashes::State PageHashes::StateOf(uint64_t page) const {
  auto it = regions_.find(page / kRegionPages);
  return it == regions_.end() ? kUnset : it->second->states[page % kRegionPages];
}

PageHashes::Region* PageHashes::RegionFor(uint64_t page) {
  const uint64_t index = page / kRegionPages;
  if (index == last_index_) return last_region_;
  std::unique_ptr<Region>& r = regions_[index];
  if (!r) {
    r = std::make_unique<Region>();
    std::fill(std::begin(r->states), std::end(r->states), kUnset);
  }
  last_index_ = index;
  last_region_ = r.get();
  return r.get();
}

void PageHashes::SetPage(uint64_t page, State state, uint64_t hash) {
  assert(state != kUnset);
  Region* r = RegionFor(page);
  const uint64_t i = page % kRegionPages;
  if (r->states[i] == kUnset) r->set++;
  r->states[i] = state;
  r->hashes[i] = hash;
}

void PageHashes::ZeroPages(uint64_t first, uint64_t end) {
  auto it = regions_.lower_bound(first / kRegionPages);
  while (it != regions_.end() && it->first * kRegionPages < end) {
    Region* r = it->second.get();
    const uint64_t base = it->first * kRegionPages;
    const uint64_t a = std::max(first, base) - base;
    const uint64_t b = std::min(end, base + kRegionPages) - base;
    for (uint64_t i = a; i < b; i++) {
      if (r->states[i] == kUnset) continue;
      if (r->states[i] != kWhole) partial_.erase(base + i);
      r->states[i] = kUnset;
      r->set--;
    }
    if (r->set == 0) {
      if (it->first == last_index_) last_index_ = UINT64_MAX;
      it = regions_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t PageHashes::PageLength(uint64_t page) const {
  return static_cast<size_t>(std::min(kPageSize, size_ - page * kPageSize));
}

void PageHashes::Apply(uint64_t offset, uint64_t length, const uint8_t* data) {
  assert(offset + length <= size_);
  const uint64_t end = offset + length;
  uint64_t pos = offset;
  while (pos < end) {
    const uint64_t page = pos / kPageSize;
    const uint64_t page_start = page * kPageSize;
    const size_t page_len = PageLength(page);
    const size_t a = pos - page_start;
    const size_t b = static_cast<size_t>(std::min<uint64_t>(end - page_start, page_len));
    const uint8_t* src = data ? data + (pos - offset) : nullptr;
    if (a == 0 && b == page_len && !src) {
      // Whole zero pages need no hash: this run of them is unset at once,
      // however long (the end-of-stream zero fill of a huge export costs
      // only the regions that hold data).
      const uint64_t last = std::min(pages(), (end - page_start) / kPageSize + page);
      const uint64_t zero_end = std::max(last, page + 1);
      ZeroPages(page, zero_end);
      pos = std::min(end, zero_end * kPageSize);
      continue;
    }
    if (a == 0 && b == page_len) {
      // The whole page: its old content does not matter.
      partial_.erase(page);
      SetPage(page, kWhole, Hash(src, page_len));
    } else {
      ApplyPart(page, a, b, src);
    }
    pos = page_start + b;
  }
}

void PageHashes::ApplyPart(uint64_t page, size_t start, size_t end, const uint8_t* data) {
  const size_t page_len = PageLength(page);
  switch (StateOf(page)) {
    case kUnset: {
      // The bytes not covered are zeros (never committed, or zeroed) until
      // an extent says otherwise.  Zeros into a zero page change nothing.
      if (!data) return;
      auto p = std::make_unique<Partial>();
      memset(p->bytes, 0, sizeof p->bytes);
      partial_[page] = std::move(p);
      SetPage(page, kPartial, 0);
      break;
    }
    case kWhole: {
      // Only the hash of the rest is known: fetch the page from a
      // destination that holds exactly those bytes.
      auto p = std::make_unique<Partial>();
      const uint64_t expected = RegionFor(page)->hashes[page % kRegionPages];
      if (source_ && source_(page * kPageSize, page_len, expected, p->bytes)) {
        p->known.Set(0, page_len, Content::kData);
        SetPage(page, kPartial, 0);
      } else {
        memset(p->bytes, 0, sizeof p->bytes);
        SetPage(page, kUnknown, 0);
      }
      partial_[page] = std::move(p);
      break;
    }
    case kPartial:
    case kUnknown:
      break;
  }
  Partial* p = partial_[page].get();
  if (data)
    memcpy(p->bytes + start, data, end - start);
  else
    memset(p->bytes + start, 0, end - start);
  p->known.Set(start, end, Content::kData);
  SealIfComplete(page, p);
}

void PageHashes::SealIfComplete(uint64_t page, Partial* p) {
  const size_t page_len = PageLength(page);
  if (!p->known.Covers(0, page_len, Content::kData)) return;
  SetPage(page, kWhole, Hash(p->bytes, page_len));
  partial_.erase(page);  // frees p
}

bool PageHashes::Expected(uint64_t page, uint64_t* hash) const {
  auto it = regions_.find(page / kRegionPages);
  const State state = it == regions_.end() ? kUnset : it->second->states[page % kRegionPages];
  switch (state) {
    case kUnset: {
      const size_t len = PageLength(page);
      *hash = len == kPageSize ? zero_page_hash_ : Hash(nullptr, len);
      return true;
    }
    case kWhole:
      *hash = it->second->hashes[page % kRegionPages];
      return true;
    case kPartial:
      // The bytes not known were never committed: zeros (see ApplyPart).
      *hash = Hash(partial_.at(page)->bytes, PageLength(page));
      return true;
    case kUnknown:
      return false;
  }
  return false;
}

uint64_t PageHashes::unknown_pages() const {
  uint64_t n = 0;
  for (const auto& [index, r] : regions_)
    n += static_cast<uint64_t>(std::count(std::begin(r->states), std::end(r->states), kUnknown));
  return n;
}

}  // namespace fanout
