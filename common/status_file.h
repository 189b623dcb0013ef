// The status file (status=FILE): a JSON document describing the run,
// replaced atomically (written beside it, then renamed over it) so a reader
// never sees half of one.
//
//   {"size", "committed", "state": "running"|"finishing"|"finished",
//    "elapsed", "destinations": [{"name", "kind", "state", "bytes", "rate",
//    "error", "errno", "offset", "exit_status", "elapsed"}]}
#ifndef FANOUT_STATUS_FILE_H
#define FANOUT_STATUS_FILE_H

#include <string>

#include "snapshot.h"
#include "status.h"

namespace fanout {

// The JSON text for a snapshot.
std::string StatusJson(const Snapshot& snapshot);

// Writes StatusJson(snapshot) to path atomically.
Status WriteStatusFile(const std::string& path, const Snapshot& snapshot);

}  // namespace fanout

#endif  // FANOUT_STATUS_FILE_H
