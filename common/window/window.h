// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Window: places each client write so that every destination receives the
// export's content in an order it can take.
//
// The export is cut into chunks of `chunk` bytes (the bus bucket size), and
// the bytes the window holds live in pool buffers, one per chunk.  Each chunk
// remembers which of its bytes hold data and which were zeroed.
//
// Two modes, chosen once:
//
//  * ordered (some destination is a stream): the window is [C, C + window),
//    where C is the commit point.  Writes inside it are copied into chunks and
//    may be rewritten; a write ending beyond it slides the window, committing
//    the oldest bytes in order (never-written gaps as zero extents).  A write
//    behind C is committed at once as a late extent: seekable destinations
//    take it, streams (which are past it) fail with a message naming the
//    window that would have taken it.  Zero requests erase data inside the
//    window and are no-ops beyond it (the export starts as zeros).  Streams
//    receive exactly [0, C).
//
//    A write beyond the window that leaves a gap after the highest write so
//    far (the GPT backup header, a superblock copy, an allocation group
//    header) is parked in the ahead map instead, while its budget (ahead=)
//    lasts, and joins the window when the window reaches it.
//
//    With a spill file (spill=DIR), at most ResidentChunks() chunks hold a
//    pool buffer.  Opening one more evicts the least recently used: its
//    bytes are written to the spill file at their own offsets and its
//    buffer goes back to the pool.  An evicted chunk stays in the spill
//    file (writes to it go there, reads and zeros work on it there) until
//    it is committed, when its bytes are read back into a pool buffer, once.
//    The ahead map keeps AheadMemory() bytes in memory and spills the rest.
//    So memory is bounded by spill-memory=, whatever window= is.  A spill
//    file that fails (DIR full) breaks the window: what clients wrote can
//    no longer be held, so that request and every later one fail.
//
//  * unordered (every destination is seekable): nothing needs ordering, so
//    up to max_open_chunks chunks are kept open to coalesce small writes into
//    large extents.  A chunk is committed when it is full, when it is the
//    least recently used and room is needed, at flush and at finish.
//
// Everything committed goes to the CommitSink in order.  The window also
// remembers what it has committed (data or zero) for every byte, so reads of
// never-written bytes return zeros, zero requests over never-written bytes do
// nothing, and Finish() can zero exactly what was never written.
//
// Not thread-safe: the engine's lock protects it.  Write() and Zero() may
// block in BufferPool::Acquire() or in the sink (back-pressure).
#ifndef FANOUT_WINDOW_WINDOW_H
#define FANOUT_WINDOW_WINDOW_H

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/range_map.h"
#include "util/status.h"
#include "window/ahead_map.h"
#include "window/buffer_pool.h"
#include "window/commit_sink.h"
#include "window/extent.h"
#include "window/spill_file.h"

namespace fanout {

struct WindowConfig {
  uint64_t size = 0;    // export size
  uint64_t window = 0;  // window= (ordered mode)
  uint64_t chunk = 0;   // bytes per chunk; == the pool's buffer size
  bool ordered = false;
  uint64_t ahead = 0;          // ahead= budget (ordered mode)
  size_t max_open_chunks = 1;  // unordered mode
  // spill=DIR (ordered mode): chunks and parked bytes beyond spill_memory
  // live in the SpillFile passed to the window.
  bool spill = false;
  uint64_t spill_memory = 0;
  // The machine's memory (0: unknown): a late write whose window would not
  // fit in half of it is told about spill=.
  uint64_t memory_hint = 0;
};

// A byte range [start, end).
struct ByteRange {
  uint64_t start;
  uint64_t end;
};

class Window {
 public:
  // Values in the committed map and in chunk maps.
  using enum Content;

  // The number of pool buffers the window may hold at once; size the pool
  // with at least this many plus what the bus may pin.
  static size_t MaxChunks(const WindowConfig& config);
  // With spill: the chunks that may hold a pool buffer at once, and the
  // parked bytes the ahead map may hold in memory.
  static size_t ResidentChunks(const WindowConfig& config);
  static uint64_t AheadMemory(const WindowConfig& config);

