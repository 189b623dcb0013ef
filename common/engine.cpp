#include "engine.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <map>
#include <thread>

#include "dest_file.h"
#include "summary.h"
#include "uring_queue.h"

namespace fanout {

// Publishes what the window commits on the bus.
class Engine::BusSink final : public CommitSink {
 public:
  BusSink(Bus* bus, Logger* log) : bus_(bus), log_(log) {}
  void Commit(Extent extent) override {
    if (log_->DebugEnabled(LogTopic::kWindow))
      log_->Debug(LogTopic::kWindow, std::string("commit ") + (extent.is_zero() ? "zero " : "data ") +
                                         std::to_string(extent.offset) + "+" +
                                         std::to_string(extent.length));
    bus_->Publish(std::move(extent));
  }

 private:
  Bus* const bus_;
  Logger* const log_;
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
      progress_log_(std::make_unique<ProgressLogger>(log)),
      log_(progress_log_.get()) {}

void Engine::DetachDisplay() { progress_log_->set_display(nullptr); }

Status Engine::Create(const Config& config, Logger* log, std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> e(new Engine(config, log));
  log = e->log_;  // everything below logs through the display-aware logger

  std::vector<std::unique_ptr<Destination>> dests;
  // On any error below, leave no trace: remove the files opening created.
  struct AbandonOnError {
    std::vector<std::unique_ptr<Destination>>* dests;
    bool armed = true;
    ~AbandonOnError() {
      if (armed)
        for (auto& d : *dests) d->Abandon();
    }
  } abandon{&dests};
  std::map<std::pair<dev_t, ino_t>, std::string> seen;
  FileIoOptions io;
  io.uring = config.io == Config::Io::kUring;
  io.drop_cache = config.cache == Config::Cache::kNone;
  io.direct = config.direct;
  if (io.uring) {
    // Each writer makes its own ring when it starts; find out now, once,
    // whether this kernel (or its seccomp policy) allows one at all.
    std::unique_ptr<UringQueue> probe;
    Status s = UringQueue::Create(FileDestination::kQueueDepth, &probe);
    if (!s.ok()) {
      io.uring = false;
      log->Debug(LogTopic::kGeneral, "io=uring: " + s.message() + "; falling back to io=sync");
    }
  }
  for (const DestinationSpec& spec : config.destinations) {
    std::unique_ptr<Destination> d;
    Status s = OpenDestination(spec, &d, io);
    if (!s.ok()) return s;
    dests.push_back(std::move(d));
    const Destination* nd = dests.back().get();
    if (auto id = nd->identity()) {
      auto [it, inserted] = seen.emplace(*id, nd->name());
      if (!inserted) {
        const std::string name = nd->name();
        dests.pop_back();  // the same file as another: not ours to remove
        return Status::InvalidArgument("dest=" + name + ": the same file as dest=" + it->second +
                                       "; name each destination once");
      }
    }
    if (!nd->seekable()) e->all_seekable_ = false;
  }

  // The export size: size=, else the smallest fixed-size destination.
  std::optional<uint64_t> smallest;
  for (const auto& d : dests)
    if (auto fs = d->fixed_size()) smallest = smallest ? std::min(*smallest, *fs) : *fs;
  if (config.size) {
    e->size_ = *config.size;
  } else if (smallest && *smallest > 0) {
    e->size_ = *smallest;
  } else {
    return Status::InvalidArgument(
        "size=: required, since no destination has a fixed size (a block device or an existing "
        "non-empty file); give size=SIZE");
  }
  for (const auto& d : dests) {
    Status s = d->Prepare(e->size_);
    if (!s.ok()) return s;
  }

  // Memory: the window's chunks plus `buckets` buffers on the bus.  The
  // pool is the hard bound (see buffer_pool.h).
  WindowConfig wc;
  wc.size = e->size_;
  wc.window = config.window;
  wc.chunk = config.bucket;
  wc.ordered = !e->all_seekable_;
  wc.ahead = config.ahead;
  wc.max_open_chunks = std::max<uint64_t>(1, config.window / config.bucket);
  e->pool_ = std::make_unique<BufferPool>(config.bucket, Window::MaxChunks(wc) + config.buckets);
  // Entries, not bytes, bound zero extents (which hold no memory); data
  // extents are bounded by the pool.
  e->bus_ = std::make_unique<Bus>(1024);
  e->sink_ = std::make_unique<BusSink>(e->bus_.get(), log);
  e->window_ = std::make_unique<Window>(wc, e->pool_.get(), e->sink_.get());
  abandon.armed = false;
  for (auto& d : dests)
    e->writers_.push_back(std::make_unique<Writer>(std::move(d), e->bus_.get(), log));

  if (log->DebugEnabled(LogTopic::kGeneral))
    log->Debug(LogTopic::kGeneral,
               "size " + std::to_string(e->size_) + ", " + std::to_string(e->writers_.size()) +
                   " destinations, " + (wc.ordered ? "ordered (window)" : "unordered") +
                   ", pool of " + std::to_string(e->pool_->max_buffers()) + " x " +
                   std::to_string(config.bucket) + " bytes");
  *out = std::move(e);
  return Status::OK();
}

Engine::~Engine() {
  if (started_) (void)Finish();
}

void Engine::Start(bool progress_terminal, int progress_width) {
  started_ = true;
  start_time_ = std::chrono::steady_clock::now();
  std::unique_ptr<ProgressDisplay> progress;
  if (config_.progress)
    progress = std::make_unique<ProgressDisplay>(stderr, progress_terminal, progress_width);
  reporter_ = std::make_unique<Reporter>([this] { return TakeSnapshot(); }, config_.status_file,
                                         std::move(progress), progress_terminal, log_);
  progress_log_->set_display(reporter_->display());
  for (auto& w : writers_) w->Start();
  reporter_->Start();
}

Snapshot Engine::TakeSnapshot() const {
  using namespace std::chrono;
  const auto now = steady_clock::now();
  Snapshot snap;
  snap.size = size_;
  snap.committed = window_->committed_bytes();
  snap.state = run_state_.load();
  snap.refused_requests = refusal_logged_.load();
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
    if (d.state == DestinationState::kFailed) d.failure = w->failure();
    d.exit_status = dest->exit_status();
    snap.destinations.push_back(std::move(d));
  }
  return snap;
}

Status Engine::Logged(Status s) {
  if (!s.ok()) log_->Error(s.message());
  return s;
}

void Engine::DoomStreams() {
  for (auto& w : writers_)
    if (!w->destination()->seekable()) w->Doom();
}

Status Engine::Admit() {
  size_t healthy = 0;
  const Writer* failed = nullptr;
  for (const auto& w : writers_) {
    if (w->healthy())
      healthy++;
    else if (!failed)
      failed = w.get();
  }
  Status s;
  if (failed && config_.on_error == Config::OnError::kFail) {
      const std::string why = failed->state() == DestinationState::kFailed
                                ? failed->failure().message
                                : "a write behind the stream position";
    s = Status::IOError(EIO, "refusing requests (on-error=fail): destination " +
                                 failed->destination()->name() + " failed: " + why);
  } else if (healthy < config_.quorum) {
    s = Status::IOError(EIO, "refusing requests: " + std::to_string(healthy) + " of " +
                                 std::to_string(writers_.size()) +
                                 " destinations are healthy, fewer than quorum=" +
                                 std::to_string(config_.quorum));
  }
  // Said once: a client retrying would flood the log otherwise.
  if (!s.ok() && !refusal_logged_.exchange(true)) log_->Error(s.message());
  return s;
}

template <typename Op>
Status Engine::Admitted(Op op) {
  Status s = Admit();
  if (!s.ok()) return s;
  bool late = false;
  {
    std::lock_guard<TicketLock> lock(mu_);
    s = Logged(op(&late));
  }
  // A late write reached the seekable destinations; the streams will fail
  // on it.  Count them failed now, not when their threads get there, so
  // this request and every later one see the same policy.
  if (s.ok() && late) {
    DoomStreams();
    s = Admit();
  }
  return s;
}

Status Engine::Write(const void* buf, uint64_t length, uint64_t offset) {
  return Admitted([&](bool* late) { return window_->Write(buf, length, offset, late); });
}

Status Engine::Zero(uint64_t length, uint64_t offset) {
  return Admitted([&](bool* late) { return window_->Zero(length, offset, late); });
}

Status Engine::Read(void* buf, uint64_t length, uint64_t offset) {
  std::vector<ByteRange> backing;
  std::vector<Extent> overlay;
  {
    std::lock_guard<TicketLock> lock(mu_);
    window_->Read(buf, length, offset, &backing);
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
  uint64_t seq;
  {
    std::lock_guard<TicketLock> lock(mu_);
    window_->Flush();
    seq = bus_->last_published();
  }
  bus_->WaitApplied(seq);
  for (const auto& w : writers_) {
    if (!w->healthy()) continue;
    // A sync that fails is that destination's failure, reported by the
    // policy below, not necessarily the client's.
    Status s = w->destination()->Sync();
    if (!s.ok()) log_->Error(s.message());
  }
  return Admit();
}

Status Engine::Finish() {
  {
    std::lock_guard<TicketLock> lock(mu_);
    if (finished_) return final_status_;
    finished_ = true;
    run_state_ = RunState::kFinishing;
    window_->Finish();
  }
  bus_->Close();
  // A FIFO still without a reader gives up by itself (Writer::kOpenGrace).
  for (auto& w : writers_) w->Join();
  run_state_ = RunState::kFinished;

  const Snapshot snap = TakeSnapshot();
  if (reporter_) reporter_->Stop(snap);
  DetachDisplay();
  for (const std::string& line : SummaryLines(snap)) log_->Notice(line);

  Status result;
  if (snap.failed() > 0)
    result = Status::IOError(EIO, std::to_string(snap.failed()) + " of " +
                                      std::to_string(snap.destinations.size()) +
                                      " destinations failed");
  std::lock_guard<TicketLock> lock(mu_);
  final_status_ = result;
  return result;
}

}  // namespace fanout
