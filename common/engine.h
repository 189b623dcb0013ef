// Engine: the whole fanout machine behind the nbdkit glue.  One engine per
// nbdkit process, shared by every connection.
//
//   client requests ──▶ Window ──commit──▶ Bus ──▶ Writer ──▶ Destination
//                        (reorder)     (broadcast)   (one thread each)
//
// Failure policy: a destination that fails stops alone (its writer detaches
// from the bus).  With on-error=continue, requests succeed while at least
// quorum= destinations are healthy; with on-error=fail, every request after
// the first failure fails.  Either way the failure is in the log, the status
// file, the summary, and Finish()'s result.
//
// Lock rule: mu_ serialises the window (writes, zeroes, the window half of
// reads, flush's commit).  It is held while the window commits, so commits
// reach the bus in order; that may block on back-pressure, which is how a
// slow destination slows the client.  Writers never take mu_.  Reads of
// committed data, syncs and the end-of-stream join happen outside it.
#ifndef FANOUT_ENGINE_H
#define FANOUT_ENGINE_H

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "buffer_pool.h"
#include "bus.h"
#include "config.h"
#include "logger.h"
#include "reporter.h"
#include "snapshot.h"
#include "status.h"
#include "ticket_lock.h"
#include "window.h"
#include "writer.h"

namespace fanout {

class Engine {
 public:
  // Opens and checks every destination and settles the export size.  Runs
  // at configuration time, so every mistake is reported before serving.
  // REQUIRES: log outlives the engine.
  static Status Create(const Config& config, Logger* log, std::unique_ptr<Engine>* out);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the writer threads and the reporter (nbdkit's .after_fork).
  // progress_terminal / progress_width: where progress=true draws.
  void Start(bool progress_terminal = false, int progress_width = 80);

  uint64_t size() const { return size_; }
  // No stream destination: any write order works, multi-conn is safe.
  bool all_seekable() const { return all_seekable_; }

  // The data requests; thread-safe.  Errors are already logged.
  Status Write(const void* buf, uint64_t length, uint64_t offset);
  Status Zero(uint64_t length, uint64_t offset);
  Status Read(void* buf, uint64_t length, uint64_t offset);
  // Everything committed so far reaches every destination and is synced.
  Status Flush();
  // End of stream: commit the window, zero-fill, drain, sync, close, wait
  // for commands, write the final status, log the summary.  Fails if any
  // destination failed.  Idempotent; no requests may follow.
  Status Finish();

  // The run as it is now.  Thread-safe; does not take the engine's lock.
  Snapshot TakeSnapshot() const;



  const std::vector<std::unique_ptr<Writer>>& writers() const { return writers_; }
  const BufferPool& pool() const { return *pool_; }

 private:
  class BusSink;
  class ProgressLogger;
  Engine(const Config& config, Logger* log);
  // Messages go below the bars again (the final bars stay on screen).
  void DetachDisplay();
  // Whether a request may succeed now under on-error= and quorum=.
  Status Admit();
  // A late extent went out: every stream destination will fail on it.
  void DoomStreams();
  // Runs a write or zero on the window under the policy: admitted first;
  // if part of it went out late, the streams are doomed and the policy
  // asked again.  op(bool* late) runs with the lock held.
  template <typename Op>
  Status Admitted(Op op);
  Status Logged(Status s);

  const Config config_;
  // The glue's logger, behind one that keeps messages clear of the bars.
  std::unique_ptr<ProgressLogger> progress_log_;
  Logger* const log_;
  uint64_t size_ = 0;
  bool all_seekable_ = true;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<BusSink> sink_;
  std::vector<std::unique_ptr<Writer>> writers_;

  TicketLock mu_;  // requests take turns in arrival order (ticket_lock.h)
  std::unique_ptr<Window> window_;  // GUARDED_BY(mu_)
  std::unique_ptr<Reporter> reporter_;
  bool started_ = false;
  std::chrono::steady_clock::time_point start_time_;
  std::atomic<RunState> run_state_{RunState::kRunning};
  std::atomic<bool> refusal_logged_{false};  // the policy's first refusal is logged, once
  bool finished_ = false;  // GUARDED_BY(mu_)
  Status final_status_;    // GUARDED_BY(mu_)
};

}  // namespace fanout

#endif  // FANOUT_ENGINE_H
