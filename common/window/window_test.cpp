// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for Window: the reorder buffer between client writes and the bus.
//
// Every test drives a Window with a RecordingSink, which plays every
// destination at once: it applies each committed extent to a "destination"
// byte model (a seekable destination: extents land at their offsets), appends
// it to a "stream" model (a stream destination: bytes in commit order,
// offsets ignored), and logs it.  A reference model of the export, starting
// as zeros, takes every write and zero the window accepted.  The contracts:
//
//  * a Read (window + backing ranges read from the destination, as the engine
//    does) always returns the reference;
//  * after Finish() the destination equals the reference, even when it
//    started as garbage (a reused block device);
//  * ordered mode: the stream receives [0, size) once, in order, and equals
//    the reference; C == max(0, highest write end - window) (the tests'
//    writes are no longer than the window, or the chunk no longer than it);
//  * the pool bound: the window never holds more than MaxChunks() buffers;
//    with spill, no more than ResidentChunks() chunks hold one and the ahead
//    map holds no more than AheadMemory() bytes, whatever window= is.

#include "window/window.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "util/status.h"
#include "util/test_watchdog.h"
#include "window/ahead_map.h"
#include "window/buffer_pool.h"
#include "window/extent.h"
#include "window/spill_file.h"

namespace fanout {
namespace {

using namespace testing_support;

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;

// What a destination that was never written holds: not zeros.
constexpr uint8_t kGarbage = 0xAA;

// One extent as the sink saw it.
struct Committed {
  uint64_t offset;
  uint64_t length;
  bool zero;
  uint64_t end() const { return offset + length; }
};

std::string Show(const std::vector<Committed>& log, size_t max = 20) {
  std::string s;
  for (size_t i = 0; i < log.size() && i < max; i++)
    s += std::string(log[i].zero ? " Z" : " D") + "[" + std::to_string(log[i].offset) + "," +
         std::to_string(log[i].end()) + ")";
  if (log.size() > max) s += " ...";
  return s;
}

class RecordingSink : public CommitSink {
 public:
  RecordingSink(uint64_t size, bool record_stream)
      : dest_(size, kGarbage), record_stream_(record_stream) {
    if (record_stream_) stream_.reserve(size);
  }

  // Keeps the last `n` data extents (and so their buffers) alive, as a slow
  // destination would, and checks when letting each go that its bytes did
  // not change after it was committed.
  void KeepExtents(size_t n) { keep_ = n; }

  void Commit(Extent e) override {
    if (e.length == 0) ADD_FAILURE() << "empty extent committed at " << e.offset;
    if (e.end() < e.offset || e.end() > dest_.size()) {
      ADD_FAILURE() << "extent [" << e.offset << "," << e.end() << ") outside the export of "
                    << dest_.size();
      return;
    }
    if (e.late) {
      // A late extent: seekable destinations take it, streams fail on it,
      // so it goes to the destination model only, and to its own log.
      if (e.is_zero())
        std::memset(dest_.data() + e.offset, 0, e.length);
      else
        std::memcpy(dest_.data() + e.offset, e.bytes(), e.length);
      late_log_.push_back(Committed{e.offset, e.length, e.is_zero()});
      late_reasons_.push_back(*e.late);
      return;
    }
    if (e.is_zero()) {
      std::memset(dest_.data() + e.offset, 0, e.length);
      if (record_stream_) stream_.insert(stream_.end(), e.length, 0);
    } else {
      if (e.buffer_offset + e.length > e.buffer->size()) {
        ADD_FAILURE() << "data extent [" << e.offset << "," << e.end()
                      << ") runs past its buffer: buffer_offset " << e.buffer_offset;
        return;
      }
      std::memcpy(dest_.data() + e.offset, e.bytes(), e.length);
      if (record_stream_) stream_.insert(stream_.end(), e.bytes(), e.bytes() + e.length);
      if (keep_ > 0) {
        held_.push_back(Held{e, std::vector<uint8_t>(e.bytes(), e.bytes() + e.length)});
        if (held_.size() > keep_) {
          CheckHeld(held_.front());
          held_.pop_front();
        }
      }
    }
    log_.push_back(Committed{e.offset, e.length, e.is_zero()});
  }

  // Checks and lets go of every kept extent.
  void ReleaseKept() {
    for (const Held& h : held_) CheckHeld(h);
    held_.clear();
  }

  std::vector<uint8_t>& dest() { return dest_; }
  const std::vector<uint8_t>& stream() const { return stream_; }
  const std::vector<Committed>& log() const { return log_; }
  const std::vector<Committed>& late_log() const { return late_log_; }
  const std::vector<std::string>& late_reasons() const { return late_reasons_; }
  std::vector<Committed> DataLog() const {
    std::vector<Committed> out;
    std::copy_if(log_.begin(), log_.end(), std::back_inserter(out),
                 [](const Committed& c) { return !c.zero; });
    return out;
  }
  size_t DataExtents() const { return DataLog().size(); }

 private:
  struct Held {
    Extent extent;
    std::vector<uint8_t> bytes;  // as committed
  };
  void CheckHeld(const Held& h) {
    if (std::memcmp(h.extent.bytes(), h.bytes.data(), h.bytes.size()) != 0)
      ADD_FAILURE() << "bytes of committed extent [" << h.extent.offset << "," << h.extent.end()
                    << ") changed while a destination still held it";
  }

  std::vector<uint8_t> dest_;
  const bool record_stream_;
  std::vector<uint8_t> stream_;
  std::vector<Committed> log_;
  std::vector<Committed> late_log_;
  std::vector<std::string> late_reasons_;
  size_t keep_ = 0;
  std::deque<Held> held_;
};

// Passes if the log is [from, to) exactly once, in order, without holes.
::testing::AssertionResult InOrder(const std::vector<Committed>& log, uint64_t from, uint64_t to) {
  uint64_t pos = from;
  for (size_t i = 0; i < log.size(); i++) {
    if (log[i].offset != pos || log[i].length == 0)
      return ::testing::AssertionFailure()
             << "extent " << i << " [" << log[i].offset << "," << log[i].end()
             << ") does not follow " << pos << ";" << Show(log);
    pos = log[i].end();
  }
  if (pos != to)
    return ::testing::AssertionFailure()
           << "committed up to " << pos << ", expected " << to << ";" << Show(log);
  return ::testing::AssertionSuccess();
}

// Where the ordered stream has got to; the log must be in order from 0.
uint64_t Delivered(const std::vector<Committed>& log) {
  return log.empty() ? 0 : log.back().end();
}

::testing::AssertionResult SameBytes(const std::vector<uint8_t>& expected,
                                     const std::vector<uint8_t>& got, uint64_t base,
                                     const char* what) {
  if (expected.size() != got.size())
    return ::testing::AssertionFailure()
           << what << ": " << got.size() << " bytes, expected " << expected.size();
  if (std::memcmp(expected.data(), got.data(), expected.size()) == 0)
    return ::testing::AssertionSuccess();
  for (size_t i = 0; i < expected.size(); i++)
    if (expected[i] != got[i])
      return ::testing::AssertionFailure() << what << ": byte at offset " << base + i << " is "
                                           << int{got[i]} << ", expected " << int{expected[i]};
  return ::testing::AssertionSuccess();
}

// Random bytes that writes take their data from (copying a slice is much
// cheaper than computing bytes one by one, under the sanitizers too).
const std::vector<uint8_t>& Pattern() {
  static const std::vector<uint8_t> pattern = [] {
    std::vector<uint8_t> p(1 * MiB);
    std::mt19937 rng(12345);
    for (uint8_t& b : p) b = static_cast<uint8_t>(rng());
    return p;
  }();
  return pattern;
}

// A spill file in a fresh directory under TMPDIR (the directory is removed
// at once: the file is unlinked anyway).
std::unique_ptr<SpillFile> MakeSpill() {
  const char* tmp = getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/window_test.XXXXXX";
  if (!mkdtemp(dir.data())) return nullptr;
  std::unique_ptr<SpillFile> spill;
  Status s = SpillFile::Open(dir, &spill);
  EXPECT_TRUE(s.ok()) << s.message();
  rmdir(dir.c_str());
  return spill;
}

// A Window with its pool, sink and reference model (and spill file, if the
// config spills).
class Harness {
 public:
  // The pool has `extra` buffers beyond what the window may hold, so a window
  // that holds too many shows as pool().peak_in_use() > MaxChunks() rather
  // than as a hang.
  explicit Harness(const WindowConfig& config, size_t extra = 4)
      : config_(config),
        pool_(config.chunk, Window::MaxChunks(config) + extra),
        sink_(config.size, config.ordered),
        spill_(config.spill ? MakeSpill() : nullptr),
        window_(config, &pool_, &sink_, spill_.get()),
        ref_(config.size, 0),
        written_(config.size, 0) {}

  Window& window() { return window_; }
  RecordingSink& sink() { return sink_; }
  BufferPool& pool() { return pool_; }
  SpillFile* spill() { return spill_.get(); }
  const std::vector<uint8_t>& ref() const { return ref_; }
  const WindowConfig& config() const { return config_; }

  // Writes fresh bytes (a new slice of a random pattern each time); on
  // success, applies them to the reference too.
  Status Write(uint64_t offset, uint64_t length, bool* late = nullptr) {
    // A slice of a random pattern, starting somewhere new each time.
    const std::vector<uint8_t>& pattern = Pattern();
    stamp_++;
    std::vector<uint8_t> data(length);
    for (uint64_t done = 0; done < length;) {
      const uint64_t from = (stamp_ * 4099 + done * 7) % (pattern.size() / 2);
      const uint64_t n = std::min<uint64_t>(length - done, pattern.size() - from);
      std::memcpy(data.data() + done, pattern.data() + from, n);
      done += n;
    }
    Status st = window_.Write(data.data(), length, offset, late);
    if (st.ok()) {
      std::memcpy(ref_.data() + offset, data.data(), length);
      std::memset(written_.data() + offset, 1, length);
      unchecked_.push_back(ByteRange{offset, offset + length});
    }
    return st;
  }

  Status Zero(uint64_t offset, uint64_t length, bool* late = nullptr) {
    Status st = window_.Zero(length, offset, late);
    if (st.ok()) {
      std::memset(ref_.data() + offset, 0, length);
      std::memset(written_.data() + offset, 0, length);
    }
    return st;
  }

