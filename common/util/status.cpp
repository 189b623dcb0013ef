// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "util/status.h"

#include <cerrno>
#include <cstring>

namespace fanout {

Status Status::IOError(int err, std::string msg) {
  return Status(err != 0 ? err : EIO, std::move(msg));
}

bool Status::not_ready() const {
  return err_ == EAGAIN;
}

bool Status::not_supported() const {
  return err_ == ENOTSUP || err_ == EOPNOTSUPP;
}

Status Status::InvalidArgument(std::string msg) {
  return Status(EINVAL, std::move(msg));
}

Status Status::FromErrno(const std::string& context) {
  return FromErrno(context, errno);
}

Status Status::FromErrno(const std::string& context, int err) {
  if (err == 0) err = EIO;
  return Status(err, context + ": " + std::strerror(err));
}

}  // namespace fanout
