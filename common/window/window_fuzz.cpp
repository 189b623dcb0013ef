// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// libFuzzer target for Window (and the AheadMap behind it).
//
// The input is decoded into a small configuration (export size, chunk,
// window, ahead= budget, ordered or not) and a sequence of requests (write,
// zero, read, flush) that a Window runs against a recording sink and a byte
// reference model of the export.  Any broken invariant abort()s:
//
//  * a read (the window's bytes, backing ranges read from the destination
//    model) always equals the reference;
//  * ordered mode: every parked byte lies at or beyond C + window, the parked
//    bytes stay within the ahead= budget, and the non-late extents arrive in
//    order from 0, never beyond C;
//  * the window never holds more than Window::MaxChunks() pool buffers (the
//    parked bytes are not in pool buffers);
//  * spill (spill=DIR with a memory budget of one to three chunks, so
//    eviction happens all the time): no more than ResidentChunks() chunks
//    hold a buffer, no more than AheadMemory() parked bytes are in memory,
//    and reads and Finish() never fail;
//  * after Finish(): the destination model (which also takes late extents)
//    equals the reference; ordered mode, if no request was ever late, the
//    stream model equals the reference and the non-late extents cover
//    [0, size) in order exactly once.
//
// Build: see common/Makefile.am (window_fuzz, with clang++ -fsanitize=fuzzer).
// Run:   common/window_fuzz -max_total_time=60 common/fuzz-seeds
// Show what an input does: FANOUT_FUZZ_VERBOSE=1 common/window_fuzz crash-...

#include <fuzzer/FuzzedDataProvider.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "window/ahead_map.h"
#include "window/buffer_pool.h"
#include "window/extent.h"
#include "window/spill_file.h"
#include "window/window.h"

