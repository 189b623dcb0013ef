// AheadMap: writes parked far beyond the window, until the window reaches
// them.
//
// parted writes the GPT backup header at the end of the disk first, mkfs
// scatters superblock copies and group headers across it.  Sliding the
// window to take such a write would commit (and zero-fill) everything before
// it, and every later write near the start would be late.  Instead the
// window parks it here: a sparse set of byte ranges with their data, kept
// merged, readable and rewritable, limited to `budget` bytes of data.  When
// the window slides up to a parked range, the window takes it back (Take())
// and it is committed in order like any other write.
//
// Memory is the parked bytes themselves plus a small per-range overhead, not
// whole chunks: a 512-byte GPT header costs 512 bytes.
//
// Not thread-safe: the engine's lock protects it (through the window).
#ifndef FANOUT_AHEAD_MAP_H
#define FANOUT_AHEAD_MAP_H

#include <cstdint>
#include <map>
#include <vector>

namespace fanout {

class AheadMap {
 public:
  explicit AheadMap(uint64_t budget) : budget_(budget) {}

  // Whether parking [offset, offset + length) would stay within the budget
  // (bytes already parked there are rewritten, not added).
  bool Fits(uint64_t offset, uint64_t length) const;
  // Parks the bytes, replacing whatever was parked there.
  // REQUIRES: Fits(offset, length).
  void Put(const uint8_t* data, uint64_t length, uint64_t offset);
  // Forgets what was parked in [offset, offset + length): those bytes read
  // as zeros again (nothing else can have written beyond the window).
  void Erase(uint64_t offset, uint64_t length);
  // True if any byte of [offset, offset + length) is parked.
  bool Intersects(uint64_t offset, uint64_t length) const;

  // Copies the parked bytes inside [offset, offset + length) into buf
  // (buf[0] is offset); other bytes of buf are left alone.
  void Read(uint8_t* buf, uint64_t length, uint64_t offset) const;

  struct Piece {
    uint64_t offset;
    std::vector<uint8_t> data;
  };
  // Removes and returns the lowest parked range.  REQUIRES: !empty().
  Piece TakeFirst();
  // Removes and returns, in offset order, the parked bytes below `end`.
  std::vector<Piece> TakeBelow(uint64_t end);

  uint64_t bytes() const { return bytes_; }
  uint64_t budget() const { return budget_; }
  bool empty() const { return ranges_.empty(); }
  // The lowest parked offset; REQUIRES: !empty().
  uint64_t first() const { return ranges_.begin()->first; }

 private:
  // Bytes of [offset, offset + length) already parked.
  uint64_t ParkedWithin(uint64_t offset, uint64_t length) const;

  const uint64_t budget_;
  uint64_t bytes_ = 0;
  // offset -> data; disjoint.
  std::map<uint64_t, std::vector<uint8_t>> ranges_;
};

}  // namespace fanout

#endif  // FANOUT_AHEAD_MAP_H
