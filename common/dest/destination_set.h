// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// DestinationSet: every destination of a run, opened and checked at
// configuration time, before the export size is known.  It refuses a set
// that would write one storage twice (the same path, inode, device or NBD
// URI under two names, a loop device and the file it is over), and leaves
// no trace when it refuses: files it created are removed again (Abandon).
#ifndef FANOUT_DEST_DESTINATION_SET_H
#define FANOUT_DEST_DESTINATION_SET_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dest/destination.h"
#include "dest/destination_identity.h"
#include "dest/destination_spec.h"
#include "util/logger.h"
#include "util/status.h"

namespace fanout {

class DestinationSet {
 public:
  // An empty set.
  DestinationSet() = default;
  DestinationSet(DestinationSet&&) = default;
  DestinationSet& operator=(DestinationSet&&) = default;
  DestinationSet(const DestinationSet&) = delete;
  DestinationSet& operator=(const DestinationSet&) = delete;

  // Opens every spec, in order, as OpenDestination does, and checks that no
  // two are one storage.  io=uring is asked for once here: where this
  // kernel (or its seccomp policy) allows no ring, files are written with
  // io=sync instead (said in the debug log).  On error nothing is left
  // behind: what was opened is abandoned.  REQUIRES: log outlives the
  // destinations.
  static Status Open(const std::vector<DestinationSpec>& specs, FileIoOptions io, Logger* log,
                     DestinationSet* out);

  bool empty() const { return dests_.empty(); }
  // No stream destination among them; no seekable one among them.
  bool all_seekable() const;
  bool none_seekable() const;
  // The export size: size= (param) if given, else the smallest size a
  // destination imposes (Destination::fixed_size()); an error naming
  // size= if there is neither.
  Status ExportSize(std::optional<uint64_t> param, uint64_t* size) const;
  // Each destination that has an identity, with the name it was given.
  const std::vector<std::pair<std::string, DestinationIdentity>>& identities() const {
    return identities_;
  }

  // Sizes every destination (Destination::Prepare).  On error every one
  // is abandoned and the set is empty.
  Status Prepare(uint64_t size);
  // Configuration failed: undo what opening did (files created are
  // removed).  The set is empty afterwards.
  void Abandon();
  // The destinations, for their writers; the set is empty afterwards.
  std::vector<std::unique_ptr<Destination>> Take();

 private:
  std::vector<std::unique_ptr<Destination>> dests_;
  std::vector<std::pair<std::string, DestinationIdentity>> identities_;
};

}  // namespace fanout

#endif  // FANOUT_DEST_DESTINATION_SET_H
