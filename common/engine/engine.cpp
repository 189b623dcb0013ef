// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "engine/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "engine/specs.h"
#include "pipeline/committed_read.h"
#include "report/run_result.h"
#include "report/snapshot_parts.h"
#include "report/status_json.h"
#include "report/summary.h"
#include "util/absolute_path.h"
#include "util/human_units.h"

namespace fanout {

Engine::Engine(const Config& config, Logger* log)
    : config_(config),
      progress_log_(std::make_shared<ProgressLogger>(log)),
      log_(progress_log_.get()),
      policy_(OnErrorOf(config), config.quorum, &writers_, log_) {}

void Engine::DetachDisplay() {
  progress_log_->set_display(nullptr);
}

Status Engine::OpenAndSize(const Config& config, Logger* log, std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> e;
  Status s = OpenUnsized(config, log, &e);
  if (!s.ok()) return s;

  uint64_t size;
  {
    MutexLock setup(&e->setup_mu_);
    s = e->opened_.ExportSize(config.size, &size);
    if (!s.ok()) {
      e->opened_.Abandon();
      return s;
    }
  }
  s = e->Prepare(size);
  if (!s.ok()) return s;
  *out = std::move(e);
  return Status::OK();
}

Status Engine::OpenUnsized(const Config& config, Logger* log, std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> e(new Engine(config, log));
  log = e->log_;  // everything below logs through the display-aware logger
  // Made absolute now, while nbdkit is still in its start directory (it
  // changes to / when it goes to the background, before Prepare()).
  if (!config.status_file.empty()) e->status_path_ = AbsolutePath(config.status_file);

  DestinationSet dests;
  Status s = DestinationSet::Open(config.destinations, FileIoOf(config), log, &dests);
  if (!s.ok()) return s;
  e->all_seekable_ = dests.all_seekable();
  // status=FILE is written over and over: it must not be, nor be renamed
  // over, a destination, and a status file that can never be written is a
  // mistake to say now, not a log line once serving.  (A destination that
  // did not exist was created above, so comparing identities covers it.)
  if (!config.status_file.empty()) {
    std::vector<NamedIdentity> taken;
    for (const auto& [name, id] : dests.identities()) taken.push_back({"dest=" + name, id});
    s = CheckStatusFile(config.status_file, taken);
  }
  // spill=DIR: opened now, like status=, so a relative DIR is the start
  // directory's and a bad one is refused before serving.
  if (s.ok() && !config.spill_dir.empty()) s = SpillFile::Open(config.spill_dir, &e->spill_);
  if (s.ok()) s = e->OpenLag(dests);
  // On any error, leave no trace: remove the files opening created.
  if (!s.ok()) {
    dests.Abandon();
    return s;
  }
  MutexLock setup(&e->setup_mu_);
  e->opened_ = std::move(dests);
  *out = std::move(e);
  return Status::OK();
}

Status Engine::Prepare(uint64_t size) {
  MutexLock setup(&setup_mu_);
  if (prepared_) {
    if (size == size_) return Status::OK();
    return Status::InvalidArgument("the export is " + std::to_string(size) +
                                   " bytes, but the destinations were prepared for " +
                                   std::to_string(size_) + " bytes");
  }
  if (!prepare_error_.ok()) return prepare_error_;
  Logger* const log = log_;  // the display-aware logger

  if (Status s = opened_.Prepare(size); !s.ok()) {
    prepare_error_ = s;
    return s;
  }
  size_ = size;

  // Memory: the window's chunks plus `buckets` buffers on the bus.  The
  // pool is the hard bound (see buffer_pool.h).
  const WindowConfig wc = PlanWindow(config_, size_, !all_seekable_, spill_ != nullptr);
  pool_ = std::make_unique<BufferPool>(config_.bucket, PoolBuffers(config_, wc));
  // Entries, not bytes, bound zero extents (which hold no memory); data
  // extents are bounded by the pool.
  bus_ = std::make_shared<Bus>(1024, LagSpecOf());
  // A window waiting for buffers the slowest destination holds: the bus
  // may let it go (lag=).
  if (config_.lag > 0) pool_->set_while_waiting([bus = bus_.get()] { bus->LetGoLaggards(); });
  integrity_ = std::make_unique<ImageIntegrity>(IntegritySpecOf(config_, size_, wc.ordered),
                                                &writers_, bus_.get(), log);
  if (config_.holes == Config::Holes::kSkip) {
    holes_ = std::make_unique<HoleMap>();
    integrity_->set_holes(holes_.get());
  }
  sink_ = std::make_unique<BusSink>(bus_.get(), integrity_.get(), log, holes_.get());
  window_ = std::make_unique<Window>(wc, pool_.get(), sink_.get(), spill_.get());
  for (auto& d : opened_.Take()) {
    writers_.push_back(std::make_shared<Writer>(std::move(d), bus_.get(), log));
    writers_.back()->KeepAlive(bus_);
    writers_.back()->KeepAlive(progress_log_);
    // holes=skip is bmaptool's mode, for devices: a file's holes cost
    // nothing and read back as zeros, a stream must have every byte.
    if (holes_ && writers_.back()->destination()->kind() == DestinationKind::kBlock)
      writers_.back()->set_skip_holes(true);
  }
  EnableCatchUp();

  if (log->DebugEnabled(LogTopic::kGeneral))
    log->Debug(LogTopic::kGeneral, DescribePlan(config_, wc, writers_.size()));
  prepared_ = true;
  return Status::OK();
}

Status Engine::OpenLag(const DestinationSet& dests) {
  if (config_.lag == 0 || !dests.none_seekable()) return Status::OK();
  // Streams only: a laggard can catch up only from what is kept for it.
  if (config_.spill_dir.empty())
    return Status::InvalidArgument(
        "lag=" + SizeInHelp(config_.lag) +
        ": every destination is a stream, so there is none to catch up from: add spill=DIR "
        "to keep the stream for the laggards (at most lag= bytes), or leave lag= out");
  return SpillFile::Open(config_.spill_dir, &log_file_);
}

LagSpec Engine::LagSpecOf() {
  LagSpec lag;
  lag.lag = config_.lag;
  lag.export_size = size_;
  // The bus's share of the pool is `buckets` buffers: a destination
  // holding all but one of them while another keeps up is behind (let go
  // before the client would wait for the last).
  lag.behind_buffers = std::max<size_t>(1, config_.buckets - 1);
  if (log_file_)
    catch_up_log_ =
        std::make_shared<CatchUpLog>(std::move(log_file_), std::min(config_.lag, size_));
  lag.log = catch_up_log_.get();
  return lag;
}

void Engine::EnableCatchUp() {
  if (config_.lag == 0) return;
  auto sources = std::make_shared<CatchUpSources>(bus_.get(), catch_up_log_.get());
  for (auto& w : writers_) sources->Add(w);
  for (auto& w : writers_) {
    w->EnableCatchUp(sources);
    if (catch_up_log_) w->KeepAlive(catch_up_log_);
  }
}

Engine::~Engine() {
  if (started_) (void)Finish();
}

void Engine::Start(bool progress_terminal, int progress_width) {
  MutexLock setup(&setup_mu_);
  if (started_ || !prepared_) return;
  started_ = true;
  start_time_ = std::chrono::steady_clock::now();
  std::unique_ptr<ProgressDisplay> progress;
  if (config_.progress)
    progress = std::make_unique<ProgressDisplay>(stderr, progress_terminal, progress_width);
  reporter_ = std::make_unique<Reporter>([this] { return TakeSnapshot(); }, status_path_,
                                         std::move(progress), progress_terminal, log_);
  progress_log_->set_display(reporter_->display());
  for (auto& w : writers_) w->Start();
  stall_watch_ =
      std::make_unique<StallWatch>(writers_, std::chrono::seconds(config_.stall_timeout), log_);
  stall_watch_->Start();
  integrity_->Start();
  reporter_->Start();
  // The digest covers every byte of the export, zeros included; SHA-256
  // runs at a few GiB/s on one core, so a large sparse export costs
  // minutes at the end of the stream.  Say so while it can be avoided.
  constexpr uint64_t kLargeExport = 100ull << 30;
  if (config_.sha256 && size_ >= kLargeExport)
    log_->Notice("the export is " + HumanBytes(size_) +
                 ": its SHA-256 hashes every byte, zeros included, at the end of the stream "
                 "if not before, which takes minutes at this size (about 1 min per 100 GiB); "
                 "sha256=false skips it");
}

void Engine::Interrupt(const std::string& reason) {
  if (!policy_.Interrupt(reason)) return;
  log_->Error("interrupted: " + reason);
  if (!prepared_) return;
  run_state_ = RunState::kInterrupted;
  // Writers first: leaving the bus frees any request blocked on its
  // back-pressure, and with it the engine's lock.
  for (auto& w : writers_) w->Interrupt(reason);
  integrity_->Interrupt(reason);
}

void Engine::NoteImageEnd(uint64_t end) {
  // Under mu_, so only one request moves it at a time; atomic for the
  // snapshot, which reads it without.
  if (end > image_end_.load()) image_end_ = end;
}

void Engine::NoteWrite(uint64_t offset) {
  last_write_offset_ = offset;
  last_write_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  writes_++;
}

Snapshot Engine::TakeSnapshot() const {
  using namespace std::chrono;
  const auto now = steady_clock::now();
  Snapshot snap;
  snap.size = size_;
  snap.committed = window_ ? WindowUnlocked().committed_bytes() : 0;
  snap.state = run_state_.load();
  snap.interrupted_reason = policy_.interrupted_reason();
  snap.pid = getpid();
  snap.updated = duration<double>(system_clock::now().time_since_epoch()).count();
  if (const int64_t ns = last_write_ns_.load()) snap.last_write = ns / 1e9;
  snap.refused_requests = policy_.refused_requests();
  snap.lag = config_.lag;
  snap.catch_up_log_bytes = catch_up_log_ ? catch_up_log_->capacity() : 0;
  snap.verify = config_.repair ? 2 : config_.verify ? 1 : 0;
  snap.detect_zeroes = config_.detect_zeroes;
  snap.skip_holes = config_.holes == Config::Holes::kSkip;
  snap.image_bytes = image_end_.load();
  snap.elapsed = started_ ? duration<double>(now - start_time_).count() : 0;
  const auto start = started_ ? std::optional(start_time_) : std::nullopt;
  for (const auto& w : writers_) snap.destinations.push_back(WriterSnapshot(*w, now, start));
  if (integrity_) AddIntegrity(integrity_->Report(), &snap);
  return snap;
}

Status Engine::Logged(Status s) {
  if (!s.ok()) log_->Error(s.message());
  return s;
}

Status Engine::AdmitRequest() {
  return policy_.Admit();
}

template <typename Op>
Status Engine::ApplyToWindow(Op op) {
  Status s = policy_.Admit();
  if (!s.ok()) return s;
  bool late = false;
  {
    TicketLockGuard lock(&mu_);
    // A window that has lost bytes (spill=) refuses every request with the
    // error it failed with; that was logged once, when it happened.
    const bool was_broken = window_->broken();
    s = op(&late);
    if (!s.ok() && !was_broken) log_->Error(s.message());
    if (!s.ok() && window_->broken()) policy_.NoteWindowRefused();
  }
  // A late write reached the seekable destinations; the streams will fail
  // on it.  Count them failed now, not when their threads get there, so
  // this request and every later one see the same policy.
  if (s.ok() && late) {
    policy_.DoomStreams();
    s = policy_.Admit();
  }
  return s;
}

uint32_t Engine::max_request() const {
  return static_cast<uint32_t>(std::min<uint64_t>(config_.bucket, 32u << 20));
}

Status Engine::Write(const void* buf, uint64_t length, uint64_t offset) {
  Status s = ApplyToWindow([&](bool* late) REQUIRES(mu_) {
    NoteImageEnd(offset + length);
    if (holes_) holes_->Written(offset, offset + length);
    return config_.detect_zeroes ? window_->WriteDetectingZeroes(buf, length, offset, late)
                                 : window_->Write(buf, length, offset, late);
  });
  if (s.ok()) NoteWrite(offset);
  return s;
}

Status Engine::Zero(uint64_t length, uint64_t offset) {
  Status s = ApplyToWindow([&](bool* late) REQUIRES(mu_) {
    NoteImageEnd(offset + length);
    if (holes_) holes_->Zeroed(offset, offset + length);
    return window_->Zero(length, offset, late);
  });
  if (s.ok()) NoteWrite(offset);
  return s;
}

Status Engine::Read(void* buf, uint64_t length, uint64_t offset) {
  std::vector<ByteRange> backing;
  std::vector<Extent> overlay;
  {
    TicketLockGuard lock(&mu_);
    const bool was_broken = window_->broken();
    Status s = window_->Read(buf, length, offset, &backing);
    if (!s.ok() && window_->broken()) policy_.NoteWindowRefused();
    if (!s.ok()) return was_broken ? s : Logged(s);
    if (backing.empty()) return Status::OK();
    // Taken under the lock, before the destination read: any extent that
    // leaves the bus after this has already reached every healthy
    // destination, so destination + overlay is never older than the window.
    overlay = bus_->Overlapping(offset, length);
  }
  if (ReadCommitted(writers_, backing, overlay, static_cast<uint8_t*>(buf), offset, log_))
    return Status::OK();
  // Only stream destinations (or no healthy seekable one) hold these bytes.
  if (all_seekable_)
    return Logged(Status::IOError(
        EIO, "read at offset " + std::to_string(offset) + ": no healthy destination to read from"));
  TicketLockGuard lock(&mu_);
  return Logged(window_->LateError("read", length, offset));
}

Status Engine::Flush() {
  // Every write counted before this point is in the window, so the commit
  // below covers it.
  const uint64_t covered = writes_.load();
  uint64_t seq;
  {
    TicketLockGuard lock(&mu_);
    window_->Flush();
    seq = bus_->last_published();
  }
  bus_->WaitApplied(seq);
  for (const auto& w : writers_) {
    // A laggard is not waited for (lag=, DRBD's Ahead mode): flush is
    // durable on the destinations in step.
    if (!w->healthy() || !w->in_step()) continue;
    // A sync that fails is that destination's failure (its data may not
    // be on the media), and the policy below decides what the client hears.
    Status s = w->destination()->Sync();
    if (!s.ok()) w->FailSync(s);
  }
  Status s = policy_.Admit();
  if (s.ok()) {
    uint64_t was = flushed_writes_.load();
    while (was < covered && !flushed_writes_.compare_exchange_weak(was, covered)) {
    }
    flushes_++;
  }
  return s;
}

Status Engine::Finish() {
  if (!prepared_) {
    // Nothing was written, and the size is unknown: leave no trace.  A
    // Prepare() that failed is still this run's failure.
    MutexLock setup(&setup_mu_);
    opened_.Abandon();
    return prepare_error_;
  }
  InterruptUnlessFlushed();
  Status window_status;
  {
    TicketLockGuard lock(&mu_);
    if (finished_) return final_status_;
    finished_ = true;
    // Interrupted: what the window holds was never proven to be the
    // client's last word, and the streams must end short; nothing more is
    // committed.  (Seekable destinations keep what reached them.)
    if (!interrupted()) {
      run_state_ = RunState::kFinishing;
      // With every destination failed there is nobody to zero-fill for.
      integrity_->StreamEnding(image_end_.load());
      window_status = window_->Finish();
    }
  }
  // The window lost bytes a client wrote (spill=): no destination holds
  // the export, and none may be reported done.
  if (!window_status.ok())
    for (auto& w : writers_) w->FailAtEnd(window_status.message());
  // Everything is committed: the digest follower hashes what is left,
  // reading back from destinations that are still open (their writers
  // close them once the bus is closed and drained).
  integrity_->AllCommitted();
  bus_->Close();
  JoinWriters();
  if (stall_watch_) stall_watch_->Stop();
  if (!interrupted()) integrity_->Finish();
  std::string interrupted_reason;
  if (interrupted()) {
    interrupted_reason = policy_.interrupted_reason();
    integrity_->WithdrawDigest("the run was interrupted: " + interrupted_reason);
    run_state_ = RunState::kInterrupted;
  } else {
    run_state_ = RunState::kFinished;
  }

  const Snapshot snap = TakeSnapshot();
  const Status status_written = reporter_ ? reporter_->Stop(snap) : Status::OK();
  DetachDisplay();
  for (const std::string& line :
       SummaryLines(snap, [this](const std::string& name) { return log_->Spelled(name); }))
    log_->Notice(line);

  const Status result = RunResult(snap, window_status, interrupted_reason, status_written);
  TicketLockGuard lock(&mu_);
  final_status_ = result;
  return result;
}

void Engine::InterruptUnlessFlushed() {
  // require-flush=true: a client that ends without a flush after its
  // last write may have died (nothing else tells, in server mode).
  if (!config_.require_flush || interrupted()) return;
  if (writes_.load() > flushed_writes_.load())
    Interrupt("the client's last write (offset " + std::to_string(last_write_offset_.load()) +
              ") was not followed by a flush (require-flush=true)");
  else if (flushes_.load() == 0)
    Interrupt("the client never flushed (require-flush=true)");
}

void Engine::JoinWriters() {
  // A FIFO still without a reader gives up by itself (Writer::kOpenGrace);
  // a stalled destination fails at stall-timeout= (the watch runs on), and
  // its thread, if the kernel holds it, is abandoned rather than waited for.
  // An interruption ends the wait for a writer at once (WaitEndedOrFailed
  // returns), and one whose thread does not end within the grace is
  // incomplete.
  for (auto& w : writers_) {
    w->WaitEndedOrFailed();
    if (!w->JoinUntil(std::chrono::steady_clock::now() + kAbandonGrace)) {
      log_->Notice(w->destination()->name() +
                   ": not waited for: its writer is still blocked (in the kernel)");
      w->EndAbandoned();
    }
  }
}

}  // namespace fanout
