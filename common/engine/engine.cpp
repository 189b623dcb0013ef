#include "engine/engine.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include <unistd.h>

#include "report/status_json.h"
#include "util/human_units.h"
#include "report/summary.h"

namespace fanout {

// Publishes what the window commits on the bus.  This is where each
// committed extent's bytes are in hand, in commit order, which is the order
// every destination performs them: the image's integrity (its page hashes
// and SHA-256) is kept up to date here, before the extent goes out.
class Engine::BusSink final : public CommitSink {
 public:
  BusSink(Bus* bus, Logger* log, ImageIntegrity* integrity)
      : bus_(bus), log_(log), integrity_(integrity) {}
  void Commit(Extent extent) override {
    if (log_->DebugEnabled(LogTopic::kWindow))
      log_->Debug(LogTopic::kWindow, std::string("commit ") + (extent.is_zero() ? "zero " : "data ") +
                                         std::to_string(extent.offset) + "+" +
                                         std::to_string(extent.length));
    // Only the window (under mu_) publishes, so the sequence is the next one.
    integrity_->Committed(extent, bus_->last_published() + 1);
    bus_->Publish(std::move(extent));
  }

 private:
  Bus* const bus_;
  Logger* const log_;
  ImageIntegrity* const integrity_;
};

// Sends errors and notices through the progress display while there is one,
// so a message printed between two redraws is neither overwritten nor
// leaves a stale bar behind.
class Engine::ProgressLogger final : public Logger {
 public:
  explicit ProgressLogger(Logger* inner) : inner_(inner) {}
  void set_display(ProgressDisplay* d) { display_ = d; }

  void Error(const std::string& msg) override {
    Through([&] { inner_->Error(msg); });
  }
  void Notice(const std::string& msg) override {
    Through([&] { inner_->Notice(msg); });
  }
  bool DebugEnabled(LogTopic topic) const override { return inner_->DebugEnabled(topic); }
  std::string Spelled(const std::string& msg) const override { return inner_->Spelled(msg); }
  void Debug(LogTopic topic, const std::string& msg) override {
    Through([&] { inner_->Debug(topic, msg); });
  }

