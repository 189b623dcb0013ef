#include "writer.h"

#include <cassert>
#include <cerrno>

namespace fanout {

const char* StateName(DestinationState state) {
  switch (state) {
    case DestinationState::kWriting: return "writing";
    case DestinationState::kDone: return "done";
    case DestinationState::kFailed: return "failed";
    case DestinationState::kVerifying: return "verifying";
    case DestinationState::kVerified: return "verified";
    case DestinationState::kMismatch: return "mismatch";
    case DestinationState::kUnverifiable: return "unverifiable";
  }
  return "?";
}

Writer::Writer(std::unique_ptr<Destination> dest, Bus* bus, Logger* log)
    : dest_(std::move(dest)), bus_(bus), log_(log), consumer_(bus->Attach()) {}

Writer::~Writer() { assert(!thread_.joinable()); }

void Writer::Start() { thread_ = std::thread([this] { Run(); }); }

void Writer::Join() {
  if (thread_.joinable()) thread_.join();
}

Failure Writer::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

std::optional<Writer::Clock::time_point> Writer::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

void Writer::End(DestinationState state) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = Clock::now();
  }
  state_ = state;
}

void Writer::Fail(const Status& s, uint64_t offset) {
  // Give up our place at once: the others must not wait for us.
  bus_->Detach(consumer_);
  std::string message = s.message();
  // A stream is closed now so its reader (or command) sees the end.  For a
  // command that means waiting for it: its exit status usually says more
  // than our EPIPE does (cmd exited 3 after reading 10 MiB).  A seekable
  // destination keeps its descriptor until the engine goes, since a
  // concurrent flush may still be syncing it.
  if (!dest_->seekable()) {
    Status closed = dest_->Close();
    if (!closed.ok() && closed.message() != message) {
      // "cmd=X: write: Broken pipe ...; the command exited with status 3"
      std::string more = closed.message();
      const std::string prefix = dest_->name() + ": ";
      if (more.compare(0, prefix.size(), prefix) == 0) more.erase(0, prefix.size());
      message += "; " + more;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = Failure{s.err(), offset, message};
  }
  End(DestinationState::kFailed);
  log_->Error(message);
}

Status Writer::Open() {
  std::optional<Clock::time_point> waiting_since;
  for (;;) {
    Status s = dest_->Start();
    if (s.ok() || s.err() != EAGAIN) return s;
    // Not ready: a FIFO nobody has opened yet.  That is fine until data
    // waits for it; from then on it holds every other destination back (and
    // the client, once the bus is full), so it gets kOpenGrace.  This also
    // covers the end of the stream, which always leaves data waiting.
    if (bus_->HasPending(consumer_)) {
      const auto now = Clock::now();
      if (!waiting_since) waiting_since = now;
      if (now - *waiting_since >= kOpenGrace)
        return Status::IOError(EPIPE, s.message() + " within " +
                                          std::to_string(kOpenGrace.count()) +
                                          " s of data waiting for it");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Writer::Run() {
  Status s = Open();
  if (!s.ok()) {
    Fail(s, 0);
    return;
  }
  const bool debug = log_->DebugEnabled(LogTopic::kWriter);
  Extent e;
  uint64_t seq;
  while (bus_->Fetch(consumer_, &e, &seq)) {
    if (debug)
      log_->Debug(LogTopic::kWriter, dest_->name() + ": " + (e.is_zero() ? "zero " : "write ") +
                                         std::to_string(e.offset) + "+" +
                                         std::to_string(e.length) + (e.late ? " (late)" : ""));
    if (e.late && !dest_->seekable()) {
      // The stream has passed this offset: it can never hold the image now.
      Fail(Status::IOError(EIO, dest_->name() + ": " + *e.late), e.offset);
      return;
    }
    s = e.is_zero() ? dest_->Zero(e.length, e.offset) : dest_->Write(e.bytes(), e.length, e.offset);
    if (!s.ok()) {
      Fail(s, e.offset);
      return;
    }
    bytes_ += e.length;
    // Drop our reference before telling the bus, so the buffer can go back
    // to the pool as soon as the last writer is done with it.
    e = Extent();
    bus_->Applied(consumer_, seq);
  }
  s = dest_->Close();
  if (!s.ok()) {
    Fail(s, bytes_.load());
    return;
  }
  End(DestinationState::kDone);
}

}  // namespace fanout
