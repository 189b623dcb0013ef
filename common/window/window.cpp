// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "window/window.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "util/zero_block.h"
#include "util/zero_pages.h"

namespace fanout {

size_t Window::MaxChunks(const WindowConfig& config) {
  if (!config.ordered) return std::max<size_t>(1, config.max_open_chunks);
  // Spill: the resident chunks, and one buffer a spilled chunk is read
  // back into to be committed.
  if (config.spill) return ResidentChunks(config) + 1;
  // [C, C + window) touches at most ceil(window / chunk) + 1 chunks, and
  // Write() may run one chunk past it.
  return (config.window + config.chunk - 1) / config.chunk + 2;
}

uint64_t Window::AheadMemory(const WindowConfig& config) {
  // A quarter of the budget: parked writes are few and small (headers,
  // superblock copies), chunks are what a window is made of.  Never so much
  // that not one chunk fits beside it, so the two together stay within
  // max(spill_memory, chunk).
  const uint64_t beside_a_chunk =
      config.spill_memory > config.chunk ? config.spill_memory - config.chunk : 0;
  return std::min({config.ahead, config.spill_memory / 4, beside_a_chunk});
}

size_t Window::ResidentChunks(const WindowConfig& config) {
  return std::max<uint64_t>(1, (config.spill_memory - AheadMemory(config)) / config.chunk);
}

Window::Window(const WindowConfig& config, BufferPool* pool, CommitSink* sink, SpillFile* spill)
    : config_(config),
      pool_(pool),
      sink_(sink),
      spill_(config.ordered && config.spill ? spill : nullptr),
      ahead_(config.ordered ? config.ahead : 0, spill_, config.size,
             spill_ ? AheadMemory(config) : UINT64_MAX) {
  assert(pool->buffer_size() == config.chunk);
  assert(config.chunk > 0);
  assert(!config.spill || spill);
}

uint64_t Window::ChunkEnd(uint64_t index) const {
  return std::min(config_.size, (index + 1) * config_.chunk);
}

Status Window::OpenChunk(uint64_t index, Chunk** out) {
  auto it = chunks_.find(index);
  if (it != chunks_.end()) {
    if (UsesLru() && it->second.buffer) lru_.splice(lru_.end(), lru_, it->second.lru);
    *out = &it->second;
    return Status::OK();
  }
  if (!config_.ordered && chunks_.size() >= MaxChunks(config_)) CommitAndClose(lru_.front());
  if (spill_ && resident_ >= ResidentChunks(config_)) {
    Status s = Evict(lru_.front());
    if (!s.ok()) return s;
  }
  Chunk chunk;
  // May block until a destination finishes with a buffer: back-pressure.
  chunk.buffer = pool_->Acquire();
  resident_++;
  Chunk& c = chunks_.emplace(index, std::move(chunk)).first->second;
  if (UsesLru()) c.lru = lru_.insert(lru_.end(), index);
  *out = &c;
  return Status::OK();
}

Status Window::Evict(uint64_t index) {
  Chunk& chunk = chunks_.at(index);
  assert(chunk.buffer);
  const uint64_t cs = ChunkStart(index);
  // Bytes behind C were committed already and are never read again.
  Status s;
  chunk.state.ForEach(std::max(cs, commit_point_), ChunkEnd(index), [&](const RangeMap::Range& r) {
    if (s.ok() && r.value == kData)
      s = spill_->Write(chunk.buffer->data() + (r.start - cs), r.end - r.start, r.start);
  });
  if (!s.ok()) return s;
  // An extent on the bus may still share the buffer; it returns to the
  // pool when that is applied.
  chunk.buffer.reset();
  lru_.erase(chunk.lru);
  resident_--;
  return Status::OK();
}

size_t Window::MaxChunkRanges() const {
  return std::max<uint64_t>(2, config_.chunk / kBytesPerRange);
}

Status Window::FillGaps(uint64_t index, Chunk* chunk) {
  // Ordered: bytes behind C were committed and are never read from the
  // chunk again.
  const uint64_t cs =
      config_.ordered ? std::max(ChunkStart(index), commit_point_) : ChunkStart(index);
  uint64_t lo = UINT64_MAX, hi = 0;
  chunk->state.ForEach(cs, ChunkEnd(index), [&](const RangeMap::Range& r) {
    lo = std::min(lo, r.start);
    hi = std::max(hi, r.end);
  });
  if (lo >= hi) return Status::OK();
  // What becomes written zeros in [lo, hi): the chunk's zeroed ranges, and
  // its gaps.  Ordered, a gap in the window reads and commits as zeros.
  // Unordered, a gap may hold bytes committed as data before, which must
  // stay; only the never-written or zeroed bytes under it are filled.
  std::vector<ByteRange> fill;
  chunk->state.ForEach(lo, hi, [&](const RangeMap::Range& r) {
    if (r.value != kData) fill.push_back({r.start, r.end});
  });
  chunk->state.ForEachGap(lo, hi, [&](uint64_t a, uint64_t b) {
    if (config_.ordered) {
      fill.push_back({a, b});
      return;
    }
    committed_.ForEachGap(a, b, [&](uint64_t x, uint64_t y) { fill.push_back({x, y}); });
    committed_.ForEach(a, b, [&](const RangeMap::Range& r) {
      if (r.value == kZero) fill.push_back({r.start, r.end});
    });
  });
  for (const ByteRange& f : fill) {
    if (chunk->buffer) {
      memset(chunk->buffer->data() + (f.start - ChunkStart(index)), 0, f.end - f.start);
    } else {
      for (uint64_t pos = f.start; pos < f.end;) {
        const uint64_t n = std::min<uint64_t>(f.end - pos, kZeroBlockSize);
        Status s = spill_->Write(kZeroBlock, n, pos);
        if (!s.ok()) return s;
        pos += n;
      }
    }
    chunk->state.Set(f.start, f.end, kData);
  }
  if (config_.ordered) chunk->state.Erase(ChunkStart(index), cs);
  return Status::OK();
}

Status Window::PutBytes(Chunk* chunk, const uint8_t* src, uint64_t start, uint64_t end) {
  if (chunk->buffer) {
    const uint64_t cs = ChunkStart(start / config_.chunk);
    memcpy(chunk->buffer->data() + (start - cs), src, end - start);
  } else {
    Status s = spill_->Write(src, end - start, start);
    if (!s.ok()) return s;
  }
  chunk->state.Set(start, end, kData);
  if (chunk->state.size() <= MaxChunkRanges()) return Status::OK();
  // Tiny scattered writes: keep the chunk's bookkeeping within its share
  // of the window's memory, by making the zeros between its ranges written
  // zeros (what they read as, and what the end of the stream would write).
  // Where that leaves too many (unordered: bytes committed before lie
  // between them), Place() commits the chunk.
  return FillGaps(start / config_.chunk, chunk);
}

void Window::DropChunk(std::map<uint64_t, Chunk>::iterator it) {
  if (it->second.buffer) {
    resident_--;
    if (UsesLru()) lru_.erase(it->second.lru);
  } else {
    // Give DIR its room back.
    spill_->Discard(ChunkStart(it->first), ChunkEnd(it->first) - ChunkStart(it->first));
  }
  chunks_.erase(it);
}

Status Window::Break(const Status& s) {
  if (broken_.ok())
    broken_ = Status::IOError(s.err() ? s.err() : EIO,
                              s.message() +
                                  "; the window can no longer hold what clients wrote, "
                                  "so every later request fails");
  return s;
}

Status Window::LateError(const char* what, uint64_t length, uint64_t offset) const {
  // To have taken this request the window must have reached back from the
  // highest write so far to its offset.
  const uint64_t needed = high_water_ - offset;
  const uint64_t mib = 1 << 20;
  const uint64_t needed_mib = (needed + mib - 1) / mib;
  // The window as window= would say it: 128M, 512K, or bytes.
  char window[32];
  if (config_.window % mib == 0)
    snprintf(window, sizeof window, "%" PRIu64 "M", config_.window / mib);
  else if (config_.window % 1024 == 0)
    snprintf(window, sizeof window, "%" PRIu64 "K", config_.window / 1024);
  else
    snprintf(window, sizeof window, "%" PRIu64, config_.window);
  char msg[320];
  snprintf(msg, sizeof msg,
           "%s at offset %" PRIu64 " (length %" PRIu64 ") is behind the stream position %" PRIu64
           ", which streams have already received; window=%" PRIu64
           "M would have been needed (window is %s)",
           what, offset, length, commit_point_, needed_mib, window);
  std::string m = msg;
  // A window that large would not fit in memory: spill=DIR holds it on disk.
  if (!spill_ && config_.memory_hint > 0 && needed > config_.memory_hint / 2)
    m += "; with spill=DIR the window can be that large without the memory";
  return Status::IOError(EIO, m);
}

Status Window::Write(const void* buf, uint64_t length, uint64_t offset, bool* late) {
  assert(offset + length <= config_.size);
  if (!broken_.ok()) return broken_;
  if (length == 0) return Status::OK();
  const uint64_t end = offset + length;
  const uint8_t* src = static_cast<const uint8_t*>(buf);
  uint64_t pos = offset;
  if (config_.ordered && offset < commit_point_) {
    // Streams have passed these bytes; seekable destinations can still
    // take them.  The part from C on is an ordinary write.
    const uint64_t late_end = std::min(end, commit_point_);
    auto why = std::make_shared<const std::string>(LateError("write", length, offset).message());
    CommitLate(src, offset, late_end, why);
    if (late) *late = true;
    pos = late_end;
  }
  if (config_.ordered && ShouldPark(pos, end - pos)) {
    Status s = ahead_.Put(src + (pos - offset), end - pos, pos);
    return s.ok() ? s : Break(s);
  }
  // Parked bytes under this write are older than it.  (Place() may not
  // absorb them all: with a window smaller than a chunk, a piece can end
  // beyond the window, and the next slide would bring the stale bytes back
  // over the new ones.)
  if (config_.ordered) ahead_.Erase(pos, end - pos);
  Status s = Place(src + (pos - offset), pos, end);
  if (!s.ok()) return Break(s);
  // A write parked a moment ago because it arrived just before the one
  // that leads up to it now continues the front: it re-enters the window
  // the ordinary way.  (Otherwise every later write would be "past the
  // highest write" too, and a whole stream could cascade into the map.)
  return AbsorbFront();
}

Status Window::Place(const uint8_t* src, uint64_t start, uint64_t end) {
  high_water_ = std::max(high_water_, end);
  for (uint64_t pos = start; pos < end;) {
    const uint64_t index = pos / config_.chunk;
    const uint64_t piece_end = std::min(end, ChunkEnd(index));
    // Slide before each piece rather than once for the whole request, so a
    // request larger than the window never holds more than the window plus
    // one chunk (the slide stops at the piece, so no byte of it is late).
    Status s;
    if (config_.ordered && piece_end > commit_point_ + config_.window)
      s = Slide(std::min(piece_end - config_.window, pos));
    Chunk* chunk = nullptr;
    if (s.ok()) s = OpenChunk(index, &chunk);
    if (s.ok()) s = PutBytes(chunk, src + (pos - start), pos, piece_end);
    if (!s.ok()) return s;
    // Unordered: a chunk wholly written will not coalesce any further, and
    // one whose ranges FillGaps() could not make few goes now rather than
    // hold their bookkeeping.
    if (!config_.ordered && (chunk->state.Covers(ChunkStart(index), ChunkEnd(index), kData) ||
                             chunk->state.size() > MaxChunkRanges()))
      CommitAndClose(index);
    pos = piece_end;
  }
  return Status::OK();
}

Status Window::WriteDetectingZeroes(const void* buf, uint64_t length, uint64_t offset, bool* late) {
  const auto* bytes = static_cast<const uint8_t*>(buf);
  const std::vector<WritePiece> pieces = SplitZeroPages(bytes, length, offset);
  if (pieces.size() == 1 && !pieces[0].zero) return Write(buf, length, offset, late);
  if (!broken_.ok()) return broken_;
  const uint64_t end = offset + length;
  // Behind C each piece is what it would be alone: zeros over committed
  // zeros change nothing, the rest is late.
  uint64_t pos = offset;
  if (config_.ordered && offset < commit_point_) {
    const uint64_t behind = std::min(end, commit_point_);
    for (const WritePiece& p : pieces) {
      const uint64_t a = p.start, b = std::min(p.end, behind);
      if (a >= b) break;
      bool piece_late = false;
      Status s =
          p.zero ? Zero(b - a, a, &piece_late) : Write(bytes + (a - offset), b - a, a, &piece_late);
      if (late) *late = *late || piece_late;
      if (!s.ok()) return s;
    }
    pos = behind;
  }
  if (pos == end) return Status::OK();
  // From C on, the request is placed or parked whole, as Write() would:
  // its data pieces as data, its zero pages as zeros, which take no
  // memory in the window or the ahead map.
  if (config_.ordered && ShouldPark(pos, end - pos)) {
    // What was parked there is replaced: forget it, and park the data
    // pieces.  The zero pages are zero requests: beyond the window they
    // also erase what an open chunk may hold there (a chunk can reach
    // past the window's end).  A data piece that no longer fits the
    // budget (each range costs some) goes in as a write of its own.
    ahead_.Erase(pos, end - pos);
    for (const WritePiece& p : pieces) {
      const uint64_t a = std::max(p.start, pos), b = p.end;
      if (a >= b) continue;
      bool piece_late = false;
      Status s = p.zero                  ? Zero(b - a, a, &piece_late)
                 : ahead_.Fits(a, b - a) ? ahead_.Put(bytes + (a - offset), b - a, a)
                                         : Write(bytes + (a - offset), b - a, a, &piece_late);
      if (late) *late = *late || piece_late;
      if (!s.ok()) return broken_.ok() ? Break(s) : s;
    }
    return Status::OK();
  }
  if (config_.ordered) ahead_.Erase(pos, end - pos);
  for (const WritePiece& p : pieces) {
    const uint64_t a = std::max(p.start, pos), b = p.end;
    if (a >= b) continue;
    Status s = p.zero ? Zero(b - a, a) : Place(bytes + (a - offset), a, b);
    if (!s.ok()) return broken_.ok() ? Break(s) : s;
  }
  // The request reached its end, zeros or not: the next one that follows
  // it continues the front (ShouldPark()).
  high_water_ = std::max(high_water_, end);
  return AbsorbFront();
}

Status Window::AbsorbFront() {
  while (config_.ordered && !ahead_.empty() && ahead_.first() <= high_water_) {
    AheadMap::Piece p;
    Status s = ahead_.TakeFirst(UINT64_MAX, &p);
    if (s.ok()) s = Place(p.data.data(), p.offset, p.offset + p.data.size());
    if (!s.ok()) return Break(s);
  }
  FlushPendingZero();
  return Status::OK();
}

Status Window::Zero(uint64_t length, uint64_t offset, bool* late) {
  assert(offset + length <= config_.size);
  if (!broken_.ok()) return broken_;
  if (length == 0) return Status::OK();
  const uint64_t end = offset + length;

  if (config_.ordered) {
    // Behind C: a no-op where those bytes were committed as zeros; where
    // they hold data, a late zero extent (streams fail, seekable take it).
    const uint64_t behind_end = std::min(end, commit_point_);
    if (offset < behind_end) {
      std::vector<ByteRange> data;
      committed_.ForEach(offset, behind_end, [&](const RangeMap::Range& r) {
        if (r.value == kData) data.push_back({r.start, r.end});
      });
      if (!data.empty()) {
        auto why = std::make_shared<const std::string>(LateError("zero", length, offset).message());
        FlushPendingZero();
        for (const ByteRange& r : data) {
          Cover(r.start, r.end, kZero);
          Extent e = Extent::Zero(r.start, r.end - r.start);
          e.late = why;
          sink_->Commit(std::move(e));
        }
        if (late) *late = true;
      }
    }
    // Inside the window: erase data (gaps commit as zeros).  Beyond it only
    // parked bytes were ever written: forget them.  Either way this must
    // not move the window (mkfs trims whole partitions, qemu-img zeroes
    // holes).
    const uint64_t beyond = std::max(offset, commit_point_ + config_.window);
    if (beyond < end) {
      Status s = ahead_.Zero(beyond, end - beyond);
      if (!s.ok()) return Break(s);
    }
    const uint64_t start = std::max(offset, commit_point_);
    for (auto it = chunks_.lower_bound(start / config_.chunk);
         it != chunks_.end() && ChunkStart(it->first) < end; ++it)
      it->second.state.Erase(start, end);
    return Status::OK();
  }

  // Unordered.  Open chunks record the zero, to be committed with them.
  RangeMap in_chunks;
  for (auto it = chunks_.lower_bound(offset / config_.chunk);
       it != chunks_.end() && ChunkStart(it->first) < end; ++it) {
    const uint64_t s = std::max(offset, ChunkStart(it->first));
    const uint64_t e = std::min(end, ChunkEnd(it->first));
    it->second.state.Set(s, e, kZero);
    in_chunks.Set(s, e, kData);
  }
  // Elsewhere only bytes committed as data need zeroing now; never-written
  // bytes are zeroed by Finish() if nothing writes them first.
  in_chunks.ForEachGap(offset, end, [&](uint64_t s, uint64_t e) {
    std::vector<ByteRange> data;
    committed_.ForEach(s, e, [&](const RangeMap::Range& r) {
      if (r.value == kData) data.push_back({r.start, r.end});
    });
    for (const ByteRange& r : data) CommitZero(r.start, r.end);
  });
  FlushPendingZero();
  return Status::OK();
}

Status Window::Read(void* buf, uint64_t length, uint64_t offset,
                    std::vector<ByteRange>* backing) const {
  if (!broken_.ok()) return broken_;
  uint8_t* dst = static_cast<uint8_t*>(buf);
  const uint64_t end = offset + length;
  // Start from what has been committed: data must come from a destination,
  // everything else (zeros, never written) reads as zeros.
  memset(dst, 0, length);
  RangeMap need;
  committed_.ForEach(offset, end, [&](const RangeMap::Range& r) {
    if (r.value == kData) need.Set(r.start, r.end, kData);
  });
  // Chunks hold newer bytes than anything committed.
  for (auto it = chunks_.lower_bound(offset / config_.chunk);
       it != chunks_.end() && ChunkStart(it->first) < end; ++it) {
    const Chunk& chunk = it->second;
    const uint64_t cs = ChunkStart(it->first);
    if (config_.ordered) {
      // Everything in the window at or above C is defined by the chunk
      // (gaps are zeros); below C the committed map speaks.
      const uint64_t s = std::max({offset, cs, commit_point_});
      const uint64_t e = std::min(end, ChunkEnd(it->first));
      if (s >= e) continue;
      need.Erase(s, e);
    }
    Status s;
    chunk.state.ForEach(std::max(offset, commit_point_), end, [&](const RangeMap::Range& r) {
      need.Erase(r.start, r.end);
      if (r.value != kData)
        memset(dst + (r.start - offset), 0, r.end - r.start);
      else if (chunk.buffer)
        memcpy(dst + (r.start - offset), chunk.buffer->data() + (r.start - cs), r.end - r.start);
      else if (s.ok())
        s = spill_->Read(dst + (r.start - offset), r.end - r.start, r.start);
    });
    if (!s.ok()) return s;
  }
  // Parked bytes lie beyond every chunk and every committed byte.
  if (config_.ordered) {
    Status s = ahead_.Read(dst, length, offset);
    if (!s.ok()) return s;
  }
  need.ForEach(offset, end, [&](const RangeMap::Range& r) {
    backing->push_back({r.start, r.end});
  });
  return Status::OK();
}

Status Window::Slide(uint64_t new_c) {
  assert(config_.ordered);
  new_c = std::min(new_c, config_.size);
  if (new_c <= commit_point_) return Status::OK();
  uint64_t pos = commit_point_;
  while (pos < new_c) {
    const uint64_t index = pos / config_.chunk;
    const uint64_t piece_end = std::min(new_c, ChunkEnd(index));
    // Parked bytes join the window one chunk at a time as it passes them,
    // so a long slide never holds more than a chunk of them at once.
    Status s;
    if (!ahead_.empty() && ahead_.first() < ChunkEnd(index)) s = Absorb(ChunkEnd(index));
    if (!s.ok()) return s;
    auto it = chunks_.find(index);
    if (it == chunks_.end()) {
      CommitZero(pos, piece_end);
    } else {
      s = CommitChunk(it->second, pos, piece_end, /*fill_gaps=*/true);
      if (!s.ok()) return s;
      if (piece_end == ChunkEnd(index))
        DropChunk(it);
      else if (!it->second.buffer)
        spill_->Discard(pos, piece_end - pos);
    }
    pos = piece_end;
  }
  FlushPendingZero();
  commit_point_ = new_c;
  // Keep every parked byte beyond the window.
  return Absorb(std::min(config_.size, new_c + config_.window));
}

bool Window::ShouldPark(uint64_t offset, uint64_t length) const {
  const uint64_t window_end = commit_point_ + config_.window;
  if (offset < window_end || !ahead_.Fits(offset, length)) return false;
  // Sliding the window to this write would commit everything between the
  // highest write so far and it, unwritten, and any later write there
  // would be late: mkfs.xfs writes its allocation group headers exactly a
  // window apart before filling them in.  So a write that leaves a gap is
  // parked; one that continues from the highest write slides the window.
  // (A rewrite of parked bytes stays parked.)
  return offset > high_water_ || ahead_.Intersects(offset, length);
}

Status Window::Absorb(uint64_t end) {
  // One parked range at a time: a spilled one is read back whole, so
  // memory holds at most one parked write beyond the budget.
  while (!ahead_.empty() && ahead_.first() < end) {
    AheadMap::Piece p;
    Status s = ahead_.TakeFirst(end, &p);
    if (!s.ok()) return s;
    const uint64_t pend = p.offset + p.data.size();
    for (uint64_t pos = p.offset; pos < pend;) {
      const uint64_t index = pos / config_.chunk;
      const uint64_t piece_end = std::min(pend, ChunkEnd(index));
      Chunk* chunk = nullptr;
      s = OpenChunk(index, &chunk);
      if (s.ok()) s = PutBytes(chunk, p.data.data() + (pos - p.offset), pos, piece_end);
      if (!s.ok()) return s;
      pos = piece_end;
    }
    high_water_ = std::max(high_water_, pend);
  }
  return Status::OK();
}

Status Window::CommitChunk(const Chunk& chunk, uint64_t start, uint64_t end, bool fill_gaps) {
  std::shared_ptr<Buffer> buffer = chunk.buffer;
  if (!buffer) {
    // Evicted: read its data back, once, into a buffer that goes out with
    // the extents.
    const uint64_t cs = ChunkStart(start / config_.chunk);
    Status s;
    chunk.state.ForEach(start, end, [&](const RangeMap::Range& r) {
      if (r.value != kData || !s.ok()) return;
      if (!buffer) buffer = pool_->Acquire();
      s = spill_->Read(buffer->data() + (r.start - cs), r.end - r.start, r.start);
    });
    if (!s.ok()) return s;
  }
  uint64_t pos = start;
  chunk.state.ForEach(start, end, [&](const RangeMap::Range& r) {
    if (fill_gaps && r.start > pos) CommitZero(pos, r.start);
    if (r.value == kData)
      CommitData(buffer, r.start, r.end);
    else
      CommitZero(r.start, r.end);
    pos = r.end;
  });
  if (fill_gaps && pos < end) CommitZero(pos, end);
  return Status::OK();
}

void Window::CommitAndClose(uint64_t index) {
  auto it = chunks_.find(index);
  assert(it != chunks_.end());
  // Unordered chunks never spill, so this cannot fail.
  Status s = CommitChunk(it->second, ChunkStart(index), ChunkEnd(index), /*fill_gaps=*/false);
  assert(s.ok());
  (void)s;
  FlushPendingZero();
  DropChunk(it);
}

void Window::CommitData(const std::shared_ptr<Buffer>& buffer, uint64_t start, uint64_t end) {
  FlushPendingZero();
  const uint64_t cs = ChunkStart(start / config_.chunk);
  Cover(start, end, kData);
  sink_->Commit(Extent::Data(start, end - start, buffer, start - cs));
}

void Window::CommitLate(const uint8_t* src, uint64_t start, uint64_t end,
                        const std::shared_ptr<const std::string>& why) {
  FlushPendingZero();
  for (uint64_t pos = start; pos < end;) {
    const uint64_t n = std::min<uint64_t>(end - pos, config_.chunk);
    std::shared_ptr<Buffer> buffer = pool_->Acquire();
    memcpy(buffer->data(), src + (pos - start), n);
    Cover(pos, pos + n, kData);
    Extent e = Extent::Data(pos, n, std::move(buffer), 0);
    e.late = why;
    sink_->Commit(std::move(e));
    pos += n;
  }
}

void Window::Cover(uint64_t start, uint64_t end, Content value) {
  uint64_t already = 0;
  committed_.ForEach(start, end, [&](const RangeMap::Range& r) { already += r.end - r.start; });
  committed_.Set(start, end, value);
  committed_bytes_.fetch_add((end - start) - already, std::memory_order_relaxed);
}

void Window::CommitZero(uint64_t start, uint64_t end) {
  if (start >= end) return;
  Cover(start, end, kZero);
  if (zero_pending_ && zero_end_ == start) {
    zero_end_ = end;
    return;
  }
  FlushPendingZero();
  zero_pending_ = true;
  zero_start_ = start;
  zero_end_ = end;
}

void Window::FlushPendingZero() {
  if (!zero_pending_) return;
  zero_pending_ = false;
  sink_->Commit(Extent::Zero(zero_start_, zero_end_ - zero_start_));
}

void Window::Flush() {
  if (config_.ordered) return;
  while (!lru_.empty()) CommitAndClose(lru_.front());
}

Status Window::Finish() {
  if (!broken_.ok()) return broken_;
  if (config_.ordered) {
    Status s = Slide(config_.size);
    return s.ok() ? s : Break(s);
  }
  Flush();
  // Zero every byte nothing ever committed: destinations may hold old data
  // (a reused block device, an existing file).
  std::vector<ByteRange> gaps;
  committed_.ForEachGap(0, config_.size, [&](uint64_t s, uint64_t e) { gaps.push_back({s, e}); });
  for (const ByteRange& g : gaps) CommitZero(g.start, g.end);
  FlushPendingZero();
  return Status::OK();
}

}  // namespace fanout