  // REQUIRES: pool->buffer_size() == config.chunk; spill given if
  // config.spill; pool, sink and spill outlive this.
  Window(const WindowConfig& config, BufferPool* pool, CommitSink* sink,
         SpillFile* spill = nullptr);
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // Copies [offset, offset + length) from buf.  REQUIRES: the range is inside
  // the export.  Sets *late if part of it was behind C and went out as a
  // late extent (every stream destination will fail on it).
  Status Write(const void* buf, uint64_t length, uint64_t offset, bool* late = nullptr);
  // Zeroes the range (zero and trim requests).  Zeroing committed data
  // behind C is late, as for Write.
  Status Zero(uint64_t length, uint64_t offset, bool* late = nullptr);
  // detect-zeroes=: Write(), but the whole aligned pages of zeros in buf
  // go in as Zero() (util/zero_pages.h): over never-written bytes they take
  // no memory and do not move the window; over data they erase it.
  Status WriteDetectingZeroes(const void* buf, uint64_t length, uint64_t offset,
                              bool* late = nullptr);

  // Fills buf with what the window knows of [offset, offset + length): data
  // held in chunks, zeros where nothing was ever written.  The ranges it
  // cannot fill (committed data no longer held) are appended to *backing:
  // read them from a destination and lay the bus's unapplied extents over
  // them.  Fails only if spilled bytes cannot be read back.
  Status Read(void* buf, uint64_t length, uint64_t offset, std::vector<ByteRange>* backing) const;

  // Unordered mode: commits every open chunk.  Ordered mode: nothing (the
  // window is the price of reordering; see the man page).
  void Flush();
  // End of stream: commits everything, and zero extents for every byte never
  // committed, so each destination ends up holding the whole export.  Fails
  // if the spill file failed (now or before).
  Status Finish();

  // The error for a request behind C ("write", "read", "zero"): names the
  // offset, C, and the window= that would have taken it (and spill=, when
  // that window would not fit in memory).
  Status LateError(const char* what, uint64_t length, uint64_t offset) const;

  // Bytes of the export committed so far (each byte once).  Thread-safe:
  // the status reporter reads it without the engine's lock.
  uint64_t committed_bytes() const { return committed_bytes_.load(std::memory_order_relaxed); }

  // The spill file failed: every request from now on fails.
  bool broken() const { return !broken_.ok(); }

  uint64_t commit_point() const { return commit_point_; }
  uint64_t high_water() const { return high_water_; }
  uint64_t parked_bytes() const { return ahead_.bytes(); }
  // The parked writes themselves, for invariant checks (tests, fuzzer).
  const AheadMap& ahead() const { return ahead_; }
  bool ordered() const { return config_.ordered; }
  size_t open_chunks() const { return chunks_.size(); }
  // Chunks holding a pool buffer (the others are in the spill file).
  size_t resident_chunks() const { return resident_; }
  // Parked bytes held in memory.
  uint64_t parked_memory_bytes() const { return ahead_.memory_bytes(); }
  // The ranges a chunk's state may hold before the window makes it fewer:
  // one per kBytesPerRange of the chunk, so that the bookkeeping of tiny
  // writes costs at most 1/64 of the chunk's own buffer (a range costs
  // about 64 bytes).
  static constexpr uint64_t kBytesPerRange = 4096;
  // The ranges the open chunks' states hold (their bookkeeping).
  size_t chunk_ranges() const {
    size_t n = 0;
    for (const auto& [index, chunk] : chunks_) n += chunk.state.size();
    return n;
  }

 private:
  struct Chunk {
    std::shared_ptr<Buffer> buffer;     // null: evicted to the spill file
    RangeMap state;                     // absolute offsets; kData or kZero
    std::list<uint64_t>::iterator lru;  // valid while in lru_
  };