  // What the engine's read returns: the window's bytes, with the backing
  // ranges read from a destination.  The sink applies synchronously, so the
  // destination model is current and there is no bus to lay over it.
  std::vector<uint8_t> Read(uint64_t offset, uint64_t length,
                            std::vector<ByteRange>* backing_out = nullptr) {
    std::vector<uint8_t> buf(length, 0x5C);
    std::vector<ByteRange> backing;
    Status st = window_.Read(buf.data(), length, offset, &backing);
    if (!st.ok()) ADD_FAILURE() << "read " << offset << "+" << length << ": " << st.message();
    for (const ByteRange& r : backing) {
      if (r.start >= r.end || r.start < offset || r.end > offset + length) {
        ADD_FAILURE() << "backing range [" << r.start << "," << r.end << ") of read [" << offset
                      << "," << offset + length << ")";
        continue;
      }
      std::memcpy(buf.data() + (r.start - offset), sink_.dest().data() + r.start, r.end - r.start);
    }
    if (backing_out) *backing_out = backing;
    return buf;
  }

  ::testing::AssertionResult ReadMatches(uint64_t offset, uint64_t length) {
    const std::vector<uint8_t> expected(ref_.begin() + offset, ref_.begin() + offset + length);
    return SameBytes(expected, Read(offset, length), offset, "read");
  }

  ::testing::AssertionResult DestinationMatches() {
    return SameBytes(ref_, sink_.dest(), 0, "destination");
  }

  ::testing::AssertionResult StreamMatches() {
    return SameBytes(ref_, sink_.stream(), 0, "stream");
  }

  // Every byte written since the last check whose newest content still
  // comes from that Write is on the destination.  (Checking only what is
  // new keeps this cheap after every flush; Finish() is checked in full.)
  ::testing::AssertionResult WrittenBytesOnDestination() {
    std::vector<ByteRange> ranges;
    ranges.swap(unchecked_);
    const uint8_t* const w = written_.data();
    for (const ByteRange& r : ranges) {
      // Runs of still-written bytes, found with memchr, compared with memcmp.
      for (uint64_t start = r.start; start < r.end;) {
        const void* p = std::memchr(w + start, 1, r.end - start);
        if (p == nullptr) break;
        start = static_cast<const uint8_t*>(p) - w;
        const void* q = std::memchr(w + start, 0, r.end - start);
        const uint64_t end = q ? static_cast<const uint8_t*>(q) - w : r.end;
        if (std::memcmp(sink_.dest().data() + start, ref_.data() + start, end - start) != 0) {
          for (uint64_t i = start; i < end; i++)
            if (sink_.dest()[i] != ref_[i])
              return ::testing::AssertionFailure()
                     << "written byte at offset " << i
                     << " not on the destination after flush: " << int{sink_.dest()[i]}
                     << ", expected " << int{ref_[i]};
        }
        start = end;
      }
    }
    return ::testing::AssertionSuccess();
  }

  // C as the contract defines it from the writes so far.
  uint64_t ExpectedCommitPoint() const {
    return high_water_ > config_.window ? high_water_ - config_.window : 0;
  }
  void NoteWriteEnd(uint64_t end) { high_water_ = std::max(high_water_, end); }
  uint64_t high_water() const { return high_water_; }

 private:
  const WindowConfig config_;
  BufferPool pool_;
  RecordingSink sink_;
  std::unique_ptr<SpillFile> spill_;
  Window window_;
  std::vector<uint8_t> ref_;
  std::vector<uint8_t> written_;      // 1: the newest content of this byte came from a Write
  std::vector<ByteRange> unchecked_;  // written since the last WrittenBytesOnDestination()
  uint32_t stamp_ = 0;
  uint64_t high_water_ = 0;
};

WindowConfig Ordered(uint64_t size = 8 * MiB, uint64_t window = 1 * MiB,
                     uint64_t chunk = 256 * KiB) {
  WindowConfig c;
  c.size = size;
  c.window = window;
  c.chunk = chunk;
  c.ordered = true;
  return c;
}

WindowConfig Unordered(uint64_t size = 8 * MiB, uint64_t chunk = 256 * KiB, size_t open = 4) {
  WindowConfig c;
  c.size = size;
  c.window = 1 * MiB;
  c.chunk = chunk;
  c.ordered = false;
  c.max_open_chunks = open;
  return c;
}

// spill=DIR with spill-memory=memory: a 256 KiB chunk, a window of 4 MiB.
WindowConfig OrderedSpill(uint64_t memory, uint64_t ahead = 0, uint64_t size = 8 * MiB,
                          uint64_t window = 4 * MiB, uint64_t chunk = 256 * KiB) {
  WindowConfig c = Ordered(size, window, chunk);
  c.ahead = ahead;
  c.spill = true;
  c.spill_memory = memory;
  return c;
}

// A request length: often page-multiples as real clients send, sometimes
// odd.  Never more than 256 KiB (less than the 1 MiB window).
uint64_t RandomLength(std::mt19937& rng) {
  switch (rng() % 5) {
    case 0:
    case 1:
      return 4 * KiB * (1 + rng() % 16);  // 4 KiB .. 64 KiB
    case 2:
      return 4 * KiB * (1 + rng() % 64);  // .. 256 KiB
    default:
      return 1 + rng() % 70000;
  }
}

// Offset in [lo, hi), page-aligned half of the time.
uint64_t RandomOffset(std::mt19937& rng, uint64_t lo, uint64_t hi) {
  uint64_t off = lo + rng() % (hi - lo);
  if (rng() % 2 == 0) off = std::max(lo, off / (4 * KiB) * (4 * KiB));
  return off;
}

::testing::AssertionResult IsOk(const Status& st) {
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "error " << st.err() << ": " << st.message();
}

class WindowTest : public ::testing::Test {
 private:
  Watchdog watchdog_{std::chrono::seconds(120)};
};

// ---------------------------------------------------------------- both modes

TEST_F(WindowTest, ReportsMode) {
  Harness o(Ordered());
  EXPECT_TRUE(o.window().ordered());
  EXPECT_EQ(0u, o.window().commit_point());
  Harness u(Unordered());
  EXPECT_FALSE(u.window().ordered());
  EXPECT_EQ(0u, u.window().open_chunks());
}

TEST_F(WindowTest, NeverWrittenBytesReadAsZerosWithoutBacking) {
  for (bool ordered : {true, false}) {
    SCOPED_TRACE(ordered ? "ordered" : "unordered");
    Harness h(ordered ? Ordered() : Unordered());
    std::vector<ByteRange> backing;
    const auto got = h.Read(1 * MiB + 7, 300 * KiB, &backing);
    EXPECT_TRUE(backing.empty()) << "asked a destination for bytes never written";
    EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(h.sink().log().empty());
  }
}

TEST_F(WindowTest, HeldDataReadsBackWithoutBacking) {
  for (bool ordered : {true, false}) {
    SCOPED_TRACE(ordered ? "ordered" : "unordered");
    Harness h(ordered ? Ordered() : Unordered());
    ASSERT_TRUE(IsOk(h.Write(100 * KiB + 3, 5000)));
    std::vector<ByteRange> backing;
    const auto got = h.Read(96 * KiB, 16 * KiB, &backing);
    EXPECT_TRUE(backing.empty());
    EXPECT_TRUE(
        SameBytes(std::vector<uint8_t>(h.ref().begin() + 96 * KiB, h.ref().begin() + 112 * KiB),
                  got, 96 * KiB, "read"));
  }
}

// ---------------------------------------------------------------- ordered mode

TEST_F(WindowTest, OrderedSequentialWritesStreamInOrder) {
  Harness h(Ordered());
  const uint64_t size = h.config().size;
  for (uint64_t off = 0; off < size; off += 64 * KiB) {
    ASSERT_TRUE(IsOk(h.Write(off, 64 * KiB)));
    h.NoteWriteEnd(off + 64 * KiB);
    ASSERT_EQ(h.ExpectedCommitPoint(), h.window().commit_point()) << "after write at " << off;
    ASSERT_TRUE(InOrder(h.sink().log(), 0, Delivered(h.sink().log())));
    ASSERT_LE(Delivered(h.sink().log()), h.window().commit_point());
  }
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
  EXPECT_EQ(size, h.window().commit_point());
}

TEST_F(WindowTest, OrderedWriteBeyondWindowSlidesIt) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(3 * MiB, 4 * KiB)));
  const uint64_t c = 3 * MiB + 4 * KiB - 1 * MiB;
  EXPECT_EQ(c, h.window().commit_point());
  EXPECT_EQ(3 * MiB + 4 * KiB, h.window().high_water());
  ASSERT_TRUE(h.ReadMatches(0, 4 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  ASSERT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  // The never-written bytes the slide committed went out as zero extents.
  for (const Committed& e : h.sink().log())
    if (e.offset < c) {
      EXPECT_TRUE(e.zero) << "[" << e.offset << "," << e.end() << ")";
    }
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, OrderedWriteInsideWindowDoesNotSlide) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(1 * MiB - 4 * KiB, 4 * KiB)));  // ends exactly at C + window
  EXPECT_EQ(0u, h.window().commit_point());
  ASSERT_TRUE(IsOk(h.Write(0, 4 * KiB)));
  EXPECT_EQ(0u, h.window().commit_point());
  EXPECT_TRUE(h.sink().log().empty())
      << "committed before the window moved:" << Show(h.sink().log());
  EXPECT_TRUE(h.ReadMatches(0, 2 * MiB));
}

TEST_F(WindowTest, OrderedWriteLargerThanWindow) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(256 * KiB + 1, 3 * MiB)));
  EXPECT_EQ(2 * MiB + 256 * KiB + 1, h.window().commit_point());
  EXPECT_TRUE(h.ReadMatches(0, 4 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, OrderedFlushDeliversEverythingBelowCommitPoint) {
  // Everything below C has been handed to the bus (architecture.md, Terms),
  // and a flush makes everything committed durable: after Flush() the
  // streams must have received exactly [0, C).
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(0, 2 * MiB)));  // data up to C = 1M
  h.window().Flush();
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.window().commit_point()));
  ASSERT_TRUE(IsOk(h.Write(3 * MiB, 4 * KiB)));  // a gap [2M, 2M + 4K) committed as zeros
  h.window().Flush();
  EXPECT_EQ(2 * MiB + 4 * KiB, h.window().commit_point());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.window().commit_point()));
  ASSERT_TRUE(IsOk(h.Write(6 * MiB, 4 * KiB)));  // the slide ends in a never-written gap
  h.window().Flush();
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.window().commit_point()));
}

