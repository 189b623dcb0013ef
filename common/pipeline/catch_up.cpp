// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/catch_up.h"

#include <algorithm>
#include <cerrno>

#include "pipeline/writer.h"

namespace fanout {

Status CatchUpSources::Read(Bus::ConsumerId reader, const std::string& reader_name, uint64_t seq,
                            uint8_t* buf, uint64_t length, uint64_t offset) {
  for (;;) {
    Bus::ConsumerId id = 0;
    switch (bus_->WaitSource(reader, seq, &id)) {
      case Bus::SourceResult::kGone:
        return Status::IOError(ECANCELED, reader_name + ": left the bus while catching up");
      case Bus::SourceResult::kNone:
        return Status::IOError(
            EIO,
            "lost its catch-up source: no healthy seekable destination in step holds "
            "the ranges it missed");
      case Bus::SourceResult::kLog: {
        Status s = log_->Read(buf, length, offset);
        if (s.ok()) return s;
        return Status::IOError(EIO, "lost its catch-up source: " + s.message());
      }
      case Bus::SourceResult::kConsumer:
        break;
    }
    std::shared_ptr<Writer> w = id < writers_.size() ? writers_[id].lock() : nullptr;
    if (!w) return Status::IOError(ECANCELED, reader_name + ": the run is ending");
    Status s = w->destination()->Read(buf, length, offset);
    // A source that failed meanwhile had applied seq all the same (a
    // failed extent is never marked applied): what it gave is good.
    if (s.ok()) return s;
    // A source that cannot give back what it was given has failed.
    w->FailAsSource(Status::IOError(
        s.err(), s.message() + " (reading for the catch-up of " + reader_name + ")"));
  }
}

CatchUp::CatchUp(Destination* dest, Bus* bus, Bus::ConsumerId id, CatchUpSources* sources,
                 Logger* log)
    : dest_(dest), bus_(bus), id_(id), sources_(sources), log_(log), pool_(kChunk, 2) {}

Status CatchUp::Submit(const Extent& extent) {
  if (log_->DebugEnabled(LogTopic::kWriter))
    log_->Debug(LogTopic::kWriter,
                dest_->name() + ": catch up " + (extent.is_zero() ? "zero " : "write ") +
                    std::to_string(extent.offset) + "+" + std::to_string(extent.length));
  pending_ = true;
  pending_length_ = extent.length;
  return dest_->Submit(extent, ++tag_);
}

Status CatchUp::ReapPending(std::atomic<uint64_t>* bytes) {
  std::vector<uint64_t> done;
  while (pending_) {
    uint64_t failed = 0;
    Status s = dest_->Reap(&done, &failed);
    if (!s.ok()) {
      pending_ = false;
      return s;
    }
    if (std::find(done.begin(), done.end(), tag_) != done.end()) {
      pending_ = false;
      *bytes += pending_length_;
      caught_up_ += pending_length_;
      dest_->NoteProgress();
    }
  }
  return Status::OK();
}

Status CatchUp::Run(std::atomic<uint64_t>* bytes, Bus::RejoinResult* how) {
  for (;;) {
    if (!dest_->seekable())
      if (std::shared_ptr<const std::string> late = bus_->LateFor(id_)) {
        (void)ReapPending(bytes);
        return Status::IOError(EIO, dest_->name() + ": " + *late);
      }
    LagMap::Range r;
    uint64_t seq = 0;
    if (!bus_->TakeLagged(id_, kChunk, kZeroChunk, &r, &seq)) {
      Status s = ReapPending(bytes);
      if (!s.ok()) return s;
      *how = bus_->Rejoin(id_);
      if (*how == Bus::RejoinResult::kBehind) continue;
      return Status::OK();
    }
    // A late extent committed since the check above is in the range just
    // taken, behind the stream's position: fail with its message rather
    // than write it (the bus set it under the lock that added the range).
    if (!dest_->seekable())
      if (std::shared_ptr<const std::string> late = bus_->LateFor(id_)) {
        (void)ReapPending(bytes);
        return Status::IOError(EIO, dest_->name() + ": " + *late);
      }
    Extent e;
    if (r.content == Content::kZero) {
      e = Extent::Zero(r.offset, r.length);
    } else {
      std::shared_ptr<Buffer> buffer = pool_.Acquire();
      waiting_ = true;
      Status s = sources_->Read(id_, dest_->name(), seq, buffer->data(), r.length, r.offset);
      waiting_ = false;
      if (!s.ok()) {
        (void)ReapPending(bytes);
        if (s.err() == ECANCELED) {
          *how = Bus::RejoinResult::kGone;
          return Status::OK();
        }
        return Status::IOError(s.err(), dest_->name() + ": " + s.message() + " (" +
                                            std::to_string(bus_->behind_bytes(id_) + r.length) +
                                            " bytes behind)");
      }
      e = Extent::Data(r.offset, r.length, std::move(buffer), 0);
    }
    Status s = ReapPending(bytes);
    if (!s.ok()) return s;
    s = Submit(e);
    if (!s.ok()) return s;
  }
}

}  // namespace fanout
