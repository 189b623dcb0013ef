// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "integrity/verification.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <thread>

namespace fanout {

namespace {
// "1 4 KiB page", "3 4 KiB pages".
std::string Pages(size_t n) {
  return std::to_string(n) + (n == 1 ? " 4 KiB page" : " 4 KiB pages");
}
}  // namespace

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
    if (holes_) holes_->ZeroHoles(buf.get(), offset, offset + n);
    if (!ComparePages(buf.get(), offset, n, &unknown, &first_unknown)) return;
    if (digest_) digest_->Update(buf.get(), n);
    bytes_ += n;
  }
  if (!bad_pages_.empty()) {
    End(DestinationState::kMismatch, EIO, bad_pages_.front() * kPage, DiffersInPages());
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

std::string Verification::DiffersInPages() const {
  return dest_->name() + ": verify: differs from the image in " + Pages(bad_pages_.size()) +
         ", the first at offset " + std::to_string(bad_pages_.front() * PageHashes::kPageSize);
}

bool Verification::ComparePages(const uint8_t* buf, uint64_t offset, uint64_t n, uint64_t* unknown,
                                uint64_t* first_unknown) {
  constexpr uint64_t kPage = PageHashes::kPageSize;
  for (uint64_t p = offset / kPage; p * kPage < offset + n; p++) {
    const uint8_t* page = buf + (p * kPage - offset);
    uint64_t expected;
    if (!hashes_->Expected(p, &expected)) {
      if ((*unknown)++ == 0) *first_unknown = p * kPage;
      continue;
    }
    if (PageHashes::Hash(page, hashes_->PageLength(p)) == expected) continue;
    if (collect_ && bad_pages_.size() < kMaxRepairPages) {
      bad_pages_.push_back(p);
      continue;
    }
    bad_pages_.clear();  // too many to repair: a mismatch like any other
    // Only the page is known to differ: its expected bytes are kept as a
    // hash, so the offset is the page's.
    End(DestinationState::kMismatch, EIO, p * kPage,
        dest_->name() + ": verify: differs from the image in the 4 KiB page at offset " +
            std::to_string(p * kPage));
    return false;
  }
  return true;
}

bool Verification::ReadPage(ReadBack* reader, const HoleMap* holes, uint64_t p, uint8_t* buf,
                            Status* s) const {
  constexpr uint64_t kPage = PageHashes::kPageSize;
  *s = reader->Read(buf, kPage, p * kPage);
  if (!s->ok()) return false;
  const uint64_t len = hashes_->PageLength(p);
  if (holes) holes->ZeroHoles(buf, p * kPage, p * kPage + len);
  uint64_t expected;
  return hashes_->Expected(p, &expected) && PageHashes::Hash(buf, len) == expected;
}

void Verification::Repair(const std::vector<RepairSource>& sources) {
  constexpr uint64_t kPage = PageHashes::kPageSize;
  const std::string what = DiffersInPages() + ", ";
  const uint64_t first = bad_pages_.front() * kPage;
  void* mem = nullptr;
  if (posix_memalign(&mem, ReadBack::kAlignment, kPage) != 0) {
    bad_pages_.clear();
    End(DestinationState::kMismatch, ENOMEM, first, what + "and there is no memory to repair it");
    return;
  }
  std::unique_ptr<uint8_t, decltype(&free)> buf(static_cast<uint8_t*>(mem), &free);
  // Each page from the first source whose copy of it is the image's:
  // their readers are opened when first needed.
  std::vector<std::unique_ptr<ReadBack>> from(sources.size());
  std::set<std::string> used;
  std::unique_ptr<ReadBack> to;
  Status s = dest_->OpenReadBack(&to);
  for (size_t i = 0; s.ok() && i < bad_pages_.size(); i++) {
    const uint64_t p = bad_pages_[i];
    bool found = false;
    for (size_t j = 0; !found && j < sources.size(); j++) {
      Status rs;
      if (!from[j]) rs = sources[j].dest->OpenReadBack(&from[j]);
      if (rs.ok() && ReadPage(from[j].get(), sources[j].holes, p, buf.get(), &rs)) {
        found = true;
        used.insert(sources[j].dest->name());
      }
    }
    if (!found) {
      s = Status::IOError(EIO,
                          "and no destination holds the image's bytes of the page at "
                          "offset " +
                              std::to_string(p * kPage) + " to repair it from");
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
    bad_pages_.clear();  // logged by End(), as a mismatch
    End(DestinationState::kMismatch, s.err() ? s.err() : EIO, first,
        s.message().rfind("and ", 0) == 0 ? what + s.message()
                                          : what + "and the repair failed: " + s.message());
    return;
  }
  repaired_pages_ = bad_pages_.size();
  std::string names;
  for (const std::string& n : used) names += (names.empty() ? "" : ", ") + n;
  log_->Notice(dest_->name() + ": verify: repaired " + Pages(bad_pages_.size()) +
               " (the first at offset " + std::to_string(first) + ") from " + names +
               ", and read them back");
  End(DestinationState::kRepaired, 0, 0, "");
}

void RunInParallel(const std::vector<Verification*>& verifications) {
  std::vector<std::thread> threads;
  for (Verification* v : verifications) threads.emplace_back([v] { v->Run(); });
  for (std::thread& t : threads) t.join();
}

}  // namespace fanout