TEST_F(WindowTest, OrderedLateWriteGoesOutLateNamingWindow) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(0, 64 * KiB)));
  ASSERT_TRUE(IsOk(h.Write(2 * MiB, 4 * KiB)));
  const uint64_t c = h.window().commit_point();
  ASSERT_EQ(1 * MiB + 4 * KiB, c);
  const size_t committed = h.sink().log().size();

  const uint64_t offsets[] = {524288, 4096, 0};
  for (uint64_t off : offsets) {
    SCOPED_TRACE("offset " + std::to_string(off));
    bool late = false;
    ASSERT_TRUE(IsOk(h.Write(off, 4 * KiB, &late)));
    EXPECT_TRUE(late);
  }
  // Each went out at once as a late extent naming its offset and the window
  // that would have taken it; the in-order stream did not move.
  ASSERT_EQ(3u, h.sink().late_log().size()) << Show(h.sink().late_log());
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(offsets[i], h.sink().late_log()[i].offset);
    EXPECT_FALSE(h.sink().late_log()[i].zero);
    const std::string& why = h.sink().late_reasons()[i];
    EXPECT_NE(std::string::npos, why.find("window=")) << why;
    EXPECT_NE(std::string::npos, why.find(std::to_string(offsets[i]))) << why;
    EXPECT_NE(std::string::npos, why.find(std::to_string(c))) << why;
  }
  EXPECT_EQ(c, h.window().commit_point());
  EXPECT_EQ(committed, h.sink().log().size());
  // Reads see the late bytes (from the seekable destination).
  EXPECT_TRUE(h.ReadMatches(0, 3 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.DestinationMatches());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
}

TEST_F(WindowTest, OrderedWriteStraddlingCommitPointSplits) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(1 * MiB, 1 * MiB + 4 * KiB)));  // C = 1M + 4K, all data
  const uint64_t c = h.window().commit_point();
  ASSERT_EQ(1 * MiB + 4 * KiB, c);
  bool late = false;
  ASSERT_TRUE(IsOk(h.Write(c - 4 * KiB, 8 * KiB, &late)));
  EXPECT_TRUE(late);
  EXPECT_EQ(c, h.window().commit_point());
  // The part behind C went out late; the part from C on is in the window.
  ASSERT_EQ(1u, h.sink().late_log().size());
  EXPECT_EQ(c - 4 * KiB, h.sink().late_log()[0].offset);
  EXPECT_EQ(4 * KiB, h.sink().late_log()[0].length);
  EXPECT_TRUE(h.ReadMatches(c - 64 * KiB, 128 * KiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.DestinationMatches());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
}

TEST_F(WindowTest, OrderedLateWriteLargerThanAChunkUsesSeveralBuffers) {
  Harness h(Ordered());
  const uint64_t chunk = h.config().chunk;
  ASSERT_TRUE(IsOk(h.Write(0, 4 * chunk)));
  ASSERT_TRUE(IsOk(h.Write(6 * MiB, 4 * KiB)));  // C moves far past the first write
  bool late = false;
  ASSERT_TRUE(IsOk(h.Write(1000, 3 * chunk, &late)));
  EXPECT_TRUE(late);
  uint64_t total = 0;
  for (const Committed& e : h.sink().late_log()) {
    EXPECT_LE(e.length, chunk);
    total += e.length;
  }
  EXPECT_EQ(3 * chunk, total);
  EXPECT_TRUE(h.ReadMatches(0, 8 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, OrderedWriteAtCommitPointIsAccepted) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(2 * MiB, 4 * KiB)));
  const uint64_t c = h.window().commit_point();
  EXPECT_TRUE(IsOk(h.Write(c, 4 * KiB)));
  EXPECT_TRUE(IsOk(h.Write(c + 1, 1)));
  EXPECT_TRUE(h.ReadMatches(c - 4 * KiB, 16 * KiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.StreamMatches());
}

TEST_F(WindowTest, OrderedZeroBeyondWindowDoesNotSlide) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(0, 64 * KiB)));
  EXPECT_TRUE(IsOk(h.Zero(4 * MiB, 1 * MiB)));        // wholly beyond
  EXPECT_TRUE(IsOk(h.Zero(512 * KiB, 2 * MiB)));      // straddles the window's end
  EXPECT_TRUE(IsOk(h.Zero(h.config().size - 1, 1)));  // the last byte
  EXPECT_EQ(0u, h.window().commit_point());
  EXPECT_TRUE(h.sink().log().empty()) << Show(h.sink().log());
  EXPECT_TRUE(h.ReadMatches(0, 6 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.StreamMatches());
}

TEST_F(WindowTest, OrderedZeroInsideWindowErasesData) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(200 * KiB, 200 * KiB)));  // across the first chunk boundary
  ASSERT_TRUE(IsOk(h.Zero(250 * KiB + 3, 20 * KiB)));
  EXPECT_TRUE(h.ReadMatches(0, 1 * MiB));
  ASSERT_TRUE(IsOk(h.Write(260 * KiB, 1)));  // rewrite inside the zeroed part
  EXPECT_TRUE(h.ReadMatches(0, 1 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, OrderedZeroBehindCommitPointOverUnwrittenBytesIsNoOp) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(0, 4 * KiB)));
  ASSERT_TRUE(IsOk(h.Write(3 * MiB, 4 * KiB)));  // C = 2M + 4K; [4K, C) never written
  const uint64_t c = h.window().commit_point();
  EXPECT_TRUE(IsOk(h.Zero(1 * MiB, 64 * KiB)));
  EXPECT_TRUE(IsOk(h.Zero(4 * KiB, 1 * MiB)));  // starts right after the data
  EXPECT_EQ(c, h.window().commit_point());
  EXPECT_TRUE(h.ReadMatches(0, 4 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, OrderedZeroStraddlingCommitPointOverUnwrittenBytes) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(3 * MiB, 4 * KiB)));             // C = 2M + 4K, nothing written below 3M
  ASSERT_TRUE(IsOk(h.Write(2 * MiB + 64 * KiB, 8 * KiB)));  // data inside the window
  const uint64_t c = h.window().commit_point();
  EXPECT_TRUE(IsOk(h.Zero(c - 32 * KiB, 128 * KiB)));  // erases the data inside the window
  EXPECT_EQ(c, h.window().commit_point());
  EXPECT_TRUE(h.ReadMatches(c - 64 * KiB, 256 * KiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.StreamMatches());
}

