// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// DestinationSpec: one destination as the user named it, dest=PATH or
// cmd=COMMAND, before it is classified and opened (destination.h).
#ifndef FANOUT_DEST_DESTINATION_SPEC_H
#define FANOUT_DEST_DESTINATION_SPEC_H

#include <string>

namespace fanout {

struct DestinationSpec {
  enum class Source { kPath, kCommand };
  Source source;
  std::string value;  // dest=PATH or cmd=COMMAND, as given
};

}  // namespace fanout

#endif  // FANOUT_DEST_DESTINATION_SPEC_H
