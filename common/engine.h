// Engine: the whole fanout machine behind the nbdkit glue.  One engine per
// nbdkit process, shared by every connection.
//
//   client requests ──▶ Window ──commit──▶ Bus ──▶ Writer ──▶ Destination
//                        (reorder)     (broadcast)   (one thread each)
//
// Lock rule: mu_ serialises the window (writes, zeroes, the window half of
// reads, flush's commit).  It is held while the window commits, so commits
// reach the bus in order; that may block on back-pressure, which is how a
// slow destination slows the client.  Writers never take mu_.  Reads of
// committed data, syncs and the end-of-stream join happen outside it.
#ifndef FANOUT_ENGINE_H
#define FANOUT_ENGINE_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "buffer_pool.h"
#include "bus.h"
#include "config.h"
#include "logger.h"
#include "status.h"
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

  // Starts the writer threads (nbdkit's .after_fork).
  void Start();

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
  // for commands, log the summary.  Idempotent; no requests may follow.
  Status Finish();

  const std::vector<std::unique_ptr<Writer>>& writers() const { return writers_; }
  const BufferPool& pool() const { return *pool_; }

 private:
  class BusSink;
  Engine(const Config& config, Logger* log);
  // Fails while any destination has failed: nothing a client wrote may be
  // lost silently.
  Status CheckHealthy() const;
  Status Logged(Status s);

  const Config config_;
  Logger* const log_;
  uint64_t size_ = 0;
  bool all_seekable_ = true;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<BusSink> sink_;
  std::vector<std::unique_ptr<Writer>> writers_;

  std::mutex mu_;
  std::unique_ptr<Window> window_;  // GUARDED_BY(mu_)
  bool started_ = false;
  bool finished_ = false;  // GUARDED_BY(mu_)
  Status final_status_;    // GUARDED_BY(mu_)
};

}  // namespace fanout

#endif  // FANOUT_ENGINE_H