TEST_F(WindowTest, OrderedZeroBehindCommitPointOverDataGoesOutLate) {
  Harness h(Ordered());
  ASSERT_TRUE(IsOk(h.Write(0, 4 * KiB)));
  ASSERT_TRUE(IsOk(h.Write(3 * MiB, 4 * KiB)));  // C = 2M + 4K
  const uint64_t c = h.window().commit_point();
  const size_t committed = h.sink().log().size();

  bool late = false;
  ASSERT_TRUE(IsOk(h.Zero(2 * KiB, 1 * MiB, &late)));  // partly data, partly never written
  EXPECT_TRUE(late);
  // Only the committed data needed zeroing: [2K, 4K).
  ASSERT_EQ(1u, h.sink().late_log().size()) << Show(h.sink().late_log());
  EXPECT_TRUE(h.sink().late_log()[0].zero);
  EXPECT_EQ(2 * KiB, h.sink().late_log()[0].offset);
  EXPECT_EQ(2 * KiB, h.sink().late_log()[0].length);
  EXPECT_NE(std::string::npos, h.sink().late_reasons()[0].find("window="));

  // Zeroing it again changes nothing: no longer data, so not late.
  late = false;
  ASSERT_TRUE(IsOk(h.Zero(2 * KiB, 2 * KiB, &late)));
  EXPECT_FALSE(late);
  EXPECT_EQ(1u, h.sink().late_log().size());

  EXPECT_EQ(c, h.window().commit_point());
  EXPECT_EQ(committed, h.sink().log().size());
  EXPECT_TRUE(h.ReadMatches(0, 4 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.DestinationMatches());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
}

TEST_F(WindowTest, OrderedUnalignedWritesAcrossChunks) {
  Harness h(Ordered());
  const uint64_t chunk = h.config().chunk;
  struct W {
    uint64_t offset, length;
  };
  for (W w : {W{chunk - 1, 2}, W{chunk - 1000, 2000}, W{2 * chunk - 77, chunk + 300}, W{1, 1},
              W{3 * chunk - 3, 5}, W{chunk / 2 + 1, 2 * chunk}, W{0, 3}}) {
    ASSERT_TRUE(IsOk(h.Write(w.offset, w.length))) << w.offset << "+" << w.length;
    ASSERT_TRUE(h.ReadMatches(0, 5 * chunk));
  }
  // Slide over them, then rewrite straddling chunk boundaries near the new C.
  ASSERT_TRUE(IsOk(h.Write(5 * chunk - 11, 22)));  // C = 5 * chunk + 11 - window
  const uint64_t c = h.window().commit_point();
  ASSERT_TRUE(IsOk(h.Write(c, 17)));
  ASSERT_TRUE(IsOk(h.Write(4 * chunk - 9, 18)));
  EXPECT_TRUE(h.ReadMatches(0, 6 * chunk));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, OrderedWriteAtEndOfOddSizedExport) {
  const uint64_t size = 3 * MiB + 12345;  // not a multiple of the chunk
  Harness h(Ordered(size));
  ASSERT_TRUE(IsOk(h.Write(size - 1000, 1000)));
  EXPECT_EQ(size - 1 * MiB, h.window().commit_point());
  ASSERT_TRUE(IsOk(h.Write(size - 1, 1)));
  ASSERT_TRUE(IsOk(h.Write(3 * MiB - 2 * KiB, 4 * KiB)));  // into the last, short chunk
  EXPECT_TRUE(h.ReadMatches(size - 1 * MiB, 1 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, OrderedFinishOfUntouchedExportStreamsZeros) {
  const uint64_t size = 2 * MiB + 1;
  Harness h(Ordered(size));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, size));
  EXPECT_EQ(0u, h.sink().DataExtents());
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

// Random writes (at most max_len bytes), zeroes and reads that are never
// late: their offsets stay at or above max(0, high water - window).
void RunOrderedRandom(const WindowConfig& config, uint32_t seed, uint64_t max_len) {
  std::mt19937 rng(seed);
  Harness h(config);
  const uint64_t size = config.size;
  const uint64_t window = config.window;
  for (int op = 0; op < 300; op++) {
    SCOPED_TRACE("op " + std::to_string(op));
    const uint64_t lo = h.ExpectedCommitPoint();
    const int kind = rng() % 100;
    if (kind < 50) {
      // Mostly near the high water mark; now and then far ahead.
      const uint64_t hi = (rng() % 10 == 0) ? size : std::min(size, h.high_water() + window / 2);
      const uint64_t off = RandomOffset(rng, lo, std::max(hi, lo + 1));
      const uint64_t len = std::min({RandomLength(rng), max_len, size - off});
      ASSERT_TRUE(IsOk(h.Write(off, len))) << "write " << off << "+" << len;
      h.NoteWriteEnd(off + len);
    } else if (kind < 65) {
      const uint64_t off = RandomOffset(rng, lo, size);
      const uint64_t len = std::min<uint64_t>(1 + rng() % (512 * KiB), size - off);
      ASSERT_TRUE(IsOk(h.Zero(off, len))) << "zero " << off << "+" << len;
    } else if (kind < 95) {
      const uint64_t off = rng() % size;
      const uint64_t len = std::min<uint64_t>(1 + rng() % (256 * KiB), size - off);
      ASSERT_TRUE(h.ReadMatches(off, len)) << "read " << off << "+" << len;
    } else {
      h.window().Flush();
    }
    ASSERT_EQ(h.ExpectedCommitPoint(), h.window().commit_point());
    ASSERT_TRUE(InOrder(h.sink().log(), 0, Delivered(h.sink().log())));
    ASSERT_LE(Delivered(h.sink().log()), h.window().commit_point());
  }
  EXPECT_TRUE(h.window().Finish().ok());
  ASSERT_TRUE(InOrder(h.sink().log(), 0, size));
  ASSERT_TRUE(h.StreamMatches());
  ASSERT_TRUE(h.DestinationMatches());
  ASSERT_LE(h.pool().peak_in_use(), Window::MaxChunks(config));
  // Finished: the window holds nothing any more.
  EXPECT_EQ(0u, h.window().open_chunks());
  EXPECT_EQ(0u, h.pool().in_use());
}

TEST_F(WindowTest, OrderedRandomMatchesReference) {
  for (uint32_t seed = 1; seed <= 20; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    RunOrderedRandom(Ordered(8 * MiB, 1 * MiB, 256 * KiB), seed, 256 * KiB);
    if (HasFatalFailure()) return;
  }
}

// window= smaller than bucket= (say window=4M with the default 16M bucket):
// the window is then a part of one chunk.
TEST_F(WindowTest, OrderedWindowSmallerThanChunk) {
  for (uint32_t seed = 1; seed <= 10; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    RunOrderedRandom(Ordered(4 * MiB, 64 * KiB, 256 * KiB), seed, 64 * KiB);
    if (HasFatalFailure()) return;
  }
}

TEST_F(WindowTest, OrderedWindowSmallerThanChunkLongWrite) {
  Harness h(Ordered(4 * MiB, 64 * KiB, 256 * KiB));
  ASSERT_TRUE(IsOk(h.Write(100 * KiB + 3, 1 * MiB)));  // 16 windows long, over 5 chunks
  EXPECT_TRUE(h.ReadMatches(0, 2 * MiB));
  const uint64_t c = h.window().commit_point();
  EXPECT_LE(c, 100 * KiB + 3 + 1 * MiB - 64 * KiB);
  EXPECT_TRUE(IsOk(h.Write(c, 1)));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_LE(h.pool().peak_in_use(), Window::MaxChunks(h.config()));
}

TEST_F(WindowTest, OrderedPoolBound) {
  Harness h(Ordered());
  const uint64_t size = h.config().size;
  std::mt19937 rng(7);
  // Unaligned writes scattered over the whole window as it slides over the
  // whole export: every chunk of the window gets opened.
  for (uint64_t front = 0; front < size;) {
    const uint64_t lo = h.ExpectedCommitPoint();
    const uint64_t off = RandomOffset(rng, lo, std::min(size, lo + h.config().window));
    const uint64_t len = std::min<uint64_t>(1 + rng() % (8 * KiB), size - off);
    ASSERT_TRUE(IsOk(h.Write(off, len)));
    h.NoteWriteEnd(off + len);
    if (rng() % 4 == 0) {
      front = std::max(front, h.ExpectedCommitPoint());
      const uint64_t len2 = std::min<uint64_t>(96 * KiB + 5, size - front);
      ASSERT_TRUE(IsOk(h.Write(front, len2)));
      h.NoteWriteEnd(front + len2);
      front += len2;
    }
    ASSERT_LE(h.pool().in_use(), Window::MaxChunks(h.config()));
  }
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_LE(h.pool().peak_in_use(), Window::MaxChunks(h.config()));
  EXPECT_TRUE(h.StreamMatches());
}

// ---------------------------------------------------------------- ordered mode, ahead map

WindowConfig OrderedAhead(uint64_t ahead, uint64_t size = 8 * MiB, uint64_t window = 1 * MiB,
                          uint64_t chunk = 256 * KiB) {
  WindowConfig c = Ordered(size, window, chunk);
  c.ahead = ahead;
  return c;
}

// Every parked byte lies at or beyond C + window, within the budget, and
// the window holds no more pool buffers than MaxChunks().
::testing::AssertionResult AheadInvariants(Harness& h) {
  const Window& w = h.window();
  const AheadMap& ahead = w.ahead();
  if (w.parked_bytes() > h.config().ahead)
    return ::testing::AssertionFailure()
           << w.parked_bytes() << " bytes parked, over the budget of " << h.config().ahead;
  if (!ahead.empty() && ahead.first() < w.commit_point() + h.config().window)
    return ::testing::AssertionFailure()
           << "parked byte at " << ahead.first() << " inside the window [" << w.commit_point()
           << "," << w.commit_point() + h.config().window << ")";
  if (h.pool().peak_in_use() > Window::MaxChunks(h.config()))
    return ::testing::AssertionFailure()
           << "pool peak " << h.pool().peak_in_use() << " > " << Window::MaxChunks(h.config());
  if (h.config().spill && w.resident_chunks() > Window::ResidentChunks(h.config()))
    return ::testing::AssertionFailure()
           << w.resident_chunks() << " resident chunks > " << Window::ResidentChunks(h.config());
  if (h.config().spill && w.parked_memory_bytes() > Window::AheadMemory(h.config()))
    return ::testing::AssertionFailure() << w.parked_memory_bytes() << " parked bytes in memory > "
                                         << Window::AheadMemory(h.config());
  if (w.ahead().charged() > h.config().ahead)
    return ::testing::AssertionFailure()
           << w.ahead().charged() << " charged to ahead > " << h.config().ahead;
  if (h.config().spill && w.ahead().memory_use() > Window::AheadMemory(h.config()))
    return ::testing::AssertionFailure()
           << w.ahead().memory_use() << " parked memory > " << Window::AheadMemory(h.config());
  if (!InOrder(h.sink().log(), 0, Delivered(h.sink().log())))
    return InOrder(h.sink().log(), 0, Delivered(h.sink().log()));
  if (Delivered(h.sink().log()) > w.commit_point())
    return ::testing::AssertionFailure()
           << "stream at " << Delivered(h.sink().log()) << " beyond C " << w.commit_point();
  return ::testing::AssertionSuccess();
}

// After Finish() with no late request: the stream is the export, once, in
// order, and so is the destination.
void ExpectCleanFinish(Harness& h) {
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(AheadInvariants(h));
  EXPECT_EQ(0u, h.window().parked_bytes());
  EXPECT_TRUE(h.sink().late_log().empty()) << Show(h.sink().late_log());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
  EXPECT_EQ(0u, h.window().open_chunks());
  EXPECT_EQ(0u, h.pool().in_use());
}

// 1-byte writes inside the window, apart: each would be a range of its
// own.  The chunk's bookkeeping stays within one range per kBytesPerRange
// of the chunk (ordered: the gaps become written zeros; unordered: the
// chunk is committed), and every byte still arrives exactly.
// With spill, evicted chunks get their gaps' zeros in the spill file.
TEST_F(WindowTest, TinyWritesKeepTheChunkBookkeepingBounded) {
  for (const int mode : {0, 1, 2}) {
    const bool ordered = mode != 2;
    SCOPED_TRACE(mode == 0 ? "ordered" : mode == 1 ? "ordered, spill" : "unordered");
    Harness h(mode == 0   ? Ordered(4 * MiB, 1 * MiB, 256 * KiB)
              : mode == 1 ? OrderedSpill(512 * KiB, 0, 4 * MiB, 2 * MiB, 256 * KiB)
                          : Unordered(4 * MiB, 256 * KiB, 4));
    const size_t per_chunk = 256 * KiB / Window::kBytesPerRange;
    for (uint64_t off = 0; off < 3 * MiB; off += 16) {
      ASSERT_TRUE(IsOk(h.Write(off, 1)));
      ASSERT_LE(h.window().chunk_ranges(), h.window().open_chunks() * (per_chunk + 1)) << off;
    }
    EXPECT_TRUE(h.ReadMatches(0, h.config().size));
    if (mode == 1) {
      EXPECT_GT(h.spill()->bytes_written(), 0u);
    }
    EXPECT_TRUE(h.window().Finish().ok());
    EXPECT_TRUE(h.DestinationMatches());
    if (ordered) {
      EXPECT_TRUE(h.StreamMatches());
    }
  }
}

// parted: the backup GPT at the end of the disk first, then everything from
// the start in order.  The far write is parked; nothing is late.
TEST_F(WindowTest, AheadGptLikeOrderHasNoLateWrites) {
  Harness h(OrderedAhead(1 * MiB));
  const uint64_t size = h.config().size;
  bool late = false;
  ASSERT_TRUE(IsOk(h.Write(size - 16 * KiB, 16 * KiB, &late)));
  EXPECT_FALSE(late);
  EXPECT_EQ(16 * KiB, h.window().parked_bytes());
  EXPECT_EQ(0u, h.window().commit_point());
  EXPECT_EQ(0u, h.window().high_water());
  EXPECT_TRUE(h.sink().log().empty());
  ASSERT_TRUE(AheadInvariants(h));
  for (uint64_t off = 0; off < size - 16 * KiB; off += 64 * KiB) {
    const uint64_t len = std::min<uint64_t>(64 * KiB, size - 16 * KiB - off);
    ASSERT_TRUE(IsOk(h.Write(off, len, &late)));
    ASSERT_FALSE(late) << "write at " << off;
    h.NoteWriteEnd(off + len);
    ASSERT_TRUE(AheadInvariants(h)) << "after write at " << off;
    // The parked bytes wait beyond the window until it reaches them.
    if (h.window().commit_point() + h.config().window <= size - 16 * KiB) {
      ASSERT_EQ(16 * KiB, h.window().parked_bytes()) << "after write at " << off;
    }
  }
  EXPECT_EQ(0u, h.window().parked_bytes());
  EXPECT_TRUE(h.ReadMatches(size - 2 * MiB, 2 * MiB));
  ExpectCleanFinish(h);
}

// The same with the primary GPT (sector 0, then sectors 1-33) first and an
// unaligned backup header at the very end.
TEST_F(WindowTest, AheadGptPrimaryThenBackupThenSequential) {
  Harness h(OrderedAhead(64 * KiB, 8 * MiB + 512, 1 * MiB, 256 * KiB));
  const uint64_t size = h.config().size;
  ASSERT_TRUE(IsOk(h.Write(0, 512)));
  h.NoteWriteEnd(512);
  ASSERT_TRUE(IsOk(h.Write(512, 33 * 512)));
  h.NoteWriteEnd(34 * 512);
  ASSERT_TRUE(IsOk(h.Write(size - 33 * 512, 33 * 512)));
  EXPECT_EQ(33 * 512u, h.window().parked_bytes());
  ASSERT_TRUE(IsOk(h.Write(size - 512, 512)));  // rewrite of the header: still parked
  EXPECT_EQ(33 * 512u, h.window().parked_bytes());
  EXPECT_TRUE(h.ReadMatches(size - 64 * KiB, 64 * KiB));
  for (uint64_t off = 1 * MiB; off < size - 1 * MiB; off += 128 * KiB) {
    ASSERT_TRUE(IsOk(h.Write(off, 128 * KiB)));
    h.NoteWriteEnd(off + 128 * KiB);
    ASSERT_TRUE(AheadInvariants(h)) << "after write at " << off;
  }
  ExpectCleanFinish(h);
}

// Parking stops when the budget is spent: the next far write slides the
// window, and writes behind the new C are late (reported through *late).
TEST_F(WindowTest, AheadBudgetExhaustedSlidesAndLaterWritesAreLate) {
  // The budget holds 64K in two ranges, with their overhead (and the
  // overhead Fits() reserves for two more).
  Harness h(OrderedAhead(64 * KiB + 4 * AheadMap::kRangeOverhead));
  bool late = false;
  ASSERT_TRUE(IsOk(h.Write(6 * MiB, 32 * KiB, &late)));
  ASSERT_TRUE(IsOk(h.Write(5 * MiB, 32 * KiB, &late)));
  EXPECT_FALSE(late);
  EXPECT_EQ(64 * KiB, h.window().parked_bytes());
  EXPECT_EQ(0u, h.window().commit_point());
  // A rewrite of parked bytes still fits: it adds nothing.
  ASSERT_TRUE(IsOk(h.Write(6 * MiB + 4 * KiB, 8 * KiB, &late)));
  EXPECT_EQ(64 * KiB, h.window().parked_bytes());
  EXPECT_EQ(0u, h.window().commit_point());
  // One more byte does not fit: the window slides to take it.
  ASSERT_TRUE(IsOk(h.Write(4 * MiB, 4 * KiB, &late)));
  h.NoteWriteEnd(4 * MiB + 4 * KiB);
  EXPECT_FALSE(late);
  EXPECT_EQ(h.ExpectedCommitPoint(), h.window().commit_point());
  EXPECT_EQ(64 * KiB, h.window().parked_bytes());  // still beyond the window
  ASSERT_TRUE(AheadInvariants(h));
  // The start of the disk is now behind C: late.
  ASSERT_TRUE(IsOk(h.Write(0, 4 * KiB, &late)));
  EXPECT_TRUE(late);
  ASSERT_EQ(1u, h.sink().late_log().size());
  EXPECT_EQ(0u, h.sink().late_log()[0].offset);
  EXPECT_TRUE(h.ReadMatches(0, h.config().size));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(AheadInvariants(h));
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.DestinationMatches());
  EXPECT_FALSE(h.StreamMatches());  // the stream missed the late write
}

// A far write larger than the whole budget is never parked.
TEST_F(WindowTest, AheadWriteLargerThanBudgetSlides) {
  Harness h(OrderedAhead(16 * KiB));
  ASSERT_TRUE(IsOk(h.Write(4 * MiB, 16 * KiB + 1)));
  h.NoteWriteEnd(4 * MiB + 16 * KiB + 1);
  EXPECT_EQ(0u, h.window().parked_bytes());
  EXPECT_EQ(h.ExpectedCommitPoint(), h.window().commit_point());
  ExpectCleanFinish(h);
}

// Zero requests beyond the window forget parked bytes (they read as zeros
// again) and do not move the window.
TEST_F(WindowTest, AheadZeroOverParkedBytes) {
  Harness h(OrderedAhead(1 * MiB));
  ASSERT_TRUE(IsOk(h.Write(6 * MiB, 64 * KiB)));
  ASSERT_TRUE(IsOk(h.Write(7 * MiB, 64 * KiB)));
  ASSERT_EQ(128 * KiB, h.window().parked_bytes());
  bool late = false;
  ASSERT_TRUE(IsOk(h.Zero(6 * MiB + 16 * KiB, 16 * KiB, &late)));  // a hole in the middle
  EXPECT_EQ(112 * KiB, h.window().parked_bytes());
  ASSERT_TRUE(IsOk(h.Zero(6 * MiB - 4 * KiB, 8 * KiB, &late)));  // straddling the start
  EXPECT_EQ(108 * KiB, h.window().parked_bytes());
  ASSERT_TRUE(IsOk(h.Zero(7 * MiB + 60 * KiB, 1 * MiB - 60 * KiB, &late)));  // over the end
  EXPECT_EQ(104 * KiB, h.window().parked_bytes());
  EXPECT_FALSE(late);
  EXPECT_EQ(0u, h.window().commit_point());
  EXPECT_TRUE(h.sink().log().empty());
  ASSERT_TRUE(AheadInvariants(h));
  std::vector<ByteRange> backing;
  EXPECT_TRUE(h.ReadMatches(5 * MiB, 3 * MiB));
  h.Read(5 * MiB, 3 * MiB, &backing);
  EXPECT_TRUE(backing.empty());
  // The budget freed by the zero is usable again.
  ASSERT_TRUE(IsOk(h.Zero(7 * MiB, 1 * MiB)));
  EXPECT_EQ(44 * KiB, h.window().parked_bytes());
  ASSERT_TRUE(IsOk(h.Zero(0, h.config().size)));  // mkfs discarding the whole disk
  EXPECT_EQ(0u, h.window().parked_bytes());
  EXPECT_EQ(0u, h.window().commit_point());
  EXPECT_TRUE(h.ReadMatches(0, h.config().size));
  ExpectCleanFinish(h);
}

// Reads see parked bytes, with zeros around them, and no backing ranges.
TEST_F(WindowTest, AheadReadsOfParkedBytes) {
  Harness h(OrderedAhead(1 * MiB));
  ASSERT_TRUE(IsOk(h.Write(0, 100 * KiB)));
  h.NoteWriteEnd(100 * KiB);
  ASSERT_TRUE(IsOk(h.Write(6 * MiB + 100, 10 * KiB + 7)));
  ASSERT_TRUE(IsOk(h.Write(6 * MiB + 40 * KiB, 4 * KiB)));
  ASSERT_EQ(14 * KiB + 7, h.window().parked_bytes());
  for (const auto& [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {6 * MiB, 64 * KiB},            // all of it
           {6 * MiB + 100, 10 * KiB + 7},  // exactly one range
           {6 * MiB + 50, 100},            // across the start
           {6 * MiB + 10 * KiB, 1 * KiB},  // across the end
           {6 * MiB + 1000, 1},            // one byte inside
           {6 * MiB + 42 * KiB, 4 * KiB},  // across the end of the second
           {0, 8 * MiB}}) {                // everything, window included
    SCOPED_TRACE("read " + std::to_string(off) + "+" + std::to_string(len));
    std::vector<ByteRange> backing;
    h.Read(off, len, &backing);
    EXPECT_TRUE(backing.empty());
    EXPECT_TRUE(h.ReadMatches(off, len));
  }
  ExpectCleanFinish(h);
}

// Rewrites of parked bytes stay parked (even once the high water mark is
// near them), do not count twice against the budget, and the newest bytes
// win when the window reaches them.
TEST_F(WindowTest, AheadRewriteOfParkedBytes) {
  Harness h(OrderedAhead(96 * KiB));
  ASSERT_TRUE(IsOk(h.Write(6 * MiB, 64 * KiB)));
  ASSERT_EQ(64 * KiB, h.window().parked_bytes());
  // Move the high water mark to within a window of the parked bytes.
  for (uint64_t off = 0; off < 5 * MiB + 512 * KiB; off += 256 * KiB) {
    ASSERT_TRUE(IsOk(h.Write(off, 256 * KiB)));
    h.NoteWriteEnd(off + 256 * KiB);
  }
  const uint64_t c = h.window().commit_point();
  ASSERT_LE(c + h.config().window, 6 * MiB);
  ASSERT_EQ(64 * KiB, h.window().parked_bytes());
  // Inside the parked range, and overlapping its end: parked, not slid.
  ASSERT_TRUE(IsOk(h.Write(6 * MiB + 8 * KiB, 4 * KiB)));
  EXPECT_EQ(64 * KiB, h.window().parked_bytes());
  ASSERT_TRUE(IsOk(h.Write(6 * MiB + 48 * KiB, 32 * KiB)));
  EXPECT_EQ(80 * KiB, h.window().parked_bytes());
  EXPECT_EQ(c, h.window().commit_point());
  EXPECT_TRUE(h.ReadMatches(6 * MiB - 4 * KiB, 96 * KiB));
  ASSERT_TRUE(AheadInvariants(h));
  for (uint64_t off = 5 * MiB + 512 * KiB; off < h.config().size; off += 256 * KiB) {
    if (off >= 6 * MiB && off < 6 * MiB + 256 * KiB) continue;  // leave the parked chunk
    ASSERT_TRUE(IsOk(h.Write(off, 256 * KiB)));
    h.NoteWriteEnd(off + 256 * KiB);
    ASSERT_TRUE(AheadInvariants(h));
  }
  ExpectCleanFinish(h);
}

// Parked bytes join the window as it slides past them, chunk by chunk,
// never all at once: the pool bound holds with a budget many chunks long.
TEST_F(WindowTest, AheadBudgetLargerThanWindowKeepsPoolBound) {
  // 4M of data in 64 ranges, with their overhead.
  Harness h(OrderedAhead(4 * MiB + 66 * AheadMap::kRangeOverhead, 16 * MiB, 1 * MiB, 256 * KiB));
  const uint64_t size = h.config().size;
  // Park every other 64K of [8M, 16M): 4M of parked data over 32 chunks.
  for (uint64_t off = 8 * MiB; off < size; off += 128 * KiB)
    ASSERT_TRUE(IsOk(h.Write(off, 64 * KiB)));
  ASSERT_EQ(4 * MiB, h.window().parked_bytes());
  EXPECT_EQ(0u, h.pool().in_use());
  // The budget is full, so a write near the end slides the window over all
  // of it, absorbing the parked bytes chunk by chunk.
  ASSERT_TRUE(IsOk(h.Write(size - 4 * KiB, 4 * KiB)));
  h.NoteWriteEnd(size);
  ASSERT_TRUE(AheadInvariants(h));
  EXPECT_TRUE(h.ReadMatches(0, size));
  ExpectCleanFinish(h);
}

// Finish() alone commits the parked bytes, in order.
TEST_F(WindowTest, AheadFinishCommitsParkedBytes) {
  Harness h(OrderedAhead(1 * MiB));
  ASSERT_TRUE(IsOk(h.Write(3 * MiB + 5, 100)));
  ASSERT_TRUE(IsOk(h.Write(8 * MiB - 512, 512)));
  EXPECT_EQ(612u, h.window().parked_bytes());
  ExpectCleanFinish(h);
  EXPECT_EQ(2u, h.sink().DataExtents()) << Show(h.sink().log());
}

// window= smaller than bucket=, and a write longer than the window: the
// slide stops at the write (C = its offset), so the piece reaches beyond
// C + window, over parked bytes.  The write is newer than them.
TEST_F(WindowTest, AheadParkedBytesUnderAPieceLongerThanTheWindow) {
  Harness h(OrderedAhead(64 * KiB, 1 * MiB, 64 * KiB, 256 * KiB));
  ASSERT_TRUE(IsOk(h.Write(200 * KiB, 4 * KiB)));
  ASSERT_EQ(4 * KiB, h.window().parked_bytes());
  ASSERT_TRUE(IsOk(h.Write(0, 256 * KiB)));  // covers the parked bytes
  h.NoteWriteEnd(256 * KiB);
  EXPECT_TRUE(h.ReadMatches(196 * KiB, 12 * KiB));
  EXPECT_TRUE(AheadInvariants(h));
  ExpectCleanFinish(h);
}

// Found by window_fuzz (common/fuzz-seeds/crash-parked-under-long-piece):
// the same bug, reached from the second chunk of an unaligned write.
TEST_F(WindowTest, FuzzParkedBytesUnderAPieceLongerThanTheWindow) {
  Harness h(OrderedAhead(516071, 2715648, 6144, 8192));
  ASSERT_TRUE(IsOk(h.Write(10752, 77192)));  // parked
  EXPECT_EQ(77192u, h.window().parked_bytes());
  ASSERT_TRUE(IsOk(h.Write(2699, 41961)));  // slides, piece by piece
  EXPECT_TRUE(h.ReadMatches(0, 128 * KiB));
  EXPECT_TRUE(AheadInvariants(h));
  ExpectCleanFinish(h);
}

// Random writes near the high water mark and far beyond it (parked while the
// budget lasts), rewrites of parked bytes, zeros anywhere, reads, now and
// then a late write.  Checks the invariants after every request and the
// contract after Finish().
void RunOrderedAheadRandom(const WindowConfig& config, uint32_t seed, uint64_t max_len) {
  std::mt19937 rng(seed);
  Harness h(config);
  const uint64_t size = config.size;
  const uint64_t window = config.window;
  bool any_late = false;
  for (int op = 0; op < 400; op++) {
    SCOPED_TRACE("op " + std::to_string(op));
    const uint64_t c = h.window().commit_point();
    const uint64_t hw = h.window().high_water();
    const int kind = rng() % 100;
    if (kind < 55) {
      uint64_t off;
      if (kind < 35) {
        off = RandomOffset(rng, c, std::max(c + 1, std::min(size, hw + window / 2)));  // near
      } else if (kind < 50) {
        const uint64_t lo = std::min(size - 1, hw + window);
        off = RandomOffset(rng, lo, size);  // far
      } else if (kind < 53 || c == 0) {
        off = RandomOffset(rng, c, size);  // anywhere ahead
      } else {
        off = RandomOffset(rng, 0, c);  // behind C: late
      }
      const uint64_t len = std::min({RandomLength(rng), max_len, size - off});
      bool late = false;
      ASSERT_TRUE(IsOk(h.Write(off, len, &late))) << "write " << off << "+" << len;
      ASSERT_EQ(off < c, late) << "write " << off << "+" << len << " with C " << c;
      any_late |= late;
    } else if (kind < 70) {
      const uint64_t off = RandomOffset(rng, rng() % 4 == 0 ? 0 : c, size);
      const uint64_t len = std::min<uint64_t>(1 + rng() % (512 * KiB), size - off);
      bool late = false;
      ASSERT_TRUE(IsOk(h.Zero(off, len, &late))) << "zero " << off << "+" << len;
      any_late |= late;
    } else if (kind < 95) {
      const uint64_t off = rng() % size;
      const uint64_t len = std::min<uint64_t>(1 + rng() % (256 * KiB), size - off);
      ASSERT_TRUE(h.ReadMatches(off, len)) << "read " << off << "+" << len;
    } else {
      h.window().Flush();
    }
    ASSERT_EQ(any_late, !h.sink().late_log().empty());
    ASSERT_TRUE(AheadInvariants(h));
  }
  EXPECT_TRUE(h.window().Finish().ok());
  ASSERT_TRUE(AheadInvariants(h));
  EXPECT_EQ(0u, h.window().parked_bytes());
  ASSERT_TRUE(InOrder(h.sink().log(), 0, size));
  ASSERT_TRUE(h.DestinationMatches());
  if (!any_late) {
    ASSERT_TRUE(h.StreamMatches());
  }
  EXPECT_EQ(0u, h.window().open_chunks());
  EXPECT_EQ(0u, h.pool().in_use());
}

TEST_F(WindowTest, AheadRandomMatchesReference) {
  for (uint32_t seed = 1; seed <= 20; seed++) {
    for (uint64_t ahead : {64 * KiB, 1 * MiB}) {
      SCOPED_TRACE("seed=" + std::to_string(seed) + " ahead=" + std::to_string(ahead));
      RunOrderedAheadRandom(OrderedAhead(ahead, 8 * MiB, 1 * MiB, 256 * KiB), seed, 256 * KiB);
      if (HasFatalFailure()) return;
    }
  }
}

// The same with window= smaller than bucket= and writes up to 4 windows long.
TEST_F(WindowTest, AheadRandomWindowSmallerThanChunk) {
  for (uint32_t seed = 1; seed <= 20; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    RunOrderedAheadRandom(OrderedAhead(256 * KiB, 4 * MiB, 64 * KiB, 256 * KiB), seed, 256 * KiB);
    if (HasFatalFailure()) return;
  }
}

// ---------------------------------------------------------------- unordered mode

TEST_F(WindowTest, UnorderedRandomMatchesReferenceOnReusedDevice) {
  for (uint32_t seed = 1; seed <= 20; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937 rng(seed);
    Harness h(Unordered());
    const uint64_t size = h.config().size;
    uint64_t next = 0;  // where a sequential run would continue
    for (int op = 0; op < 300; op++) {
      SCOPED_TRACE("op " + std::to_string(op));
      const int kind = rng() % 100;
      if (kind < 50) {
        // A third continue a sequential run (to fill chunks); the rest go
        // anywhere, behind earlier writes too: nothing is late here.
        const uint64_t off = (rng() % 3 == 0 && next < size) ? next : RandomOffset(rng, 0, size);
        const uint64_t len = std::min(RandomLength(rng), size - off);
        ASSERT_TRUE(IsOk(h.Write(off, len))) << "write " << off << "+" << len;
        next = off + len;
      } else if (kind < 62) {
        const uint64_t off = RandomOffset(rng, 0, size);
        const uint64_t len = std::min<uint64_t>(1 + rng() % (512 * KiB), size - off);
        ASSERT_TRUE(IsOk(h.Zero(off, len))) << "zero " << off << "+" << len;
      } else if (kind < 94) {
        const uint64_t off = rng() % size;
        const uint64_t len = std::min<uint64_t>(1 + rng() % (256 * KiB), size - off);
        ASSERT_TRUE(h.ReadMatches(off, len)) << "read " << off << "+" << len;
      } else {
        h.window().Flush();
        ASSERT_TRUE(h.WrittenBytesOnDestination());
      }
      ASSERT_LE(h.window().open_chunks(), h.config().max_open_chunks);
    }
    EXPECT_TRUE(h.window().Finish().ok());
    ASSERT_TRUE(h.DestinationMatches());
    ASSERT_LE(h.pool().peak_in_use(), Window::MaxChunks(h.config()));
  }
}

TEST_F(WindowTest, UnorderedFinishZeroesNeverWrittenBytesOfReusedDevice) {
  Harness h(Unordered(4 * MiB + 100));
  ASSERT_TRUE(IsOk(h.Write(1 * MiB + 5, 10)));
  ASSERT_TRUE(IsOk(h.Write(4 * MiB + 90, 10)));
  EXPECT_TRUE(h.window().Finish().ok());
  // The destination started as kGarbage everywhere.
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, UnorderedCoalescesSmallWritesIntoOneExtent) {
  Harness h(Unordered());
  const uint64_t chunk = h.config().chunk;
  ASSERT_EQ(64u, chunk / (4 * KiB));
  for (uint64_t i = 0; i < 64; i++) ASSERT_TRUE(IsOk(h.Write(chunk + i * 4 * KiB, 4 * KiB)));
  // A full chunk is committed at once, as one extent, without a flush.
  ASSERT_EQ(1u, h.sink().DataExtents()) << Show(h.sink().log());
  const Committed e = h.sink().DataLog().at(0);
  EXPECT_EQ(chunk, e.offset);
  EXPECT_EQ(chunk, e.length);
  EXPECT_EQ(0u, h.window().open_chunks());
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_EQ(1u, h.sink().DataExtents()) << Show(h.sink().log());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, UnorderedCoalescesOutOfOrderWritesWithinChunk) {
  Harness h(Unordered());
  const uint64_t chunk = h.config().chunk;
  // The 4 KiB pages of chunk 2, in a scrambled order.
  std::vector<uint64_t> pages(64);
  for (uint64_t i = 0; i < 64; i++) pages[i] = i;
  std::shuffle(pages.begin(), pages.end(), std::mt19937(3));
  for (uint64_t p : pages) ASSERT_TRUE(IsOk(h.Write(2 * chunk + p * 4 * KiB, 4 * KiB)));
  ASSERT_EQ(1u, h.sink().DataExtents()) << Show(h.sink().log());
  EXPECT_EQ(2 * chunk, h.sink().DataLog().at(0).offset);
  EXPECT_EQ(chunk, h.sink().DataLog().at(0).length);
}

TEST_F(WindowTest, UnorderedEvictsLeastRecentlyUsedChunk) {
  Harness h(Unordered(8 * MiB, 256 * KiB, 4));
  const uint64_t chunk = h.config().chunk;
  for (uint64_t i = 0; i < 4; i++) ASSERT_TRUE(IsOk(h.Write(i * chunk, 4 * KiB)));
  EXPECT_EQ(4u, h.window().open_chunks());
  EXPECT_TRUE(h.sink().log().empty());
  ASSERT_TRUE(IsOk(h.Write(0 * chunk + 8 * KiB, 4 * KiB)));  // chunk 0 is used again
  ASSERT_TRUE(IsOk(h.Write(4 * chunk, 4 * KiB)));            // needs room: chunk 1 goes
  EXPECT_EQ(4u, h.window().open_chunks());
  ASSERT_EQ(1u, h.sink().DataExtents()) << Show(h.sink().log());
  for (const Committed& e : h.sink().log()) {
    EXPECT_GE(e.offset, 1 * chunk) << Show(h.sink().log());
    EXPECT_LE(e.end(), 2 * chunk) << Show(h.sink().log());
    if (!e.zero) {
      EXPECT_EQ(1 * chunk, e.offset);
      EXPECT_EQ(4 * KiB, e.length);
    }
  }
  EXPECT_TRUE(h.ReadMatches(0, 5 * chunk));
}

TEST_F(WindowTest, UnorderedFlushCommitsOpenChunks) {
  Harness h(Unordered());
  ASSERT_TRUE(IsOk(h.Write(10 * KiB, 7)));
  ASSERT_TRUE(IsOk(h.Write(3 * MiB + 1, 300 * KiB)));  // two chunks
  ASSERT_TRUE(IsOk(h.Write(7 * MiB, 4 * KiB)));
  EXPECT_TRUE(h.sink().log().empty());
  h.window().Flush();
  EXPECT_EQ(0u, h.window().open_chunks());
  EXPECT_EQ(0u, h.pool().in_use()) << "the sink keeps nothing; the window should hold nothing";
  EXPECT_TRUE(h.WrittenBytesOnDestination());
  EXPECT_TRUE(h.ReadMatches(0, h.config().size));
}

TEST_F(WindowTest, UnorderedReadOfFlushedDataUsesBacking) {
  Harness h(Unordered());
  ASSERT_TRUE(IsOk(h.Write(8 * KiB, 4 * KiB)));
  h.window().Flush();
  std::vector<ByteRange> backing;
  const auto got = h.Read(0, 64 * KiB, &backing);
  // Exactly the committed data comes from the destination; the rest is
  // known zeros.
  std::sort(backing.begin(), backing.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.start < b.start; });
  uint64_t covered = 0;
  for (const ByteRange& r : backing) {
    EXPECT_GE(r.start, 8 * KiB);
    EXPECT_LE(r.end, 12 * KiB);
    covered += r.end - r.start;
  }
  EXPECT_EQ(4 * KiB, covered);
  EXPECT_TRUE(
      SameBytes(std::vector<uint8_t>(h.ref().begin(), h.ref().begin() + 64 * KiB), got, 0, "read"));
}

