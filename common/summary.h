// The end-of-stream summary: one line per destination (state, bytes, time,
// rate, error), then one line of totals.  Printed always, whatever -v says.
#ifndef FANOUT_SUMMARY_H
#define FANOUT_SUMMARY_H

#include <string>
#include <vector>

#include "snapshot.h"

namespace fanout {

std::vector<std::string> SummaryLines(const Snapshot& snapshot);

}  // namespace fanout

#endif  // FANOUT_SUMMARY_H