 private:
  void Through(const std::function<void()>& print) {
    ProgressDisplay* d = display_.load();
    if (d)
      d->Above(print);
    else
      print();
  }
  Logger* const inner_;
  std::atomic<ProgressDisplay*> display_{nullptr};
};

Engine::Engine(const Config& config, Logger* log)
    : config_(config),
      progress_log_(std::make_shared<ProgressLogger>(log)),
      log_(progress_log_.get()),
      policy_(config.on_error == Config::OnError::kFail ? FailurePolicy::OnError::kFail
                                                        : FailurePolicy::OnError::kContinue,
              config.quorum, &writers_, log_) {}

void Engine::DetachDisplay() { progress_log_->set_display(nullptr); }

Status Engine::OpenAndSize(const Config& config, Logger* log, std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> e;
  Status s = OpenUnsized(config, log, &e);
  if (!s.ok()) return s;

  // The export size: size=, else the smallest fixed-size destination.
  const std::optional<uint64_t> smallest = e->opened_.smallest_fixed_size();
  uint64_t size;
  if (config.size) {
    size = *config.size;
  } else if (smallest && *smallest > 0) {
    size = *smallest;
  } else {
    e->opened_.Abandon();
    return Status::InvalidArgument(
        "size=: required, since no destination has a fixed size (a block device, an NBD server "
        "or an existing non-empty file); give size=SIZE");
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

  FileIoOptions io;
  io.uring = config.io == Config::Io::kUring;
  io.drop_cache = config.cache == Config::Cache::kNone;
  io.direct = config.direct;
  DestinationSet dests;
  Status s = DestinationSet::Open(config.destinations, io, log, &dests);
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
  // On any error, leave no trace: remove the files opening created.
  if (!s.ok()) {
    dests.Abandon();
    return s;
  }
  e->opened_ = std::move(dests);
  *out = std::move(e);
  return Status::OK();
}

Status Engine::Prepare(uint64_t size) {
  std::lock_guard<std::mutex> setup(setup_mu_);
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
  WindowConfig wc;
  wc.size = size_;
  wc.window = config_.window;
  wc.chunk = config_.bucket;
  wc.ordered = !all_seekable_;
  wc.ahead = config_.ahead;
  wc.max_open_chunks = std::max<uint64_t>(1, config_.window / config_.bucket);
  if (spill_) {  // spill=DIR, opened by OpenUnsized()
    // Ordered, the window spills; unordered, nothing needs holding, so
    // fewer chunks stay open.
    wc.spill = true;
    wc.spill_memory = config_.spill_memory;
    wc.max_open_chunks = std::min<uint64_t>(
        wc.max_open_chunks, std::max<uint64_t>(1, config_.spill_memory / config_.bucket));
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) wc.memory_hint = static_cast<uint64_t>(pages) * page_size;
  // With spill, MaxChunks() is the resident chunks, not window / bucket.
  pool_ = std::make_unique<BufferPool>(config_.bucket, Window::MaxChunks(wc) + config_.buckets);
  // Entries, not bytes, bound zero extents (which hold no memory); data
  // extents are bounded by the pool.
  bus_ = std::make_shared<Bus>(1024);
  ImageIntegrity::Spec spec;
  spec.size = size_;
  spec.verify = config_.verify;
  spec.sha256 = config_.sha256;
  spec.ordered = wc.ordered;
  integrity_ = std::make_unique<ImageIntegrity>(spec, &writers_, bus_.get(), log);
  sink_ = std::make_unique<BusSink>(bus_.get(), log, integrity_.get());
  window_ = std::make_unique<Window>(wc, pool_.get(), sink_.get(), spill_.get());
  for (auto& d : opened_.Take()) {
    writers_.push_back(std::make_shared<Writer>(std::move(d), bus_.get(), log));
    writers_.back()->KeepAlive(bus_);
    writers_.back()->KeepAlive(progress_log_);
  }

  if (log->DebugEnabled(LogTopic::kGeneral))
    log->Debug(LogTopic::kGeneral,
               "size " + std::to_string(size_) + ", " + std::to_string(writers_.size()) +
                   " destinations, " + (wc.ordered ? "ordered (window)" : "unordered") +
                   ", pool of " + std::to_string(pool_->max_buffers()) + " x " +
                   std::to_string(config_.bucket) + " bytes" +
                   (wc.spill && wc.ordered ? ", spilling to " + config_.spill_dir + " beyond " +
                                                 std::to_string(Window::ResidentChunks(wc)) +
                                                 " chunks and " +
                                                 std::to_string(Window::AheadMemory(wc)) +
                                                 " parked bytes"
                                           : ""));
  prepared_ = true;
  return Status::OK();
}

Engine::~Engine() {
  if (started_) (void)Finish();
}

void Engine::Start(bool progress_terminal, int progress_width) {
  std::lock_guard<std::mutex> setup(setup_mu_);
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
  stall_watch_ = std::make_unique<StallWatch>(writers_, std::chrono::seconds(config_.stall_timeout),
                                              log_);
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
  snap.committed = window_ ? window_->committed_bytes() : 0;
  snap.state = run_state_.load();
  snap.interrupted_reason = policy_.interrupted_reason();
  snap.pid = getpid();
  snap.updated = duration<double>(system_clock::now().time_since_epoch()).count();
  if (const int64_t ns = last_write_ns_.load()) snap.last_write = ns / 1e9;
  snap.refused_requests = policy_.refused_requests();
  snap.elapsed = started_ ? duration<double>(now - start_time_).count() : 0;
  for (const auto& w : writers_) {
    DestinationSnapshot d;
    const Destination* dest = w->destination();
    d.name = dest->name();
    d.kind = dest->kind();
    d.state = w->state();
    d.bytes = w->bytes();
    const auto end = w->ended().value_or(now);
    d.seconds = started_ ? duration<double>(end - start_time_).count() : 0;
    d.rate = d.seconds > 0 ? d.bytes / d.seconds : 0;
    if (d.state == DestinationState::kFailed || d.state == DestinationState::kIncomplete)
      d.failure = w->failure();
    d.exit_status = dest->exit_status();
    if (w->stalled())
      d.stalled_seconds = std::max(0.0, duration<double>(now - dest->last_progress()).count());
    snap.destinations.push_back(std::move(d));
  }
  if (!integrity_) return snap;
  IntegrityReport integrity = integrity_->Report();
  // Read back at the end: the verdict is the destination's state.
  for (IntegrityReport::Verdict& v : integrity.verdicts) {
    DestinationSnapshot& d = snap.destinations[v.index];
    d.state = v.state;
    d.verified_bytes = v.verified_bytes;
    if (v.failure) d.failure = std::move(v.failure);
  }
  if (snap.state == RunState::kFinishing && integrity.verifying) snap.state = RunState::kVerifying;
  snap.sha256 = std::move(integrity.sha256);
  snap.sha256_unavailable = std::move(integrity.sha256_unavailable);
  return snap;
}

Status Engine::Logged(Status s) {
  if (!s.ok()) log_->Error(s.message());
  return s;
}

Status Engine::AdmitRequest() { return policy_.Admit(); }

template <typename Op>
Status Engine::ApplyToWindow(Op op) {
  Status s = policy_.Admit();
  if (!s.ok()) return s;
  bool late = false;
  {
    std::lock_guard<TicketLock> lock(mu_);
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
  Status s = ApplyToWindow([&](bool* late) { return window_->Write(buf, length, offset, late); });
  if (s.ok()) NoteWrite(offset);
  return s;
}

Status Engine::Zero(uint64_t length, uint64_t offset) {
  Status s = ApplyToWindow([&](bool* late) { return window_->Zero(length, offset, late); });
  if (s.ok()) NoteWrite(offset);
  return s;
}

Status Engine::Read(void* buf, uint64_t length, uint64_t offset) {
  std::vector<ByteRange> backing;
  std::vector<Extent> overlay;
  {
    std::lock_guard<TicketLock> lock(mu_);
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
  uint8_t* dst = static_cast<uint8_t*>(buf);
  for (const auto& w : writers_) {
    if (!w->healthy() || !w->destination()->seekable()) continue;
    Status s;
    for (const ByteRange& r : backing) {
      s = w->destination()->Read(dst + (r.start - offset), r.end - r.start, r.start);
      if (!s.ok()) break;
      for (const Extent& e : overlay) {
        const uint64_t a = std::max(e.offset, r.start), b = std::min(e.end(), r.end);
        if (a >= b) continue;
        if (e.is_zero())
          memset(dst + (a - offset), 0, b - a);
        else
          memcpy(dst + (a - offset), e.bytes() + (a - e.offset), b - a);
      }
    }
    // A destination that failed meanwhile may hold less than the bus
    // assumed: try the next one.
    if (s.ok() && w->healthy()) return Status::OK();
    if (!s.ok()) log_->Error(s.message());
  }
  // Only stream destinations (or no healthy seekable one) hold these bytes.
  if (all_seekable_)
    return Logged(Status::IOError(
        EIO, "read at offset " + std::to_string(offset) + ": no healthy destination to read from"));
  std::lock_guard<TicketLock> lock(mu_);
  return Logged(window_->LateError("read", length, offset));
}

Status Engine::Flush() {
  // Every write counted before this point is in the window, so the commit
  // below covers it.
  const uint64_t covered = writes_.load();
  uint64_t seq;
  {
    std::lock_guard<TicketLock> lock(mu_);
    window_->Flush();
    seq = bus_->last_published();
  }
  bus_->WaitApplied(seq);
  for (const auto& w : writers_) {
    if (!w->healthy()) continue;
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
    std::lock_guard<std::mutex> setup(setup_mu_);
    opened_.Abandon();
    return prepare_error_;
  }
  // require-flush=true: a client that ends without a flush after its
  // last write may have died (nothing else tells, in server mode).
  if (config_.require_flush && !interrupted()) {
    if (writes_.load() > flushed_writes_.load())
      Interrupt("the client's last write (offset " + std::to_string(last_write_offset_.load()) +
                ") was not followed by a flush (require-flush=true)");
    else if (flushes_.load() == 0)
      Interrupt("the client never flushed (require-flush=true)");
  }
  Status window_status;
  {
    std::lock_guard<TicketLock> lock(mu_);
    if (finished_) return final_status_;
    finished_ = true;
    // Interrupted: what the window holds was never proven to be the
    // client's last word, and the streams must end short; nothing more is
    // committed.  (Seekable destinations keep what reached them.)
    if (!interrupted()) {
      run_state_ = RunState::kFinishing;
      // With every destination failed there is nobody to zero-fill for.
      integrity_->StreamEnding();
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

  // The window could not hold what clients wrote (spill=): the
  // destinations miss it, and the run must not look successful.
  Status result = window_status;
  if (!interrupted_reason.empty())
    result = Status::IOError(EINTR, "interrupted: " + interrupted_reason + "; " +
                                        std::to_string(snap.failed()) + " of " +
                                        std::to_string(snap.destinations.size()) +
                                        " destinations incomplete or failed");
  if (result.ok() && snap.failed() > 0)
    result = Status::IOError(EIO, std::to_string(snap.failed()) + " of " +
                                      std::to_string(snap.destinations.size()) +
                                      " destinations failed");
  // A status file that does not say how the run ended (a full disk, say):
  // whoever watches it cannot tell, so the run must not look successful.
  if (result.ok() && !status_written.ok())
    result = Status::IOError(status_written.err(),
                             "the final status was not written: " + status_written.message());
  std::lock_guard<TicketLock> lock(mu_);
  final_status_ = result;
  return result;
}

}  // namespace fanout
