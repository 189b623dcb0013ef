// WriteFully: all of a buffer to a file descriptor, retrying short writes
// and EINTR.  Shared by the destinations, the status file and the spill
// file.
#ifndef FANOUT_FD_IO_H
#define FANOUT_FD_IO_H

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "status.h"

namespace fanout {

// Writes all of buf at offset (offset < 0: at the current position).  The
// error names name and the offset.  A write that takes nothing at all is
// ENOSPC rather than a retry for ever.  written, if given, is set to the
// bytes written, also on error (a pipe took part of buf before its reader
// went).
Status WriteFully(int fd, const uint8_t* buf, uint64_t length, off_t offset,
                  const std::string& name, uint64_t* written = nullptr);

}  // namespace fanout

#endif  // FANOUT_FD_IO_H
