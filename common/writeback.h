// Writeback: cache=none.  Drains the dirty pages a destination produces at
// the rate it produces them, instead of letting gigabytes pile up in the
// page cache until the kernel's dirty limits throttle everything (and
// evict what other programs were using).
//
// The file is written in chunks of kChunk bytes (counted in bytes written,
// whatever their offsets).  When a chunk is finished its writeback is
// started (sync_file_range WRITE), the chunk before it is waited for and its
// pages dropped (posix_fadvise DONTNEED): at most about two chunks per
// destination are dirty or under writeback at any time.  Finish() waits for
// and drops everything (flush, close).
//
// Errors are not reported here: a failed writeback is reported by the next
// fdatasync on the file, which flush and close always do.
//
// Thread-safe: the writer reports writes, flush finishes from any thread.
#ifndef FANOUT_WRITEBACK_H
#define FANOUT_WRITEBACK_H

#include <cstdint>
#include <mutex>

namespace fanout {

class Writeback {
 public:
  static constexpr uint64_t kChunk = 32ull << 20;

  // fd must stay open as long as this object is used.
  explicit Writeback(int fd) : fd_(fd) {}

  // [offset, offset + length) has been written (the write completed).
  void Wrote(uint64_t offset, uint64_t length);
  // Writes back and drops everything reported so far.
  void Finish();

 private:
  struct Range {
    uint64_t start = 0, end = 0;
    bool empty() const { return start >= end; }
  };
  // Waits for the range's writeback (starting what is not started yet) and
  // drops its pages.
  void Retire(const Range& r);

  const int fd_;
  std::mutex mu_;
  Range current_;   // GUARDED_BY(mu_): being written
  uint64_t current_bytes_ = 0;  // GUARDED_BY(mu_)
  Range previous_;  // GUARDED_BY(mu_): writeback started
};

}  // namespace fanout

#endif  // FANOUT_WRITEBACK_H
