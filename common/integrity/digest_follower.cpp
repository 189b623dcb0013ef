// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "integrity/digest_follower.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace fanout {

namespace {
// Values in the map of ranges committed beyond the prefix.
using enum Content;
}  // namespace

DigestFollower::DigestFollower(uint64_t size, Reader reader, PageCheck check)
    : size_(size), reader_(std::move(reader)), check_(std::move(check)) {}

DigestFollower::~DigestFollower() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void DigestFollower::Start() {
  thread_ = std::thread([this] { Run(); });
}

void DigestFollower::Commit(const Extent& extent, uint64_t seq) {
  if (extent.length == 0) return;
  {
    MutexLock lock(&mu_);
    if (!gave_up_.empty()) return;
    if (extent.offset < prefix_) {
      GiveUpLocked("a write at offset " + std::to_string(extent.offset) +
                   " changed bytes already taken into the digest");
    } else if (extent.offset > prefix_) {
      // Remember only where: the bytes are read back from a destination
      // when the prefix gets here.
      beyond_prefix_.Set(extent.offset, extent.end(), extent.is_zero() ? kZero : kData);
      return;
    } else {
      queue_.push_back(Item{extent.offset, extent.length, extent});
      prefix_ = extent.end();
      beyond_prefix_.Erase(extent.offset, extent.end());
      AbsorbLocked(seq);
    }
  }
  wake_.Signal();
}

void DigestFollower::AbsorbLocked(uint64_t seq) {
  RangeMap::Range r;
  while (beyond_prefix_.StartingAt(prefix_, &r)) {
    beyond_prefix_.Erase(r.start, r.end);
    const uint64_t length = r.end - r.start;
    if (r.value == kZero)
      queue_.push_back(Item{r.start, length, Extent::Zero(r.start, length)});
    else
      QueueReadBackLocked(r.start, length, seq);
    prefix_ = r.end;
  }
}

void DigestFollower::QueueReadBackLocked(uint64_t offset, uint64_t length, uint64_t seq) {
  if (!queue_.empty()) {
    Item& last = queue_.back();
    if (last.read_back && last.offset + last.length == offset) {
      last.length += length;
      last.seq = seq;
      return;
    }
  }
  queue_.push_back(Item{offset, length, Extent(), /*read_back=*/true, seq});
}

void DigestFollower::GiveUpLocked(const std::string& why) {
  if (gave_up_.empty()) gave_up_ = why;
  beyond_prefix_.Clear();
  // The buffers go back to the pool on the next pop (outside this lock).
}

void DigestFollower::GiveUp(const std::string& why) {
  MutexLock lock(&mu_);
  GiveUpLocked(why);
}

void DigestFollower::Abandon(const std::string& why) {
  GiveUp(why);
  abandoned_ = true;
  wake_.SignalAll();
}

bool DigestFollower::StillNeeded() {
  if (abandoned_) return false;
  if (needed_ && !needed_()) {
    Abandon("no destination can hold the image (every one failed)");
    return false;
  }
  return true;
}

std::string DigestFollower::gave_up() const {
  MutexLock lock(&mu_);
  return gave_up_;
}