namespace fanout {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t kMaxLength = 256 * KiB;

bool verbose = false;
std::string spill_dir;  // made once; each input gets its own unlinked file

[[noreturn]] void Fail(const char* what, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
  fprintf(stderr, "window_fuzz: invariant violated: %s (%llu, %llu, %llu)\n", what,
          (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
  abort();
}

// Bytes that writes take their data from: a slice starting somewhere new
// each time, so no per-request allocation.
const std::vector<uint8_t>& Pattern() {
  static const std::vector<uint8_t> pattern = [] {
    std::vector<uint8_t> p(4 * kMaxLength);
    std::mt19937 rng(12345);
    for (uint8_t& b : p) b = static_cast<uint8_t>(rng());
    return p;
  }();
  return pattern;
}

class Sink : public CommitSink {
 public:
  // The models are reused from input to input: allocating (and under ASan
  // unmapping) megabytes per input would cost most of the run.
  Sink(uint64_t size, bool ordered) : ordered_(ordered) {
    dest_.assign(size, 0xAA);
    stream_.clear();
    if (ordered_) stream_.reserve(size);
  }

  void Commit(Extent e) override {
    if (e.length == 0) Fail("empty extent", e.offset);
    if (e.end() < e.offset || e.end() > dest_.size())
      Fail("extent outside the export", e.offset, e.end());
    if (!e.is_zero() && e.buffer_offset + e.length > e.buffer->size())
      Fail("data extent runs past its buffer", e.offset, e.length, e.buffer_offset);
    if (e.is_zero())
      memset(dest_.data() + e.offset, 0, e.length);
    else
      memcpy(dest_.data() + e.offset, e.bytes(), e.length);
    if (e.late) {
      if (!ordered_) Fail("late extent in unordered mode", e.offset, e.length);
      saw_late_ = true;
      return;
    }
    if (ordered_) {
      // Streams: bytes in commit order, [0, size) exactly once.
      if (e.offset != stream_.size()) Fail("extent out of order", e.offset, stream_.size());
      if (e.is_zero())
        stream_.insert(stream_.end(), e.length, 0);
      else
        stream_.insert(stream_.end(), e.bytes(), e.bytes() + e.length);
    }
  }

  std::vector<uint8_t>& dest() { return dest_; }
  const std::vector<uint8_t>& stream() const { return stream_; }
  bool saw_late() const { return saw_late_; }

 private:
  static inline std::vector<uint8_t> dest_;
  const bool ordered_;
  static inline std::vector<uint8_t> stream_;
  bool saw_late_ = false;
};

void CheckSame(const char* what, const uint8_t* expected, const uint8_t* got, uint64_t n,
               uint64_t base) {
  if (memcmp(expected, got, n) == 0) return;
  for (uint64_t i = 0; i < n; i++)
    if (expected[i] != got[i]) Fail(what, base + i, got[i], expected[i]);
}

void CheckWindow(const WindowConfig& config, const Window& w, const BufferPool& pool,
                 const Sink& sink) {
  if (pool.in_use() > Window::MaxChunks(config)) Fail("pool bound", pool.in_use());
  if (!config.ordered) return;
  if (config.spill && w.resident_chunks() > Window::ResidentChunks(config))
    Fail("resident chunks", w.resident_chunks(), Window::ResidentChunks(config));
  if (config.spill && w.parked_memory_bytes() > Window::AheadMemory(config))
    Fail("parked bytes in memory", w.parked_memory_bytes(), Window::AheadMemory(config));
  const AheadMap& ahead = w.ahead();
  if (ahead.bytes() != w.parked_bytes()) Fail("parked_bytes", ahead.bytes(), w.parked_bytes());
  if (w.parked_bytes() > config.ahead) Fail("ahead budget", w.parked_bytes(), config.ahead);
  // The ranges' overhead counts too, between requests.
  if (ahead.charged() > config.ahead)
    Fail("ahead budget with overhead", ahead.charged(), config.ahead);
  if (config.spill && ahead.memory_use() > Window::AheadMemory(config))
    Fail("parked memory with overhead", ahead.memory_use(), Window::AheadMemory(config));
  if (!ahead.empty() && ahead.first() < w.commit_point() + config.window)
    Fail("parked byte inside the window", ahead.first(), w.commit_point(), config.window);
  if (ahead.empty() != (ahead.bytes() == 0)) Fail("empty ahead map with bytes", ahead.bytes());
  if (sink.stream().size() > w.commit_point())
    Fail("stream beyond C", sink.stream().size(), w.commit_point());
}

// Offset of a request: near the highest write (most requests of a real
// client), anywhere, near the end (GPT backup header), or at C.
uint64_t PickOffset(FuzzedDataProvider& dp, const WindowConfig& config, const Window& w,
                    uint64_t high_water) {
  const uint64_t size = config.size;
  const uint8_t how = dp.ConsumeIntegral<uint8_t>();
  const uint32_t r = dp.ConsumeIntegral<uint32_t>();
  uint64_t off;
  switch (how % 5) {
    case 0:
    case 1: {
      const uint64_t lo = high_water > config.window ? high_water - config.window : 0;
      off = lo + r % (2 * config.window + 1);
      break;
    }
    case 2:
      off = r % size;
      break;
    case 3:
      off = size - 1 - r % std::min<uint64_t>(size, 64 * KiB);
      break;
    default:
      off = w.commit_point() + r % 4096;
      break;
  }
  off = std::min(off, size - 1);
  if (how & 0x80) off &= ~uint64_t{511};  // sector-aligned
  return off;
}

uint64_t PickLength(FuzzedDataProvider& dp, const WindowConfig& config, uint64_t off) {
  const uint8_t how = dp.ConsumeIntegral<uint8_t>();
  const uint32_t r = dp.ConsumeIntegral<uint32_t>();
  uint64_t len;
  switch (how % 4) {
    case 0:
      len = 1 + r % 4096;
      break;
    case 1:
      len = 512 * (1 + r % 32);
      break;
    case 2:
      len = 1 + r % (2 * config.chunk);
      break;
    default:
      len = 1 + r % kMaxLength;
      break;
  }
  return std::min({len, kMaxLength, config.size - off});
}

void Run(const uint8_t* data, size_t size) {
  FuzzedDataProvider dp(data, size);
  WindowConfig config;
  config.chunk = 4 * KiB << dp.ConsumeIntegralInRange<int>(0, 4);  // 4K .. 64K
  config.size = dp.ConsumeIntegralInRange<uint64_t>(128 * KiB, 3 * 1024 * KiB);
  if (dp.ConsumeBool()) config.size &= ~uint64_t{4095};
  // window= from a quarter of a chunk (window= may be smaller than bucket=)
  // to 8 chunks, at least 4096 bytes (as config.cpp requires), sometimes
  // unaligned.
  config.window =
      std::max<uint64_t>(4096, config.chunk * dp.ConsumeIntegralInRange<uint64_t>(1, 32) / 4);
  if (dp.ConsumeBool()) config.window += dp.ConsumeIntegralInRange<uint64_t>(1, 4095);
  config.ahead = dp.ConsumeBool() ? 0 : dp.ConsumeIntegralInRange<uint64_t>(0, 512 * KiB);
  config.ordered = dp.ConsumeBool();
  config.max_open_chunks = dp.ConsumeIntegralInRange<size_t>(1, 8);
  // A tiny budget: one to three chunks, less what parked bytes take.
  config.spill = dp.ConsumeBool();
  config.spill_memory = config.chunk * dp.ConsumeIntegralInRange<uint64_t>(1, 3) +
                        dp.ConsumeIntegralInRange<uint64_t>(0, 4095);
  if (verbose)
    fprintf(stderr,
            "config: size=%llu chunk=%llu window=%llu ahead=%llu ordered=%d open=%zu spill=%d "
            "memory=%llu\n",
            (unsigned long long)config.size, (unsigned long long)config.chunk,
            (unsigned long long)config.window, (unsigned long long)config.ahead,
            int{config.ordered}, config.max_open_chunks, int{config.spill},
            (unsigned long long)config.spill_memory);
  std::unique_ptr<SpillFile> spill;
  if (config.spill) {
    Status st = SpillFile::Open(spill_dir, &spill);
    if (!st.ok()) {
      fprintf(stderr, "window_fuzz: %s\n", st.message().c_str());
      abort();
    }
  }

  // Extra buffers: a window holding too many shows as a broken bound, not a
  // hang in Acquire().  Late extents take one each, released by the sink.
  const size_t max_chunks = Window::MaxChunks(config);
  BufferPool pool(config.chunk, max_chunks + 4);
  Sink sink(config.size, config.ordered);
  Window w(config, &pool, &sink, spill.get());
  static std::vector<uint8_t> ref;
  ref.assign(config.size, 0);
  static std::vector<uint8_t> read_buf;
  const std::vector<uint8_t>& pattern = Pattern();
  uint64_t high_water = 0;
  uint64_t stamp = 0;
  bool any_late = false;

  for (int op = 0; op < 64 && dp.remaining_bytes() > 0; op++) {
    const uint8_t kind = dp.ConsumeIntegral<uint8_t>() % 8;
    if (kind == 7) {
      if (verbose) fprintf(stderr, "flush\n");
      w.Flush();
    } else {
      const uint64_t off = PickOffset(dp, config, w, high_water);
      const uint64_t len = PickLength(dp, config, off);
      if (kind < 4) {
        stamp++;
        const uint8_t* src = pattern.data() + (stamp * 4099) % (pattern.size() - kMaxLength);
        bool late = false;
        const uint64_t c_before = w.commit_point();
        if (verbose)
          fprintf(stderr, "write %llu+%llu", (unsigned long long)off, (unsigned long long)len);
        Status st = w.Write(src, len, off, &late);
        if (verbose)
          fprintf(stderr, "%s -> C=%llu parked=%llu\n", late ? " (late)" : "",
                  (unsigned long long)w.commit_point(), (unsigned long long)w.parked_bytes());
        if (!st.ok()) Fail("write failed", off, len);
        if (late != (config.ordered && off < c_before)) Fail("late flag", off, len, c_before);
        memcpy(ref.data() + off, src, len);
        any_late |= late;
        high_water = std::max(high_water, off + len);
      } else if (kind == 4) {
        bool late = false;
        if (verbose)
          fprintf(stderr, "zero %llu+%llu", (unsigned long long)off, (unsigned long long)len);
        Status st = w.Zero(len, off, &late);
        if (verbose)
          fprintf(stderr, "%s -> C=%llu parked=%llu\n", late ? " (late)" : "",
                  (unsigned long long)w.commit_point(), (unsigned long long)w.parked_bytes());
        if (!st.ok()) Fail("zero failed", off, len);
        if (late && !config.ordered) Fail("late zero in unordered mode", off, len);
        memset(ref.data() + off, 0, len);
        any_late |= late;
      } else {
        if (verbose)
          fprintf(stderr, "read %llu+%llu\n", (unsigned long long)off, (unsigned long long)len);
        read_buf.assign(len, 0x5C);
        std::vector<ByteRange> backing;
        if (!w.Read(read_buf.data(), len, off, &backing).ok()) Fail("read failed", off, len);
        for (const ByteRange& r : backing) {
          if (r.start >= r.end || r.start < off || r.end > off + len)
            Fail("backing range outside the read", r.start, r.end, off);
          memcpy(read_buf.data() + (r.start - off), sink.dest().data() + r.start, r.end - r.start);
        }
        CheckSame("read differs from the reference at (offset, got, expected)", ref.data() + off,
                  read_buf.data(), len, off);
      }
    }
    if (any_late != sink.saw_late()) Fail("*late does not match the late extents", any_late);
    CheckWindow(config, w, pool, sink);
  }

  if (!w.Finish().ok()) Fail("finish failed");
  CheckWindow(config, w, pool, sink);
  if (pool.peak_in_use() > max_chunks) Fail("pool peak", pool.peak_in_use(), max_chunks);
  if (w.parked_bytes() != 0) Fail("parked bytes after Finish", w.parked_bytes());
  if (w.open_chunks() != 0) Fail("open chunks after Finish", w.open_chunks());
  if (pool.in_use() != 0) Fail("buffers in use after Finish", pool.in_use());
  if (w.committed_bytes() != config.size) Fail("committed_bytes", w.committed_bytes(), config.size);
  CheckSame("destination differs from the reference at (offset, got, expected)", ref.data(),
            sink.dest().data(), config.size, 0);
  if (config.ordered) {
    if (sink.stream().size() != config.size)
      Fail("stream length", sink.stream().size(), config.size);
    if (!any_late)
      CheckSame("stream differs from the reference at (offset, got, expected)", ref.data(),
                sink.stream().data(), config.size, 0);
  }
}

}  // namespace
}  // namespace fanout

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fanout::verbose = getenv("FANOUT_FUZZ_VERBOSE") != nullptr;
  // Each input's spill file is unlinked; the empty directory goes at exit.
  const char* tmp = getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/window_fuzz.XXXXXX";
  if (!mkdtemp(dir.data())) {
    perror("window_fuzz: mkdtemp");
    abort();
  }
  fanout::spill_dir = dir;
  atexit([] { rmdir(fanout::spill_dir.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fanout::Run(data, size);
  return 0;
}
