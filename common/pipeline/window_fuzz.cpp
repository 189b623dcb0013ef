// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// libFuzzer target for Window (and the AheadMap behind it), and in lag mode
// for the Bus, Writers and catch-up behind it (so it lives in pipeline/).
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
// Lag mode (lag=; bits 1 and 2 of the input's first byte, see LagMode):
// the commits also go, as the engine's BusSink sends them, to a real Bus
// with a LagSpec (lag= from one chunk up, a small behind_buffers,
// let_go_after 0 ms) feeding 2-3 Writers over in-memory destinations:
// seekable, and in ordered mode some streams (all streams: the CatchUpLog
// in the spill directory).  Requests hold a destination (its writes block
// until released, so the bus lets it go and it catches up), release it,
// fail one (Writer::FailSync, or its reads as a catch-up source).  The
// fuzzer waits for the writers not held to apply before each commit, so
// that the held one is the one behind when the bus looks, and releases it
// before a wait it would never end (its lag room, the bus or the pool
// full); a valve releases it after 200 ms without progress.  Whatever the
// threads' timing:
//
//  * no destination is ever more than lag= behind (behind_bytes, read
//    after every commit and request), except by zero ranges a laggard
//    with nothing left to catch up takes whatever their size, and, for one
//    that catches up from a destination, by what the bus held for it when
//    it was let go (the client then waits: it gets no further behind until
//    it is within lag= again);
//  * a flush (the engine's: Window::Flush, Bus::WaitApplied) leaves every
//    healthy destination in step holding exactly what was committed (a
//    stream: the committed stream, no more);
//  * a read of bytes the window no longer holds, from a destination in
//    step with the bus's extents laid over (ReadCommitted), equals the
//    reference; without a fault there is always a destination to read;
//  * no stream is ever written out of order;
//  * at the end (every hold released, Window::Finish, Bus::Close, the
//    writers joined): every destination is done or failed; a done one
//    holds exactly the reference (a stream: exactly [0, size) in order),
//    and a stream that got a late extent is not done; a failed one failed
//    with the injected error, as a source whose read failed ("... (reading
//    for the catch-up of dN)"), as a stream with a late extent's message,
//    or with "dN: lost its catch-up source: no healthy seekable
//    destination in step holds the ranges it missed (N bytes behind)",
//    and that only after a fault; without a fault every seekable
//    destination (and, if nothing was late, every stream) is done.
//
// Seeds (window/fuzz-seeds): seed-lag-00 three files, one held while the
// client writes, rewrites and zeroes; seed-lag-01 two streams only, fed
// from the CatchUpLog; seed-lag-02 a stream and two files, a late write
// and the laggard's only source failing (lost its catch-up source);
// seed-lag-03 two files, the source's reads failing.  They are inputs in
// the format above (lag configuration in front, requests from the end).
//
// Build: see common/Makefile.am (window_fuzz, with clang++ -fsanitize=fuzzer).
// Run:   common/window_fuzz -max_total_time=60 CORPUS-DIR common/window/fuzz-seeds
//        (new inputs go into the first directory: never the seeds)
// Show what an input does: FANOUT_FUZZ_VERBOSE=1 common/window_fuzz crash-...

#include <fuzzer/FuzzedDataProvider.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dest/destination.h"
#include "dest/test_memory_destination.h"
#include "pipeline/bus.h"
#include "pipeline/catch_up.h"
#include "pipeline/catch_up_log.h"
#include "pipeline/committed_read.h"
#include "pipeline/writer.h"
#include "util/logger.h"
#include "util/mutex.h"
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

// The same for detect-zeroes= writes: runs of zeros (12 KiB, so at least
// two whole aligned pages wherever a slice starts) between runs of data
// of odd lengths, so slices hold whole zero pages, half-zero pages and
// unaligned zero runs.
const std::vector<uint8_t>& ZeroRichPattern() {
  static const std::vector<uint8_t> pattern = [] {
    std::vector<uint8_t> p(4 * kMaxLength, 0);
    std::mt19937 rng(54321);
    for (size_t at = 0; at < p.size();) {
      const size_t data = 1 + rng() % 9000;
      for (size_t i = 0; i < data && at < p.size(); i++, at++)
        p[at] = static_cast<uint8_t>(rng() | 1);
      at += 12 * KiB + rng() % 8192;
    }
    return p;
  }();
  return pattern;
}

