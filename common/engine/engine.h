// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Engine: the whole fanout machine behind the nbdkit glue.  One engine per
// nbdkit process, shared by every connection.
//
//   client requests ──▶ Window ──commit──▶ Bus ──▶ Writer ──▶ Destination
//                        (reorder)     (broadcast)   (one thread each)
//
// A destination that fails stops alone (its writer detaches from the bus);
// whether requests still succeed is the failure policy's (on-error=,
// quorum=: failure_policy.h).  Either way the failure is in the log, the
// status file, the summary, and Finish()'s result.
//
// Lock rule: mu_ serialises the window (writes, zeroes, the window half of
// reads, flush's commit).  It is held while the window commits, so commits
// reach the bus in order; that may block on back-pressure, which is how a
// slow destination slows the client.  Writers never take mu_.  Reads of
// committed data, syncs and the end-of-stream join happen outside it.
#ifndef FANOUT_ENGINE_ENGINE_H
#define FANOUT_ENGINE_ENGINE_H

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "dest/destination_set.h"
#include "engine/bus_sink.h"
#include "integrity/image_integrity.h"
#include "pipeline/bus.h"
#include "pipeline/catch_up.h"
#include "pipeline/catch_up_log.h"
#include "pipeline/failure_policy.h"
#include "pipeline/stall_watch.h"
#include "pipeline/writer.h"
#include "report/progress_logger.h"
#include "report/reporter.h"
#include "report/snapshot.h"
#include "util/logger.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/ticket_lock.h"
#include "window/buffer_pool.h"
#include "window/hole_map.h"
#include "window/window.h"

namespace fanout {

class Engine {
 public:
  // Serving the plugin: opens and checks every destination and settles the
  // export size (size=, else the smallest fixed-size destination) at once.
  // Runs at configuration time, so every mistake is reported before
  // serving.  REQUIRES: log outlives the engine.
  static Status OpenAndSize(const Config& config, Logger* log, std::unique_ptr<Engine>* out);

