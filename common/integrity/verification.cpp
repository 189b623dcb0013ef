// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "integrity/verification.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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
  if (state != DestinationState::kVerified && state != DestinationState::kRepaired) {
    {
      MutexLock lock(&mu_);
      failure_ = Failure{err, offset, message};
    }
    // Collected for a repair: Repair() says what became of it.
    if (!(state == DestinationState::kMismatch && !bad_pages_.empty())) log_->Error(message);
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
    if (holes_ && !holes_->AnyWritten(offset, offset + n)) {
      // All holes: the device holds what it held before; the image, zeros.
      if (digest_) digest_->UpdateZeros(n);
      continue;
    }
    // Aligned for O_DIRECT; beyond the export the bytes are not looked at.
    const uint64_t aligned = RoundUp(n, ReadBack::kAlignment);
    s = reader->Read(buf.get(), aligned, offset);
    if (!s.ok()) {
      End(DestinationState::kFailed, s.err(), offset, dest_->name() + ": verify: " + s.message());
      return;
    }
    if (holes_)
      holes_->ForEachHole(offset, offset + n, [&](uint64_t a, uint64_t b) {
        memset(buf.get() + (a - offset), 0, b - a);
      });
    for (uint64_t p = offset / kPage; p * kPage < offset + n; p++) {
      const uint8_t* page = buf.get() + (p * kPage - offset);
      uint64_t expected;
      if (!hashes_->Expected(p, &expected)) {
        if (unknown++ == 0) first_unknown = p * kPage;
        continue;
      }
      if (PageHashes::Hash(page, hashes_->PageLength(p)) != expected) {
        if (collect_ && bad_pages_.size() < kMaxRepairPages) {
          bad_pages_.push_back(p);
          continue;
        }
        bad_pages_.clear();  // too many to repair: a mismatch like any other
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
  if (!bad_pages_.empty()) {
    End(DestinationState::kMismatch, EIO, bad_pages_.front() * kPage,
        dest_->name() + ": verify: differs from the image in " + std::to_string(bad_pages_.size()) +
            " 4 KiB pages, the first at offset " + std::to_string(bad_pages_.front() * kPage));
    return;
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

bool Verification::ReadPage(ReadBack* reader, const HoleMap* holes, uint64_t p, uint8_t* buf,
                            Status* s) const {
  constexpr uint64_t kPage = PageHashes::kPageSize;
  *s = reader->Read(buf, kPage, p * kPage);
  if (!s->ok()) return false;
  const uint64_t len = hashes_->PageLength(p);
  if (holes)
    holes->ForEachHole(p * kPage, p * kPage + len,
                       [&](uint64_t a, uint64_t b) { memset(buf + (a - p * kPage), 0, b - a); });
  uint64_t expected;
  return hashes_->Expected(p, &expected) && PageHashes::Hash(buf, len) == expected;
}

void Verification::Repair(Destination* source, const HoleMap* source_holes) {
  constexpr uint64_t kPage = PageHashes::kPageSize;
  const std::string what = dest_->name() + ": verify=repair: ";
  const uint64_t first = bad_pages_.front() * kPage;
  if (source == nullptr) {
    const size_t pages = bad_pages_.size();
    bad_pages_.clear();
    End(DestinationState::kMismatch, EIO, first,
        dest_->name() + ": verify: differs from the image in " + std::to_string(pages) +
            " 4 KiB pages, the first at offset " + std::to_string(first) +
            ", and no destination verified to repair them from");
    return;
  }
  void* mem = nullptr;
  if (posix_memalign(&mem, ReadBack::kAlignment, kPage) != 0) {
    End(DestinationState::kMismatch, ENOMEM, first, what + "out of memory");
    return;
  }
  std::unique_ptr<uint8_t, decltype(&free)> buf(static_cast<uint8_t*>(mem), &free);
  std::unique_ptr<ReadBack> from, to;
  Status s = source->OpenReadBack(&from);
  if (s.ok()) s = dest_->OpenReadBack(&to);
  for (size_t i = 0; s.ok() && i < bad_pages_.size(); i++) {
    const uint64_t p = bad_pages_[i];
    if (!ReadPage(from.get(), source_holes, p, buf.get(), &s)) {
      if (s.ok())
        s = Status::IOError(EIO, source->name() +
                                     " does not hold the image's bytes either, in "
                                     "the 4 KiB page at offset " +
                                     std::to_string(p * kPage));
      break;
    }
    s = to->Rewrite(buf.get(), hashes_->PageLength(p), p * kPage);
  }
  if (s.ok()) s = to->SyncRewrites();
  to.reset();
  // Read back again, on a new reader: what the media holds now.
  if (s.ok()) s = dest_->OpenReadBack(&to);
  for (size_t i = 0; s.ok() && i < bad_pages_.size(); i++) {
    const uint64_t p = bad_pages_[i];
    if (!ReadPage(to.get(), holes_, p, buf.get(), &s) && s.ok())
      s = Status::IOError(EIO,
                          "still differs from the image after the repair in the 4 KiB page "
                          "at offset " +
                              std::to_string(p * kPage));
  }
  if (!s.ok()) {
    const size_t pages = bad_pages_.size();
    bad_pages_.clear();  // logged below, as a mismatch
    End(DestinationState::kMismatch, s.err() ? s.err() : EIO, first,
        what + "differs from the image in " + std::to_string(pages) +
            " 4 KiB pages, the first at offset " + std::to_string(first) +
            ", and they could not be repaired: " + s.message());
    return;
  }
  repaired_pages_ = bad_pages_.size();
  log_->Notice(dest_->name() + ": verify: repaired " + std::to_string(bad_pages_.size()) +
               " 4 KiB pages (the first at offset " + std::to_string(first) + ") from " +
               source->name() + ", and read them back");
  End(DestinationState::kRepaired, 0, 0, "");
}

void RunInParallel(const std::vector<Verification*>& verifications) {
  std::vector<std::thread> threads;
  for (Verification* v : verifications) threads.emplace_back([v] { v->Run(); });
  for (std::thread& t : threads) t.join();
}

}  // namespace fanout