// ---------------------------------------------------------------------------
// Lag mode (lag=): the window's commits go, as the engine's BusSink sends
// them, to a real Bus with a LagSpec feeding 2-3 Writers over in-memory
// destinations.  One destination at a time may be held (its writes block),
// so that it falls behind, is let go and catches up from a source (or, for
// streams only, from the CatchUpLog) while the window keeps committing.

// Counts over the run, printed at exit (FANOUT_FUZZ_VERBOSE or not): what
// the lag paths were actually driven through.
struct LagStats {
  std::atomic<uint64_t> inputs{0}, holds{0}, let_go{0}, lost_source{0}, late_failed{0},
      source_failed{0}, valve{0}, over_lag{0}, reads_from_dest{0}, flush_checks{0}, streams_only{0};
};
LagStats lag_stats;

// Compares a destination's image (a stream: its first `n` bytes, and its
// position) with `expected`; any misuse it saw is a broken invariant too.
void CheckDestination(const TestMemoryDestination& d, const char* what, const uint8_t* expected,
                      uint64_t n) {
  const std::string misuse = d.misuse();
  if (!misuse.empty()) Fail(misuse.c_str());
  if (!d.seekable() && d.written() != n) Fail(what, d.written(), n);
  const std::vector<uint8_t> image = d.image();
  if (memcmp(expected, image.data(), n) == 0) return;
  for (uint64_t i = 0; i < n; i++)
    if (expected[i] != image[i]) Fail(what, i, image[i], expected[i]);
}

// The lag configuration, decoded from the front of the input (the requests
// come from its end).
struct LagConfig {
  size_t dests = 2;    // 2 or 3
  size_t streams = 0;  // how many of them are streams (ordered mode only)
  uint64_t lag = 0;
  size_t behind_buffers = 1;
  size_t bus_buffers = 2;  // pool buffers beyond the window's, for the bus
  size_t max_entries = 16;
};

class LagRig {
 public:
  LagRig(const LagConfig& lc, const WindowConfig& config, BufferPool* pool)
      : lc_(lc), size_(config.size), pool_(pool) {
    LagSpec spec;
    spec.lag = lc.lag;
    spec.behind_buffers = lc.behind_buffers;
    spec.let_go_after = std::chrono::milliseconds(0);
    if (lc.streams == lc.dests) {
      // Streams only: the committed stream is kept for the laggards.
      std::unique_ptr<SpillFile> file;
      Status st = SpillFile::Open(spill_dir, &file);
      if (!st.ok()) {
        fprintf(stderr, "window_fuzz: %s\n", st.message().c_str());
        abort();
      }
      log_ = std::make_unique<CatchUpLog>(std::move(file), std::min(lc.lag, size_));
      lag_stats.streams_only++;
    }
    spec.log = log_.get();
    bus_ = std::make_unique<Bus>(lc.max_entries, spec);
    auto sources = std::make_shared<CatchUpSources>(bus_.get(), log_.get());
    for (size_t i = 0; i < lc.dests; i++) {
      const bool seekable = i >= lc.streams;
      auto d =
          std::make_unique<TestMemoryDestination>("d" + std::to_string(i), size_, seekable, 0xAA);
      dests_.push_back(d.get());
      writers_.push_back(std::make_shared<Writer>(std::move(d), bus_.get(), &logger_));
      sources->Add(writers_.back());
      failed_by_us_.push_back(false);
    }
    for (auto& w : writers_) w->EnableCatchUp(sources);
    for (auto& w : writers_) w->Start();
    // The window waiting for pool buffers a held destination pins: let it
    // go (as the engine does), or release it.
    pool_->set_while_waiting([this] { PoolWait(); });
    valve_ = std::thread([this] { Valve(); });
    lag_stats.inputs++;
  }

  ~LagRig() {
    {
      std::lock_guard<std::mutex> lock(valve_mu_);
      stop_ = true;
    }
    valve_cv_.notify_all();
    valve_.join();
    pool_->set_while_waiting(nullptr);
    // Joined in End(); if not (a check failed first: abort()), nothing to do.
    writers_.clear();
    bus_.reset();
  }

  Bus* bus() { return bus_.get(); }
  const LagConfig& config() const { return lc_; }
  bool faults() const { return faults_; }

