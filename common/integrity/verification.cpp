// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "integrity/verification.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <thread>

namespace fanout {

Verification::Verification(Destination* dest, const PageHashes* hashes, Logger* log, Sha256* digest)
    : dest_(dest), hashes_(hashes), log_(log), digest_(digest) {}

Failure Verification::failure() const {
  MutexLock lock(&mu_);
  return failure_;
}

void Verification::End(DestinationState state, int err, uint64_t offset,
                       const std::string& message) {
  if (state != DestinationState::kVerified) {
    {
      MutexLock lock(&mu_);
      failure_ = Failure{err, offset, message};
    }
    log_->Error(message);
  }
  state_ = state;
}

void Verification::Cancel(const std::string& why) {
  {
    MutexLock lock(&mu_);
    cancelled_why_ = why;
  }
  cancelled_ = true;
}

void Verification::Run() {
  std::unique_ptr<ReadBack> reader;
  Status s = dest_->OpenReadBack(&reader);
  if (!s.ok()) {
    End(DestinationState::kFailed, s.err(), 0, dest_->name() + ": verify: " + s.message());
    return;
  }
  if (log_->DebugEnabled(LogTopic::kGeneral))
    log_->Debug(LogTopic::kGeneral, dest_->name() + ": verifying with " +
                                        (reader->direct() ? "O_DIRECT" : "the page cache dropped"));

  void* mem = nullptr;
  if (posix_memalign(&mem, ReadBack::kAlignment, kReadSize) != 0) {
    End(DestinationState::kFailed, ENOMEM, 0, dest_->name() + ": verify: out of memory");
    return;
  }
  std::unique_ptr<uint8_t, decltype(&free)> buf(static_cast<uint8_t*>(mem), &free);

  constexpr uint64_t kPage = PageHashes::kPageSize;
  static_assert(kReadSize % kPage == 0 && kPage % ReadBack::kAlignment == 0);
  const uint64_t size = hashes_->size();
  uint64_t unknown = 0, first_unknown = 0;
  for (uint64_t offset = 0; offset < size; offset += kReadSize) {
    if (cancelled_) {
      std::string why;
      {
        MutexLock lock(&mu_);
        why = cancelled_why_;
      }
      End(DestinationState::kIncomplete, EINTR, offset,
          dest_->name() + ": incomplete, verification stopped at offset " + std::to_string(offset) +
              ": " + why);
      return;
    }
    const uint64_t n = std::min<uint64_t>(kReadSize, size - offset);
    // Aligned for O_DIRECT; beyond the export the bytes are not looked at.
    const uint64_t aligned = RoundUp(n, ReadBack::kAlignment);
    s = reader->Read(buf.get(), aligned, offset);
    if (!s.ok()) {
      End(DestinationState::kFailed, s.err(), offset, dest_->name() + ": verify: " + s.message());
      return;
    }
    for (uint64_t p = offset / kPage; p * kPage < offset + n; p++) {
      const uint8_t* page = buf.get() + (p * kPage - offset);
      uint64_t expected;
      if (!hashes_->Expected(p, &expected)) {
        if (unknown++ == 0) first_unknown = p * kPage;
        continue;
      }
      if (PageHashes::Hash(page, hashes_->PageLength(p)) != expected) {
        // Only the page is known to differ: its expected bytes are kept as
        // a hash, so the offset is the page's.
        End(DestinationState::kMismatch, EIO, p * kPage,
            dest_->name() + ": verify: differs from the image in the 4 KiB page at offset " +
                std::to_string(p * kPage));
        return;
      }
    }
    if (digest_) digest_->Update(buf.get(), n);
    bytes_ += n;
  }
  if (unknown > 0) {
    End(DestinationState::kUnverifiable, EIO, first_unknown,
        dest_->name() + ": verify: " + std::to_string(unknown) +
            " pages could not be checked, the first at offset " + std::to_string(first_unknown) +
            ": a late write rewrote part of them when no destination held their earlier bytes");
    return;
  }
  End(DestinationState::kVerified, 0, 0, "");
}

void RunInParallel(const std::vector<Verification*>& verifications) {
  std::vector<std::thread> threads;
  for (Verification* v : verifications) threads.emplace_back([v] { v->Run(); });
  for (std::thread& t : threads) t.join();
}

}  // namespace fanout
