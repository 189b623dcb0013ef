// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Stream destinations: bytes strictly in order, once.  StreamDestination
// writes the in-order stream to a file descriptor; it is the FIFO kind (and
// character devices such as /dev/null), and the base of the command kind.
#ifndef FANOUT_DEST_STREAM_DESTINATION_H
#define FANOUT_DEST_STREAM_DESTINATION_H

#include <atomic>

#include "dest/destination.h"

namespace fanout {

class StreamDestination : public Destination {
 public:
  // path: opened for writing in Start(); empty for subclasses that set fd_.
  // identity: what path is (a FIFO, a character device).
  StreamDestination(std::string name, std::string path,
                    std::optional<DestinationIdentity> identity = std::nullopt);
  ~StreamDestination() override;

  DestinationKind kind() const override { return DestinationKind::kFifo; }
  bool seekable() const override { return false; }
  std::optional<DestinationIdentity> identity() const override { return identity_; }

  Status Prepare(uint64_t) override { return Status::OK(); }
  // Opens the FIFO, or fails with EAGAIN while no reader has opened the
  // other end.  (A blocking open could wait for ever, deaf to the end of
  // the stream; the writer decides how long to wait.)
  Status Start() override;
  // REQUIRES: offset == position() (the window guarantees it).  Both wait
  // in poll(2) while the pipe is full, and fail with ECANCELED once
  // Cancel() was called.
  Status Write(const uint8_t* buf, uint64_t length, uint64_t offset) override;
  Status Zero(uint64_t length, uint64_t offset) override;
  // What was written is in the pipe; there is nothing to sync.
  Status Sync() override { return Status::OK(); }
  Status Read(uint8_t*, uint64_t, uint64_t offset) override;
  Status Close() override;
  // Zero-filling stops within a piece (Zero() fails with EINTR), and a
  // write waiting for room in the pipe gives up (Cancel()).
  void Interrupt() override {
    interrupted_ = true;
    Cancel();
  }
  // Closes the stream where it is: the reader sees a short stream.
  Status Abort() override { return StreamDestination::Close(); }

  uint64_t position() const { return position_; }

 protected:
  // Makes the pipe's buffer large, so a reader that pauses briefly does not
  // stall the writer at every 64 KiB.
  void EnlargePipe();
  Status CheckOrder(uint64_t offset) const;
  // Moves the position on success; names the position on failure.
  Status Advance(const Status& s, uint64_t length);
  // Puts length bytes of buf (or, PutZeros, of zeros) into the pipe,
  // waiting in poll(2) for room or Cancel(); *written is what the pipe
  // took, also on error.  Neither checks the order nor moves the position.
  Status Put(const uint8_t* buf, uint64_t length, uint64_t* written);
  // In pieces from a static block of zeros: the end of the stream
  // zero-fills the rest of the export in one extent, which can be
  // terabytes, and an interrupted run must stop it within seconds (EINTR).
  Status PutZeros(uint64_t length, uint64_t* written);

  int fd_ = -1;  // O_NONBLOCK
  uint64_t position_ = 0;
  std::atomic<bool> interrupted_{false};

 private:
  const std::string path_;
  const std::optional<DestinationIdentity> identity_;
};

}  // namespace fanout

#endif  // FANOUT_DEST_STREAM_DESTINATION_H