TEST_F(WindowTest, UnorderedZeroOverNeverWrittenBytesCommitsNothing) {
  Harness h(Unordered());
  ASSERT_TRUE(IsOk(h.Zero(0, 2 * MiB)));
  h.window().Flush();
  EXPECT_TRUE(h.sink().log().empty()) << Show(h.sink().log());
  EXPECT_TRUE(h.ReadMatches(0, 3 * MiB));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, UnorderedZeroOverCommittedDataReachesDestination) {
  Harness h(Unordered());
  ASSERT_TRUE(IsOk(h.Write(0, 256 * KiB)));  // a full chunk: committed
  ASSERT_TRUE(IsOk(h.Write(1 * MiB, 8 * KiB)));
  h.window().Flush();
  ASSERT_TRUE(IsOk(h.Zero(8 * KiB + 1, 4 * KiB)));
  ASSERT_TRUE(IsOk(h.Zero(1 * MiB, 1 * MiB)));
  EXPECT_TRUE(h.ReadMatches(0, 3 * MiB));
  h.window().Flush();
  EXPECT_TRUE(h.ReadMatches(0, 3 * MiB));
  for (uint64_t i = 8 * KiB + 1; i < 12 * KiB + 1; i++)
    ASSERT_EQ(0, h.sink().dest()[i]) << "offset " << i << " still holds the old data after flush";
  for (uint64_t i = 1 * MiB; i < 1 * MiB + 8 * KiB; i++)
    ASSERT_EQ(0, h.sink().dest()[i]) << "offset " << i << " still holds the old data after flush";
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, UnorderedWriteAtEndOfOddSizedExport) {
  const uint64_t size = 3 * MiB + 12345;
  Harness h(Unordered(size));
  ASSERT_TRUE(IsOk(h.Write(size - 1000, 1000)));
  ASSERT_TRUE(IsOk(h.Write(3 * MiB - 2 * KiB, 4 * KiB)));  // into the last, short chunk
  ASSERT_TRUE(IsOk(h.Write(size - 1, 1)));
  EXPECT_TRUE(h.ReadMatches(size - 1 * MiB, 1 * MiB));
  h.window().Flush();
  EXPECT_TRUE(h.ReadMatches(size - 1 * MiB, 1 * MiB));
  // Fill the whole last (short) chunk: full, so committed at once.
  const uint64_t last = size / h.config().chunk * h.config().chunk;
  ASSERT_TRUE(IsOk(h.Write(last, size - last)));
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_TRUE(h.DestinationMatches());
}