  // Called by the sink for every commit, in commit order, as BusSink does.
  void Publish(Extent e) {
    Tick();
    if (e.is_zero()) max_zero_ = std::max(max_zero_, e.length);
    if (e.late) late_messages_.push_back(*e.late);
    const int h = held();
    if (h >= 0) {
      // The writers not held apply what came before, so that the held one
      // is the one behind whenever the bus looks (not a race).
      LetOthersApply(h);
      // Would Publish() wait for a laggard's lag room, or for room on the
      // bus, that the held one keeps from freeing?  Then let it run.
      bool release = writers_[h]->in_step() && commits_since_hold_ + 1 >= lc_.max_entries;
      for (auto& w : writers_)
        if (w->lagging() && w->behind_bytes() + e.length > lc_.lag) release = true;
      if (release) Release();
    }
    commits_since_hold_++;
    bus_->Publish(std::move(e));
    Tick();
    // The window will want buffers the held one may pin.
    if (held() >= 0 && writers_[held()]->in_step() && pool_->in_use() + 2 >= pool_->max_buffers())
      Release();
    CheckBehind();
  }

  // No destination is ever more than lag= behind (beyond it the client
  // waits), with the two exceptions in the header comment.  Zeros are not
  // kept in the catch-up log.
  void CheckBehind() {
    for (size_t i = 0; i < writers_.size(); i++) {
      const uint64_t b = writers_[i]->behind_bytes();
      const uint64_t let_go = writers_[i]->demotions();
      const uint64_t bound = std::max(lc_.lag, max_zero_);
      if (b > lc_.lag) lag_stats.over_lag++;
      // Zero ranges larger than lag= are taken whole (adjacent zero
      // extents merge in the map, so a stream fed from the log may hold
      // lag= of data beside the zeros; its data, what the log keeps, the
      // end-of-run comparison checks byte for byte).  A destination that
      // catches up from another may be let go with more than lag= on the
      // bus for it; the client then waits, so it never gets further behind
      // until it is within lag= again (or is let go anew).
      if (b > bound) {
        // (A late extent lands behind a stream's position, outside [P, C):
        // the stream fails on it, and its map says nothing about the log.)
        if (lc_.streams == lc_.dests && b > lc_.lag + max_zero_ && late_messages_.empty())
          Fail("behind_bytes beyond lag= and the zeros", i, b, lc_.lag);
        if (last_behind_[i] > bound && b > last_behind_[i] && let_go == last_let_go_[i])
          Fail("behind_bytes grew beyond lag=", i, b, last_behind_[i]);
      }
      last_behind_[i] = b;
      last_let_go_[i] = let_go;
    }
  }

  void Hold(size_t i) {
    if (held() == static_cast<int>(i)) return;
    Release();
    // Everything before is applied (or it is not in step): from here on
    // its unapplied extents are the commits since the hold.
    (void)writers_[i]->WaitApplied(bus_->last_published());
    dests_[i]->Hold();
    {
      std::lock_guard<std::mutex> lock(valve_mu_);
      held_ = static_cast<int>(i);
    }
    commits_since_hold_ = 0;
    lag_stats.holds++;
  }

  void Release() {
    int h;
    {
      std::lock_guard<std::mutex> lock(valve_mu_);
      h = held_;
      held_ = -1;
    }
    if (h >= 0) dests_[h]->Release();
  }

  void FailSync(size_t i) {
    faults_ = true;
    failed_by_us_[i] = true;
    writers_[i]->FailSync(Status::IOError(EIO, SyncMessage(i)));
  }
  void FailReads(size_t i) {
    faults_ = true;
    dests_[i]->FailReads();
  }

  // The engine's flush: commit (the window did), wait for the destinations
  // in step (a held one is let go, or released), then check that every
  // destination in step holds all that was committed.
  void Flush(const std::vector<uint8_t>& committed, const std::vector<uint8_t>& stream) {
    Tick();
    const uint64_t seq = bus_->last_published();
    const int h = held();
    if (h >= 0) {
      LetOthersApply(h);
      bus_->LetGoLaggards();
      if (writers_[h]->in_step()) Release();
    }
    bus_->WaitApplied(seq);
    Tick();
    for (size_t i = 0; i < writers_.size(); i++) {
      // Nothing is published meanwhile, so nobody is let go: in step now
      // means it has applied through seq, or rejoined holding everything.
      if (!writers_[i]->healthy() || !writers_[i]->in_step()) continue;
      if (dests_[i]->seekable())
        CheckDestination(*dests_[i], "flushed destination differs at (offset, got, expected)",
                         committed.data(), size_);
      else
        CheckDestination(*dests_[i], "flushed stream differs at (offset, got, expected)",
                         stream.data(), stream.size());
      lag_stats.flush_checks++;
    }
  }

