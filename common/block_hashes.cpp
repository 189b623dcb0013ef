#include "block_hashes.h"

#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace fanout {

namespace {
alignas(64) const uint8_t kZeros[BlockHashes::kPageSize] = {};
}  // namespace

uint64_t BlockHashes::Hash(const uint8_t* data, size_t length) {
  assert(length <= kPageSize);
  return XXH3_64bits(data ? data : kZeros, length);
}

BlockHashes::BlockHashes(uint64_t size, PageSource source)
    : size_(size),
      source_(std::move(source)),
      zero_page_hash_(Hash(nullptr, kPageSize)),
      hashes_((size + kPageSize - 1) / kPageSize, 0),
      states_(hashes_.size(), kUnset) {}

size_t BlockHashes::PageLength(uint64_t page) const {
  return static_cast<size_t>(std::min(kPageSize, size_ - page * kPageSize));
}

void BlockHashes::Apply(uint64_t offset, uint64_t length, const uint8_t* data) {
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
    if (a == 0 && b == page_len) {
      // The whole page: its old content does not matter.  Zero extents are
      // the common case at the end (the zero fill), so they cost no hashing.
      hashes_[page] =
          !src ? (page_len == kPageSize ? zero_page_hash_ : Hash(nullptr, page_len))
               : Hash(src, page_len);
      states_[page] = kWhole;
      partial_.erase(page);
    } else {
      ApplyPart(page, a, b, src);
    }
    pos = page_start + b;
  }
}

void BlockHashes::ApplyPart(uint64_t page, size_t start, size_t end, const uint8_t* data) {
  const size_t page_len = PageLength(page);
  switch (states_[page]) {
    case kUnset: {
      // The bytes not covered have never been committed: they are the
      // export's zeros until an extent says otherwise.
      auto p = std::make_unique<Partial>();
      memset(p->bytes, 0, sizeof p->bytes);
      partial_[page] = std::move(p);
      states_[page] = kPartial;
      break;
    }
    case kWhole: {
      // Only the hash of the rest is known: fetch the page from a
      // destination that holds exactly those bytes.
      auto p = std::make_unique<Partial>();
      if (source_ && source_(page * kPageSize, page_len, hashes_[page], p->bytes)) {
        p->known.Set(0, page_len, 1);
        states_[page] = kPartial;
      } else {
        memset(p->bytes, 0, sizeof p->bytes);
        states_[page] = kUnknown;
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
  p->known.Set(start, end, 1);
  SealIfComplete(page, p);
}

void BlockHashes::SealIfComplete(uint64_t page, Partial* p) {
  const size_t page_len = PageLength(page);
  if (!p->known.Covers(0, page_len, 1)) return;
  hashes_[page] = Hash(p->bytes, page_len);
  states_[page] = kWhole;
  partial_.erase(page);  // frees p
}

bool BlockHashes::Expected(uint64_t page, uint64_t* hash) const {
  switch (states_[page]) {
    case kUnset: {
      const size_t len = PageLength(page);
      *hash = len == kPageSize ? zero_page_hash_ : Hash(nullptr, len);
      return true;
    }
    case kWhole:
      *hash = hashes_[page];
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

uint64_t BlockHashes::unknown_pages() const {
  return static_cast<uint64_t>(std::count(states_.begin(), states_.end(), kUnknown));
}

uint64_t BlockHashes::memory_bytes() const {
  return hashes_.size() * (sizeof(uint64_t) + sizeof(State)) + partial_.size() * sizeof(Partial);
}

}  // namespace fanout
