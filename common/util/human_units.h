// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Human-readable quantities for the progress bars and the summary.
#ifndef FANOUT_UTIL_HUMAN_UNITS_H
#define FANOUT_UTIL_HUMAN_UNITS_H

#include <cstdint>
#include <string>

namespace fanout {

// 1536 -> "1.5 KiB", 268435456 -> "256.0 MiB".
std::string HumanBytes(uint64_t bytes);
// Bytes per second -> "123.4 MB/s" (decimal, as dd and nbdcopy print rates).
std::string HumanRate(double bytes_per_second);
// Seconds -> "0:07", "1:02:03".
std::string HumanDuration(double seconds);

}  // namespace fanout

#endif  // FANOUT_UTIL_HUMAN_UNITS_H