  // The engine's read of bytes the window no longer holds: from a seekable
  // destination in step, the bus's extents laid over.  False if none could.
  bool ReadBacking(const std::vector<ByteRange>& backing, uint8_t* buf, uint64_t offset,
                   uint64_t length) {
    const std::vector<Extent> overlay = bus_->Overlapping(offset, length);
    const bool ok = ReadCommitted(writers_, backing, overlay, buf, offset, &logger_);
    if (ok) lag_stats.reads_from_dest++;
    // Without a fault there is always one: a seekable destination is let
    // go only while another stays in step.
    if (!ok && !faults_ && lc_.streams < lc_.dests) Fail("no destination in step to read from");
    return ok;
  }

  // End of stream (after Window::Finish): close, join, and check every
  // destination's end.
  void End(const std::vector<uint8_t>& ref, bool any_late) {
    Release();
    bus_->Close();
    for (auto& w : writers_) w->Join();
    for (size_t i = 0; i < writers_.size(); i++) {
      Writer& w = *writers_[i];
      lag_stats.let_go += w.demotions();
      if (verbose)
        fprintf(stderr, "d%zu: %s, let go %llu times, caught up %llu bytes\n", i,
                StateName(w.state()), (unsigned long long)w.demotions(),
                (unsigned long long)w.caught_up_bytes());
      const DestinationState st = w.state();
      if (dests_[i]->out_of_order()) Fail("a stream was written out of order", i);
      if (const std::string misuse = dests_[i]->misuse(); !misuse.empty()) Fail(misuse.c_str());
      const bool seekable = dests_[i]->seekable();
      if (st == DestinationState::kDone) {
        if (failed_by_us_[i]) Fail("a destination failed by FailSync ended done", i);
        if (!seekable && any_late) Fail("a stream that got a late extent ended done", i);
        CheckDestination(*dests_[i],
                         seekable ? "done destination differs at (offset, got, expected)"
                                  : "done stream differs at (offset, got, expected)",
                         ref.data(), size_);
        continue;
      }
      if (st != DestinationState::kFailed) Fail("destination neither done nor failed", i, int(st));
      const std::string& m = w.failure().message;
      if (verbose) fprintf(stderr, "d%zu failed: %s\n", i, m.c_str());
      const std::string name = "d" + std::to_string(i) + ": ";
      if (failed_by_us_[i] && m == SyncMessage(i)) continue;
      if (m.find(" (reading for the catch-up of d") != std::string::npos &&
          m.rfind(name + "pread at ", 0) == 0) {
        lag_stats.source_failed++;
        continue;
      }
      if (!seekable && any_late) {
        bool found = false;
        for (const std::string& late : late_messages_) found = found || m == name + late;
        if (found) {
          lag_stats.late_failed++;
          continue;
        }
      }
      if (IsLostSource(m, name)) {
        // Only a source that failed leaves a laggard without one.
        if (!faults_) Fail("a laggard lost its catch-up source without a fault", i);
        lag_stats.lost_source++;
        continue;
      }
      fprintf(stderr, "window_fuzz: d%zu failed: %s\n", i, m.c_str());
      Fail("a destination failed with an unexpected message", i);
    }
    // Without a fault every seekable destination ends done (and every
    // stream too, unless a late extent was committed).
    if (!faults_)
      for (size_t i = 0; i < writers_.size(); i++)
        if (writers_[i]->state() != DestinationState::kDone && (dests_[i]->seekable() || !any_late))
          Fail("a destination failed without a fault", i);
  }

