// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// AheadMap: writes parked far beyond the window, until the window reaches
// them.
//
// parted writes the GPT backup header at the end of the disk first, mkfs
// scatters superblock copies and group headers across it.  Sliding the
// window to take such a write would commit (and zero-fill) everything before
// it, and every later write near the start would be late.  Instead the
// window parks it here: a sparse set of disjoint byte ranges with their
// data, readable and rewritable, limited to `budget` bytes of data.  A write
// replaces what it overlaps; ranges that merely touch are not merged (see
// Put()), so the map holds about one range per parked write.  When
// the window slides up to a parked range, the window takes it back (Take())
// and it is committed in order like any other write.
//
// Memory is the parked bytes themselves plus kRangeOverhead per range, not
// whole chunks: a 512-byte GPT header costs 512 + kRangeOverhead bytes.  The
// overhead counts against the budget like the bytes, so a client parking
// millions of 1-byte writes runs out of budget (and the window slides
// instead) rather than holding far more memory than ahead= says.  With a
// spill file (spill=DIR), parked bytes beyond `memory` go to the file
// instead, at spill_base + their offset, and are read back when taken or
// read; every range's overhead stays in memory and counts against `memory`.
//
// Not thread-safe: the engine's lock protects it (through the window).
#ifndef FANOUT_WINDOW_AHEAD_MAP_H
#define FANOUT_WINDOW_AHEAD_MAP_H

#include <cstdint>
#include <map>
#include <vector>

#include "util/status.h"
#include "window/spill_file.h"

namespace fanout {

class AheadMap {
 public:
  // What a range costs in memory besides its bytes: its map node and the
  // allocator's rounding of its data.
  static constexpr uint64_t kRangeOverhead = 128;

  explicit AheadMap(uint64_t budget) : budget_(budget) {}
  // Parks at most `memory` bytes in memory, the rest in spill (which
  // outlives this) at spill_base + offset.
  AheadMap(uint64_t budget, SpillFile* spill, uint64_t spill_base, uint64_t memory)
      : budget_(budget), spill_(spill), spill_base_(spill_base), memory_(memory) {}

  // Whether parking [offset, offset + length) would stay within the budget
  // (bytes already parked there are rewritten, not added), counting every
  // range's overhead, and with a spill file within `memory` too.
  bool Fits(uint64_t offset, uint64_t length) const;
  // Parks the bytes, replacing whatever was parked there (in place, when
  // one range holds them all).  Fails only if the spill file cannot take
  // them.  REQUIRES: Fits(offset, length).
  Status Put(const uint8_t* data, uint64_t length, uint64_t offset);
  // Forgets what was parked in [offset, offset + length): those bytes read
  // as zeros again (nothing else can have written beyond the window).
  // Splitting a range adds one, a little over the budget for a moment:
  // the window takes the parts back at once.
  void Erase(uint64_t offset, uint64_t length);
  // The same for a zero request: where splitting a range would go over
  // the budget, the range keeps its place and those bytes become zeros in
  // it, so no pattern of zero requests makes the map larger than the
  // budget.  Fails only if the spill file cannot take the zeros.
  Status Zero(uint64_t offset, uint64_t length);
  // True if any byte of [offset, offset + length) is parked.
  bool Intersects(uint64_t offset, uint64_t length) const;

  // Copies the parked bytes inside [offset, offset + length) into buf
  // (buf[0] is offset); other bytes of buf are left alone.  Fails only if
  // the spill file cannot be read.
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) const;

  struct Piece {
    uint64_t offset;
    std::vector<uint8_t> data;
  };
  // Removes and returns the lowest parked range, cut at `end` (the rest
  // stays parked).  One range at a time, so taking spilled bytes back
  // holds no more than one parked write in memory.
  // REQUIRES: !empty() && first() < end.
  Status TakeFirst(uint64_t end, Piece* out);

  uint64_t bytes() const { return bytes_; }
  // Of bytes(), those held in memory (the rest are in the spill file).
  uint64_t memory_bytes() const { return memory_bytes_; }
  uint64_t budget() const { return budget_; }
  // What counts against the budget: the bytes and every range's overhead.
  uint64_t charged() const { return bytes_ + overhead(); }
  // The memory held: the bytes in memory and every range's overhead.
  uint64_t memory_use() const { return memory_bytes_ + overhead(); }
  size_t ranges() const { return ranges_.size(); }
  bool empty() const { return ranges_.empty(); }
  // The lowest parked offset; REQUIRES: !empty().
  uint64_t first() const { return ranges_.begin()->first; }

 private:
  // Bytes of [offset, offset + length) already parked.
  uint64_t ParkedWithin(uint64_t offset, uint64_t length) const;

  struct Range {
    uint64_t length;
    std::vector<uint8_t> data;  // empty: the bytes are in the spill file
  };
  bool Spilled(const Range& r) const { return r.data.empty(); }
  uint64_t overhead() const { return ranges_.size() * kRangeOverhead; }
  // Whether `ranges` ranges holding `bytes` bytes (`memory_bytes` of them
  // in memory) stay within the budget and the memory.
  bool WithinBudget(size_t ranges, uint64_t bytes, uint64_t memory_bytes) const;
  // Adds [offset, offset + length) of `from` (which starts at from_start)
  // as a range of its own.
  void KeepPart(const Range& from, uint64_t from_start, uint64_t offset, uint64_t length);

  const uint64_t budget_;
  SpillFile* const spill_ = nullptr;
  const uint64_t spill_base_ = 0;
  const uint64_t memory_ = UINT64_MAX;
  uint64_t bytes_ = 0;
  uint64_t memory_bytes_ = 0;
  // offset -> range; disjoint.
  std::map<uint64_t, Range> ranges_;
};

}  // namespace fanout

#endif  // FANOUT_WINDOW_AHEAD_MAP_H
