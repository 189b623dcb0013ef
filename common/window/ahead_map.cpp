// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "window/ahead_map.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "util/zero_block.h"

namespace fanout {

uint64_t AheadMap::ParkedWithin(uint64_t offset, uint64_t length) const {
  const uint64_t end = offset + length;
  uint64_t n = 0;
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) --it;
  for (; it != ranges_.end() && it->first < end; ++it) {
    const uint64_t s = std::max(it->first, offset);
    const uint64_t e = std::min(it->first + it->second.length, end);
    if (s < e) n += e - s;
  }
  return n;
}

bool AheadMap::WithinBudget(size_t ranges, uint64_t bytes, uint64_t memory_bytes) const {
  const uint64_t overhead = ranges * kRangeOverhead;
  return bytes + overhead <= budget_ && (!spill_ || memory_bytes + overhead <= memory_);
}

bool AheadMap::Fits(uint64_t offset, uint64_t length) const {
  if (length == 0) return true;  // parks nothing
  // At most two ranges more: the new one, and one it splits in two.  The
  // new bytes may go to the spill file, so only those already in memory
  // are sure to stay there.
  return WithinBudget(ranges_.size() + 2, bytes_ - ParkedWithin(offset, length) + length,
                      memory_bytes_);
}

bool AheadMap::Intersects(uint64_t offset, uint64_t length) const {
  return ParkedWithin(offset, length) > 0;
}

void AheadMap::KeepPart(const Range& from, uint64_t from_start, uint64_t offset, uint64_t length) {
  Range part{length, {}};
  if (!Spilled(from)) {
    const auto first = from.data.begin() + (offset - from_start);
    part.data.assign(first, first + length);
    memory_bytes_ += length;
  }
  bytes_ += length;
  ranges_.emplace(offset, std::move(part));
}

void AheadMap::Erase(uint64_t offset, uint64_t length) {
  const uint64_t end = offset + length;
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) --it;
  while (it != ranges_.end() && it->first < end) {
    const uint64_t s = it->first;
    const uint64_t e = s + it->second.length;
    if (e <= offset) {
      ++it;
      continue;
    }
    const Range range = std::move(it->second);
    it = ranges_.erase(it);
    bytes_ -= range.length;
    if (Spilled(range)) {
      const uint64_t gone = std::max(s, offset);
      spill_->Discard(spill_base_ + gone, std::min(e, end) - gone);
    } else {
      memory_bytes_ -= range.length;
    }
    // Keep the parts outside [offset, end).
    if (s < offset) KeepPart(range, s, s, offset - s);
    if (e > end) {
      KeepPart(range, s, end, e - end);
      it = ranges_.upper_bound(end);
    }
  }
}

Status AheadMap::Zero(uint64_t offset, uint64_t length) {
  const uint64_t end = offset + length;
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) --it;
  if (it != ranges_.end() && it->first < offset && it->first + it->second.length > end &&
      !WithinBudget(ranges_.size() + 1, bytes_, memory_bytes_)) {
    // Splitting this range would go over the budget: zero the bytes in it.
    Range& r = it->second;
    if (!Spilled(r)) {
      memset(r.data.data() + (offset - it->first), 0, length);
      return Status::OK();
    }
    for (uint64_t pos = offset; pos < end;) {
      const uint64_t n = std::min<uint64_t>(end - pos, kZeroBlockSize);
      Status s = spill_->Write(kZeroBlock, n, spill_base_ + pos);
      if (!s.ok()) return s;
      pos += n;
    }
    return Status::OK();
  }
  Erase(offset, length);
  return Status::OK();
}

Status AheadMap::Put(const uint8_t* data, uint64_t length, uint64_t offset) {
  assert(Fits(offset, length));
  if (length == 0) return Status::OK();
  // A rewrite inside one parked range goes in place: no range is added.
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) {
    --it;
    if (it->first + it->second.length >= offset + length) {
      if (Spilled(it->second)) return spill_->Write(data, length, spill_base_ + offset);
      memcpy(it->second.data.data() + (offset - it->first), data, length);
      return Status::OK();
    }
  }
  // Touching ranges are not merged: mkfs parks long runs of small writes,
  // and merging each into its neighbour would copy the run again each time.
  Erase(offset, length);
  Range range{length, {}};
  // Bytes stay in memory while they take at most half of it: the other
  // half is for the ranges' overhead, which spilled ranges cost too, so a
  // memory full of bytes would refuse every later range (Fits()) while
  // the spill file still had room.
  if (spill_ && (memory_bytes_ + length > memory_ / 2 ||
                 memory_bytes_ + length + (ranges_.size() + 1) * kRangeOverhead > memory_)) {
    Status s = spill_->Write(data, length, spill_base_ + offset);
    if (!s.ok()) return s;
  } else {
    range.data.assign(data, data + length);
    memory_bytes_ += length;
  }
  ranges_.emplace(offset, std::move(range));
  bytes_ += length;
  return Status::OK();
}

Status AheadMap::Read(uint8_t* buf, uint64_t length, uint64_t offset) const {
  const uint64_t end = offset + length;
  auto it = ranges_.upper_bound(offset);
  if (it != ranges_.begin()) --it;
  for (; it != ranges_.end() && it->first < end; ++it) {
    const uint64_t s = std::max(it->first, offset);
    const uint64_t e = std::min(it->first + it->second.length, end);
    if (s >= e) continue;
    if (Spilled(it->second)) {
      Status st = spill_->Read(buf + (s - offset), e - s, spill_base_ + s);
      if (!st.ok()) return st;
    } else {
      memcpy(buf + (s - offset), it->second.data.data() + (s - it->first), e - s);
    }
  }
  return Status::OK();
}

Status AheadMap::TakeFirst(uint64_t end, Piece* out) {
  assert(!ranges_.empty() && ranges_.begin()->first < end);
  auto it = ranges_.begin();
  const uint64_t s = it->first;
  Range range = std::move(it->second);
  ranges_.erase(it);
  bytes_ -= range.length;
  if (!Spilled(range)) memory_bytes_ -= range.length;
  if (s + range.length > end) {
    // Keep the part from `end` on parked.
    KeepPart(range, s, end, s + range.length - end);
    range.length = end - s;
    if (!Spilled(range)) range.data.resize(range.length);
  }
  out->offset = s;
  if (!Spilled(range)) {
    out->data = std::move(range.data);
    return Status::OK();
  }
  out->data.resize(range.length);
  Status st = spill_->Read(out->data.data(), range.length, spill_base_ + s);
  spill_->Discard(spill_base_ + s, range.length);
  return st;
}

}  // namespace fanout