 private:
  static std::string SyncMessage(size_t i) {
    return "d" + std::to_string(i) + ": fdatasync: Input/output error (injected)";
  }
  // "NAME: lost its catch-up source: no healthy seekable destination in
  // step holds the ranges it missed (N bytes behind)"
  static bool IsLostSource(const std::string& m, const std::string& name) {
    const std::string head = name +
                             "lost its catch-up source: no healthy seekable destination in step "
                             "holds the ranges it missed (";
    const std::string tail = " bytes behind)";
    if (m.size() <= head.size() + tail.size() || m.rfind(head, 0) != 0 ||
        m.compare(m.size() - tail.size(), tail.size(), tail) != 0)
      return false;
    const std::string n = m.substr(head.size(), m.size() - head.size() - tail.size());
    return n.find_first_not_of("0123456789") == std::string::npos;
  }

  int held() {
    std::lock_guard<std::mutex> lock(valve_mu_);
    return held_;
  }
  void LetOthersApply(int h) {
    const uint64_t seq = bus_->last_published();
    for (size_t j = 0; j < writers_.size(); j++)
      if (static_cast<int>(j) != h) (void)writers_[j]->WaitApplied(seq);
  }
  void PoolWait() {
    const int h = held();
    if (h < 0) return;
    LetOthersApply(h);
    bus_->LetGoLaggards();
    if (pool_->in_use() >= pool_->max_buffers()) Release();
  }
  void Tick() { progress_++; }
  // A safety valve: the checks never depend on it, but a held destination
  // must not hang an input whose wait the rules above did not foresee.
  // If the fuzzer makes no progress for 200 ms while one is held, it is
  // released (counted: it should be rare).
  void Valve() {
    std::unique_lock<std::mutex> lock(valve_mu_);
    uint64_t last = progress_.load();
    while (!stop_) {
      valve_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; });
      if (stop_) break;
      const uint64_t now = progress_.load();
      if (now == last && held_ >= 0) {
        dests_[held_]->Release();
        held_ = -1;
        lag_stats.valve++;
      }
      last = now;
    }
  }

  const LagConfig lc_;
  const uint64_t size_;
  BufferPool* const pool_;
  NullLogger logger_;
  std::unique_ptr<CatchUpLog> log_;
  std::unique_ptr<Bus> bus_;
  std::vector<TestMemoryDestination*> dests_;
  std::vector<std::shared_ptr<Writer>> writers_;
  std::vector<bool> failed_by_us_;
  std::vector<std::string> late_messages_;
  uint64_t max_zero_ = 0;
  // CheckBehind()'s last look at each writer.
  uint64_t last_behind_[3] = {0, 0, 0};
  uint64_t last_let_go_[3] = {0, 0, 0};
  uint64_t commits_since_hold_ = 0;
  bool faults_ = false;
  std::atomic<uint64_t> progress_{0};
  std::mutex valve_mu_;
  std::condition_variable valve_cv_;
  int held_ = -1;  // guarded by valve_mu_
  bool stop_ = false;
  std::thread valve_;
};

class Sink : public CommitSink {
 public:
  // The models are reused from input to input: allocating (and under ASan
  // unmapping) megabytes per input would cost most of the run.
  Sink(uint64_t size, bool ordered) : ordered_(ordered) {
    dest_.assign(size, 0xAA);
    stream_.clear();
    if (ordered_) stream_.reserve(size);
  }

  // Lag mode: every commit is published on the rig's bus too.
  void set_rig(LagRig* rig) { rig_ = rig; }

  void Commit(Extent e) override {
    Record(e);
    if (rig_) rig_->Publish(std::move(e));
  }

