// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Sha256: the SHA-256 of the final image (OpenSSL's EVP), so a user
// can compare it with sha256sum of the source, or of what a pipe delivered.
// DigestFollower (digest_follower.h) feeds it while the image is written.
//
// Not thread-safe.
#ifndef FANOUT_INTEGRITY_SHA256_H
#define FANOUT_INTEGRITY_SHA256_H

#include <cstdint>
#include <optional>
#include <string>

struct evp_md_ctx_st;

namespace fanout {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const uint8_t* data, size_t length);
  // length zero bytes, without allocating them.
  void UpdateZeros(uint64_t length);
  // The digest in lower-case hex, as sha256sum prints it.  Call once.
  std::string FinalHex();

  // Also keeps the digest of the first `bytes` bytes fed, in the same
  // pass: the image's (image_sha256) when the export is larger.  Ignored
  // if more than `bytes` went in already.
  void MarkAt(uint64_t bytes);
  // That digest, once the bytes went in (or FinalHex() was called with
  // exactly that many).
  const std::optional<std::string>& mark_hex() const { return mark_hex_; }

 private:
  // Feeds the digest of what went in so far to mark_hex_.
  void TakeMark();
  void Feed(const uint8_t* data, size_t length);

  evp_md_ctx_st* ctx_;
  uint64_t fed_ = 0;
  std::optional<uint64_t> mark_;
  std::optional<std::string> mark_hex_;
};

}  // namespace fanout

#endif  // FANOUT_INTEGRITY_SHA256_H
