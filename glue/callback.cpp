// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "callback.h"

// nbdkit_error and nbdkit_set_error, which plugins and filters share.
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <cerrno>
#include <system_error>

namespace fanout {
namespace glue {

int ReportException(const std::exception& e) {
  int err = EIO;
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    err = ENOMEM;
    nbdkit_error("out of memory");
  } else {
    const auto* system = dynamic_cast<const std::system_error*>(&e);
    if (system != nullptr && system->code().category() == std::generic_category() &&
        system->code().value() != 0)
      err = system->code().value();
    nbdkit_error("%s", e.what());
  }
  nbdkit_set_error(err);
  return err;
}

}  // namespace glue
}  // namespace fanout