  void Record(const Extent& e) {
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
  LagRig* rig_ = nullptr;
};

void CheckSame(const char* what, const uint8_t* expected, const uint8_t* got, uint64_t n,
               uint64_t base) {
  if (memcmp(expected, got, n) == 0) return;
  for (uint64_t i = 0; i < n; i++)
    if (expected[i] != got[i]) Fail(what, base + i, got[i], expected[i]);
}

void CheckWindow(const WindowConfig& config, const Window& w, const BufferPool& pool,
                 const Sink& sink, bool lag_mode) {
  // Lag mode: the bus pins buffers too; the window's own are its chunks'.
  if (lag_mode ? w.resident_chunks() > Window::MaxChunks(config)
               : pool.in_use() > Window::MaxChunks(config))
    Fail("pool bound", lag_mode ? w.resident_chunks() : pool.in_use());
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

// Lag mode: bits 1 and 2 of the input's first byte both set (none of the
// older seeds has them, so they decode as before).  Its configuration is
// then the first 4 bytes (FuzzedDataProvider takes the requests from the
// end):
//   byte 0: bit 3: three destinations (else two); bits 4-5: how many are
//           streams (ordered mode only; modulo destinations + 1; all
//           streams: the CatchUpLog); bits 6-7: behind_buffers - 1 (mod 3)
//   byte 1: lag= in chunks - 1 (bits 0-5); bit 7: plus an unaligned part
//   byte 2: the unaligned part (x 61, modulo the chunk); bits 4-6: pool
//           buffers for the bus - 2
//   byte 3: max_entries = 4 << (byte mod 9)
bool LagMode(const uint8_t* data, size_t size) {
  return size >= 8 && (data[0] & 0x06) == 0x06;
}

LagConfig DecodeLag(const std::vector<uint8_t>& b, const WindowConfig& config) {
  LagConfig lc;
  lc.dests = (b[0] & 0x08) ? 3 : 2;
  lc.streams = config.ordered ? ((b[0] >> 4) & 3) % (lc.dests + 1) : 0;
  lc.lag = config.chunk * (1 + (b[1] & 0x3f));
  if (b[1] & 0x80) lc.lag += (uint64_t{b[2]} * 61) % config.chunk;
  lc.bus_buffers = 2 + ((b[2] >> 4) & 7);
  lc.behind_buffers = std::min<size_t>(1 + (b[0] >> 6) % 3, lc.bus_buffers);
  lc.max_entries = size_t{4} << (b[3] % 9);
  return lc;
}

void Run(const uint8_t* data, size_t size) {
  FuzzedDataProvider dp(data, size);
  const bool lag_mode = LagMode(data, size);
  std::vector<uint8_t> lag_bytes;
  if (lag_mode) lag_bytes = dp.ConsumeBytes<uint8_t>(4);
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
  LagConfig lc;
  if (lag_mode) {
    // At most 1 MiB: each input runs 2-3 writer threads over it.
    config.size = 128 * KiB + (config.size - 128 * KiB) % (896 * KiB + 1);
    lc = DecodeLag(lag_bytes, config);
    if (verbose)
      fprintf(stderr,
              "lag: dests=%zu streams=%zu lag=%llu behind_buffers=%zu bus_buffers=%zu "
              "max_entries=%zu\n",
              lc.dests, lc.streams, (unsigned long long)lc.lag, lc.behind_buffers, lc.bus_buffers,
              lc.max_entries);
  }
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
  BufferPool pool(config.chunk, max_chunks + 4 + (lag_mode ? lc.bus_buffers : 0));
  Sink sink(config.size, config.ordered);
  std::unique_ptr<LagRig> rig;
  if (lag_mode) {
    rig = std::make_unique<LagRig>(lc, config, &pool);
    sink.set_rig(rig.get());
  }
  Window w(config, &pool, &sink, spill.get());
  static std::vector<uint8_t> ref;
  ref.assign(config.size, 0);
  static std::vector<uint8_t> read_buf;
  const std::vector<uint8_t>& pattern = Pattern();
  uint64_t high_water = 0;
  uint64_t stamp = 0;
  bool any_late = false;

  for (int op = 0; op < (lag_mode ? 256 : 64) && dp.remaining_bytes() > 0; op++) {
    uint8_t kind = dp.ConsumeIntegral<uint8_t>();
    if (!lag_mode) {
      kind %= 8;
    } else {
      // 0-5, 15 write; 6-7 zero; 8-9 read; 10 flush; 11-12 hold; 13
      // release; 14 fail a destination.
      static constexpr uint8_t kLagKinds[16] = {0, 1, 2, 3, 0, 1, 4, 4, 5, 6, 7, 8, 8, 9, 10, 2};
      kind = kLagKinds[kind % 16];
    }
    if (kind >= 8) {
      const uint8_t arg = dp.ConsumeIntegral<uint8_t>();
      const size_t target = arg % lc.dests;
      if (kind == 8) {
        if (verbose) fprintf(stderr, "hold d%zu\n", target);
        rig->Hold(target);
      } else if (kind == 9) {
        if (verbose) fprintf(stderr, "release\n");
        rig->Release();
      } else if (arg & 0x80) {
        if (verbose) fprintf(stderr, "fail reads of d%zu\n", target);
        rig->FailReads(target);
      } else {
        if (verbose) fprintf(stderr, "fail d%zu (FailSync)\n", target);
        rig->FailSync(target);
      }
    } else if (kind == 7) {
      if (verbose) fprintf(stderr, "flush\n");
      w.Flush();
      if (rig) rig->Flush(sink.dest(), sink.stream());
    } else {
      const uint64_t off = PickOffset(dp, config, w, high_water);
      const uint64_t len = PickLength(dp, config, off);
      if (kind < 4) {
        stamp++;
        // kind 3: detect-zeroes=, from data full of zero pages.
        const bool detect = kind == 3;
        const std::vector<uint8_t>& from = detect ? ZeroRichPattern() : pattern;
        const uint8_t* src = from.data() + (stamp * 4099) % (from.size() - kMaxLength);
        bool late = false;
        const uint64_t c_before = w.commit_point();
        if (verbose)
          fprintf(stderr, "write%s %llu+%llu", detect ? " (detect zeroes)" : "",
                  (unsigned long long)off, (unsigned long long)len);
        Status st =
            detect ? w.WriteDetectingZeroes(src, len, off, &late) : w.Write(src, len, off, &late);
        if (verbose)
          fprintf(stderr, "%s -> C=%llu parked=%llu\n", late ? " (late)" : "",
                  (unsigned long long)w.commit_point(), (unsigned long long)w.parked_bytes());
        if (!st.ok()) Fail("write failed", off, len);
        // Zero pages behind C over zeros already committed change nothing,
        // so a detect-zeroes write there may not be late.
        if (detect ? late && !(config.ordered && off < c_before)
                   : late != (config.ordered && off < c_before))
          Fail("late flag", off, len, c_before);
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
        for (const ByteRange& r : backing)
          if (r.start >= r.end || r.start < off || r.end > off + len)
            Fail("backing range outside the read", r.start, r.end, off);
        // Lag mode: as the engine reads, from a destination in step with
        // the bus's extents laid over; else (or if none can) the model.
        if (!backing.empty() && !(rig && rig->ReadBacking(backing, read_buf.data(), off, len)))
          for (const ByteRange& r : backing)
            memcpy(read_buf.data() + (r.start - off), sink.dest().data() + r.start,
                   r.end - r.start);
        CheckSame("read differs from the reference at (offset, got, expected)", ref.data() + off,
                  read_buf.data(), len, off);
      }
    }
    if (any_late != sink.saw_late()) Fail("*late does not match the late extents", any_late);
    CheckWindow(config, w, pool, sink, lag_mode);
    if (rig) rig->CheckBehind();
  }

  // Nothing stays held: the end of stream waits for every laggard.
  if (rig) rig->Release();
  if (!w.Finish().ok()) Fail("finish failed");
  CheckWindow(config, w, pool, sink, lag_mode);
  if (rig) {
    rig->End(ref, any_late);
    rig.reset();
  }
  if (!lag_mode && pool.peak_in_use() > max_chunks)
    Fail("pool peak", pool.peak_in_use(), max_chunks);
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
  atexit([] {
    rmdir(fanout::spill_dir.c_str());
    const fanout::LagStats& s = fanout::lag_stats;
    if (s.inputs == 0) return;
    fprintf(stderr,
            "window_fuzz: lag mode: %llu inputs (%llu streams only), %llu holds, %llu let go, "
            "%llu flush checks, %llu reads from a destination, %llu lost source, %llu source "
            "read failed, %llu late streams failed, %llu over lag= (zeros, late or let go far "
            "behind), %llu "
            "valve releases\n",
            (unsigned long long)s.inputs.load(), (unsigned long long)s.streams_only.load(),
            (unsigned long long)s.holds.load(), (unsigned long long)s.let_go.load(),
            (unsigned long long)s.flush_checks.load(), (unsigned long long)s.reads_from_dest.load(),
            (unsigned long long)s.lost_source.load(), (unsigned long long)s.source_failed.load(),
            (unsigned long long)s.late_failed.load(), (unsigned long long)s.over_lag.load(),
            (unsigned long long)s.valve.load());
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fanout::Run(data, size);
  return 0;
}
