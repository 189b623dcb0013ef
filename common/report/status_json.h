// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// The status file (status=FILE): a JSON document describing the run,
// replaced atomically (written beside it, then renamed over it) so a reader
// never sees half of one.
//
// Every key is always there: one that does not apply (no error, no digest
// yet) is null.  nlohmann::json writes the keys of an object in
// alphabetical order.  man/nbdkit-fanout-status.schema.json lists every
// key, its type and its values, and tests/test-status-schema.sh (and every
// test's check_status_json) holds real files to it: a key added here must
// be added there, and to the man page's "The status file", which says what
// each means.
#ifndef FANOUT_REPORT_STATUS_JSON_H
#define FANOUT_REPORT_STATUS_JSON_H

#include <string>
#include <vector>

#include "dest/destination.h"
#include "report/snapshot.h"
#include "util/status.h"

namespace fanout {

// The status file's "schema": the version of the format.  Within one
// number keys are only ever added; removing a key or changing what one
// means takes the next number (and the schema file's "const").
inline constexpr int kStatusSchema = 1;

// The temporary file WriteStatusFile() writes before renaming it over
// path: DIR/.NAME.tmp, hidden beside it (rename(2) needs the same file
// system).
std::string StatusTempPath(const std::string& path);

// A destination's path and what it is, for CheckStatusFile().
struct NamedIdentity {
  std::string parameter;  // as the user wrote it: "dest=a.img", "file=disk.img"
  DestinationIdentity identity;
};

// Configuration time: refuses, in one line naming status=, a status file
// that would destroy something or could never be written: FILE or its
// temporary file is one of `taken` (a destination, the tee filter's
// plugin's disk), FILE is a directory or anything but a regular file
// (rename(2) would replace a device node or a FIFO), or its directory is
// missing or not writable (the temporary file is created there and
// removed again, which proves it as nothing short of writing can).
Status CheckStatusFile(const std::string& path, const std::vector<NamedIdentity>& taken);

// The JSON text for a snapshot.
std::string StatusJson(const Snapshot& snapshot);

// Writes StatusJson(snapshot) to path atomically.
Status WriteStatusFile(const std::string& path, const Snapshot& snapshot);

}  // namespace fanout

#endif  // FANOUT_REPORT_STATUS_JSON_H