TEST_F(WindowTest, UnorderedPoolBound) {
  Harness h(Unordered(8 * MiB, 256 * KiB, 4));
  std::mt19937 rng(11);
  // Small writes to many chunks in random order: eviction all the time.
  for (int i = 0; i < 500; i++) {
    const uint64_t off = rng() % (h.config().size - 8 * KiB);
    ASSERT_TRUE(IsOk(h.Write(off, 1 + rng() % (8 * KiB))));
    ASSERT_LE(h.pool().in_use(), Window::MaxChunks(h.config()));
  }
  EXPECT_TRUE(h.window().Finish().ok());
  EXPECT_LE(h.pool().peak_in_use(), Window::MaxChunks(h.config()));
  EXPECT_TRUE(h.DestinationMatches());
}

// ---------------------------------------------------------------- both modes

// A destination writes from the extent's buffer some time after the commit;
// the window must not change the bytes of a committed extent in the meantime
// (by rewriting the chunk, or by reusing its buffer).
TEST_F(WindowTest, CommittedBytesNeverChange) {
  constexpr size_t kKeep = 6;
  for (int mode : {0, 1, 2}) {
    const bool ordered = mode != 1;
    for (uint32_t seed = 1; seed <= 5; seed++) {
      SCOPED_TRACE(std::string(mode == 0   ? "ordered"
                               : mode == 1 ? "unordered"
                                           : "ordered, spill") +
                   " seed=" + std::to_string(seed));
      std::mt19937 rng(seed);
      // Spill: evicting a chunk an extent still shares must leave the
      // extent's bytes alone.
      Harness h(mode == 0   ? Ordered()
                : mode == 1 ? Unordered()
                            : OrderedSpill(512 * KiB),
                kKeep + 2);
      h.sink().KeepExtents(kKeep);
      const uint64_t size = h.config().size;
      for (int op = 0; op < 300; op++) {
        const uint64_t lo = ordered ? h.ExpectedCommitPoint() : 0;
        const uint64_t hi = std::min(size, h.high_water() + h.config().window / 2);
        const uint64_t off = RandomOffset(rng, lo, std::max(hi, lo + 1));
        const uint64_t len = std::min(RandomLength(rng), size - off);
        if (rng() % 5 == 0) {
          ASSERT_TRUE(IsOk(h.Zero(off, len)));
        } else {
          ASSERT_TRUE(IsOk(h.Write(off, len)));
          h.NoteWriteEnd(off + len);
        }
        if (rng() % 20 == 0) h.window().Flush();
        if (HasFailure()) return;
      }
      EXPECT_TRUE(h.window().Finish().ok());
      h.sink().ReleaseKept();
      ASSERT_TRUE(h.DestinationMatches());
    }
  }
}

