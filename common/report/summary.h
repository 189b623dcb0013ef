// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// The end-of-stream summary: one line per destination (state, bytes, time,
// rate, error), then one line of totals.  Printed always, whatever -v says.
#ifndef FANOUT_REPORT_SUMMARY_H
#define FANOUT_REPORT_SUMMARY_H

#include <functional>
#include <string>
#include <vector>

#include "report/snapshot.h"

namespace fanout {

// spelled: a destination's name as it will be printed (the tee filter's
// logger turns cmd=X into tee-cmd=X), so the columns line up as printed.
// A name longer than the name column is cut short there, ending in "...";
// the whole name is in the status file and in every message about it.
std::vector<std::string> SummaryLines(
    const Snapshot& snapshot,
    const std::function<std::string(const std::string&)>& spelled = nullptr);

}  // namespace fanout

#endif  // FANOUT_REPORT_SUMMARY_H
