#include "writer.h"

#include <cassert>

namespace fanout {

const char* StateName(DestinationState state) {
  switch (state) {
    case DestinationState::kWriting: return "writing";
    case DestinationState::kDone: return "done";
    case DestinationState::kFailed: return "failed";
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

std::string Writer::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void Writer::Fail(const Status& s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = s.message();
  }
  state_ = DestinationState::kFailed;
  // Give up our place at once: the others must not wait for us.
  bus_->Detach(consumer_);
  log_->Error(s.message());
  // A stream is closed now so its reader (or command) sees the end; a
  // seekable destination keeps its descriptor until the engine goes, since
  // a concurrent flush may still be syncing it.
  if (!dest_->seekable()) (void)dest_->Close();
}

void Writer::Run() {
  Status s = dest_->Start();
  if (!s.ok()) {
    Fail(s);
    return;
  }
  const bool debug = log_->DebugEnabled(LogTopic::kWriter);
  Extent e;
  uint64_t seq;
  while (bus_->Fetch(consumer_, &e, &seq)) {
    if (debug)
      log_->Debug(LogTopic::kWriter, dest_->name() + ": " + (e.is_zero() ? "zero " : "write ") +
                                         std::to_string(e.offset) + "+" + std::to_string(e.length));
    s = e.is_zero() ? dest_->Zero(e.length, e.offset) : dest_->Write(e.bytes(), e.length, e.offset);
    if (!s.ok()) {
      Fail(s);
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
    Fail(s);
    return;
  }
  state_ = DestinationState::kDone;
}

}  // namespace fanout