// ---------------------------------------------------------------- spill

// The pool is sized for the resident chunks, not the window: window=1G
// with spill-memory=512K needs three buffers.
TEST_F(WindowTest, SpillPoolIsSizedByMemoryNotWindow) {
  WindowConfig c = OrderedSpill(512 * KiB, 0, 2048 * MiB, 1024 * MiB);
  EXPECT_EQ(2u, Window::ResidentChunks(c));
  EXPECT_EQ(3u, Window::MaxChunks(c));
  c.ahead = 64 * MiB;  // a quarter of the memory goes to parked bytes
  EXPECT_EQ(128 * KiB, Window::AheadMemory(c));
  EXPECT_EQ(1u, Window::ResidentChunks(c));
  // Never so many parked bytes that not one chunk fits beside them.
  c.spill_memory = 300 * KiB;
  EXPECT_EQ(44 * KiB, Window::AheadMemory(c));
  EXPECT_EQ(1u, Window::ResidentChunks(c));
  c.spill_memory = 100 * KiB;
  EXPECT_EQ(0u, Window::AheadMemory(c));
  c.spill = false;
  EXPECT_EQ(4098u, Window::MaxChunks(c));
}

// A window of 4 MiB in 512 KiB of memory: everything beyond two chunks is
// evicted to the file, read back when the window slides past it, and the
// stream is still the export, byte for byte.
TEST_F(WindowTest, SpillEvictsAndReadsBackInOrder) {
  Harness h(OrderedSpill(512 * KiB));
  for (uint64_t off = 0; off < 4 * MiB; off += 64 * KiB) {
    ASSERT_TRUE(IsOk(h.Write(off, 64 * KiB)));
    ASSERT_LE(h.window().resident_chunks(), 2u);
  }
  EXPECT_EQ(0u, h.window().commit_point());  // the whole window, held
  EXPECT_EQ(16u, h.window().open_chunks());
  EXPECT_EQ(4 * MiB - 2 * 256 * KiB, h.spill()->bytes_written());
  // Reads of evicted and resident chunks alike.
  EXPECT_TRUE(h.ReadMatches(0, 4 * MiB));
  // Sliding by 1 MiB commits four evicted chunks: read back once each.
  const uint64_t read_before = h.spill()->bytes_read();
  ASSERT_TRUE(IsOk(h.Write(4 * MiB, 1 * MiB)));
  EXPECT_EQ(1 * MiB, h.window().commit_point());
  EXPECT_TRUE(InOrder(h.sink().log(), 0, 1 * MiB));
  EXPECT_EQ(read_before + 1 * MiB, h.spill()->bytes_read());
  ASSERT_TRUE(IsOk(h.window().Finish()));
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
  EXPECT_LE(h.pool().peak_in_use(), Window::MaxChunks(h.config()));
  EXPECT_EQ(0u, h.pool().in_use());
  EXPECT_EQ(0u, h.window().resident_chunks());
}

