// ImageDigest: the SHA-256 of the final image (OpenSSL's EVP), so a user
// can compare it with sha256sum of the source, or of what a pipe delivered.
//
// Sha256 is the bare digest.  StreamDigest follows the commit order: while
// extents arrive in order from offset 0 (ordered mode: the window commits
// [0, C) in order, gaps as zero extents) it hashes them as they come, and
// its result is the image's digest.  An extent anywhere else (a late extent
// behind C, or the unordered window's any-order commits) means the in-order
// hash is no longer the final image: it gives up, and the engine computes
// the digest at the end from a seekable destination that holds the image,
// or says it is unavailable.  Never a wrong digest.
//
// Not thread-safe: StreamDigest is fed under the engine's lock.
#ifndef FANOUT_IMAGE_DIGEST_H
#define FANOUT_IMAGE_DIGEST_H

#include <cstdint>
#include <memory>
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

 private:
  evp_md_ctx_st* ctx_;
};

class StreamDigest {
 public:
  explicit StreamDigest(uint64_t size) : size_(size) {}

  // One committed extent, in commit order; data null means zeros.
  void Apply(uint64_t offset, uint64_t length, const uint8_t* data);
  // Extents went somewhere other than the in-order position: the digest
  // must come from elsewhere.
  bool abandoned() const { return abandoned_; }
  // The image's digest, if every byte [0, size) was hashed in order and
  // nothing changed behind.  Call once, after the last Apply().
  std::optional<std::string> Final();

 private:
  const uint64_t size_;
  Sha256 sha_;
  uint64_t hashed_ = 0;  // [0, hashed_) went into sha_
  bool abandoned_ = false;
};

}  // namespace fanout

#endif  // FANOUT_IMAGE_DIGEST_H
