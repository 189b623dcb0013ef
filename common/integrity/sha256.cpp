// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "integrity/sha256.h"

#include <openssl/evp.h>

#include <cassert>
#include <cstdlib>
#include <new>

#include "util/zero_block.h"

namespace fanout {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Only allocation can fail here: out of memory, as everywhere in the
  // engine (util/status.h).
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw std::bad_alloc();
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

namespace {
std::string Hex(const unsigned char* md, unsigned len) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; i++) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}
}  // namespace

void Sha256::Feed(const uint8_t* data, size_t length) {
  if (mark_ && !mark_hex_ && fed_ < *mark_ && fed_ + length >= *mark_) {
    const size_t n = *mark_ - fed_;
    EVP_DigestUpdate(ctx_, data, n);
    fed_ += n;
    TakeMark();
    data += n;
    length -= n;
  }
  EVP_DigestUpdate(ctx_, data, length);
  fed_ += length;
}

void Sha256::Update(const uint8_t* data, size_t length) {
  Feed(data, length);
}

void Sha256::UpdateZeros(uint64_t length) {
  while (length > 0) {
    const size_t n = length < kZeroBlockSize ? length : kZeroBlockSize;
    Feed(kZeroBlock, n);
    length -= n;
  }
}

void Sha256::MarkAt(uint64_t bytes) {
  if (mark_ || fed_ > bytes) return;
  mark_ = bytes;
  if (fed_ == bytes) TakeMark();
}

void Sha256::TakeMark() {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  if (!copy || EVP_MD_CTX_copy_ex(copy, ctx_) != 1) {
    EVP_MD_CTX_free(copy);
    throw std::bad_alloc();
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(copy, md, &len);
  EVP_MD_CTX_free(copy);
  mark_hex_ = Hex(md, len);
}

std::string Sha256::FinalHex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  std::string out = Hex(md, len);
  if (mark_ && !mark_hex_ && *mark_ == fed_) mark_hex_ = out;
  return out;
}

}  // namespace fanout