// A write to an evicted chunk goes to the file; the chunk is not brought
// back into memory for it.
TEST_F(WindowTest, SpillRewriteOfEvictedChunk) {
  Harness h(OrderedSpill(512 * KiB));
  ASSERT_TRUE(IsOk(h.Write(0, 1 * MiB)));  // chunks 0 and 1 evicted
  const uint64_t written = h.spill()->bytes_written();
  ASSERT_TRUE(IsOk(h.Write(100 * KiB + 5, 3000)));
  ASSERT_TRUE(IsOk(h.Write(256 * KiB - 10, 20)));  // across two evicted chunks
  EXPECT_EQ(written + 3020, h.spill()->bytes_written());
  EXPECT_EQ(2u, h.window().resident_chunks());
  EXPECT_TRUE(h.ReadMatches(0, 1 * MiB));
  ASSERT_TRUE(IsOk(h.window().Finish()));
  EXPECT_TRUE(h.StreamMatches());
}

// Zeros over evicted bytes: the bytes stay in the file but read (and
// commit) as zeros; data written over the zeros again reads as data.
TEST_F(WindowTest, SpillZeroOverEvictedBytes) {
  Harness h(OrderedSpill(512 * KiB));
  ASSERT_TRUE(IsOk(h.Write(0, 1 * MiB)));
  ASSERT_TRUE(IsOk(h.Zero(10 * KiB, 300 * KiB)));
  EXPECT_TRUE(h.ReadMatches(0, 1 * MiB));
  ASSERT_TRUE(IsOk(h.Write(20 * KiB, 1000)));
  EXPECT_TRUE(h.ReadMatches(0, 1 * MiB));
  ASSERT_TRUE(IsOk(h.window().Finish()));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.DestinationMatches());
}

// Parked bytes beyond the ahead map's share of memory go to the file too,
// at offsets that never meet the window's.
TEST_F(WindowTest, SpillParksFarWritesInTheFile) {
  Harness h(OrderedSpill(512 * KiB, 1 * MiB));  // 128 KiB of parked bytes in memory
  ASSERT_TRUE(IsOk(h.Write(0, 64 * KiB)));
  // Bytes take at most half of the memory; the rest is for the ranges.
  ASSERT_TRUE(IsOk(h.Write(7 * MiB, 60 * KiB)));   // parked in memory
  ASSERT_TRUE(IsOk(h.Write(6 * MiB, 100 * KiB)));  // parked in the file
  EXPECT_EQ(160 * KiB, h.window().parked_bytes());
  EXPECT_EQ(60 * KiB, h.window().parked_memory_bytes());
  EXPECT_TRUE(h.ReadMatches(5 * MiB, 3 * MiB));
  for (uint64_t off = 64 * KiB; off < 8 * MiB; off += 256 * KiB)
    ASSERT_TRUE(IsOk(h.Write(off, std::min<uint64_t>(256 * KiB, 8 * MiB - off))));
  ASSERT_TRUE(IsOk(h.window().Finish()));
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.sink().late_log().empty());
}

// Many small parked writes: once memory holds all the bytes it may, the
// rest go to the spill file and are parked all the same (their ranges'
// overhead fits), not refused for the memory the bytes already took.
TEST_F(WindowTest, SpillParksManySmallWritesOnceMemoryIsFull) {
  Harness h(OrderedSpill(512 * KiB, 1 * MiB));  // 128 KiB of parked bytes in memory
  ASSERT_TRUE(IsOk(h.Write(0, 64 * KiB)));
  for (uint64_t i = 0; i < 128; i++) ASSERT_TRUE(IsOk(h.Write(4 * MiB + i * 8 * KiB, 4 * KiB)));
  EXPECT_EQ(128 * 4 * KiB, h.window().parked_bytes());
  EXPECT_LE(h.window().parked_memory_bytes(), 64 * KiB);
  for (uint64_t off = 64 * KiB; off < 8 * MiB; off += 256 * KiB)
    ASSERT_TRUE(IsOk(h.Write(off, std::min<uint64_t>(256 * KiB, 8 * MiB - off))));
  ASSERT_TRUE(IsOk(h.window().Finish()));
  EXPECT_TRUE(InOrder(h.sink().log(), 0, h.config().size));
  EXPECT_TRUE(h.StreamMatches());
  EXPECT_TRUE(h.sink().late_log().empty());
}

TEST_F(WindowTest, SpillRandomMatchesReference) {
  for (uint32_t seed = 1; seed <= 10; seed++) {
    for (uint64_t memory : {256 * KiB, 768 * KiB}) {
      SCOPED_TRACE("seed=" + std::to_string(seed) + " memory=" + std::to_string(memory));
      RunOrderedRandom(OrderedSpill(memory, 0, 8 * MiB, 1 * MiB), seed, 256 * KiB);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_F(WindowTest, SpillAheadRandomMatchesReference) {
  for (uint32_t seed = 1; seed <= 10; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    RunOrderedAheadRandom(OrderedSpill(512 * KiB, 1 * MiB, 8 * MiB, 1 * MiB), seed, 256 * KiB);
    if (HasFatalFailure()) return;
    // window= smaller than bucket=, one resident chunk.
    RunOrderedAheadRandom(OrderedSpill(256 * KiB, 256 * KiB, 4 * MiB, 64 * KiB), seed, 256 * KiB);
    if (HasFatalFailure()) return;
  }
}

// The spill file cannot grow (RLIMIT_FSIZE stands in for a full DIR): the
// write that needed it fails naming spill=, and so does every later request,
// since what clients wrote can no longer be held.
TEST_F(WindowTest, SpillFailureFailsTheRequestAndEveryLaterOne) {
  Harness h(OrderedSpill(512 * KiB));
  struct rlimit old;
  ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
  struct rlimit small = old;
  small.rlim_cur = 300 * KiB;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &small));
  Status first;
  for (uint64_t off = 0; off < 2 * MiB && first.ok(); off += 64 * KiB)
    first = h.Write(off, 64 * KiB);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(first.ok()) << "nothing failed";
  EXPECT_EQ(EFBIG, first.err());
  EXPECT_NE(std::string::npos, first.message().find("spill=")) << first.message();
  EXPECT_NE(std::string::npos, first.message().find("cannot hold")) << first.message();
  const Status later = h.Write(0, 10);
  EXPECT_FALSE(later.ok());
  EXPECT_NE(std::string::npos, later.message().find("every later request fails"))
      << later.message();
  EXPECT_FALSE(h.Zero(0, 10).ok());
  std::vector<uint8_t> buf(10);
  std::vector<ByteRange> backing;
  EXPECT_FALSE(h.window().Read(buf.data(), 10, 0, &backing).ok());
  EXPECT_FALSE(h.window().Finish().ok());
}

// A late write whose window would not fit in half the machine's memory is
// told about spill=; with spill, or when it would fit, it is not.
TEST_F(WindowTest, LateErrorSuggestsSpillWhenTheWindowWouldNotFitInMemory) {
  for (int mode : {0, 1, 2}) {
    WindowConfig c = mode == 2 ? OrderedSpill(512 * KiB, 0, 8 * MiB, 1 * MiB) : Ordered();
    c.memory_hint = mode == 1 ? 64 * MiB : 8 * MiB;
    Harness h(c);
    ASSERT_TRUE(IsOk(h.Write(0, 8 * MiB)));
    bool late = false;
    ASSERT_TRUE(IsOk(h.Write(0, 4096, &late)));
    ASSERT_TRUE(late);
    const std::string why = h.sink().late_reasons().at(0);
    EXPECT_NE(std::string::npos, why.find("window=8M would have been needed")) << why;
    const bool suggests =
        why.find("with spill=DIR the window can be that large") != std::string::npos;
    EXPECT_EQ(mode == 0, suggests) << "mode " << mode << ": " << why;
  }
}

}  // namespace
}  // namespace fanout
