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

void Sha256::Update(const uint8_t* data, size_t length) {
  EVP_DigestUpdate(ctx_, data, length);
}

void Sha256::UpdateZeros(uint64_t length) {
  while (length > 0) {
    const size_t n = length < kZeroBlockSize ? length : kZeroBlockSize;
    EVP_DigestUpdate(ctx_, kZeroBlock, n);
    length -= n;
  }
}

std::string Sha256::FinalHex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; i++) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

}  // namespace fanout