  uint64_t ChunkStart(uint64_t index) const { return index * config_.chunk; }
  uint64_t ChunkEnd(uint64_t index) const;
  // Whether lru_ lists chunks: all of them (unordered), or the resident
  // ones (spill).
  bool UsesLru() const { return !config_.ordered || spill_ != nullptr; }
  // Finds or opens the chunk; opening may close (unordered) or evict
  // (spill) the least recently used one first.
  Status OpenChunk(uint64_t index, Chunk** out);
  // Spill: writes a resident chunk's bytes to the spill file and returns
  // its buffer to the pool.
  Status Evict(uint64_t index);
  // Copies [start, end) of src into the chunk (its buffer, or the spill
  // file) and marks it data.  REQUIRES: [start, end) inside the chunk.
  Status PutBytes(Chunk* chunk, const uint8_t* src, uint64_t start, uint64_t end);
  size_t MaxChunkRanges() const;
  // Makes the chunk's data one range where it can, by writing zeros into
  // what lies between its data ranges and reads as zeros: its zeroed
  // ranges and gaps (ordered), or the gaps over never-written or zeroed
  // bytes (unordered; bytes committed as data before stay).
  Status FillGaps(uint64_t index, Chunk* chunk);
  // Forgets a chunk whose bytes have all been committed.
  void DropChunk(std::map<uint64_t, Chunk>::iterator it);
  // Ordered mode: commits [C, new_c) in order, gaps as zeros, and moves C.
  Status Slide(uint64_t new_c);
  // Commits chunk's part of [start, end); gaps become zeros if fill_gaps.
  // A spilled chunk's data is read back into a pool buffer first.
  Status CommitChunk(const Chunk& chunk, uint64_t start, uint64_t end, bool fill_gaps);
  // Unordered mode: commits a whole chunk and forgets it.
  void CommitAndClose(uint64_t index);
  // Copies [start, end) from src (src[0] is start) into chunks, sliding the
  // window (ordered mode) as each piece needs.  REQUIRES: start >= C.
  Status Place(const uint8_t* src, uint64_t start, uint64_t end);
  // Ordered mode: whether a write belongs in the ahead map.
  bool ShouldPark(uint64_t offset, uint64_t length) const;
  // After a write: parked writes that now continue the front (start at or
  // below the highest write) re-enter the window, and a pending zero is
  // committed.  Fails (and breaks the window) only on a spill failure.
  Status AbsorbFront();
  // Moves parked bytes below `end` into the window's chunks.
  Status Absorb(uint64_t end);
  // Records a spill failure: the window no longer holds all that clients
  // wrote, so every later request fails too.  Returns s.
  Status Break(const Status& s);
  // Queues a zero extent, merging it with the one before when they touch.
  void CommitZero(uint64_t start, uint64_t end);
  void CommitData(const std::shared_ptr<Buffer>& buffer, uint64_t start, uint64_t end);
  // Commits bytes behind C as late extents, copied into pool buffers.
  void CommitLate(const uint8_t* src, uint64_t start, uint64_t end,
                  const std::shared_ptr<const std::string>& why);
  void FlushPendingZero();
  // committed_.Set, keeping committed_bytes_ up to date.
  void Cover(uint64_t start, uint64_t end, Content value);

  const WindowConfig config_;
  BufferPool* const pool_;
  CommitSink* const sink_;
  SpillFile* const spill_;  // ordered mode with spill=, else null

  std::map<uint64_t, Chunk> chunks_;          // chunk index -> chunk
  AheadMap ahead_;                            // ordered mode: parked far writes, all >= C + window
  std::list<uint64_t> lru_;                   // see UsesLru(); oldest first
  size_t resident_ = 0;                       // chunks holding a buffer
  Status broken_;                             // the spill failure, once there was one
  RangeMap committed_;                        // every byte handed to the sink: kData or kZero
  std::atomic<uint64_t> committed_bytes_{0};  // the total length of committed_
  uint64_t commit_point_ = 0;                 // C (ordered mode)
  uint64_t high_water_ = 0;                   // highest end of any write
  bool zero_pending_ = false;                 // a zero extent being merged before commit
  uint64_t zero_start_ = 0, zero_end_ = 0;
};

}  // namespace fanout

#endif  // FANOUT_WINDOW_WINDOW_H
