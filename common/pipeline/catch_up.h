// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Catching up (lag=): how a laggard (bus.h) gets back what it missed.
//
// CatchUpSources reads a range as the export holds it from a catch-up
// source: the seekable destination in step that is furthest ahead, once it
// has applied every extent committed so far, or the catch-up log (streams
// only).  A source whose read fails has failed (it cannot give back what it
// was given), and the next one is tried; when none is left the laggard has
// lost its catch-up source.
//
// CatchUp is a laggard writer's loop: it takes the lowest range of its map,
// writes zero ranges itself and copies data ranges from a source, one
// operation in flight while the next range is read, until the map is empty;
// then it rejoins the bus, or, once the bus is closed, it is done.  A range
// rewritten meanwhile is back in the map and copied again, so what the
// laggard ends with is the export.
#ifndef FANOUT_PIPELINE_CATCH_UP_H
#define FANOUT_PIPELINE_CATCH_UP_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dest/destination.h"
#include "pipeline/bus.h"
#include "pipeline/catch_up_log.h"
#include "util/logger.h"
#include "util/mutex.h"
#include "util/status.h"
#include "window/buffer_pool.h"

namespace fanout {

class Writer;

class CatchUpSources {
 public:
  // log: the catch-up log (streams only), or null.  REQUIRES: bus and log
  // outlive this.
  CatchUpSources(Bus* bus, CatchUpLog* log) : bus_(bus), log_(log) {}

  // Every writer of the bus, in the order they attached (index = consumer
  // id).  Weak: an abandoned writer thread keeps this alive (KeepAlive),
  // and this must not keep the writers alive in turn.  Call before any
  // writer starts.
  void Add(std::weak_ptr<Writer> writer) { writers_.push_back(std::move(writer)); }

  // Reads [offset, offset + length) for `reader` (its name, for messages)
  // once a source has applied every extent through bus sequence seq.  An
  // error is EIO "lost its catch-up source: ..." (without the reader's
  // name), or ECANCELED if the reader left the bus meanwhile.
  Status Read(Bus::ConsumerId reader, const std::string& reader_name, uint64_t seq, uint8_t* buf,
              uint64_t length, uint64_t offset);

 private:
  Bus* const bus_;
  CatchUpLog* const log_;
  std::vector<std::weak_ptr<Writer>> writers_;
};

class CatchUp {
 public:
  // The largest data range copied in one operation, and the largest zero
  // range (a stream writes its zeros as bytes, and the stall watch and an
  // interruption look in between).
  static constexpr uint64_t kChunk = 4 << 20;
  static constexpr uint64_t kZeroChunk = 64 << 20;

  // REQUIRES: all outlive this; used by the destination's writer thread only.
  CatchUp(Destination* dest, Bus* bus, Bus::ConsumerId id, CatchUpSources* sources, Logger* log);

  // Copies the missed ranges until the map is empty.  *how: kRejoined (in
  // step again), kCaughtUp (the bus is closed and nothing is missing) or
  // kGone (detached: failed elsewhere, or interrupted).  Counts performed
  // bytes into *bytes.  An error is the destination's, or the lost source
  // (named after the destination); nothing is left in flight.
  Status Run(std::atomic<uint64_t>* bytes, Bus::RejoinResult* how);

  // Waiting for a source to apply what is to be copied (not stalled).
  bool waiting_for_source() const { return waiting_.load(); }
  // Bytes copied or zeroed while catching up, over the run.
  uint64_t caught_up_bytes() const { return caught_up_.load(); }

 private:
  // Waits for the operation in flight, if any.
  Status ReapPending(std::atomic<uint64_t>* bytes);
  Status Submit(const Extent& extent);

  Destination* const dest_;
  Bus* const bus_;
  const Bus::ConsumerId id_;
  CatchUpSources* const sources_;
  Logger* const log_;
  BufferPool pool_;  // 2 buffers: one in flight, one being read into
  uint64_t tag_ = 0;
  uint64_t pending_length_ = 0;
  bool pending_ = false;
  std::atomic<bool> waiting_{false};
  std::atomic<uint64_t> caught_up_{0};
};

}  // namespace fanout

#endif  // FANOUT_PIPELINE_CATCH_UP_H
