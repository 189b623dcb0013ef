// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "integrity/image_integrity.h"

#include <algorithm>

#include "util/rounding.h"

namespace fanout {

ImageIntegrity::ImageIntegrity(const Spec& spec,
                               const std::vector<std::shared_ptr<Writer>>* writers, const Bus* bus,
                               Logger* log)
    : verify_(spec.verify),
      repair_(spec.repair),
      want_sha256_(spec.sha256),
      size_(spec.size),
      writers_(writers),
      bus_(bus),
      log_(log) {
  // The expected page hashes are kept when verify= asks for them, and when
  // every destination is seekable and the SHA-256 is asked for: the
  // commits may then come in any order, and the digest follower reads
  // what came out of order back from a destination, which must be checked
  // to hold the image (so must the one read at the end if the follower
  // gives up).  They cost 9 bytes per 4 KiB page written, nothing for
  // pages never written (see page_hashes.h).
  if (spec.verify || (!spec.ordered && spec.sha256)) {
    hashes_ = std::make_unique<PageHashes>(
        size_, [this](uint64_t offset, size_t length, uint64_t expected, uint8_t* page) REQUIRES(
                   hashes_mu_) { return ReadCommittedPage(offset, length, expected, page); });
  }
  // The image's SHA-256 is hashed on a thread of its own as the image is
  // committed (digest_follower.h).  With a stream the window commits in
  // order and nothing is ever read back.
  if (!spec.sha256) return;
  DigestFollower::Reader reader;
  DigestFollower::PageCheck check;
  if (!spec.ordered) {
    reader = [this](uint64_t seq, uint64_t offset, uint64_t length, uint8_t* out) {
      return ReadImagePiece(seq, offset, length, out);
    };
    check = [this](uint64_t offset, const uint8_t* data, uint64_t length) {
      return PageNotTheImage(offset, data, length);
    };
  }
  follower_ = std::make_unique<DigestFollower>(size_, std::move(reader), std::move(check));
  // With every destination failed there is nobody to report a digest
  // for, and hashing the zero-filled rest of a large export would only
  // keep nbdkit from exiting.
  follower_->set_still_needed([this] { return AnyHealthy(); });
}

void ImageIntegrity::Start() {
  if (follower_) follower_->Start();
}

void ImageIntegrity::Committed(const Extent& extent, uint64_t seq) {
  // The follower first: if this extent changes bytes it has taken, it
  // gives up before the page hashes change under its check.
  if (follower_) follower_->Commit(extent, seq);
  if (hashes_) {
    MutexLock lock(&hashes_mu_);
    hashes_->Apply(extent.offset, extent.length, extent.is_zero() ? nullptr : extent.bytes());
  }
}

void ImageIntegrity::StreamEnding(uint64_t image_end) {
  image_end_ = image_end;
  if (follower_) follower_->MarkImageEnd(image_end);
  if (!AnyHealthy() && follower_)
    follower_->Abandon("no destination can hold the image (every one failed)");
}

void ImageIntegrity::AllCommitted() {
  if (follower_) {
    followed_ = follower_->Finish();
    if (followed_) followed_image_ = follower_->image_digest();
  }
}

void ImageIntegrity::Interrupt(const std::string& reason) {
  if (follower_) follower_->Abandon("the run was interrupted");
  MutexLock lock(&verify_mu_);
  interrupted_ = true;
  for (Verification* v : running_) v->Cancel(reason);
}

void ImageIntegrity::WithdrawDigest(const std::string& why) {
  MutexLock lock(&verify_mu_);
  digest_.reset();
  image_digest_.reset();
  digest_unavailable_ = why;
}

IntegrityReport ImageIntegrity::Report() const {
  IntegrityReport r;
  r.verifying = verifying_.load();
  MutexLock lock(&verify_mu_);
  for (size_t i = 0; i < verifications_.size(); i++) {
    const Verification* v = verifications_[i].get();
    if (!v) continue;
    IntegrityReport::Verdict d{i, v->state(), v->verified_bytes(), std::nullopt, std::nullopt};
    if (d.state == DestinationState::kRepaired) d.repaired_pages = v->repaired_pages();
    if (d.state != DestinationState::kVerifying && d.state != DestinationState::kVerified &&
        d.state != DestinationState::kRepaired)
      d.failure = v->failure();
    r.verdicts.push_back(std::move(d));
  }
  r.sha256 = digest_;
  r.image_sha256 = image_digest_;
  r.sha256_unavailable = digest_unavailable_;
  return r;
}

bool ImageIntegrity::ReadCommittedPage(uint64_t offset, size_t length, uint64_t expected,
                                       uint8_t* out) {
  // Nothing is published while this runs (we are inside a commit, under
  // the engine's lock), so once a writer has applied the last published
  // extent its destination holds every committed byte and keeps holding
  // them.  This costs a wait for one destination and a 4 KiB read, only
  // when a client rewrites part of a page it had written whole: rare (a
  // superblock, a partition table), and exact where keeping every page's
  // bytes would cost the image's size in memory.
  return ReadApplied(bus_->last_published(), offset, length, out, [&](const Destination& d) {
    if (PageHashes::Hash(out, length) == expected) {
      if (log_->DebugEnabled(LogTopic::kWindow))
        log_->Debug(LogTopic::kWindow, "page hash at " + std::to_string(offset) +
                                           ": rewritten in part, earlier bytes read from " +
                                           d.name());
      return true;
    }
    log_->Error(d.name() + ": the 4 KiB page at offset " + std::to_string(offset) +
                " no longer holds what was written to it");
    Suspect(d);
    return false;
  });
}

bool ImageIntegrity::ReadImagePiece(uint64_t seq, uint64_t offset, uint64_t length, uint8_t* out) {
  // A destination whose whole pages here are not the image's (changed
  // under the run) is passed over for the next, so the follower gives up
  // only when none holds them.  Pages this read covers in part are checked
  // by the follower once they are whole.
  constexpr uint64_t kPage = PageHashes::kPageSize;
  const uint64_t first = RoundUp(offset, kPage);
  const uint64_t end = offset + length == size_ ? size_ : RoundDown(offset + length, kPage);
  return ReadApplied(seq, offset, length, out, [&](const Destination& d) {
    if (first >= end || !PageNotTheImage(first, out + (first - offset), end - first)) return true;
    Suspect(d);
    return false;
  });
}

bool ImageIntegrity::ReadApplied(uint64_t seq, uint64_t offset, uint64_t length, uint8_t* out,
                                 const std::function<bool(const Destination&)>& accept) {
  for (const auto& w : *writers_) {
    if (!w->healthy() || !w->destination()->seekable()) continue;
    // In step, with seq applied: a laggard (lag=) holds less.
    const uint64_t demotions = w->demotions();
    if (!w->WaitApplied(seq) || !w->healthy()) continue;
    if (!w->destination()->Read(out, length, offset).ok()) continue;
    if (!w->in_step() || w->demotions() != demotions) continue;
    if (!accept || accept(*w->destination())) return true;
  }
  return false;
}

std::optional<uint64_t> ImageIntegrity::PageNotTheImage(uint64_t offset, const uint8_t* data,
                                                        uint64_t length) {
  constexpr uint64_t kPage = PageHashes::kPageSize;
  std::vector<uint64_t> got;
  got.reserve(DivRoundUp(length, kPage));
  for (uint64_t pos = 0; pos < length; pos += kPage)
    got.push_back(PageHashes::Hash(data + pos, std::min(kPage, length - pos)));
  MutexLock lock(&hashes_mu_);
  for (size_t i = 0; i < got.size(); i++) {
    uint64_t expected;
    if (!hashes_->Expected(offset / kPage + i, &expected) || expected != got[i])
      return offset + i * kPage;
  }
  return std::nullopt;
}

void ImageIntegrity::Suspect(const Destination& d) {
  MutexLock lock(&suspects_mu_);
  suspects_.insert(&d);
}

bool ImageIntegrity::AnyHealthy() const {
  for (const auto& w : *writers_)
    if (w->healthy()) return true;
  return false;
}

// The digest needs one full read of a destination: with verify= it is the
// verification's own read of one candidate.  Without, that one read is
// checked against the page hashes all the same (a digest is printed only
// for bytes known to be the image's); the destination stays "done" unless
// the read shows it does not hold the image, which is then reported like
// any verification's verdict rather than kept quiet.  A destination that
// was read back while the image was written and did not hold what was
// written to it (see Suspect()) is read back in full too, so that it is
// reported unless later writes made it whole again; and the digest is
// read from one that was not suspect, if any.
void ImageIntegrity::Finish() {
  std::vector<size_t> candidates = DoneSeekable();
  // The digest hashed while the image was written is the image's if every
  // byte went into it in order and nothing changed behind it.
  std::optional<std::string> digest, image_digest;
  std::string unavailable;
  if (follower_) {
    digest = std::move(followed_);
    image_digest = std::move(followed_image_);
    LogFollowed(digest.has_value(), hashes_ && !candidates.empty());
    if (!digest)
      unavailable = hashes_ ? "no destination could be verified to hold the image"
                            : "a write behind the stream position changed bytes already hashed "
                              "(verify=true reads the digest back from a verified destination)";
  }
  const bool need_digest = want_sha256_ && !digest && hashes_ && !candidates.empty();
  const std::vector<bool> suspect = Suspects(candidates);
  size_t feeder = candidates.empty() ? 0 : candidates.front();
  for (size_t i : candidates)
    if (!suspect[i]) {
      feeder = i;
      break;
    }
  Sha256 sha;
  sha.MarkAt(image_end_);
  const bool fed = ReadBackAtEnd(&candidates, suspect,
                                 need_digest ? std::optional<size_t>(feeder) : std::nullopt, &sha);
  if (repair_) RepairMismatches();
  bool interrupted;
  {
    MutexLock lock(&verify_mu_);
    interrupted = interrupted_;
  }
  if (need_digest && !interrupted) {
    if (fed) {
      digest = sha.FinalHex();
      image_digest = sha.mark_hex();
    } else {
      digest = DigestFromAnother(candidates, feeder, &image_digest);
    }
    if (!digest) unavailable = "no destination could be verified to hold the image";
  } else if (!digest && candidates.empty()) {
    unavailable = "no seekable destination finished to read it from";
  }
  Settle(digest, image_digest, std::move(unavailable));
}

std::vector<size_t> ImageIntegrity::DoneSeekable() const {
  std::vector<size_t> done;
  for (size_t i = 0; i < writers_->size(); i++)
    if ((*writers_)[i]->destination()->seekable() &&
        (*writers_)[i]->state() == DestinationState::kDone)
      done.push_back(i);
  return done;
}

void ImageIntegrity::LogFollowed(bool hashed, bool can_read_back) const {
  if (!log_->DebugEnabled(LogTopic::kGeneral)) return;
  log_->Debug(
      LogTopic::kGeneral,
      hashed ? "sha256: hashed while written, " + std::to_string(follower_->bytes_from_memory()) +
                   " bytes as committed and " + std::to_string(follower_->bytes_read_back()) +
                   " read back from a destination"
             : "sha256: not hashed while written (" + follower_->gave_up() + ")" +
                   (can_read_back ? ": reading a destination at the end" : ""));
}

std::vector<bool> ImageIntegrity::Suspects(const std::vector<size_t>& candidates) {
  std::vector<bool> suspect(writers_->size(), false);
  MutexLock lock(&suspects_mu_);
  for (size_t i : candidates) suspect[i] = suspects_.count((*writers_)[i]->destination()) > 0;
  return suspect;
}

bool ImageIntegrity::ReadBackAtEnd(std::vector<size_t>* candidates,
                                   const std::vector<bool>& suspect, std::optional<size_t> feeder,
                                   Sha256* sha) {
  // Without verify=: the reads, kept only for a verdict that is not
  // "verified" (a destination read without verify= stays "done").
  std::vector<std::pair<size_t, std::unique_ptr<Verification>>> checks;
  std::vector<Verification*> run;
  Verification* feeding = nullptr;
  {
    MutexLock lock(&verify_mu_);
    verifications_.resize(writers_->size());
    // An interruption from here on cancels what runs (Interrupt()).
    if (interrupted_) candidates->clear();
    for (size_t i : *candidates) {
      const bool feeds = feeder && i == *feeder;
      if (!verify_ && !feeds && !suspect[i]) continue;
      auto v = NewVerification(i, feeds ? sha : nullptr);
      run.push_back(v.get());
      if (feeds) feeding = v.get();
      running_.push_back(v.get());
      if (verify_)
        verifications_[i] = std::move(v);
      else
        checks.emplace_back(i, std::move(v));
    }
  }
  if (!run.empty()) {
    verifying_ = true;
    RunInParallel(run);
  }
  const bool fed = feeding && feeding->state() == DestinationState::kVerified;
  MutexLock lock(&verify_mu_);
  running_.clear();
  // A read cut short by an interruption says nothing about the
  // destination, which holds the image all the same.
  for (auto& [i, v] : checks)
    if (v->state() != DestinationState::kVerified && v->state() != DestinationState::kIncomplete)
      verifications_[i] = std::move(v);
  return fed;
}

std::optional<std::string> ImageIntegrity::DigestFromAnother(const std::vector<size_t>& candidates,
                                                             size_t feeder,
                                                             std::optional<std::string>* image) {
  // With verify= every candidate has been read already: read the digest
  // again from one that verified.  Without, read the others in turn until
  // one holds the image; one that does not is reported, as the first was.
  for (size_t i : candidates) {
    if (i == feeder) continue;
    bool skip;
    {
      MutexLock lock(&verify_mu_);
      const Verification* done = verifications_[i].get();
      skip = verify_ ? !done || done->state() != DestinationState::kVerified
                     : done != nullptr;  // read already: not the image
    }
    if (skip) continue;
    Sha256 again;
    again.MarkAt(image_end_);
    auto v = NewVerification(i, &again);
    if (!RunCancellable(v.get())) break;
    if (v->state() == DestinationState::kIncomplete) break;
    if (v->state() == DestinationState::kVerified) {
      std::string hex = again.FinalHex();
      *image = again.mark_hex();
      return hex;
    }
    if (!verify_) {
      MutexLock lock(&verify_mu_);
      verifications_[i] = std::move(v);
    }
  }
  return std::nullopt;
}

std::unique_ptr<Verification> ImageIntegrity::NewVerification(size_t i, Sha256* digest) const {
  const Writer& w = *(*writers_)[i];
  auto v = std::make_unique<Verification>(w.destination(), hashes_.get(), log_, digest);
  if (w.skip_holes()) v->set_holes(holes_);
  v->set_collect_mismatches(repair_);
  return v;
}

void ImageIntegrity::RepairMismatches() {
  // Every destination read back is a source for the pages it holds right:
  // those that verified first, and among them those that write every byte
  // (their holes are the image's zeros) before those that skip holes.
  std::vector<std::pair<int, size_t>> ranked;
  std::vector<std::pair<size_t, Verification*>> repair;
  {
    MutexLock lock(&verify_mu_);
    if (interrupted_) return;
    for (size_t i = 0; i < verifications_.size(); i++) {
      const Verification* v = verifications_[i].get();
      if (!v) continue;
      if (v->repairable()) repair.emplace_back(i, verifications_[i].get());
      const DestinationState st = v->state();
      if (st != DestinationState::kVerified && st != DestinationState::kMismatch) continue;
      ranked.emplace_back(
          (st == DestinationState::kVerified ? 0 : 2) + ((*writers_)[i]->skip_holes() ? 1 : 0), i);
    }
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // The verifications are not replaced from here on, and the reporter
  // reads their state as it changes.
  for (auto [i, v] : repair) {
    std::vector<Verification::RepairSource> sources;
    for (const auto& [rank, j] : ranked) {
      if (j == i) continue;
      const Writer& w = *(*writers_)[j];
      sources.push_back({w.destination(), w.skip_holes() ? holes_ : nullptr});
    }
    v->Repair(sources);
  }
}

bool ImageIntegrity::RunCancellable(Verification* v) {
  {
    MutexLock lock(&verify_mu_);
    if (interrupted_) return false;
    running_.push_back(v);
  }
  v->Run();
  MutexLock lock(&verify_mu_);
  running_.clear();
  return true;
}

void ImageIntegrity::Settle(const std::optional<std::string>& digest,
                            const std::optional<std::string>& image_digest,
                            std::string unavailable) {
  if (!digest && std::none_of(writers_->begin(), writers_->end(),
                              [](const auto& w) { return w->state() == DestinationState::kDone; }))
    unavailable = "no destination holds the image (every one failed)";
  if (!want_sha256_) unavailable = "not computed (sha256=false)";
  MutexLock lock(&verify_mu_);
  digest_ = digest;
  image_digest_ = digest ? image_digest : std::nullopt;
  digest_unavailable_ = digest ? "" : unavailable;
}

}  // namespace fanout
