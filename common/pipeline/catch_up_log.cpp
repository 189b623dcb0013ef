// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "pipeline/catch_up_log.h"

#include <algorithm>
#include <cassert>

namespace fanout {

CatchUpLog::CatchUpLog(std::unique_ptr<SpillFile> file, uint64_t capacity)
    : file_(std::move(file)), capacity_(capacity) {
  assert(capacity > 0);
}

void CatchUpLog::Append(const Extent& extent) {
  {
    MutexLock lock(&mu_);
    if (!error_.ok()) return;
  }
  for (uint64_t done = 0; done < extent.length;) {
    const uint64_t at = (extent.offset + done) % capacity_;
    const uint64_t n = std::min(extent.length - done, capacity_ - at);
    Status s = file_->Write(extent.bytes() + done, n, at);
    if (!s.ok()) {
      MutexLock lock(&mu_);
      error_ = s;
      return;
    }
    done += n;
  }
}

Status CatchUpLog::Read(uint8_t* buf, uint64_t length, uint64_t offset) const {
  {
    MutexLock lock(&mu_);
    if (!error_.ok()) return error_;
  }
  for (uint64_t done = 0; done < length;) {
    const uint64_t at = (offset + done) % capacity_;
    const uint64_t n = std::min(length - done, capacity_ - at);
    Status s = file_->Read(buf + done, n, at);
    if (!s.ok()) return s;
    done += n;
  }
  return Status::OK();
}

}  // namespace fanout
