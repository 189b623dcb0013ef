#include "ahead_map.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace fanout {

uint64_t AheadMap::ParkedWithin(uint64_t offset, uint64_t length) const {
  const uint64_t end = offset + length;
  uint64_t n = 0;
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) --it;
  for (; it != ranges_.end() && it->first < end; ++it) {
    const uint64_t s = std::max(it->first, offset);
    const uint64_t e = std::min(it->first + it->second.size(), end);
    if (s < e) n += e - s;
  }
  return n;
}

bool AheadMap::Fits(uint64_t offset, uint64_t length) const {
  return bytes_ - ParkedWithin(offset, length) + length <= budget_;
}

bool AheadMap::Intersects(uint64_t offset, uint64_t length) const {
  return ParkedWithin(offset, length) > 0;
}

void AheadMap::Erase(uint64_t offset, uint64_t length) {
  const uint64_t end = offset + length;
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) --it;
  while (it != ranges_.end() && it->first < end) {
    const uint64_t s = it->first;
    const uint64_t e = s + it->second.size();
    if (e <= offset) {
      ++it;
      continue;
    }
    std::vector<uint8_t> data = std::move(it->second);
    it = ranges_.erase(it);
    bytes_ -= data.size();
    // Keep the parts outside [offset, end).
    if (s < offset) {
      std::vector<uint8_t> head(data.begin(), data.begin() + (offset - s));
      bytes_ += head.size();
      ranges_.emplace(s, std::move(head));
    }
    if (e > end) {
      std::vector<uint8_t> tail(data.begin() + (end - s), data.end());
      bytes_ += tail.size();
      it = ranges_.emplace(end, std::move(tail)).first;
      ++it;
    }
  }
}

void AheadMap::Put(const uint8_t* data, uint64_t length, uint64_t offset) {
  assert(Fits(offset, length));
  if (length == 0) return;
  // Touching ranges are not merged: mkfs parks long runs of small writes,
  // and merging each into its neighbour would copy the run again each time.
  Erase(offset, length);
  ranges_.emplace(offset, std::vector<uint8_t>(data, data + length));
  bytes_ += length;
}

void AheadMap::Read(uint8_t* buf, uint64_t length, uint64_t offset) const {
  const uint64_t end = offset + length;
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) --it;
  for (; it != ranges_.end() && it->first < end; ++it) {
    const uint64_t s = std::max(it->first, offset);
    const uint64_t e = std::min(it->first + it->second.size(), end);
    if (s < e) memcpy(buf + (s - offset), it->second.data() + (s - it->first), e - s);
  }
}

AheadMap::Piece AheadMap::TakeFirst() {
  assert(!ranges_.empty());
  auto it = ranges_.begin();
  Piece p{it->first, std::move(it->second)};
  ranges_.erase(it);
  bytes_ -= p.data.size();
  return p;
}

std::vector<AheadMap::Piece> AheadMap::TakeBelow(uint64_t end) {
  std::vector<Piece> out;
  while (!ranges_.empty() && ranges_.begin()->first < end) {
    auto it = ranges_.begin();
    const uint64_t s = it->first;
    std::vector<uint8_t> data = std::move(it->second);
    ranges_.erase(it);
    bytes_ -= data.size();
    if (s + data.size() > end) {
      // Keep the part from `end` on parked.
      std::vector<uint8_t> tail(data.begin() + (end - s), data.end());
      data.resize(end - s);
      bytes_ += tail.size();
      ranges_.emplace(end, std::move(tail));
    }
    out.push_back(Piece{s, std::move(data)});
  }
  return out;
}

}  // namespace fanout