void DigestFollower::Run() {
  std::unique_ptr<uint8_t, decltype(&free)> buf(nullptr, &free);
  for (;;) {
    std::deque<Item> dropped;  // freed outside the lock
    Item item;
    {
      MutexLock lock(&mu_);
      wake_.Wait(&mu_, [&]() REQUIRES(mu_) { return !queue_.empty() || stop_; });
      if (queue_.empty()) return;  // stopped, and nothing is left
      if (!gave_up_.empty()) {
        dropped.swap(queue_);
        continue;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
      if (image_end_) sha_.MarkAt(*image_end_);
    }
    if (item.read_back && !buf) {
      void* mem = nullptr;
      if (posix_memalign(&mem, kPageSize, kReadSize) != 0) {
        GiveUp("out of memory for reading back");
        continue;
      }
      buf.reset(static_cast<uint8_t*>(mem));
    }
    (void)Hash(item, buf.get());
  }
}

bool DigestFollower::Hash(const Item& item, uint8_t* read_buf) {
  if (!StillNeeded()) return false;
  if (!item.read_back) {
    if (!item.extent.is_zero()) {
      if (!Consume(item.extent.bytes(), item.length, false)) return false;
      from_memory_ += item.length;
      return true;
    }
    // A run of zeros can be the rest of a terabyte export (the end of the
    // stream's zero-fill): hashed in pieces, so Abandon() stops it soon.
    constexpr uint64_t kZeroPiece = 256 << 20;
    for (uint64_t done = 0; done < item.length;) {
      if (!StillNeeded()) return false;
      const uint64_t n = std::min(kZeroPiece, item.length - done);
      if (!Consume(nullptr, n, false)) return false;
      from_memory_ += n;
      done += n;
    }
    return true;
  }
  if (!reader_ || !check_) {
    GiveUp("bytes at offset " + std::to_string(item.offset) +
           " arrived out of order with nothing to read them back from");
    return false;
  }
  for (uint64_t pos = item.offset; pos < item.offset + item.length;) {
    if (!StillNeeded()) return false;
    const uint64_t n = std::min(kReadSize, item.offset + item.length - pos);
    if (!reader_(item.seq, pos, n, read_buf)) {
      GiveUp("no destination could be read back at offset " + std::to_string(pos) +
             " holding the image's bytes");
      return false;
    }
    if (!Consume(read_buf, n, true)) return false;
    read_back_ += n;
    pos += n;
  }
  return true;
}

bool DigestFollower::Consume(const uint8_t* data, uint64_t length, bool read_back) {
  if (data)
    sha_.Update(data, length);
  else
    sha_.UpdateZeros(length);
  uint64_t pos = hashed_;
  hashed_ += length;
  const uint8_t* p = data;
  while (length > 0) {
    const uint64_t page_start = RoundDown(pos, kPageSize);
    const uint64_t page_len = std::min(kPageSize, size_ - page_start);
    const uint64_t in = pos - page_start;
    uint64_t n;
    if (in == 0 && length >= page_len) {
      // Whole pages, straight from the piece.  (Only the last page of the
      // image may be short.)
      n = pos + length >= size_ ? length : RoundDown(length, kPageSize);
      const std::optional<uint64_t> bad = read_back ? check_(pos, p, n) : std::nullopt;
      if (bad) {
        GiveUp("bytes read back in the page at offset " + std::to_string(*bad) +
               " are not the image's (a destination changed behind the plugin's back?)");
        return false;
      }
    } else {
      // Part of a page: assemble it, and check it once it is whole if any
      // of it was read back.
      n = std::min(length, page_len - in);
      if (p)
        memcpy(page_ + in, p, n);
      else
        memset(page_ + in, 0, n);
      page_read_back_ = page_read_back_ || read_back;
      if (in + n == page_len) {
        const bool checked = !page_read_back_ || !check_(page_start, page_, page_len);
        page_read_back_ = false;
        if (!checked) {
          GiveUp("bytes read back in the page at offset " + std::to_string(page_start) +
                 " are not the image's (a destination changed behind the plugin's back?)");
          return false;
        }
      }
    }
    if (p) p += n;
    pos += n;
    length -= n;
  }
  return true;
}

void DigestFollower::MarkImageEnd(uint64_t end) {
  MutexLock lock(&mu_);
  image_end_ = end;
}

std::optional<std::string> DigestFollower::Finish() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable())
    thread_.join();
  else
    Run();  // never started: hash what was queued here
  MutexLock lock(&mu_);
  if (image_end_) sha_.MarkAt(*image_end_);
  if (!gave_up_.empty()) return std::nullopt;
  if (prefix_ != size_ || hashed_ != size_) {
    gave_up_ = "bytes from offset " + std::to_string(prefix_) + " on were never committed in full";
    return std::nullopt;
  }
  return sha_.FinalHex();
}

}  // namespace fanout
