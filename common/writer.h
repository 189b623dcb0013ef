// Writer: one thread per destination.  It takes extents off the bus in
// order, performs them on its destination, counts what it wrote, and on an
// error marks the destination failed and detaches from the bus, so one slow
// or broken destination never corrupts or stops the others.  At the end of
// the stream it closes the destination (sync, close, wait for a command).
#ifndef FANOUT_WRITER_H
#define FANOUT_WRITER_H

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bus.h"
#include "destination.h"
#include "logger.h"

namespace fanout {

enum class DestinationState { kWriting, kDone, kFailed };
const char* StateName(DestinationState state);

class Writer {
 public:
  // Attaches to the bus now, so the writer sees every extent published from
  // here on, even before its thread starts.
  Writer(std::unique_ptr<Destination> dest, Bus* bus, Logger* log);
  // REQUIRES: Join() was called if Start() was.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Starts the thread.  Call once, after nbdkit has forked.
  void Start();
  // Waits for the thread: it ends when the bus is closed and drained, or
  // when the destination fails.
  void Join();

  Destination* destination() const { return dest_.get(); }
  DestinationState state() const { return state_.load(); }
  bool healthy() const { return state() != DestinationState::kFailed; }
  // Bytes of extents performed (data and zeros).
  uint64_t bytes() const { return bytes_.load(); }
  // The failure, once state() is kFailed.
  std::string error() const;

 private:
  void Run();
  void Fail(const Status& s);

  const std::unique_ptr<Destination> dest_;
  Bus* const bus_;
  Logger* const log_;
  const Bus::ConsumerId consumer_;
  std::thread thread_;
  std::atomic<DestinationState> state_{DestinationState::kWriting};
  std::atomic<uint64_t> bytes_{0};
  mutable std::mutex mu_;
  std::string error_;  // GUARDED_BY(mu_)
};

}  // namespace fanout

#endif  // FANOUT_WRITER_H
