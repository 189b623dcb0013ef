// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// OpenDestination: the one place that knows every destination kind and
// chooses among them, so the contract (destination.h) knows none of them.
#ifndef FANOUT_DEST_DESTINATION_FACTORY_H
#define FANOUT_DEST_DESTINATION_FACTORY_H

#include <memory>

#include "dest/destination.h"
#include "dest/destination_spec.h"
#include "util/logger.h"
#include "util/status.h"

namespace fanout {

// Chooses the kind of spec (an NBD URI, else fstat) and opens it, or
// returns a one-line error naming the parameter (dest=PATH: is a
// directory, ...).  log, if given, outlives the destination: kinds that
// have more to say than the writer's per-extent lines debug through it.
// io: how files and block devices are written.
Status OpenDestination(const DestinationSpec& spec, std::unique_ptr<Destination>* out,
                       Logger* log = nullptr, const FileIoOptions& io = FileIoOptions());

}  // namespace fanout

#endif  // FANOUT_DEST_DESTINATION_FACTORY_H