  // Serving a filter (nbdkit-tee-filter) in two steps, since the export size
  // is the plugin's below, known only once a client connects.
  // OpenUnsized() opens and checks every destination at configuration time,
  // as OpenAndSize() does, so a bad one is refused before serving;
  // config.size is ignored.  Prepare() sizes them later.
  // REQUIRES: log outlives the engine.
  static Status OpenUnsized(const Config& config, Logger* log, std::unique_ptr<Engine>* out);
  // Settles the export size: sizes the destinations (Destination::Prepare)
  // and builds the window, the bus and the writers.  Idempotent for the same
  // size; another size is an error.  If it fails, the destinations are
  // abandoned (files it created are removed) and every later call returns
  // the same error.  Thread-safe (connections may race to be first).
  Status Prepare(uint64_t size);
  // Prepare() has succeeded.  Thread-safe.
  bool prepared() const { return prepared_.load(); }

  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the writer threads and the reporter (nbdkit's .after_fork).
  // progress_terminal / progress_width: where progress=true draws.
  // REQUIRES: prepared().  Later calls do nothing.  Thread-safe.
  void Start(bool progress_terminal = false, int progress_width = 80);

  uint64_t size() const { return size_; }
  // No stream destination: any write order works, multi-conn is safe.
  bool all_seekable() const { return all_seekable_; }

  // The largest read or write a client should send: the bucket, at most
  // 32 MiB (qemu's own cap).  nbdkit keeps, per thread, a buffer as large
  // as the largest request that thread has served, so this bounds nbdkit's
  // memory too; the glue advertises it with .block_size.  Larger requests
  // are still served: nbdkit 1.32 has allocated their buffer before the
  // plugin sees them, so refusing one would save no memory and only break
  // clients that ignore block sizes (libnbd sends what it is given).
  uint32_t max_request() const;

  // The data requests; thread-safe.  Errors are already logged.
  // REQUIRES (these, Flush and AdmitRequest): prepared().
  Status Write(const void* buf, uint64_t length, uint64_t offset);
  Status Zero(uint64_t length, uint64_t offset);
  Status Read(void* buf, uint64_t length, uint64_t offset);
  // Everything committed so far reaches every destination and is synced.
  Status Flush();
  // End of stream: commit the window, zero-fill, drain, sync, close, wait
  // for commands, verify (verify=) and settle the image's SHA-256, write
  // the final status, log the summary.  Fails if any destination failed or
  // did not verify.  Idempotent; no requests may follow.  An engine that
  // was never prepared (a filter no client connected to) has nothing to
  // write: its destinations are abandoned as on a configuration error, and
  // the result is Prepare()'s error if one failed, else OK.
  Status Finish();

  // The run ends before the client finished (a signal while a client was
  // connected, the --run command failing): the run state becomes
  // kInterrupted with `reason`, every destination not yet proven complete
  // is stopped at once and ends kIncomplete (Writer::Interrupt), no
  // SHA-256 is reported, and requests are refused from now on.  Requests
  // blocked on the bus's back-pressure are released, so nbdkit's
  // connection threads can end.  Finish() then does no end of stream (no
  // window commit, no zero-fill, no verify) or, if it is running, cuts it
  // short.  Thread-safe and idempotent (the first reason is kept); not
  // async-signal-safe (the glue calls it from a thread of its own).
  void Interrupt(const std::string& reason);
  bool interrupted() const { return policy_.interrupted(); }

  // Whether a request may succeed now under on-error= and quorum=
  // (FailurePolicy); the refusal is logged once.  Write, Zero and Flush ask
  // it themselves; the tee filter also asks before it changes the plugin
  // below.  Thread-safe.
  Status AdmitRequest();

  // The run as it is now.  Thread-safe; does not take the engine's lock.
  Snapshot TakeSnapshot() const;

  // How long Finish() waits for the thread of a writer that failed (a
  // stall timed out) before it abandons it (Writer::JoinUntil): a thread
  // that was cancelled where it could be woken ends at once.
  static constexpr std::chrono::seconds kAbandonGrace{2};

 private:
  Engine(const Config& config, Logger* log);
  // Messages go below the bars again (the final bars stay on screen).
  void DetachDisplay();
  // Runs a write or zero on the window under the failure policy: admitted
  // first; if part of it went out late, the streams are doomed and the
  // policy asked again.  op(bool* late) runs with the lock held.
  template <typename Op>
  Status ApplyToWindow(Op op);
  Status Logged(Status s);
  // A write or zero from a client succeeded (require-flush=, heartbeat).
  void NoteWrite(uint64_t offset);
  // A write or zero reached the window: the image ends at least at end
  // (image_bytes: the digest of [0, end) is image_sha256).
  void NoteImageEnd(uint64_t end) REQUIRES(mu_);
  // Finish()'s steps.  require-flush=true: a client that ended without a
  // flush after its last write is an interruption.
  void InterruptUnlessFlushed();
  // Waits for every writer to end, abandoning one stuck in the kernel.
  void JoinWriters();
  // lag=: checks what catching up needs (a source), opens the log's file.
  Status OpenLag(const DestinationSet& dests);
  // lag=: the bus's lag spec, and the writers' catch-up (Prepare()).
  LagSpec LagSpecOf();
  void EnableCatchUp();
  // The window, for its thread-safe accessors only (committed_bytes()):
  // the snapshot reads them without mu_, which the requests hold for long.
  const Window& WindowUnlocked() const NO_THREAD_SAFETY_ANALYSIS { return *window_; }

  const Config config_;
  // status=, made absolute while nbdkit is still in its start directory.
  std::string status_path_;
  // The glue's logger, behind one that keeps messages clear of the bars.
  // Shared with the writers (Writer::KeepAlive), as is the bus.
  std::shared_ptr<ProgressLogger> progress_log_;
  Logger* const log_;
  uint64_t size_ = 0;
  bool all_seekable_ = true;
  // OpenUnsized() to Prepare(): the destinations, opened and checked, not sized.
  Mutex setup_mu_;  // Prepare() and Start()
  DestinationSet opened_ GUARDED_BY(setup_mu_);
  std::atomic<bool> prepared_{false};
  Status prepare_error_ GUARDED_BY(setup_mu_);
  // spill=DIR, else null; opened by OpenUnsized() (config time), used from
  // Prepare() on.  Outlives window_.
  std::unique_ptr<SpillFile> spill_;
  // lag= with streams only: the catch-up log's file in spill=DIR (opened at
  // config time like spill_), and the log from Prepare() on.  Shared with
  // the writers, as the bus is.
  std::unique_ptr<SpillFile> log_file_;
  std::shared_ptr<CatchUpLog> catch_up_log_;
  std::unique_ptr<BufferPool> pool_;
  std::shared_ptr<Bus> bus_;
  // holes=skip: which bytes are holes (hole_map.h), else null.  Changed
  // by requests and read by the sink's commits, under mu_; only read once
  // the stream ended.
  std::unique_ptr<HoleMap> holes_;
  std::unique_ptr<BusSink> sink_;
  // Shared: a writer abandoned at the end (stuck in the kernel) outlives
  // the engine, with its bus and logger (see writer.h).
  std::vector<std::shared_ptr<Writer>> writers_;
  std::unique_ptr<StallWatch> stall_watch_;  // from Start() to the end of Finish()

  TicketLock mu_;  // requests take turns in arrival order (ticket_lock.h)
  // Set once by Prepare() (under setup_mu_, before prepared_ is), then
  // only used: the pointer is read without mu_, the window only with it.
  std::unique_ptr<Window> window_ PT_GUARDED_BY(mu_);
  // The page hashes, the SHA-256, verify= (image_integrity.h).  Reads
  // back from writers_; from Prepare() on.
  std::unique_ptr<ImageIntegrity> integrity_;
  std::unique_ptr<Reporter> reporter_;
  bool started_ = false;
  std::chrono::steady_clock::time_point start_time_;
  std::atomic<RunState> run_state_{RunState::kRunning};
  // on-error=, quorum=, and the refusals after Interrupt() (which it holds
  // the reason of) or once the window lost bytes.  Reads writers_.
  FailurePolicy policy_;
  // Client writes (and zeroes) so far, how many of them a successful flush
  // covered, the last one's offset and its wall-clock time (ns since the
  // epoch; 0: none): require-flush= and the status file's heartbeat.
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> flushed_writes_{0};
  std::atomic<uint64_t> flushes_{0};
  std::atomic<uint64_t> last_write_offset_{0};
  std::atomic<uint64_t> image_end_{0};  // the highest end of a write or zero
  std::atomic<int64_t> last_write_ns_{0};
  bool finished_ GUARDED_BY(mu_) = false;
  Status final_status_ GUARDED_BY(mu_);
};

}  // namespace fanout

#endif  // FANOUT_ENGINE_ENGINE_H
